"""The domain guard: training statistics, the check and its likely causes, predict / predict_scene / check-scene."""

import json
import re
import warnings

import numpy as np
import pytest
import rasterio

from smallmines_classic import (
    BAND_NAMES,
    DomainError,
    DomainWarning,
    RandomForestSegmenter,
    check_scene,
    load_smallminesds,
    mosaic_tiles,
    predict_scene,
)
from smallmines_classic.cli import main
from smallmines_classic.models.domain import QUANTILES, band_statistics, check_domain, sample_pixels

S2, S1 = slice(0, 10), slice(10, 12)

#: The four mismatches of issue 12, each applied to the twin's test images, and the words its cause must hold.
MISMATCHES = {
    "scaled 0-1": (lambda X: _apply(X, S2, lambda v: v / 10000), "scaled 0-1 instead of 0-10000", BAND_NAMES[:10]),
    "offset left in": (lambda X: _apply(X, S2, lambda v: v + 1000), "offset of 1000", BAND_NAMES[:10]),
    "linear power": (lambda X: _apply(X, S1, lambda v: 10 ** (v / 10)), "linear power instead of dB", ("VV", "VH")),
    # reversed band order: B02 holds the DEM, VV holds B03, DEM holds B02, ...
    "reversed bands": (lambda X: np.ascontiguousarray(X[:, ::-1]), "bands in another order", ("B02", "VV", "DEM")),
}


def _apply(X, bands, function):
    out = X.copy()
    out[:, bands] = function(out[:, bands])
    return out


@pytest.fixture(scope="module")
def split(twin_root):
    return {name: load_smallminesds(twin_root, split=name, progress=False) for name in ("train", "test")}


@pytest.fixture(scope="module")
def model(split):
    """A forest on all 13 bands of the twin's train split: every band is checked."""
    train = split["train"]
    return RandomForestSegmenter(bands="all", n_estimators=4, max_pixels=5000,
                                 random_state=0).fit(train.images, train.masks)


def _domain_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, DomainWarning)]


def test_band_statistics_are_plain_json_quantiles_of_the_finite_pixels(rng):
    X = rng.normal(1000, 100, size=(3, 2, 20, 30)).astype(np.float32)
    X[0, 1, :5] = np.nan
    stats = band_statistics(X, ["B04", "VV"])
    assert json.loads(json.dumps(stats)) == stats  # plain data, no numpy scalars
    assert (stats["quantiles"] == list(QUANTILES) and stats["pixels"] == 3 * 20 * 30
            and list(stats["bands"]) == ["B04", "VV"])
    for c, name in enumerate(["B04", "VV"]):
        values = X[:, c].ravel()
        np.testing.assert_allclose(stats["bands"][name], np.quantile(values[np.isfinite(values)], QUANTILES), rtol=1e-6)
    # bands chosen by position, and a band with no finite value left out
    X[:, 0] = np.nan
    assert list(band_statistics(X, ["VV"], positions=[1])["bands"]) == ["VV"]
    assert list(band_statistics(X, ["B04", "VV"])["bands"]) == ["VV"]


def test_sample_is_bounded_seeded_and_gathers_the_right_pixels(rng):
    X = rng.normal(size=(4, 3, 16, 16)).astype(np.float32)
    everything = sample_pixels(X, positions=[2, 0])
    assert everything.shape == (2, 4 * 16 * 16)
    np.testing.assert_array_equal(np.sort(everything[0]), np.sort(X[:, 2].ravel()))
    np.testing.assert_array_equal(everything[1], X[:, 0].reshape(-1))  # sorted flat indices: image, row, column order
    some = sample_pixels(X, max_pixels=100)
    assert some.shape == (3, 100) and np.array_equal(some, sample_pixels(X, max_pixels=100))
    assert set(some[0].tolist()) <= set(X[:, 0].ravel().tolist())


def test_fit_records_statistics_of_the_bands_the_model_reads(split, model):
    train = split["train"]
    assert list(model.band_stats_["bands"]) == list(BAND_NAMES)
    b8a = train.images[:, BAND_NAMES.index("B8A")].ravel()
    # a sample of 100 000 of the 278 528 training pixels: the median within a few reflectance units
    assert model.band_stats_["bands"]["B8A"][2] == pytest.approx(np.median(b8a), abs=15)
    rgb_ndvi = RandomForestSegmenter(bands="rgb", derived=("ndvi",), n_estimators=2, max_pixels=2000, random_state=0)
    rgb_ndvi.fit(train.images, train.masks)
    assert list(rgb_ndvi.band_stats_["bands"]) == list(rgb_ndvi.band_names_) == ["B04", "B03", "B02", "B08"]


def test_no_false_alarm_on_the_twins_own_test_images(split, model):
    test = split["test"]
    _, found = _domain_warnings(lambda: model.predict(test.images))
    assert found == []
    for image in test.images:  # nor on any single test tile
        assert all(check.ok for check in check_domain(model.band_stats_, sample_pixels(image[None]), BAND_NAMES))


@pytest.mark.parametrize("mismatch", list(MISMATCHES))
def test_each_mismatch_warns_naming_bands_and_cause_and_strict_refuses(split, model, mismatch):
    transform, cause, bands = MISMATCHES[mismatch]
    X = transform(split["test"].images)
    checks = check_domain(model.band_stats_, sample_pixels(X), BAND_NAMES)
    flagged = {check.band: check.cause for check in checks if not check.ok}
    assert set(bands) <= set(flagged) and all(cause in flagged[band] for band in bands)
    mask, found = _domain_warnings(lambda: model.predict(X))
    assert mask.shape == X[:, 0].shape and len(found) == 1
    assert cause in found[0] and all(f"{band} (median " in found[0] for band in bands)
    with pytest.raises(DomainError, match=re.escape(cause)):
        model.predict(X, strict=True)


