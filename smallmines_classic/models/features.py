"""Per-pixel features from (N, C, H, W) stacks, gathered at pixel indices.

Features are the selected raw bands followed by optional derived indices.
Values are gathered straight from the stack at the requested pixels, so the
memory used scales with the number of pixels asked for, never with the
stack. Derived indices (reflectances on the 0..10000 scale; dB for S1):

============  =====================================================  ==================
name          formula                                                bands
============  =====================================================  ==================
``ndvi``      (B08 - B04) / (B08 + B04)                              vegetation
``ndwi``      (B03 - B08) / (B03 + B08)  (McFeeters)                 open water
``mndwi``     (B03 - B11) / (B03 + B11)  (Xu)                        turbid water, ponds
``nbr``       (B08 - B12) / (B08 + B12)                              bare / burnt ground
``bsi``       ((B11 + B04) - (B08 + B02)) / ((B11 + B04) + (B08 + B02))   bare soil
``vh_vv``     VH - VV  (dB, i.e. the log of the VH / VV ratio)       radar roughness
``slope``     DEM slope in degrees, central differences, 10 m pixels  terrain
============  =====================================================  ==================

A zero denominator gives 0.
"""

import numpy as np

from ..bands import BAND_NAMES, band_indices, resolve_bands
from ..errors import InputError

__all__ = ["DERIVED_FEATURES", "pixel_features", "feature_names", "required_bands", "all_pixels"]

PIXEL_SIZE_M = 10.0


def _normalised_difference(a, b):
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total != 0)


DERIVED_FEATURES = {
    "ndvi": (("B08", "B04"), _normalised_difference),
    "ndwi": (("B03", "B08"), _normalised_difference),
    "mndwi": (("B03", "B11"), _normalised_difference),
    "nbr": (("B08", "B12"), _normalised_difference),
    "bsi": (("B11", "B04", "B08", "B02"), lambda swir, red, nir, blue: _normalised_difference(swir + red, nir + blue)),
    "vh_vv": (("VH", "VV"), np.subtract),
}
"""The derived indices of ``derived=``: name -> (bands it reads, function of those bands' values at the pixels).
A zero denominator gives 0. ``"slope"`` (the DEM's slope in degrees) is computed on the image, not listed here."""
_NEIGHBOURHOOD_FEATURES = {"slope": ("DEM",)}


def feature_names(bands, derived=()):
    """Names of the feature columns: the bands, then the derived indices."""
    unknown = set(derived) - set(DERIVED_FEATURES) - set(_NEIGHBOURHOOD_FEATURES)
    if unknown:
        valid = sorted(DERIVED_FEATURES) + list(_NEIGHBOURHOOD_FEATURES)
        raise InputError(f"unknown derived feature(s) {sorted(unknown)}; valid are {valid}")
    return (*resolve_bands(bands), *derived)


def required_bands(bands, derived=()):
    """Every band the features read: the raw bands, then those only the derived indices need."""
    names = list(resolve_bands(bands))
    feature_names(bands, derived)  # validates the derived names
    for name in derived:
        needed = DERIVED_FEATURES[name][0] if name in DERIVED_FEATURES else _NEIGHBOURHOOD_FEATURES[name]
        names += [band for band in needed if band not in names]
    return tuple(names)


def all_pixels(shape):
    """Flat indices of every pixel of an (N, H, W) stack."""
    return np.arange(int(np.prod(shape)), dtype=np.int64)


def _gather(X, channel, n, h, w):
    return X[n, channel, h, w].astype(np.float32, copy=False)


def _slope(X, channel, n, h, w):
    height, width = X.shape[2:]
    up, down = np.maximum(h - 1, 0), np.minimum(h + 1, height - 1)
    left, right = np.maximum(w - 1, 0), np.minimum(w + 1, width - 1)
    dz_dy = (_gather(X, channel, n, down, w) - _gather(X, channel, n, up, w)) / ((down - up) * PIXEL_SIZE_M)
    dz_dx = (_gather(X, channel, n, h, right) - _gather(X, channel, n, h, left)) / ((right - left) * PIXEL_SIZE_M)
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy))).astype(np.float32)


def pixel_features(X, bands, derived=(), index=None, band_names=BAND_NAMES):
    """Feature matrix of the pixels at ``index``.

    Parameters
    ----------
    X : ndarray of shape (N, C, H, W)
        Image stack whose C bands are named by ``band_names``.
    bands : str or sequence of str
        Raw bands to use as features.
    derived : sequence of str
        Derived indices to append (see module docstring).
    index : ndarray of int or None
        Flat indices into (N, H, W); None means every pixel, image by image.
    band_names : sequence of str
        Names of the C bands of ``X``.

    Returns
    -------
    ndarray of shape (n_pixels, n_features), float32
    """
    names = feature_names(bands, derived)
    if index is None:
        index = all_pixels((X.shape[0], *X.shape[2:]))
    n, h, w = np.unravel_index(index, (X.shape[0], *X.shape[2:]))
    out = np.empty((len(index), len(names)), np.float32)
    raw = resolve_bands(bands)
    for column, channel in enumerate(band_indices(raw, band_names)):
        out[:, column] = _gather(X, channel, n, h, w)
    for column, name in enumerate(derived, start=len(raw)):
        if name == "slope":
            out[:, column] = _slope(X, band_indices("DEM", band_names)[0], n, h, w)
        else:
            needed, formula = DERIVED_FEATURES[name]
            out[:, column] = formula(*(_gather(X, c, n, h, w) for c in band_indices(needed, band_names)))
    return out
