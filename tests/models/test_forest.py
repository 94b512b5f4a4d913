import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import jaccard_score

from smallmines_classic import BandError, InputError, ModelFileError, RandomForestSegmenter, segmentation_scores
from smallmines_classic.models import persistence


@pytest.fixture(scope="module")
def split(tile_split):
    return tile_split


@pytest.fixture(scope="module")
def fitted(split):
    (X, y), _ = split
    return RandomForestSegmenter(bands="rgb+", n_estimators=15, max_pixels=30_000, random_state=0, n_jobs=2).fit(X, y)


def test_params_are_stored_verbatim_and_clone(fitted):
    model = RandomForestSegmenter(bands=["blue", "red"], derived=("ndvi",), n_estimators=7)
    assert model.get_params()["bands"] == ["blue", "red"]
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "forest_")
    assert model.set_params(n_estimators=9).n_estimators == 9
    assert not hasattr(clone(fitted), "band_names_")


def test_not_fitted_error(split):
    _, (X, _) = split
    with pytest.raises(NotFittedError):
        RandomForestSegmenter().predict(X)


def test_shapes_dtypes_and_score(fitted, split):
    _, (X, y) = split
    proba = fitted.predict_proba(X)
    pred = fitted.predict(X)
    assert proba.shape == pred.shape == y.shape
    assert proba.dtype == np.float32 and pred.dtype == np.uint8
    assert proba.min() >= 0 and proba.max() <= 1
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(np.uint8))
    assert fitted.score(X, y) == pytest.approx(jaccard_score(y.ravel(), pred.ravel()))
    assert fitted.band_names_ == ("B02", "B03", "B04", "B8A", "B11", "B12")


def test_undersampling_balances_the_training_pixels(split):
    (X, y), _ = split
    model = RandomForestSegmenter(bands="rgb", n_estimators=2, random_state=0).fit(X, y)
    assert model.n_training_pixels_ == 2 * int(y.sum())
    model = RandomForestSegmenter(bands="rgb", n_estimators=2, undersample=False, max_pixels=5000).fit(X, y)
    assert model.n_training_pixels_ == 5000


def test_bands_are_taken_by_name_not_position(fitted, split):
    _, (X, _) = split
    order = np.random.default_rng(0).permutation(13)
    names = [fitted_name for fitted_name in np.array(
        ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "VV", "VH", "DEM"))[order]]
    np.testing.assert_array_equal(fitted.predict_proba(X[:, order], band_names=names), fitted.predict_proba(X))
    six = X[:, [0, 1, 2, 7, 8, 9]]
    np.testing.assert_array_equal(fitted.predict_proba(six, band_names="rgb+"), fitted.predict_proba(X))


def test_wrong_bands_are_refused_with_expected_and_got(fitted, split):
    _, (X, _) = split
    # The paper-script mistake: the first six bands, believed to be the RGB+ set.
    with pytest.raises(BandError, match=r"has 6 bands: pass band_names"):
        fitted.predict(X[:, :6])
    with pytest.raises(BandError, match=r"trained on bands \['B02', 'B03', 'B04', 'B8A', 'B11', 'B12'\] expected, "
                                        r"but the input holds \['B02', 'B03', 'B04', 'B05', 'B06', 'B07'\]"):
        fitted.predict(X[:, :6], band_names=["B02", "B03", "B04", "B05", "B06", "B07"])
    with pytest.raises(BandError, match=r"X has 6 bands but band_names names 3: \['B04', 'B03', 'B02'\]"):
        fitted.predict_proba(X[:, :6], band_names="rgb")


def test_batched_prediction_is_independent_of_batch_size(fitted, split):
    _, (X, _) = split
    one = clone(fitted).set_params(batch_size=1)
    one.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    np.testing.assert_array_equal(one.predict_proba(X), fitted.predict_proba(X))


