"""Accuracy and error-adjusted area from a stratified sample, with standard errors and intervals.

The estimators of Olofsson et al. (2014), "Good practices for estimating area
and assessing accuracy of land change", Remote Sensing of Environment 148:
42-57 (eqs. 1-10), and, where the sample's strata are not the map's classes,
Stehman (2014), International Journal of Remote Sensing 35: 4923-4939.
"""

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm

from ..errors import InputError

__all__ = ["AreaEstimate", "estimate_area", "estimate_area_stehman"]


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
        return {key: value.tolist() if isinstance(value, np.ndarray) else float(value)
                for key, value in asdict(self).items()}

    def to_markdown(self, class_names=None, unit="", digits=4):
        """Markdown tables: the error matrix in area proportions, then accuracies and areas per class.

        Each estimate is followed by ``±`` the half-width of its interval.
        """
        k = len(self.area)
        names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
        if len(names) != k:
            raise InputError(f"class_names names {len(names)} classes but the estimate has {k}")

        def f(v):
            return f"{v:.{digits}f}"

        lines = ["| map \\ reference | " + " | ".join(names) + " | total |", "|---" * (k + 2) + "|"]
        for i, name in enumerate(names):
            lines.append(f"| {name} | " + " | ".join(f(v) for v in self.proportions[i])
                         + f" | {f(self.proportions[i].sum())} |")
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
        raise InputError(f"confidence must lie strictly between 0 and 1, got {confidence}")
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
    # N_j.^2 (1 - P_j)^2 U_j (1 - U_j) / (n_j. - 1) + P_j^2 sum_{i != j} N_i.^2 q_ij (1 - q_ij) / (n_i. - 1),
    # over N_.j^2
    producers_var = _divide((1 - producers) ** 2 * diag_a + producers ** 2 * (share_var - diag_a), share ** 2)
    return p, share, share_var, users, users_var, producers, producers_var, overall, overall_var


def _result(total, p, share, share_var, users, users_var, producers, producers_var, overall, overall_var, z):
    return AreaEstimate(area=total * share, area_se=total * np.sqrt(share_var), area_ci=z * total * np.sqrt(share_var),
                        users_accuracy=users, users_accuracy_ci=z * np.sqrt(users_var),
                        producers_accuracy=producers, producers_accuracy_ci=z * np.sqrt(producers_var),
                        proportions=p, overall_accuracy=float(overall),
                        overall_accuracy_ci=float(z * np.sqrt(overall_var)))


def _check_counts(counts, mapped_area):
    counts = np.asarray(counts, dtype=float)
    mapped_area = np.asarray(mapped_area, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise InputError("counts must be a square k x k matrix (rows: map class, columns: reference class), got "
                         f"shape {counts.shape}")
    if mapped_area.shape != (counts.shape[0],):
        raise InputError(f"mapped_area must have one entry per class ({counts.shape[0]}), got shape "
                         f"{mapped_area.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any() or (counts != np.round(counts)).any():
        raise InputError(f"counts must be non-negative whole numbers, got {counts.tolist()}")
    if not np.isfinite(mapped_area).all() or (mapped_area < 0).any() or mapped_area.sum() <= 0:
        raise InputError(f"mapped_area must be non-negative with a positive total, got {mapped_area.tolist()}")
    n_i = counts.sum(1)
    thin = np.flatnonzero((mapped_area > 0) & (n_i < 2))
    if thin.size:
        raise InputError(f"map class(es) {thin.tolist()} have {n_i[thin].astype(int).tolist()} sample(s): "
                         "every mapped class needs at least 2 for a variance")
    unmapped = np.flatnonzero((mapped_area == 0) & (n_i > 0))
    if unmapped.size:
        raise InputError(f"map class(es) {unmapped.tolist()} have samples but no mapped area")
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
                          finite_population=False, unit_area=1.0):
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
        Pixels in each stratum (the sampling units): whole numbers, each at
        least the sample drawn from it. They weigh the strata and give the
        finite population correction 1 - n_h / N_h, which needs counts of
        units, not areas: give areas through ``unit_area``.
    n_classes : int or None
        k; by default one more than the largest class seen.
    confidence : float, default 0.95
    finite_population : bool, default False
        Apply the finite population correction 1 - n_h / N_h to the
        variances (negligible unless a stratum is sampled heavily; off, as in
        :func:`estimate_area`).
    unit_area : float, default 1.0
        Area of one pixel in the unit wanted (e.g. 0.01 for hectares of
        10 m pixels): areas and their intervals come out in pixels times it.

    Returns
    -------
    AreaEstimate
    """
    z = _z(confidence)
    strata, map_class, reference_class = (np.asarray(a) for a in (strata, map_class, reference_class))
    sizes = np.asarray(stratum_sizes, dtype=float)
    if not (strata.shape == map_class.shape == reference_class.shape) or strata.ndim != 1:
        raise InputError(f"strata {strata.shape}, map_class {map_class.shape} and reference_class "
                         f"{reference_class.shape} must be 1-d and of one length")
    for name, labels in (("strata", strata), ("map_class", map_class), ("reference_class", reference_class)):
        if labels.dtype.kind not in "iu" or (labels < 0).any():
            raise InputError(f"{name} must hold non-negative integer labels, got dtype {labels.dtype}")
    if sizes.ndim != 1 or strata.max(initial=-1) >= len(sizes):
        raise InputError(f"stratum_sizes has {sizes.size} entries but strata go up to {strata.max(initial=-1)}")
    if not np.isfinite(sizes).all() or (sizes != np.round(sizes)).any():
        raise InputError(f"stratum_sizes must be pixel counts (whole numbers), got {sizes.tolist()}; "
                         "for areas in another unit, pass unit_area (the area of one pixel)")
    if not (np.isfinite(unit_area) and unit_area > 0):
        raise InputError(f"unit_area must be a positive area (of one pixel), got {unit_area}")
    n_h = np.bincount(strata, minlength=len(sizes))
    if (n_h < 2).any():
        raise InputError(f"strata {np.flatnonzero(n_h < 2).tolist()} have {n_h[n_h < 2].tolist()} sample(s): each "
                         "needs at least 2")
    if (sizes < n_h).any():
        raise InputError(f"stratum_sizes {sizes.tolist()} are smaller than the samples drawn from them {n_h.tolist()}")
    k = n_classes or int(max(map_class.max(), reference_class.max())) + 1
    if max(map_class.max(), reference_class.max()) >= k:
        raise InputError(f"class labels must be below n_classes={k}")
    in_map, in_ref = np.eye(k)[map_class], np.eye(k)[reference_class]
    cells = (in_map[:, :, None] * in_ref[:, None, :]).reshape(len(strata), k * k)
    correct = in_map * in_ref
    ones = np.ones((len(strata), 1))
    p, _ = _ratio(strata, sizes, cells, ones, finite_population)
    share, share_var = _ratio(strata, sizes, in_ref, ones, finite_population)
    overall, overall_var = _ratio(strata, sizes, (map_class == reference_class)[:, None].astype(float), ones,
                                  finite_population)
    users, users_var = _ratio(strata, sizes, correct, in_map, finite_population)
    producers, producers_var = _ratio(strata, sizes, correct, in_ref, finite_population)
    return _result(sizes.sum() * unit_area, p.reshape(k, k), share, share_var, users, users_var, producers,
                   producers_var, overall[0], overall_var[0], z)
