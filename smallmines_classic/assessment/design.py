"""The sample design: how many points (Olofsson et al. 2014, eq. 13), how many per class, and which pixels.

Stratified random sampling with the map classes as strata; the map is read
block by block and never held whole.
"""

import numpy as np
import rasterio.transform
import rasterio.warp

from ..errors import InputError, SceneError
from ..io.maps import check_map, count_values, map_blocks, measure_values, n_map_classes, open_map
from ..io.raster import MAP_NODATA

__all__ = ["sample_size", "allocate_sample", "map_class_counts", "map_class_areas", "stratified_sample"]


def sample_size(users_accuracy, weights, target_se):
    """Total sample size for a target standard error of overall accuracy (Olofsson et al. 2014, eq. 13).

    Cochran's formula for stratified random sampling: n = (sum W_i S_i / S(O))^2
    with S_i = sqrt(U_i (1 - U_i)), rounded up.

    Parameters
    ----------
    users_accuracy : array-like of shape (k,)
        Expected user's accuracy of each map class (the strata).
    weights : array-like of shape (k,)
        Mapped area shares (or areas: they are normalised).
    target_se : float
        Target standard error of overall accuracy, e.g. 0.01.
    """
    users, weights = np.asarray(users_accuracy, float), np.asarray(weights, float)
    if users.shape != weights.shape or ((users < 0) | (users > 1)).any() or (weights < 0).any() or weights.sum() <= 0:
        raise InputError("users_accuracy (in [0, 1]) and weights (non-negative) must have one entry per class")
    if target_se <= 0:
        raise InputError(f"target_se must be positive, got {target_se}")
    weights = weights / weights.sum()
    return int(np.ceil((weights @ np.sqrt(users * (1 - users)) / target_se) ** 2))


def allocate_sample(class_pixels, n, min_per_class=50):
    """Proportional allocation of ``n`` sample units with a floor for rare classes.

    Classes whose proportional share falls below ``min_per_class`` get the
    floor, as Olofsson et al. (2014) recommend; the rest is shared
    proportionally among the others, rounded so the total is ``n``. No class
    gets more units than it has pixels; classes with no pixels get none.
    """
    pixels = np.asarray(class_pixels, dtype=np.int64)
    present = pixels > 0
    floor = np.minimum(min_per_class, pixels)
    if n < floor.sum() or n > pixels.sum():
        raise InputError(f"n={n} must be at least the floors ({int(floor.sum())}: {min_per_class} per class, "
                         f"{int(present.sum())} classes) and at most the {int(pixels.sum())} mapped pixels")
    floored = np.zeros(len(pixels), bool)
    while True:  # the set of floored classes only grows, so this ends
        free = present & ~floored
        share = (n - floor[floored].sum()) * pixels * free / max(pixels[free].sum(), 1)
        newly = free & (share < floor)
        if not newly.any():
            break
        floored |= newly
    alloc = np.where(floored, floor, np.floor(share)).astype(np.int64)
    remainder = share - np.floor(share)
    for i in np.argsort(-remainder * free, kind="stable")[: n - alloc.sum()]:
        alloc[i] += 1
    return np.minimum(alloc, pixels)


def map_class_counts(src, n_classes=None):
    """Pixels of each class in band 1 of an open mask or change map, block by block; nodata is not counted.

    The map is checked as every reader of maps checks it (an image, a
    composite's observation count or values other than the classes are
    refused, naming the file); its declared nodata value is honoured.
    ``n_classes`` defaults to the map's: 2 for a mask map, 4 for a change map.
    """
    k = _checked_classes(src, n_classes)
    return _only_classes(src, count_values(src), k)


def map_class_areas(src, n_classes=None):
    """Pixels and square metres of each class of an open mask or change map, as :func:`map_class_counts` counts them.

    The areas are the sums of the pixels' own areas
    (:func:`smallmines_classic.io.maps.row_areas_m2`): the mapped areas
    Olofsson's estimators weigh the strata by, also where pixels differ in
    area (a map in degrees).

    Returns
    -------
    pixels : ndarray of int64, shape (k,)
    m2 : ndarray of float, shape (k,)
    """
    k = _checked_classes(src, n_classes)
    pixels, m2 = measure_values(src)
    return _only_classes(src, pixels, k), m2[:k]


def _checked_classes(src, n_classes):
    check_map(src, change=True)
    return n_classes or n_map_classes(src)


def _only_classes(src, pixels, k):
    """The first ``k`` of ``pixels`` (of each value 0..255), refusing a map with pixels between k and nodata."""
    if pixels[k:MAP_NODATA].any():
        raise SceneError(f"{src.name} has classes above {k - 1}: {np.flatnonzero(pixels[k:MAP_NODATA]) + k}")
    return pixels[:k]


def stratified_sample(map_path, n, min_per_class=50, seed=None):
    """Draw a stratified random sample of pixels from a map, the map classes being the strata.

    The map is read twice, block by block, and never held whole: once to
    count each class, then to pick the pixels whose rank within their class
    was drawn (each class's pixels are equally likely, without replacement).
    Nodata pixels are never sampled.

    Parameters
    ----------
    map_path : str or Path
        A mining mask (``smallmines predict``) or a change map
        (``smallmines change``); band 1 classes 0..k-1, 255 or another
        declared nodata value. Anything else (an image, a composite's
        observation count) is refused, as every reader of maps refuses it.
    n : int
        Total sample size (see :func:`sample_size`).
    min_per_class : int
        Floor of the proportional allocation (:func:`allocate_sample`).
    seed : int or None

    Returns
    -------
    points : dict of ndarray
        ``id`` (1..n, in random order of the sample so labellers see no
        class pattern), ``map_class``, ``x``, ``y`` (pixel centres in the
        map's CRS), ``lon``, ``lat`` (WGS 84).
    class_pixels : ndarray
        Mapped pixels of each class.
    crs : rasterio.crs.CRS
    """
    rng = np.random.default_rng(seed)
    with open_map(map_path, change=True) as src:
        if src.crs is None:
            raise SceneError(f"{map_path} has no CRS: points need coordinates")
        class_pixels = map_class_counts(src)
        alloc = allocate_sample(class_pixels, n, min_per_class)
        ranks = [np.sort(rng.choice(int(c), int(a), replace=False)) for c, a in zip(class_pixels, alloc)]
        seen = np.zeros(len(class_pixels), np.int64)
        rows, cols, classes = [], [], []
        for core, values in map_blocks(src):
            block = values.ravel()
            for c, wanted in enumerate(ranks):
                where = np.flatnonzero(block == c)
                lo, hi = np.searchsorted(wanted, [seen[c], seen[c] + where.size])
                picked = where[wanted[lo:hi] - seen[c]]
                seen[c] += where.size
                rows.append(core.row_off + picked // core.width)
                cols.append(core.col_off + picked % core.width)
                classes.append(np.full(picked.size, c, np.uint8))
        rows, cols, classes = np.concatenate(rows), np.concatenate(cols), np.concatenate(classes)
        x, y = rasterio.transform.xy(src.transform, rows, cols, offset="center")
        x, y = np.asarray(x, float), np.asarray(y, float)
        lon, lat = rasterio.warp.transform(src.crs, "EPSG:4326", x, y)
        crs = src.crs
    order = rng.permutation(len(rows))
    points = {"id": np.arange(1, len(rows) + 1), "map_class": classes[order], "x": x[order], "y": y[order],
              "lon": np.asarray(lon)[order], "lat": np.asarray(lat)[order]}
    return points, class_pixels, crs
