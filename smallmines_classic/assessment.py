"""Area you can report: stratified sampling of a map, accuracy and error-adjusted area with intervals.

The estimators are those of Olofsson et al. (2014), "Good practices for
estimating area and assessing accuracy of land change", Remote Sensing of
Environment 148: 42-57 (eqs. 2-10, 13), and, where the sample's strata are
not the map's classes, Stehman (2014), International Journal of Remote
Sensing 35: 4923-4939. Also a bootstrap over patches for the intervals of
benchmark scores. :mod:`.metrics` counts pixels; this module does the
statistics.
"""

import csv
import json
from dataclasses import asdict, dataclass

import numpy as np
import rasterio
import rasterio.transform
import rasterio.warp
from scipy.stats import norm

from ._atomic import atomic_path
from ._backend import require
from .analysis import _CHANGE_DESCRIPTION, CHANGE_CLASSES, _pixel_area_m2
from .metrics import SCORE_NAMES, scores_from_counts
from .scene import MAP_NODATA, scene_windows

__all__ = ["AreaEstimate", "estimate_area", "estimate_area_stehman", "sample_size", "allocate_sample", "map_class_counts",
           "stratified_sample", "write_points", "read_points", "assess_map", "bootstrap_scores"]

_BLOCK = 4096
_BOOTSTRAP_CELLS = 1 << 22  # resamples x images drawn at once: bounds the memory of the weight matrix


@dataclass(frozen=True)
class AreaEstimate:
    """Accuracy and error-adjusted area from a stratified sample; arrays have one entry per class.

    Attributes
    ----------
    area, area_se, area_ci : ndarray of shape (k,)
        Estimated area of each reference class (in the unit of the mapped
        areas given), its standard error and the half-width of its interval.
    users_accuracy, users_accuracy_ci : ndarray of shape (k,)
        User's accuracy of each map class and the half-width of its interval.
    producers_accuracy, producers_accuracy_ci : ndarray of shape (k,)
    proportions : ndarray of shape (k, k)
        Estimated error matrix in area proportions (rows: map, columns: reference).
    overall_accuracy, overall_accuracy_ci : float
    """

    area: np.ndarray
    area_se: np.ndarray
    area_ci: np.ndarray
    users_accuracy: np.ndarray
    users_accuracy_ci: np.ndarray
    producers_accuracy: np.ndarray
    producers_accuracy_ci: np.ndarray
    proportions: np.ndarray
    overall_accuracy: float
    overall_accuracy_ci: float

    def to_dict(self):
        """Plain lists and floats (JSON-ready; NaN where a value is undefined, e.g. an unmapped class's UA)."""
        return {key: value.tolist() if isinstance(value, np.ndarray) else float(value) for key, value in asdict(self).items()}

    def to_markdown(self, class_names=None, unit="", digits=4):
        """Markdown tables: the error matrix in area proportions, then accuracies and areas per class.

        Each estimate is followed by ``±`` the half-width of its interval.
        """
        k = len(self.area)
        names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
        if len(names) != k:
            raise ValueError(f"class_names names {len(names)} classes but the estimate has {k}")
        f = lambda v: f"{v:.{digits}f}"
        lines = ["| map \\ reference | " + " | ".join(names) + " | total |", "|---" * (k + 2) + "|"]
        for i, name in enumerate(names):
            lines.append(f"| {name} | " + " | ".join(f(v) for v in self.proportions[i]) + f" | {f(self.proportions[i].sum())} |")
        lines.append("| total | " + " | ".join(f(v) for v in self.proportions.sum(0)) + " | 1 |")
        unit = f" ({unit})" if unit else ""
        lines += ["", f"| class | user's accuracy | producer's accuracy | area{unit} |", "|---|---|---|---|"]
        for i, name in enumerate(names):
            lines.append(f"| {name} | {f(self.users_accuracy[i])} ± {f(self.users_accuracy_ci[i])} | "
                         f"{f(self.producers_accuracy[i])} ± {f(self.producers_accuracy_ci[i])} | "
                         f"{self.area[i]:,.2f} ± {self.area_ci[i]:,.2f} |")
        lines += ["", f"Overall accuracy: {f(self.overall_accuracy)} ± {f(self.overall_accuracy_ci)}"]
        return "\n".join(lines) + "\n"


def _z(confidence):
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return float(norm.ppf(0.5 + confidence / 2))


