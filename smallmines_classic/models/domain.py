"""The domain guard: does an input look like the pixels a model was trained on?

A model records a few quantiles of each band over its training pixels when
it is fitted (:func:`band_statistics`, stored as ``band_stats_``, plain JSON
data). Before predicting, a sample of the input is compared with them
(:func:`check_domain`). A band is flagged, with its likely cause, when

* its median lies outside the central 98 % of the training pixels,
  ``[q0.01, q0.99]``, widened by 10 % of that width on each side. A median
  moves little with some clouds or a mined patch; a wrong scale, unit or
  band moves it far;
* (Sentinel-2) its median is in [0, 1.5) while the training median is above
  100: **reflectance scaled 0-1 instead of 0-10000**;
* (Sentinel-2) every Sentinel-2 band's median lies 600..1400 above its
  training median, with at least 3 such bands checked: **the 1000 offset of
  processing baseline 04.00+ not removed**. A landscape shifts bands unevenly
  (mines brighten SWIR and darken NIR); the offset shifts them all alike, so
  this holds even where a band stays inside its range;
* (Sentinel-1) its median is in (0, 1] while the training median is negative
  (dB): **linear power instead of dB**.

The bands out of range for none of these reasons are put down to **bands in
another order** only when they form a consistent permutation: the
assignment of input bands to trained bands that fits best overall (by the
distance of their (q0.01, median, q0.99), over the two spreads) moves each
of them, and the in-range bands they displace, in cycles; each band on
those cycles fits its new band better than its own, and lies in its range;
and each band out of range fits its new band several times better (a
distance under ``_REORDER_FIT`` of that to its own). Bands that differ
little (B02 and B03, say) can swap unseen.

Otherwise the guard names the **shift** of each sensor's out-of-range bands,
when they all moved one way: optical bands lower or higher by some percent
(all optical bands, when every one the model reads moved that way), radar by
some dB, the DEM by some metres, with what to check and do; bands that moved
both ways get an unknown difference, with the same advice.

A band with no valid pixel in the input is ``ok=None``: nothing to compare,
and :func:`guard` reports it too, since the map would be nodata there.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..bands import BANDS, S2_OFFSET
from ..errors import DomainError, DomainWarning
from .sampling import sorted_sample

__all__ = ["QUANTILES", "DomainWarning", "DomainError", "BandCheck", "sample_pixels", "band_statistics",
           "check_domain", "guard"]

#: Quantiles recorded per band; check_domain reads q0.01, the median and q0.99.
QUANTILES = (0.001, 0.01, 0.5, 0.99, 0.999)
_COMPARED = (0.01, 0.5, 0.99)
#: Pixels sampled to record or check statistics: quantiles to a fraction of a percent, in bounded memory.
SAMPLE_PIXELS = 100_000
_TOLERANCE = 0.10
_OFFSET_SLACK, _MIN_OFFSET_BANDS = 400.0, 3
_SCALED_MEDIAN, _REFLECTANCE_MEDIAN = 1.5, 100.0
#: A band out of range is taken to hold another band only if it fits that one this much better than its own:
#: on the synthetic twin, in the best assignment, swapped or reversed bands fit their new band at 0.09 or less
#: of the distance to their own, and bands shifted (optical x0.5 .. x2, DEM +500 m) at 0.27 or more.
_REORDER_FIT = 0.15
_SENSOR = {band.name: band.sensor for band in BANDS}
# How a shift is measured and named per sensor: relative for reflectance, in dB for radar, in metres for heights.
_SHIFTS = {"S2": ("optical bands", "%"), "S1": ("radar bands", "dB"), "DEM": ("the DEM", "m")}

CAUSE_SCALED = "reflectance scaled 0-1 instead of 0-10000 (multiply by 10000)"
CAUSE_OFFSET = (f"the Sentinel-2 offset of {S2_OFFSET} (processing baseline 04.00 and later, from 2022) was not "
                f"removed (subtract {S2_OFFSET}, floor at 0)")
CAUSE_LINEAR = "Sentinel-1 in linear power instead of dB (take 10*log10)"
CAUSE_ORDER = ("its values fit band {other} best: bands in another order? "
               "(check --band-names / the band descriptions)")
ADVICE = ("check the processing level and scale (Sentinel-2 L2A reflectance x 10000, offset removed; "
          "Sentinel-1 in dB), the season and the region; build the scene with `smallmines composite`, "
          "or retrain / fine-tune on local labels")
CAUSE_SHIFT = ("{what} {direction} than in training by {amount}, not a band order: another processing, season or "
               "region? " + ADVICE)
CAUSE_UNKNOWN = "unlike the training pixels (another sensor, processing, unit or landscape?): " + ADVICE


@dataclass(frozen=True)
class BandCheck:
    """One band's comparison: training and input (q0.01, median, q0.99), verdict and likely cause.

    ``ok`` is None when the input holds no valid pixel of the band (nothing to compare).
    """

    band: str
    training: tuple
    input: tuple
    ok: object
    cause: str = ""


def sample_pixels(X, positions=None, max_pixels=SAMPLE_PIXELS, random_state=0):
    """Values of up to ``max_pixels`` random pixels of X (N, C, H, W), shape (bands, pixels).

    Pixels are gathered one by one (X may be a memory map); ``positions``
    selects bands (default: all). The same seed gives the same sample.
    """
    n, _, height, width = X.shape
    positions = np.arange(X.shape[1]) if positions is None else np.asarray(positions)
    flat = sorted_sample(n * height * width, min(max_pixels, n * height * width), np.random.default_rng(random_state))
    image, pixel = np.divmod(flat, height * width)
    row, col = np.divmod(pixel, width)
    return np.asarray(X[image[None, :], positions[:, None], row[None, :], col[None, :]], dtype=np.float32)


def _quantiles(values, quantiles=QUANTILES):
    """Quantiles of the finite values, as floats; None when there is none."""
    values = values[np.isfinite(values)]
    return [float(v) for v in np.quantile(values, quantiles)] if values.size else None


def band_statistics(X, band_names, positions=None):
    """Quantiles of each band over a sample of the pixels of X, as plain JSON data.

    Parameters
    ----------
    X : ndarray of shape (N, C, H, W)
    band_names : sequence of str
        Names of the bands described: those of X, or of X's ``positions``.
    positions : sequence of int, optional
        Bands of X to describe (default: all).

    Returns
    -------
    dict
        ``{"quantiles": [...], "pixels": int, "bands": {name: [one value per quantile]}}``;
        a band with no finite value is left out.
    """
    sample = sample_pixels(X, positions)
    bands = {name: q for name, values in zip(band_names, sample) if (q := _quantiles(values)) is not None}
    return {"quantiles": list(QUANTILES), "pixels": int(sample.shape[1]), "bands": bands}


def _in_range(value, low, high):
    margin = _TOLERANCE * (high - low)
    return low - margin <= value <= high + margin


def check_domain(stats, sample, band_names):
    """Compare a sample of an input with a model's training statistics, band by band.

    Parameters
    ----------
    stats : dict
        A model's ``band_stats_`` (:func:`band_statistics`).
    sample : ndarray of shape (C, S)
        Input pixel values (non-finite values are ignored).
    band_names : sequence of str
        Names of the C sampled bands.

    Returns
    -------
    list of BandCheck
        One per sampled band that has training statistics, in the order of ``band_names``.
    """
    compared = [list(stats["quantiles"]).index(q) for q in _COMPARED]  # as recorded, whatever their number
    trained = {name: np.asarray(q)[compared] for name, q in stats["bands"].items()}
    seen = {name: np.asarray(q) for name, values in zip(band_names, sample)
            if name in trained and (q := _quantiles(values, _COMPARED)) is not None}
    shifts = [seen[b][1] - trained[b][1] for b in seen if _SENSOR[b] == "S2"]
    offset = len(shifts) >= _MIN_OFFSET_BANDS and all(abs(s - S2_OFFSET) <= _OFFSET_SLACK for s in shifts)
    causes = {name: _unit_cause(name, seen[name], trained[name], offset) for name in seen}
    unexplained = [name for name, cause in causes.items() if cause is None]
    if unexplained:
        order = _reordering(seen, trained, unexplained)
        causes.update({name: CAUSE_ORDER.format(other=other) for name, other in order.items()} if order
                      else _shift_causes(seen, trained, unexplained))
    checks = []
    for name in band_names:
        if name not in trained:
            continue
        train = tuple(float(v) for v in trained[name])
        if name not in seen:
            checks.append(BandCheck(name, train, (np.nan,) * 3, None))
            continue
        checks.append(BandCheck(name, train, tuple(seen[name].tolist()), not causes[name], causes[name]))
    return checks


def _unit_cause(name, seen, trained, offset):
    """A wrong scale, offset or unit of band ``name`` seen as (q0.01, median, q0.99); "" in range; None otherwise."""
    sensor = _SENSOR[name]
    if sensor == "S2" and 0 <= seen[1] < _SCALED_MEDIAN and trained[1] > _REFLECTANCE_MEDIAN:
        return CAUSE_SCALED
    if sensor == "S2" and offset:
        return CAUSE_OFFSET
    if sensor == "S1" and 0 < seen[1] <= 1 and trained[1] < 0:
        return CAUSE_LINEAR
    return "" if _in_range(seen[1], trained[0], trained[2]) else None


def _distance(seen, trained):
    """How far apart two bands' (q0.01, median, q0.99) lie, over their two spreads (symmetric, unit-free)."""
    return np.abs(seen - trained).sum() / max(seen[2] - seen[0] + trained[2] - trained[0], 1e-9)


