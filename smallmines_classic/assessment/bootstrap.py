"""Bootstrap intervals of benchmark scores, resampling test patches whole."""

import warnings

import numpy as np

from ..errors import InputError
from ..metrics import SCORE_NAMES, scores_from_counts

__all__ = ["bootstrap_scores"]

_BOOTSTRAP_CELLS = 1 << 22  # resamples x images drawn at once: bounds the memory of the weight matrix


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

    Warns
    -----
    UserWarning
        For an interval of zero width: every resample gave one value, as when
        a single test patch holds all the mining (true or predicted). That is
        too few patches to measure the uncertainty, not certainty.
    """
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    table = np.stack([np.asarray(counts[key], float) for key in ("tp", "fp", "fn", "tn")], axis=1)
    if table.ndim != 2 or len(table) == 0:
        raise InputError("counts must hold per-image arrays of at least one image")
    rng = np.random.default_rng(seed)
    n = len(table)
    step = max(1, _BOOTSTRAP_CELLS // n)
    # How often each image is drawn in each resample: (resamples, N) weights, so the pooled counts are one product.
    sums = np.concatenate([rng.multinomial(n, np.full(n, 1 / n), size=min(step, n_resamples - start)) @ table
                           for start in range(0, n_resamples, step)])
    scores = scores_from_counts(sums[:, 0], sums[:, 1], sums[:, 2], zero_division=np.nan)  # NaN: undefined, left out
    tail = (1 - confidence) / 2 * 100
    intervals = {name: tuple(float(v) for v in np.nanpercentile(scores[name], [tail, 100 - tail]))
                 for name in SCORE_NAMES}
    flat = [name for name, (low, high) in intervals.items() if low == high]
    if flat:
        mined = int(np.count_nonzero(table[:, :3].sum(axis=1)))
        warnings.warn(f"the bootstrap intervals of {flat} have zero width: every resample of the {n} test patches gave "
                      f"the same value, as {mined} patch(es) hold all the mining (true or predicted). Too few patches "
                      "to measure the uncertainty; it is not zero", stacklevel=2)
    return intervals