def _divide(a, b):
    """a / b, NaN where b is 0 (an undefined accuracy, not an error)."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b != 0)


def _olofsson(counts, weights):
    """Olofsson et al. (2014) estimates and variances; leading dimensions of ``counts`` are batch dimensions.

    ``counts`` (..., k, k) sample counts (rows: strata = map classes);
    ``weights`` (k,) mapped area shares W_i. Returns area proportions and
    the accuracies, each with its variance.
    """
    n_i = counts.sum(-1)
    q = _divide(counts, n_i[..., None])  # n_ij / n_i.
    q = np.nan_to_num(q)  # an empty stratum has zero weight (checked by the caller)
    inv = np.divide(1.0, n_i - 1, out=np.zeros(n_i.shape), where=n_i > 1)
    p = weights[:, None] * q  # eq. 4: p_ij = W_i n_ij / n_i.
    share = p.sum(-2)  # p_.j, the area share of each reference class
    a = weights[:, None] ** 2 * q * (1 - q) * inv[..., None]  # W_i^2 q_ij (1 - q_ij) / (n_i. - 1)
    share_var = a.sum(-2)  # eq. 10
    users = np.diagonal(q, axis1=-2, axis2=-1).copy()  # eq. 2
    users[..., weights == 0] = np.nan
    users_var = users * (1 - users) * inv  # eq. 6
    overall = np.trace(p, axis1=-2, axis2=-1)  # eq. 1
    overall_var = np.nansum(weights ** 2 * users * (1 - users) * inv, axis=-1)  # eq. 5
    diag_p, diag_a = np.diagonal(p, axis1=-2, axis2=-1), np.diagonal(a, axis1=-2, axis2=-1)
    producers = _divide(diag_p, share)  # eq. 3
    # eq. 7, with W_i in place of N_i. (the mapped-area unit cancels):
    # N_j.^2 (1 - P_j)^2 U_j (1 - U_j) / (n_j. - 1) + P_j^2 sum_{i != j} N_i.^2 q_ij (1 - q_ij) / (n_i. - 1), over N_.j^2
    producers_var = _divide((1 - producers) ** 2 * diag_a + producers ** 2 * (share_var - diag_a), share ** 2)
    return p, share, share_var, users, users_var, producers, producers_var, overall, overall_var


def _result(total, p, share, share_var, users, users_var, producers, producers_var, overall, overall_var, z):
    return AreaEstimate(area=total * share, area_se=total * np.sqrt(share_var), area_ci=z * total * np.sqrt(share_var),
                        users_accuracy=users, users_accuracy_ci=z * np.sqrt(users_var),
                        producers_accuracy=producers, producers_accuracy_ci=z * np.sqrt(producers_var),
                        proportions=p, overall_accuracy=float(overall), overall_accuracy_ci=float(z * np.sqrt(overall_var)))


def _check_counts(counts, mapped_area):
    counts = np.asarray(counts, dtype=float)
    mapped_area = np.asarray(mapped_area, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"counts must be a square k x k matrix (rows: map class, columns: reference class), got shape {counts.shape}")
    if mapped_area.shape != (counts.shape[0],):
        raise ValueError(f"mapped_area must have one entry per class ({counts.shape[0]}), got shape {mapped_area.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any() or (counts != np.round(counts)).any():
        raise ValueError(f"counts must be non-negative whole numbers, got {counts.tolist()}")
    if not np.isfinite(mapped_area).all() or (mapped_area < 0).any() or mapped_area.sum() <= 0:
        raise ValueError(f"mapped_area must be non-negative with a positive total, got {mapped_area.tolist()}")
    n_i = counts.sum(1)
    thin = np.flatnonzero((mapped_area > 0) & (n_i < 2))
    if thin.size:
        raise ValueError(f"map class(es) {thin.tolist()} have {n_i[thin].astype(int).tolist()} sample(s): "
                         "every mapped class needs at least 2 for a variance")
    unmapped = np.flatnonzero((mapped_area == 0) & (n_i > 0))
    if unmapped.size:
        raise ValueError(f"map class(es) {unmapped.tolist()} have samples but no mapped area")
    return counts, mapped_area


def estimate_area(counts, mapped_area, confidence=0.95):
    """Error-adjusted area and accuracy from a stratified random sample whose strata are the map classes.

    The stratified estimators of Olofsson et al. (2014), with their
    standard errors (eqs. 5-7 and 10) and normal intervals.

    Parameters
    ----------
    counts : array-like of shape (k, k)
        Sample counts: rows are map classes (the strata), columns reference classes.
    mapped_area : array-like of shape (k,)
        Mapped area of each class, in any unit (pixels, ha, ...): the
        estimated areas come out in the same unit. A class with no mapped
        area may have no samples; its user's accuracy is NaN.
    confidence : float, default 0.95

    Returns
    -------
    AreaEstimate

    Raises
    ------
    ValueError
        For shapes that do not match, negative or fractional counts, or a
        mapped class with fewer than two samples.
    """
    z = _z(confidence)
    counts, mapped_area = _check_counts(counts, mapped_area)
    total = mapped_area.sum()
    return _result(total, *_olofsson(counts, mapped_area / total), z)


def _ratio(strata, sizes, y, x, fpc):
    """Stratified ratio estimate Y / X of indicator columns and its variance (Stehman 2014, eqs. 2, 27-28).

    With x = 1 this is the estimated proportion of area and eq. 25.
    """
    n_h = np.bincount(strata, minlength=len(sizes)).astype(float)
    onehot = np.eye(len(sizes))[strata]
    mean_y, mean_x = (onehot.T @ y) / n_h[:, None], (onehot.T @ x) / n_h[:, None]
    total_y, total_x = sizes @ mean_y, sizes @ mean_x
    ratio = _divide(total_y, total_x)
    residual = (y - mean_y[strata]) - np.nan_to_num(ratio) * (x - mean_x[strata])
    s2 = (onehot.T @ residual ** 2) / (n_h[:, None] - 1)  # s_y^2 + R^2 s_x^2 - 2 R s_xy, per stratum
    shrink = 1 - n_h / sizes if fpc else np.ones_like(n_h)
    variance = _divide((sizes ** 2 * shrink / n_h) @ s2, total_x ** 2)
    return ratio, variance


def estimate_area_stehman(strata, map_class, reference_class, stratum_sizes, *, n_classes=None, confidence=0.95,
                          finite_population=False):
    """Accuracy and area when the sample's strata are not the map's classes (Stehman 2014).

    For instance a sample drawn on last year's map (the strata) and used to
    assess this year's map. With strata equal to the map classes the result
    equals :func:`estimate_area`.

    Parameters
    ----------
    strata : array-like of int, shape (n,)
        Stratum of each sample unit, 0 .. H-1.
    map_class, reference_class : array-like of int, shape (n,)
        Map and reference class of each sample unit, 0 .. k-1.
    stratum_sizes : array-like of shape (H,)
        Size of each stratum (pixels or area); areas come out in its unit.
    n_classes : int or None
        k; by default one more than the largest class seen.
    confidence : float, default 0.95
    finite_population : bool, default False
        Apply the finite population correction 1 - n_h / N_h to the
        variances (negligible unless a stratum is sampled heavily; off, as in
        :func:`estimate_area`).

    Returns
    -------
    AreaEstimate
    """
    z = _z(confidence)
    strata, map_class, reference_class = (np.asarray(a) for a in (strata, map_class, reference_class))
    sizes = np.asarray(stratum_sizes, dtype=float)
    if not (strata.shape == map_class.shape == reference_class.shape) or strata.ndim != 1:
        raise ValueError(f"strata {strata.shape}, map_class {map_class.shape} and reference_class {reference_class.shape} "
                         "must be 1-d and of one length")
    for name, labels in (("strata", strata), ("map_class", map_class), ("reference_class", reference_class)):
        if labels.dtype.kind not in "iu" or (labels < 0).any():
            raise ValueError(f"{name} must hold non-negative integer labels, got dtype {labels.dtype}")
    if sizes.ndim != 1 or strata.max(initial=-1) >= len(sizes):
        raise ValueError(f"stratum_sizes has {sizes.size} entries but strata go up to {strata.max(initial=-1)}")
    n_h = np.bincount(strata, minlength=len(sizes))
    if (n_h < 2).any():
        raise ValueError(f"strata {np.flatnonzero(n_h < 2).tolist()} have {n_h[n_h < 2].tolist()} sample(s): each needs at least 2")
    if (sizes < n_h).any():
        raise ValueError(f"stratum_sizes {sizes.tolist()} are smaller than the samples drawn from them {n_h.tolist()}")
    k = n_classes or int(max(map_class.max(), reference_class.max())) + 1
    if max(map_class.max(), reference_class.max()) >= k:
        raise ValueError(f"class labels must be below n_classes={k}")
    in_map, in_ref = np.eye(k)[map_class], np.eye(k)[reference_class]
    cells = (in_map[:, :, None] * in_ref[:, None, :]).reshape(len(strata), k * k)
    correct = in_map * in_ref
    ones = np.ones((len(strata), 1))
    p, _ = _ratio(strata, sizes, cells, ones, finite_population)
    share, share_var = _ratio(strata, sizes, in_ref, ones, finite_population)
    overall, overall_var = _ratio(strata, sizes, (map_class == reference_class)[:, None].astype(float), ones, finite_population)
    users, users_var = _ratio(strata, sizes, correct, in_map, finite_population)
    producers, producers_var = _ratio(strata, sizes, correct, in_ref, finite_population)
    return _result(sizes.sum(), p.reshape(k, k), share, share_var, users, users_var, producers, producers_var,
                   overall[0], overall_var[0], z)


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
        raise ValueError("users_accuracy (in [0, 1]) and weights (non-negative) must have one entry per class")
    if target_se <= 0:
        raise ValueError(f"target_se must be positive, got {target_se}")
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
        raise ValueError(f"n={n} must be at least the floors ({int(floor.sum())}: {min_per_class} per class, "
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
    """Pixels of each class in band 1 of an open map, block by block; nodata (255) is not counted."""
    counts = np.zeros(MAP_NODATA, np.int64)
    for core, _ in scene_windows(src.height, src.width, _BLOCK, 0):
        block = src.read(1, window=core).ravel()
        counts += np.bincount(block[block != MAP_NODATA], minlength=MAP_NODATA)[:MAP_NODATA]
    k = n_classes or max(int(np.flatnonzero(counts).max(initial=1)) + 1, 2)
    if counts[k:].any():
        raise ValueError(f"{src.name} has classes above {k - 1}: {np.flatnonzero(counts[k:]) + k}")
    return counts[:k]


def stratified_sample(map_path, n, min_per_class=50, seed=None):
    """Draw a stratified random sample of pixels from a map, the map classes being the strata.

    The map is read twice, block by block, and never held whole: once to
    count each class, then to pick the pixels whose rank within their class
    was drawn (each class's pixels are equally likely, without replacement).
    Nodata pixels (255) are never sampled.

    Parameters
    ----------
    map_path : str or Path
        Map GeoTIFF (band 1: classes 0..k-1, 255 nodata), e.g. a mining mask
        or a change map.
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
    with rasterio.open(map_path) as src:
        if src.crs is None:
            raise ValueError(f"{map_path} has no CRS: points need coordinates")
        class_pixels = map_class_counts(src)
        alloc = allocate_sample(class_pixels, n, min_per_class)
        ranks = [np.sort(rng.choice(int(c), int(a), replace=False)) for c, a in zip(class_pixels, alloc)]
        seen = np.zeros(len(class_pixels), np.int64)
        rows, cols, classes = [], [], []
        for core, _ in scene_windows(src.height, src.width, _BLOCK, 0):
            block = src.read(1, window=core).ravel()
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


def write_points(points, path, crs):
    """Write sample points: CSV (``.csv``), GeoJSON in WGS 84 (``.geojson`` / ``.json``) or GeoPackage in the map's CRS.

    Every column of ``points`` becomes a field; GeoJSON and GeoPackage need
    the ``scale`` extra (pyogrio, shapely).
    """
    path = str(path)
    columns = list(points)
    if path.lower().endswith(".csv"):
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(zip(*(np.asarray(points[c]).tolist() for c in columns)))
        return path
    write = require("pyogrio.raw", "scale").write
    shapely = require("shapely", "scale")
    geojson = path.lower().endswith((".geojson", ".json"))
    x, y = (points["lon"], points["lat"]) if geojson else (points["x"], points["y"])
    with atomic_path(path) as tmp:
        write(tmp, geometry=shapely.to_wkb(shapely.points(np.asarray(x, float), np.asarray(y, float))).astype(object),
              field_data=[np.asarray(points[c]) for c in columns], fields=columns,
              crs="EPSG:4326" if geojson else rasterio.crs.CRS.from_user_input(crs).to_wkt(),
              driver="GeoJSON" if geojson else "GPKG", geometry_type="Point", layer="sample_points")
    return path


def read_points(path):
    """Columns of a point file (CSV, GeoPackage, GeoJSON, ...) as a dict of arrays (CSV values stay strings)."""
    path = str(path)
    if path.lower().endswith(".csv"):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            raise ValueError(f"{path} has no points")
        return {name: np.array([row[name] for row in rows]) for name in rows[0]}
    meta, _, _, fields = require("pyogrio.raw", "scale").read(path)
    return dict(zip(meta["fields"], fields))


def _labels(points, name, source, n_classes):
    """One column of a point table as integer class labels 0..n_classes-1, refusing blanks and other values."""
    if name not in points:
        raise ValueError(f"{source} has no column {name!r}; it has {list(points)}")
    # A label left empty reads as "" (CSV), None (a null string field) or NaN (a null number field).
    values = np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip() for v in points[name]])
    blank = np.flatnonzero(values == "")
    if blank.size:
        raise ValueError(f"{source}: {blank.size} point(s) have no {name!r} label (first at row {blank[0] + 1})")
    try:
        labels = np.array([int(float(v)) for v in values])
    except ValueError as error:
        raise ValueError(f"{source}: column {name!r} must hold class numbers 0..{n_classes - 1} ({error})") from None
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise ValueError(f"{source}: column {name!r} has value {values[bad[0]]} (row {bad[0] + 1}); classes are 0..{n_classes - 1}")
    return labels