def test_reversed_bands_are_matched_to_the_band_they_hold(split, model):
    checks = {c.band: c for c in check_domain(model.band_stats_, sample_pixels(MISMATCHES["reversed bands"][0](
        split["test"].images)), BAND_NAMES)}
    assert "fit band DEM best" in checks["B02"].cause  # B02's slot holds the DEM


def test_models_without_statistics_skip_the_check(split, model, tmp_path):
    loaded = RandomForestSegmenter.load(model.save(tmp_path / "rf.skops"))
    assert loaded.band_stats_ == model.band_stats_
    del loaded.band_stats_  # as a model saved before the guard existed
    X = MISMATCHES["scaled 0-1"][0](split["test"].images[:2])
    _, found = _domain_warnings(lambda: loaded.predict(X, strict=True))
    assert found == []
    with pytest.raises(ValueError, match="no training statistics"):
        check_scene(loaded, tmp_path / "any.tif")


def _scene(path, images, n_columns, transform):
    """Tiles (row by row) as one GeoTIFF with the band names in its descriptions."""
    rows = -(-len(images) // n_columns)
    data = np.full((13, rows * 128, n_columns * 128), np.nan, np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, n_columns)
        data[:, r * 128:(r + 1) * 128, c * 128:(c + 1) * 128] = image
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=13, dtype="float32",
                       crs="EPSG:32630", transform=transform) as dst:
        dst.write(data)
        dst.descriptions = BAND_NAMES
    return path


@pytest.fixture(scope="module")
def scenes(split, tmp_path_factory):
    folder = tmp_path_factory.mktemp("domain")
    test = split["test"]
    return {"good": _scene(folder / "good.tif", test.images[:6], 3, test.transforms[0]),
            "scaled": _scene(folder / "scaled.tif", MISMATCHES["scaled 0-1"][0](test.images[:6]), 3,
                             test.transforms[0])}


def test_predict_scene_warns_or_refuses_before_writing(model, scenes, twin_root, tmp_path):
    mosaic = mosaic_tiles(twin_root, 2022, tmp_path / "mosaic.vrt")
    for scene in (mosaic, scenes["good"]):  # NaN where no tile lies: left out of the sample
        _, found = _domain_warnings(lambda: predict_scene(model, scene, tmp_path / "ok.tif", window_size=256,
                                                          progress=False))
        assert found == []
    out, found = _domain_warnings(lambda: predict_scene(model, scenes["scaled"], tmp_path / "warned.tif",
                                                        progress=False))
    assert out.is_file() and len(found) == 1 and "scaled.tif" in found[0] and "scaled 0-1" in found[0]
    with pytest.raises(DomainError, match=r"B02 \(median .*scaled 0-1"):
        predict_scene(model, scenes["scaled"], tmp_path / "refused.tif", progress=False, strict=True)
    assert not (tmp_path / "refused.tif").exists()


def test_a_band_missing_in_the_scene_hides_no_other(model, split, tmp_path):
    """Radar missing everywhere (NaN) and nodata pixels in B02: the other bands are still checked, pixel by pixel."""
    images = _apply(split["test"].images[:4], S1, lambda v: np.full_like(v, np.nan))
    images[:, 0, :40] = -9999
    path = _scene(tmp_path / "no_radar.tif", images, 2, split["test"].transforms[0])
    with rasterio.open(path, "r+") as dst:
        dst.nodata = -9999
    checks = {c.band: c for c in check_scene(model, path)}
    assert checks["VV"].ok is None and checks["VH"].ok is None and np.isnan(checks["VV"].input).all()
    assert all(checks[band].ok for band in BAND_NAMES if band not in ("VV", "VH"))
    assert checks["B02"].input[0] > 0  # the -9999 pixels were left out
    scaled = _scene(tmp_path / "no_radar_scaled.tif", MISMATCHES["scaled 0-1"][0](images), 2,
                    split["test"].transforms[0])
    assert [c.band for c in check_scene(model, scaled) if c.ok is False] == list(BAND_NAMES[:10])


def test_check_scene_table_and_exit_codes(model, scenes, tmp_path, capsys):
    model_path = model.save(tmp_path / "rf.skops")
    assert main(["check-scene", str(scenes["good"]), "--model", str(model_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["band", "train", "q01", "train"] and len(lines) == 1 + 13 + 1
    assert all(line.split()[0] == band and " ok " in line for line, band in zip(lines[1:14], BAND_NAMES))
    assert "looks like its training data" in lines[-1]

    assert main(["check-scene", str(scenes["scaled"]), "--model", str(model_path)]) == 1
    captured = capsys.readouterr()
    b02 = next(line for line in captured.out.splitlines() if line.startswith("B02 "))
    assert "OUT OF RANGE" in b02 and "scaled 0-1" in b02
    training_median = float(b02.split()[2])
    assert training_median == pytest.approx(model.band_stats_["bands"]["B02"][2], rel=1e-3)
    dem = next(line for line in captured.out.splitlines() if line.startswith("DEM "))
    assert " ok " in dem  # only the Sentinel-2 bands were scaled
    assert "do not look like the model's training data" in captured.err

    # predict warns on stderr in plain words and still writes; --strict refuses and writes nothing
    assert main(["-q", "predict", str(model_path), str(scenes["scaled"]), "-o", str(tmp_path / "map.tif")]) == 0
    assert "smallmines predict: warning:" in capsys.readouterr().err and (tmp_path / "map.tif").is_file()
    assert main(["-q", "predict", str(model_path), str(scenes["scaled"]), "-o", str(tmp_path / "strict.tif"),
                 "--strict"]) == 1
    assert "scaled 0-1" in capsys.readouterr().err and not (tmp_path / "strict.tif").exists()
