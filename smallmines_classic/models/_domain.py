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

A band out of range for none of these reasons is put down to **bands in
another order** when its (q0.01, median, q0.99) lie nearest those of
another trained band and its median falls in that band's range, otherwise
to an unknown difference. Bands that differ little (B02 and B03, say) can
swap unseen.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ..bands import BANDS, S2_OFFSET
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
_SENSOR = {band.name: band.sensor for band in BANDS}

CAUSE_SCALED = "reflectance scaled 0-1 instead of 0-10000 (multiply by 10000)"
CAUSE_OFFSET = (f"the Sentinel-2 offset of {S2_OFFSET} (processing baseline 04.00 and later, from 2022) was not removed "
                f"(subtract {S2_OFFSET}, floor at 0)")
CAUSE_LINEAR = "Sentinel-1 in linear power instead of dB (take 10*log10)"
CAUSE_ORDER = "its values fit band {other} best: bands in another order? (check --band-names / the band descriptions)"
CAUSE_UNKNOWN = "unlike the training pixels (another sensor, processing, unit or landscape?)"


class DomainWarning(UserWarning):
    """An input band does not look like the model's training pixels; predictions may be wrong."""


class DomainError(ValueError):
    """An input band does not look like the model's training pixels, and a strict check refuses it."""


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
    checks = []
    for name in band_names:
        if name not in trained:
            continue
        train = tuple(float(v) for v in trained[name])
        if name not in seen:
            checks.append(BandCheck(name, train, (np.nan,) * 3, None))
            continue
        cause = _likely_cause(name, seen[name], trained, offset)
        checks.append(BandCheck(name, train, tuple(seen[name].tolist()), not cause, cause))
    return checks


def _likely_cause(name, seen, trained, offset):
    """Why band ``name``, seen as (q0.01, median, q0.99), is flagged (see module docstring); "" if it is not."""
    low, median, high = trained[name]
    sensor = _SENSOR[name]
    if sensor == "S2" and 0 <= seen[1] < _SCALED_MEDIAN and median > _REFLECTANCE_MEDIAN:
        return CAUSE_SCALED
    if sensor == "S2" and offset:
        return CAUSE_OFFSET
    if sensor == "S1" and 0 < seen[1] <= 1 and median < 0:
        return CAUSE_LINEAR
    if _in_range(seen[1], low, high):
        return ""
    distance = {other: np.abs(seen - q).sum() / max(q[2] - q[0], 1e-9) for other, q in trained.items()}
    best = min(distance, key=distance.get)
    if best != name and _in_range(seen[1], trained[best][0], trained[best][2]):
        return CAUSE_ORDER.format(other=best)
    return CAUSE_UNKNOWN


def guard(checks, source, strict=False, stacklevel=2):
    """Warn (``DomainWarning``) or, if ``strict``, raise ``DomainError`` for the flagged bands of ``checks``.

    ``source`` names the input in the message; ``stacklevel`` counts from
    the caller of ``guard`` (2: its caller's caller). Returns ``checks``.
    """
    by_cause = {}
    for check in checks:
        if check.ok is False:
            by_cause.setdefault(check.cause, []).append(
                f"{check.band} (median {check.input[1]:.4g}, training q01..q99 {check.training[0]:.4g}..{check.training[2]:.4g})")
    if by_cause:
        findings = "; ".join(f"{', '.join(bands)}: likely {cause}" for cause, bands in by_cause.items())
        message = (f"{source} does not look like the model's training data, so its predictions are likely wrong. "
                   f"Bands out of range: {findings}. `smallmines check-scene` prints every band.")
        if strict:
            raise DomainError(message)
        warnings.warn(message, DomainWarning, stacklevel=stacklevel + 1)
    return checks