def _class_names(k):
    """Names of a map's classes: the change classes for a change map, else not mined / mined."""
    if k > 2:
        return [CHANGE_CLASSES.get(i, str(i)) for i in range(k)]
    return ["not mined", "mined"]


def assess_map(map_path, points_path, reference_column="reference", map_column="map_class", confidence=0.95):
    """Accuracy and error-adjusted area of a map from its labelled sample points (strata = map classes).

    Parameters
    ----------
    map_path : str or Path
        The map the sample was drawn from (:func:`stratified_sample`): a
        mining mask (classes 0, 1) or a change map (0..3, see
        ``CHANGE_CLASSES``), in a projected CRS.
    points_path : str or Path
        The sample points (CSV, GeoPackage, GeoJSON) with their map class and
        the reference class a labeller gave each. Where they have ``x`` and
        ``y`` (map CRS), the map class must be the map's value there.
    reference_column, map_column : str
    confidence : float

    Returns
    -------
    dict
        ``classes`` (names), ``counts`` (k x k sample counts, rows map),
        ``mapped_pixels``, ``pixel_area_m2`` and ``estimate``
        (:class:`AreaEstimate`, areas in m2).
    """
    with rasterio.open(map_path) as src:
        pixel_m2 = _pixel_area_m2(src)
        change = src.descriptions[0] == _CHANGE_DESCRIPTION
        pixels = map_class_counts(src, 4 if change else None)
        names = _class_names(len(pixels))
        k = len(pixels)
        points = read_points(points_path)
        mapped = _labels(points, map_column, points_path, k)
        reference = _labels(points, reference_column, points_path, k)
        if "x" in points and "y" in points:  # a sample drawn on another map would silently give wrong strata
            xy = zip(np.asarray(points["x"], float), np.asarray(points["y"], float))
            found = np.array([value[0] for value in src.sample(xy, indexes=1)])
            wrong = np.flatnonzero(found != mapped)
            if wrong.size:
                raise ValueError(f"{points_path}: {wrong.size} point(s) have a {map_column!r} other than {map_path}'s class "
                                 f"at their x, y (first at row {wrong[0] + 1}: {mapped[wrong[0]]} vs {found[wrong[0]]}); "
                                 "was the sample drawn from another map?")
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (mapped, reference), 1)
    return {"classes": names, "counts": counts, "mapped_pixels": pixels, "pixel_area_m2": pixel_m2,
            "estimate": estimate_area(counts, pixels * pixel_m2, confidence)}


