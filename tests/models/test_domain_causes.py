"""The domain guard names its cause: no valid pixel, a shift, or bands in another order."""

import numpy as np
import pytest
import rasterio

from smallmines_classic import BAND_NAMES, RandomForestSegmenter, check_scene, mined_area
from smallmines_classic.cli import main
from smallmines_classic.models.domain import check_domain, sample_pixels
from tests.helpers import one_error_line, write_raster


@pytest.fixture(scope="module")
def rgb_model(twin):
    return RandomForestSegmenter(bands="rgb", n_estimators=2, max_pixels=2000,
                                 random_state=0).fit(twin.images, twin.masks)


def test_an_all_nan_scene_fails_check_scene_and_strict_predict(rgb_model, tmp_path, capsys):
    scene = write_raster(tmp_path / "empty.tif", np.full((13, 64, 64), np.nan), dtype="float32", nodata=None)
    with rasterio.open(scene, "r+") as dst:
        dst.descriptions = BAND_NAMES
    assert all(check.ok is None for check in check_scene(rgb_model, scene))
    model = rgb_model.save(tmp_path / "rf.skops")
    assert main(["check-scene", str(scene), "--model", str(model)]) == 1
    captured = capsys.readouterr()
    assert "looks like its training data" not in captured.out and captured.out.count("no valid pixels") == 3
    assert "have no valid pixel where sampled" in captured.err
    assert main(["-q", "predict", str(model), str(scene), "-o", str(tmp_path / "map.tif"), "--strict"]) == 1
    assert "has no valid pixel (only NaN or nodata)" in one_error_line(capsys, "predict")
    assert not (tmp_path / "map.tif").exists()
    assert main(["-q", "predict", str(model), str(scene), "-o", str(tmp_path / "map.tif")]) == 0
    assert "no band it reads has one: everywhere" in capsys.readouterr().err
    assert mined_area(tmp_path / "map.tif")["nodata"]["pixels"] == 64 * 64


@pytest.fixture(scope="module")
def all_bands(twin_root):
    from smallmines_classic import load_smallminesds

    train, test = (load_smallminesds(twin_root, split=side, progress=False) for side in ("train", "test"))
    model = RandomForestSegmenter(bands="all", n_estimators=4, max_pixels=5000,
                                  random_state=0).fit(train.images, train.masks)
    return model, test.images


def _causes(model, X):
    return {c.band: c.cause for c in check_domain(model.band_stats_, sample_pixels(X), BAND_NAMES) if c.ok is False}


def _edited(X, bands, function):
    out = X.copy()
    index = [BAND_NAMES.index(b) for b in bands]
    out[:, index] = function(out[:, index])
    return out


@pytest.mark.parametrize("bands, function, words", [
    (("B02", "B03", "B04"), lambda v: v * 0.65, "optical bands lower than in training by ~3"),
    (BAND_NAMES[:10], lambda v: v * 0.65, "all optical bands lower than in training by"),
    (BAND_NAMES[:10], lambda v: v * 2.0, "all optical bands higher than in training by ~10"),
    (("DEM",), lambda v: v + 500, "the DEM higher than in training by ~4"),
    (("VV", "VH"), lambda v: v + 6, "all radar bands higher than in training by ~5"),
])
def test_a_shift_of_correctly_named_bands_is_named_and_no_band_order_is_suggested(all_bands, bands, function, words):
    model, X = all_bands
    causes = _causes(model, _edited(X, bands, function))
    assert causes and set(causes) <= set(bands)
    for cause in causes.values():
        assert words in cause and "another order" not in cause
        assert "`smallmines composite`" in cause and "retrain / fine-tune on local labels" in cause


@pytest.mark.parametrize("swap", [("B04", "B8A"), ("B02", "B11"), ("B02", "DEM"), ("B04", "VV")])
def test_swapped_bands_are_still_taken_for_a_band_order(all_bands, swap):
    model, X = all_bands
    a, b = (BAND_NAMES.index(name) for name in swap)
    swapped = X.copy()
    swapped[:, [a, b]] = X[:, [b, a]]
    causes = _causes(model, swapped)
    assert causes and set(causes) <= set(swap)
    for band, cause in causes.items():
        assert f"fit band {swap[1] if band == swap[0] else swap[0]} best: bands in another order?" in cause