def _reordering(seen, trained, flagged):
    """``{band: the band it holds}`` for the ``flagged`` bands if they form a consistent permutation, else None.

    See the module docstring: the best overall assignment of seen bands to
    trained ones, followed from each flagged band round its cycle.
    """
    names, targets = list(seen), list(trained)
    cost = np.array([[_distance(seen[a], trained[b]) for b in targets] for a in names])
    assigned = {names[row]: targets[col] for row, col in zip(*linear_sum_assignment(cost))}

    def fit(band, other):
        return cost[names.index(band), targets.index(other)]

    for band in flagged:
        member = band
        while True:
            other = assigned[member]
            limit = _REORDER_FIT if member in flagged else 1.0
            if (other == member or fit(member, other) >= limit * fit(member, member)
                    or not _in_range(seen[member][1], trained[other][0], trained[other][2])):
                return None
            if other == band:
                break
            if other not in seen:  # the cycle leaves the bands seen: no permutation of them
                return None
            member = other
    return {band: assigned[band] for band in flagged}


def _shift(sensor, seen_median, trained_median):
    """The move of a median in the sensor's unit: percent of the training median for reflectance, else a difference."""
    if sensor == "S2":
        return 100 * (seen_median / trained_median - 1) if trained_median > 0 else np.nan
    return seen_median - trained_median