def write_json(path, payload):
    """Write a JSON report atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return path


def bootstrap_scores(counts, n_resamples=1000, confidence=0.95, seed=0):
    """Percentile bootstrap intervals of pooled IoU, SDC, precision and recall, resampling images whole.

    Parameters
    ----------
    counts : dict
        Per-image ``tp``, ``fp``, ``fn``, ``tn`` arrays of shape (N,), as from
        ``confusion_counts(..., per_image=True)``.
    n_resamples : int, default 1000
    confidence : float, default 0.95
    seed : int or None

    Returns
    -------
    dict
        Score name -> (low, high). Each resample draws N images with
        replacement and pools their pixels, as the scores themselves do.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    table = np.stack([np.asarray(counts[key], float) for key in ("tp", "fp", "fn", "tn")], axis=1)
    if table.ndim != 2 or len(table) == 0:
        raise ValueError("counts must hold per-image arrays of at least one image")
    rng = np.random.default_rng(seed)
    n = len(table)
    step = max(1, _BOOTSTRAP_CELLS // n)
    # How often each image is drawn in each resample: (resamples, N) weights, so the pooled counts are one product.
    sums = np.concatenate([rng.multinomial(n, np.full(n, 1 / n), size=min(step, n_resamples - start)) @ table
                           for start in range(0, n_resamples, step)])
    scores = scores_from_counts(sums[:, 0], sums[:, 1], sums[:, 2], zero_division=np.nan)  # NaN: undefined, left out
    tail = (1 - confidence) / 2 * 100
    return {name: tuple(float(v) for v in np.nanpercentile(scores[name], [tail, 100 - tail])) for name in SCORE_NAMES}
