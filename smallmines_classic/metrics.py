"""Mining-class segmentation scores from confusion counts, on numpy or CuPy arrays.

The four scores need three counts per image: mining pixels in the truth, in
the prediction, and in both. They are taken block by block, so memory stays
bounded whatever the number of pixels. On the CPU a block is small enough to
stay in the processor's cache while it is checked, intersected and counted,
so the masks are read from memory once; on the GPU (CuPy) a block is large
and its images are counted in one reduction.
"""

from functools import partial

import numpy as np

from ._backend import array_namespace, to_numpy
from .errors import InputError

__all__ = ["confusion_counts", "segmentation_scores", "scores_from_counts", "SCORE_NAMES"]

SCORE_NAMES = ("iou", "sdc", "precision", "recall")
_CPU_BLOCK_BYTES = 1 << 18  # the truth, prediction and intersection blocks of one mask fit a core's L2 cache
_GPU_BLOCK_BYTES = 1 << 24  # enough pixels per reduction to keep the GPU busy


def _as_images(y, name):
    if y.ndim == 2:
        y = y[None]
    if y.ndim != 3:
        raise InputError(f"{name} must have shape (N, H, W) or (H, W), got {y.shape}")
    return y


def _blocks(shape, block_pixels):
    """(first image, index) of the blocks covering an (N, H, W) stack: whole images, or rows of one large image.

    A block holds at most ``max(block_pixels, W)`` pixels.
    """
    n_images, height, width = shape
    rows = max(1, block_pixels // max(width, 1))
    if rows < height:
        for image in range(n_images):
            for row in range(0, height, rows):
                yield image, (slice(image, image + 1), slice(row, row + rows))
    else:
        step = max(1, block_pixels // max(height * width, 1))
        for start in range(0, n_images, step):
            yield start, (slice(start, start + step),)


def _check_labels(*blocks):
    for y in blocks:
        # Signed labels are read as unsigned of the same width, so that a negative label counts as a large one.
        if y.dtype != bool and y.size and int(y.view(f"u{y.dtype.itemsize}").max()) > 1:
            raise InputError("labels must be 0 (background) or 1 (mining)")


def _count_cpu(t, p, scratch):
    """Per-image mining pixels in t, p and both, of a block small enough to stay in cache (numpy)."""
    both = np.bitwise_and(t, p, out=scratch[:t.size].reshape(t.shape))
    # count_nonzero without an axis is a vectorised scan; with axis=(1, 2) it converts and sums, 10x slower.
    return [[np.count_nonzero(y[i]) for i in range(len(y))] for y in (t, p, both)]


def _count_gpu(t, p, xp):
    """Per-image mining pixels in t, p and both, of a large block: one reduction each (CuPy)."""
    return [to_numpy(xp.count_nonzero(y, axis=(1, 2))) for y in (t, p, t & p)]


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
            raise InputError(f"{name} must hold integer or bool labels, got dtype {y.dtype}")
    if y_true.shape != y_pred.shape:
        raise InputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    n_images = y_true.shape[0]
    pixels = int(np.prod(y_true.shape[1:]))
    itemsize = max(y_true.dtype.itemsize, y_pred.dtype.itemsize)
    if xp is np:
        block_pixels = max(1, _CPU_BLOCK_BYTES // itemsize)
        scratch = np.empty(min(max(block_pixels, y_true.shape[2]), y_true.size), np.result_type(y_true, y_pred))
        count = partial(_count_cpu, scratch=scratch)
    else:
        block_pixels = max(1, _GPU_BLOCK_BYTES // itemsize)
        count = partial(_count_gpu, xp=xp)
    true_pos, pred_pos, both = np.zeros((3, n_images), np.int64)
    for first, index in _blocks(y_true.shape, block_pixels):
        t, p = y_true[index], y_pred[index]
        _check_labels(t, p)
        images = slice(first, first + len(t))
        for total, block in zip((true_pos, pred_pos, both), count(t, p)):
            total[images] += block
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
