"""Pixels with no data (NaN) in a band the forest reads are left out of training, and counted."""

import numpy as np
import pytest

from smallmines_classic import InputError, RandomForestSegmenter

BLUE, VV = 0, 10


@pytest.fixture(scope="module")
def holed(tile_split):
    """Six twin patches: 1280 VV pixels and 128 blue pixels with no data, in different places."""
    (X, y), _ = tile_split
    X, y = np.array(X[:6]), np.array(y[:6])
    X[0, VV, :10] = np.nan
    X[1, BLUE, 5] = np.nan
    return X, y


def _fit_capturing(model, X, y):
    """Fit ``model``, returning the feature matrix and labels its forest was trained on."""
    seen = {}
    fit_cpu = model._fit_cpu
    model._fit_cpu = lambda features, labels: seen.update(features=features, labels=labels) or fit_cpu(features, labels)
    model.fit(X, y)
    return seen["features"], seen["labels"]


@pytest.mark.parametrize("bands, missing", [("rgb", 128), ("all", 128 + 1280)])
def test_pixels_with_no_data_in_a_band_read_are_left_out_and_counted(holed, bands, missing):
    X, y = holed
    model = RandomForestSegmenter(bands=bands, n_estimators=2, undersample=False, random_state=0)
    features, labels = _fit_capturing(model, X, y)
    assert model.n_missing_pixels_ == missing
    assert model.n_training_pixels_ == y.size - missing == len(features)
    assert np.isfinite(features).all()
    assert labels.sum() == y.sum() - y[0, :10].sum() * (bands == "all") - y[1, 5].sum()


def test_undersampling_balances_the_pixels_with_data(holed):
    X, y = holed
    model = RandomForestSegmenter(bands="all", n_estimators=2, random_state=0)
    features, labels = _fit_capturing(model, X, y)
    present = np.isfinite(X).all(axis=1)
    assert labels.sum() == y[present].sum() == len(labels) // 2
    assert np.isfinite(features).all() and model.n_missing_pixels_ == (~present).sum()


def test_no_missing_data_changes_nothing(tile_split):
    (X, y), _ = tile_split
    model = RandomForestSegmenter(bands="rgb", n_estimators=2, random_state=0).fit(X, y)
    assert model.n_missing_pixels_ == 0 and model.n_training_pixels_ == 2 * int(y.sum())


def test_one_class_left_after_the_missing_pixels_is_refused(holed):
    X, y = holed
    X = X.copy()
    X[:, BLUE][y == 1] = np.nan
    with pytest.raises(InputError, match="pixels have none"):
        RandomForestSegmenter(bands="rgb", n_estimators=2).fit(X, y)
