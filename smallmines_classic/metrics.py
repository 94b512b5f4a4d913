"""Mining-class segmentation scores from confusion counts, on numpy or CuPy arrays.

The four scores need three counts: mining pixels in the truth, in the
prediction, and in both. They are taken in one chunked pass, so memory stays
bounded whatever the number of pixels, and the same code runs on CuPy arrays
on the GPU.
"""

import numpy as np

from ._backend import array_namespace, to_numpy

__all__ = ["confusion_counts", "segmentation_scores", "scores_from_counts", "SCORE_NAMES"]

SCORE_NAMES = ("iou", "sdc", "precision", "recall")
_CHUNK_PIXELS = 1 << 24


def _as_images(y, name):
    if y.ndim == 2:
        y = y[None]
    if y.ndim != 3:
        raise ValueError(f"{name} must have shape (N, H, W) or (H, W), got {y.shape}")
    return y


def confusion_counts(y_true, y_pred, *, per_image=False):
    """True / false positives and negatives of the mining class (label 1).

    Parameters
    ----------
    y_true, y_pred : array of shape (N, H, W) or (H, W), values {0, 1}
        numpy or CuPy arrays (bool or integer).
    per_image : bool
        Counts per image (arrays of shape (N,)) instead of pooled (ints).

    Returns
    -------
    dict with keys ``tp``, ``fp``, ``fn``, ``tn``.
    """
    xp = array_namespace(y_true, y_pred)
    y_true, y_pred = _as_images(y_true, "y_true"), _as_images(y_pred, "y_pred")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.dtype.kind not in "biu":
            raise ValueError(f"{name} must hold integer or bool labels, got dtype {y.dtype}")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    n_images = y_true.shape[0]
    pixels = int(np.prod(y_true.shape[1:]))
    step = max(1, _CHUNK_PIXELS // max(pixels, 1))
    true_pos, pred_pos, both = (np.zeros(n_images, np.int64) for _ in range(3))
    for start in range(0, n_images, step):
        chunk = slice(start, start + step)
        t, p = y_true[chunk], y_pred[chunk]
        # 0 / 1 integers need no conversion: count_nonzero and & act on them as on bools.
        if t.dtype != bool and int(t.max()) > 1 or p.dtype != bool and int(p.max()) > 1:
            raise ValueError("labels must be 0 (background) or 1 (mining)")
        true_pos[chunk] = to_numpy(xp.count_nonzero(t, axis=(1, 2)))
        pred_pos[chunk] = to_numpy(xp.count_nonzero(p, axis=(1, 2)))
        both[chunk] = to_numpy(xp.count_nonzero(t & p, axis=(1, 2)))
    if not per_image:
        true_pos, pred_pos, both = int(true_pos.sum()), int(pred_pos.sum()), int(both.sum())
        pixels *= n_images
    return {"tp": both, "fp": pred_pos - both, "fn": true_pos - both, "tn": pixels - true_pos - pred_pos + both}


def _ratio(numerator, denominator, zero_division):
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.divide(numerator, denominator, out=np.full(numerator.shape, float(zero_division)), where=denominator != 0)
    return out if out.ndim else float(out)


def segmentation_scores(y_true, y_pred, *, per_image=False, zero_division=0.0):
    """Mining-class IoU, SDC (Dice, F1), precision and recall, plus the confusion counts.

    Pooled over all pixels (``per_image=False``, the paper's way) or per image.
    Values equal scikit-learn's ``jaccard_score``, ``f1_score``,
    ``precision_score`` and ``recall_score`` (``pos_label=1``) on the
    flattened arrays, with the same ``zero_division``.

    Parameters
    ----------
    y_true, y_pred : array of shape (N, H, W) or (H, W), values {0, 1}
        numpy or CuPy arrays.
    per_image : bool
    zero_division : float, default 0.0
        Value of a score whose denominator is zero (0.0, 1.0 or ``np.nan``):
        precision with no predicted mining, recall with no true mining, IoU
        and SDC with neither.

    Returns
    -------
    dict
        ``iou``, ``sdc``, ``precision``, ``recall`` (floats, or arrays of
        shape (N,) per image) and ``tp``, ``fp``, ``fn``, ``tn``.
    """
    counts = confusion_counts(y_true, y_pred, per_image=per_image)
    return {**scores_from_counts(counts["tp"], counts["fp"], counts["fn"], zero_division), **counts}


def scores_from_counts(tp, fp, fn, zero_division=0.0):
    """IoU, SDC, precision and recall from true positive, false positive and false negative counts.

    Counts may be numbers or arrays (scores come out elementwise); a score
    whose denominator is zero is ``zero_division``.
    """
    return {
        "iou": _ratio(tp, tp + fp + fn, zero_division),
        "sdc": _ratio(2 * tp, 2 * tp + fp + fn, zero_division),
        "precision": _ratio(tp, tp + fp, zero_division),
        "recall": _ratio(tp, tp + fn, zero_division),
    }