def test_save_load_round_trip_and_errors(fitted, split, tmp_path, monkeypatch):
    _, (X, _) = split
    path = fitted.save(tmp_path / "rf.skops")
    loaded = RandomForestSegmenter.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.band_names_ == fitted.band_names_ and loaded.feature_names_ == fitted.feature_names_
    assert [p.name for p in tmp_path.iterdir()] == ["rf.skops"]  # no temp file left
    (tmp_path / "junk.skops").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="junk.skops"):
        RandomForestSegmenter.load(tmp_path / "junk.skops")

    class OtherSegmenter(RandomForestSegmenter):
        pass

    with pytest.raises(ModelFileError, match="holds a RandomForestSegmenter, not a OtherSegmenter"):
        OtherSegmenter.load(path)
    monkeypatch.setattr(persistence, "package_version", lambda: "9.3.0")  # a later release reads the same format
    np.testing.assert_array_equal(RandomForestSegmenter.load(path).predict_proba(X), fitted.predict_proba(X))


def test_derived_features_read_extra_bands(split):
    (X, y), (Xt, _) = split
    model = RandomForestSegmenter(bands="rgb", derived=("ndvi", "slope"), n_estimators=3, max_pixels=5000,
                                  random_state=0).fit(X, y)
    assert model.band_names_ == ("B04", "B03", "B02", "B08", "DEM")
    assert model.feature_names_ == ("B04", "B03", "B02", "ndvi", "slope")
    assert model.predict(Xt).shape == (len(Xt), 128, 128)


def test_swir_and_nir_help_on_the_twin(split):
    (X, y), (Xt, yt) = split
    def iou(bands):
        model = RandomForestSegmenter.from_preset(f"paper-{bands}", n_estimators=20, max_pixels=40_000).fit(X, y)
        return segmentation_scores(yt, model.predict(Xt))["iou"]

    scores = {bands: iou(bands) for bands in ("rgb", "rgb+")}
    assert scores["rgb+"] > scores["rgb"] + 0.05
    assert scores["rgb+"] < 0.99  # the twin must not be trivially separable


def test_paper_presets():
    model = RandomForestSegmenter.from_preset("paper-rgb")
    assert (model.bands, model.n_estimators, model.undersample, model.random_state) == ("rgb", 300, True, 42)
    with pytest.raises(InputError, match="unknown preset"):
        RandomForestSegmenter.from_preset("paper-xyz")


def test_gpu_request_without_gpu(split):
    (X, y), _ = split
    try:
        import cuml  # noqa: F401
        pytest.skip("cuML is installed; see the gpu-marked test")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match="device='gpu' needs cupy, cuml .*smallmines\\[gpu\\]"):
        RandomForestSegmenter(device="gpu", n_estimators=2).fit(X[:2], y[:2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = RandomForestSegmenter(device="auto", n_estimators=2, max_pixels=2000).fit(X, y)
    assert model.device_ == "cpu"
    assert any("using the CPU" in str(w.message) for w in caught)


@pytest.mark.gpu
def test_gpu_forest_matches_cpu_quality(split):
    pytest.importorskip("cuml")
    (X, y), (Xt, yt) = split
    gpu = RandomForestSegmenter(device="gpu", n_estimators=20, max_pixels=40_000, random_state=0).fit(X, y)
    cpu = RandomForestSegmenter(device="cpu", n_estimators=20, max_pixels=40_000, random_state=0).fit(X, y)
    assert gpu.device_ == "gpu"
    assert abs(gpu.score(Xt, yt) - cpu.score(Xt, yt)) < 0.05


def test_bad_fit_input(split):
    (X, y), _ = split
    with pytest.raises(InputError, match="both mining"):
        RandomForestSegmenter().fit(X[:1], np.zeros_like(y[:1]))
    with pytest.raises(InputError, match="must have shape"):
        RandomForestSegmenter().fit(X, y[:, :5])
    with pytest.raises(InputError, match="shape \\(N, C, H, W\\)"):
        RandomForestSegmenter().fit(X[0], y[0])


def test_predict_breaks_ties_as_sklearn_predict(split):
    (X, y), (Xt, _) = split
    model = RandomForestSegmenter(bands="rgb", n_estimators=4, max_pixels=3000, random_state=1).fit(X, y)
    features = Xt[:, [2, 1, 0]].transpose(0, 2, 3, 1).reshape(-1, 3)
    assert np.any(model.forest_.predict_proba(features)[:, 1] == 0.5)  # 4 trees: ties do occur
    np.testing.assert_array_equal(model.predict(Xt).ravel(), model.forest_.predict(features))
