"""Majority-class random undersampling, on pixel indices.

The sample is drawn as flat indices into the (N, H, W) label stack before any
feature matrix exists, so memory scales with the sample, not the dataset.
Class counts equal those of imbalanced-learn's ``RandomUnderSampler``.
"""

import numpy as np

from ..errors import InputError

__all__ = ["pixels_with_data", "undersample_indices", "sorted_sample"]

_CHUNK = 1 << 20


def sorted_sample(population, size, rng):
    """``size`` distinct sorted integers from ``range(population)``, uniformly, in O(chunk) memory.

    ``Generator.choice(replace=False)`` permutes the whole population when the
    sample is large; here each chunk draws its share of the sample from the
    hypergeometric law, then picks that many of its own members.
    """
    parts = []
    for start in range(0, population, _CHUNK):
        chunk = min(_CHUNK, population - start)
        take = rng.hypergeometric(chunk, population - start - chunk, size) if population - start > chunk else size
        parts.append(start + np.sort(rng.choice(chunk, size=take, replace=False)))
        size -= take
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def undersample_indices(y, ratio=1.0, random_state=None):
    """Keep every minority pixel and a random subset of the majority pixels.

    Parameters
    ----------
    y : ndarray of shape (N, H, W) or (n,), values {0, 1}
        Labels.
    ratio : float, default 1.0
        Desired minority / majority count after sampling, as
        ``RandomUnderSampler(sampling_strategy=ratio)``; 1.0 balances the
        classes exactly. Data already more balanced than ``ratio`` keep
        every pixel (imbalanced-learn raises an error instead).
    random_state : int, Generator or None

    Returns
    -------
    ndarray of int64
        Sorted flat indices into ``y``.
    """
    if not 0 < ratio <= 1:
        raise InputError(f"ratio must be in (0, 1], got {ratio}")
    flat = np.asarray(y).reshape(-1)
    rng = np.random.default_rng(random_state)
    positives = np.flatnonzero(flat)
    n_total, n_pos = flat.size, positives.size
    minority_is_positive = n_pos <= n_total - n_pos
    n_minority = n_pos if minority_is_positive else n_total - n_pos
    n_majority = n_total - n_minority
    n_keep = min(n_majority, int(n_minority / ratio))
    # Ranks among the majority pixels map to positions without listing the
    # majority: rank r sits after the positives p_i with p_i - i <= r.
    ranks = sorted_sample(n_majority, n_keep, rng)
    if minority_is_positive:
        majority = ranks + np.searchsorted(positives - np.arange(n_pos), ranks, side="right")
        return np.sort(np.concatenate([positives, majority]))
    minority = np.flatnonzero(flat == 0)
    return np.sort(np.concatenate([positives[ranks], minority]))


def pixels_with_data(X, channels):
    """Flat indices into (N, H, W) of the pixels of ``X`` with a finite value in every one of ``channels``.

    None when that is every pixel: the common case costs no index array the size of the dataset.
    """
    present = None
    for channel in channels:
        finite = np.isfinite(X[:, channel])
        if not finite.all():
            present = finite if present is None else present & finite
    return None if present is None else np.flatnonzero(present)