def _shift_causes(seen, trained, flagged):
    """The cause of each flagged band when no band order explains them: its sensor's shift, or an unknown difference."""
    causes = {}
    for sensor, (what, unit) in _SHIFTS.items():
        bands = [b for b in flagged if _SENSOR[b] == sensor]
        if not bands:
            continue
        moved = {b: _shift(sensor, seen[b][1], trained[b][1]) for b in seen if _SENSOR[b] == sensor}
        signs = {np.sign(moved[b]) for b in bands}
        if len(signs) != 1 or not np.isfinite([moved[b] for b in bands]).all():
            causes.update(dict.fromkeys(bands, CAUSE_UNKNOWN))
            continue
        sign = signs.pop()
        together = len(moved) > 1 and all(np.sign(v) == sign for v in moved.values())  # every band of the sensor
        sizes = np.abs([moved[b] for b in (moved if together else bands)])
        low, high = sizes.min(), sizes.max()
        digits = 0 if unit != "dB" else 1
        amount = (f"~{sizes.mean():.{digits}f} {unit}" if high - low <= 0.25 * high
                  else f"{low:.{digits}f}-{high:.{digits}f} {unit}")
        cause = CAUSE_SHIFT.format(what=f"all {what}" if together and sensor != "DEM" else what,
                                   direction="lower" if sign < 0 else "higher", amount=amount)
        causes.update(dict.fromkeys(bands, cause))
    return causes


def guard(checks, source, strict=False, stacklevel=2):
    """Warn (``DomainWarning``) or, if ``strict``, raise ``DomainError`` for the flagged bands of ``checks``.

    Flagged are the bands out of range, and the bands with no valid pixel
    in the sample (the map would be nodata wherever they are missing; with
    none valid in any band, everywhere). ``source`` names the input in the
    message; ``stacklevel`` counts from the caller of ``guard`` (2: its
    caller's caller). Returns ``checks``.
    """
    by_cause = {}
    for check in checks:
        if check.ok is False:
            by_cause.setdefault(check.cause, []).append(
                f"{check.band} (median {check.input[1]:.4g}, "
                f"training q01..q99 {check.training[0]:.4g}..{check.training[2]:.4g})")
    empty = [check.band for check in checks if check.ok is None]
    problems = []
    if by_cause:
        findings = "; ".join(f"{', '.join(bands)}: likely {cause}" for cause, bands in by_cause.items())
        problems.append(f"{source} does not look like the model's training data, so its predictions are likely wrong. "
                        f"Bands out of range: {findings}.")
    if empty:
        everywhere = " (no band it reads has one: everywhere)" if len(empty) == len(checks) else ""
        problems.append(f"{source} has no valid pixel (only NaN or nodata) in band(s) {empty} where sampled, so its "
                        f"map will be nodata wherever they are missing{everywhere}.")
    if problems:
        message = " ".join(problems) + " `smallmines check-scene` prints every band."
        if strict:
            raise DomainError(message)
        warnings.warn(message, DomainWarning, stacklevel=stacklevel + 1)
    return checks
