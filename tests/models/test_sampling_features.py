import numpy as np
import pytest
from imblearn.under_sampling import RandomUnderSampler

from smallmines_classic import pixel_features, required_bands, undersample_indices
from smallmines_classic.errors import InputError
from smallmines_classic.models import sampling as sampling_module


@pytest.mark.parametrize("share", [0.03, 0.3, 0.8])
@pytest.mark.parametrize("ratio", [1.0, 0.5])
def test_class_counts_equal_imbalanced_learn(rng, share, ratio):
    y = (rng.random((6, 40, 40)) < share).astype(np.uint8)
    index = undersample_indices(y, ratio=ratio, random_state=0)
    _, reference = RandomUnderSampler(sampling_strategy=ratio, random_state=0).fit_resample(
        np.zeros((y.size, 1)), y.ravel())
    assert np.bincount(y.ravel()[index], minlength=2).tolist() == np.bincount(reference, minlength=2).tolist()
    assert np.all(np.diff(index) > 0)  # sorted, no duplicates
    minority = 1 if share < 0.5 else 0
    assert np.array_equal(np.sort(index[y.ravel()[index] == minority]), np.flatnonzero(y.ravel() == minority))


def test_chunked_draw_is_uniform_and_exact(rng, monkeypatch):
    monkeypatch.setattr(sampling_module, "_CHUNK", 1000)
    y = np.zeros(10_000, np.uint8)
    y[:2500] = 1
    hits = np.zeros(y.size)
    for seed in range(200):
        index = undersample_indices(y, random_state=seed)
        assert np.count_nonzero(y[index] == 0) == 2500
        hits[index] += 1
    majority_rate = hits[2500:] / 200
    assert abs(majority_rate.mean() - 1 / 3) < 0.01
    assert abs(majority_rate[:2500].mean() - majority_rate[-2500:].mean()) < 0.03  # no positional bias


def test_seeded_and_validated(rng):
    y = (rng.random((3, 20, 20)) < 0.1).astype(np.uint8)
    assert np.array_equal(undersample_indices(y, random_state=4), undersample_indices(y, random_state=4))
    with pytest.raises(InputError, match="ratio"):
        undersample_indices(y, ratio=0)


def test_features_gather_the_named_bands_at_the_pixels(rng):
    X = rng.random((3, 13, 8, 9)).astype(np.float32) * 1000
    index = np.array([0, 5, 100, 3 * 72 - 1])
    n, h, w = np.unravel_index(index, (3, 8, 9))
    features = pixel_features(X, "rgb+", index=index)
    np.testing.assert_array_equal(features, X[n][:, [0, 1, 2, 7, 8, 9]][np.arange(4), :, h, w])
    everything = pixel_features(X, "rgb")
    np.testing.assert_array_equal(everything, X[:, [2, 1, 0]].transpose(0, 2, 3, 1).reshape(-1, 3))


def test_derived_indices_follow_their_formulas(rng):
    X = rng.uniform(100, 5000, (2, 13, 6, 6)).astype(np.float32)
    X[:, 12] = rng.uniform(100, 200, (2, 6, 6))
    f = pixel_features(X, ["B04"], derived=("ndvi", "mndwi", "bsi", "vh_vv", "slope"))
    b = {name: X[:, i].ravel() for i, name in enumerate(["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11",
                                                         "B12", "VV", "VH", "DEM"])}
    np.testing.assert_allclose(f[:, 1], (b["B08"] - b["B04"]) / (b["B08"] + b["B04"]), rtol=1e-5)
    np.testing.assert_allclose(f[:, 2], (b["B03"] - b["B11"]) / (b["B03"] + b["B11"]), rtol=1e-5)
    bsi = ((b["B11"] + b["B04"]) - (b["B08"] + b["B02"])) / ((b["B11"] + b["B04"]) + (b["B08"] + b["B02"]))
    np.testing.assert_allclose(f[:, 3], bsi, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f[:, 4], b["VH"] - b["VV"], rtol=1e-5)
    dz_dy, dz_dx = np.gradient(X[:, 12].astype(np.float64), 10.0, axis=(1, 2))
    np.testing.assert_allclose(f[:, 5], np.degrees(np.arctan(np.hypot(dz_dx, dz_dy))).ravel(), rtol=1e-4)
    assert required_bands("rgb", ("ndvi", "slope")) == ("B04", "B03", "B02", "B08", "DEM")
    with pytest.raises(InputError, match="unknown derived feature"):
        pixel_features(X, "rgb", derived=("evi",))
