import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, jaccard_score, precision_score, recall_score

from smallmines_classic import InputError, confusion_counts, segmentation_scores
from smallmines_classic import metrics as metrics_module

SKLEARN = {"iou": jaccard_score, "sdc": f1_score, "precision": precision_score, "recall": recall_score}


def sklearn_scores(t, p, zero_division=0.0):
    return {k: f(t.ravel(), p.ravel(), zero_division=zero_division) for k, f in SKLEARN.items()}


@pytest.mark.parametrize("share_true, share_pred", [(0.08, 0.1), (0.5, 0.5), (0.01, 0.9)])
def test_pooled_scores_equal_sklearn(rng, share_true, share_pred):
    t = (rng.random((7, 33, 29)) < share_true).astype(np.uint8)
    p = (rng.random((7, 33, 29)) < share_pred).astype(np.uint8)
    ours = segmentation_scores(t, p)
    for key, value in sklearn_scores(t, p).items():
        assert ours[key] == pytest.approx(value, rel=1e-12), key
    assert ours["tp"] + ours["fp"] + ours["fn"] + ours["tn"] == t.size


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
@pytest.mark.parametrize("case", ["all_zero", "all_one", "empty_truth", "empty_pred"])
def test_edge_cases_follow_sklearn_zero_division(case, zero_division):
    t = np.zeros((2, 8, 8), np.uint8)
    p = np.zeros((2, 8, 8), np.uint8)
    if case == "all_one":
        t[:], p[:] = 1, 1
    elif case == "empty_truth":
        p[0, :3] = 1
    elif case == "empty_pred":
        t[1, 2:] = 1
    ours = segmentation_scores(t, p, zero_division=zero_division)
    for key, value in sklearn_scores(t, p, zero_division).items():
        assert ours[key] == pytest.approx(value), (case, key)


def test_per_image_equals_sklearn_image_by_image(rng):
    t = (rng.random((5, 16, 16)) < 0.3).astype(np.uint8)
    p = (rng.random((5, 16, 16)) < 0.3).astype(bool)
    ours = segmentation_scores(t, p, per_image=True)
    assert ours["iou"].shape == (5,)
    for i in range(5):
        for key, value in sklearn_scores(t[i], p[i]).items():
            assert ours[key][i] == pytest.approx(value)


def image_by_image_counts(t, p):
    """Per-image counts from scikit-learn's confusion matrix, one image at a time."""
    rows = [confusion_matrix(t[i].ravel(), p[i].ravel(), labels=[0, 1]).ravel() for i in range(len(t))]
    tn, fp, fn, tp = np.array(rows, np.int64).reshape(len(t), 4).T
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


# Block sizes (bytes) for 20 x 23 masks: the whole stack, two images a block, three rows of one image a block, and a
# block smaller than one row.
@pytest.mark.parametrize("block_bytes", [1 << 18, 920, 69, 8])
@pytest.mark.parametrize("dtypes", [(np.uint8, np.uint8), (bool, np.uint8), (np.int8, np.uint16), (np.int64, bool)])
def test_per_image_counts_equal_a_loop_over_images(rng, monkeypatch, block_bytes, dtypes):
    monkeypatch.setattr(metrics_module, "_CPU_BLOCK_BYTES", block_bytes)
    t = (rng.random((9, 20, 23)) < 0.2).astype(dtypes[0])
    p = (rng.random((9, 20, 23)) < 0.3).astype(dtypes[1])
    expected = image_by_image_counts(t, p)
    ours = confusion_counts(t, p, per_image=True)
    for key, value in expected.items():
        np.testing.assert_array_equal(ours[key], value, err_msg=key)
    pooled = confusion_counts(t, p)
    assert pooled == {key: int(value.sum()) for key, value in expected.items()}


def test_views_that_are_not_contiguous_are_counted_as_copies(rng, monkeypatch):
    monkeypatch.setattr(metrics_module, "_CPU_BLOCK_BYTES", 64)
    t = (rng.random((6, 31, 40)) < 0.4).astype(np.uint8)
    p = (rng.random((6, 40, 31)) < 0.4).astype(np.uint8)
    t_view, p_view = t[::2, :, ::2], p.transpose(0, 2, 1)[::2, :, 1::2]
    ours = confusion_counts(t_view, p_view, per_image=True)
    expected = image_by_image_counts(np.ascontiguousarray(t_view), np.ascontiguousarray(p_view))
    for key, value in expected.items():
        np.testing.assert_array_equal(ours[key], value, err_msg=key)


def test_gpu_block_counts_equal_cpu_block_counts(rng):
    # The CuPy branch's arithmetic run on numpy: without a GPU, test_cupy_input_gives_the_same_scores is skipped.
    t = (rng.random((4, 9, 7)) < 0.5).astype(np.uint8)
    p = (rng.random((4, 9, 7)) < 0.5).astype(bool)
    on_gpu = metrics_module._count_gpu(t, p, np)
    on_cpu = metrics_module._count_cpu(t, p, np.empty(t.size, np.uint8))
    np.testing.assert_array_equal(np.asarray(on_gpu), np.asarray(on_cpu))


@pytest.mark.parametrize("per_image", [False, True])
def test_all_ones_and_empty_masks(per_image):
    ones, zeros = np.ones((3, 5, 4), np.uint8), np.zeros((3, 5, 4), np.uint8)
    scores = segmentation_scores(ones, ones, per_image=per_image)
    for key in ("iou", "sdc", "precision", "recall"):
        np.testing.assert_array_equal(scores[key], 1.0)
    np.testing.assert_array_equal(scores["tp"], [20, 20, 20] if per_image else 60)
    scores = segmentation_scores(zeros, ones, per_image=per_image)
    np.testing.assert_array_equal(scores["fp"], [20, 20, 20] if per_image else 60)
    np.testing.assert_array_equal(scores["precision"], 0.0)


@pytest.mark.parametrize("shape", [(0, 4, 4), (2, 0, 5)])
def test_stacks_without_pixels_count_nothing(shape):
    counts = confusion_counts(np.zeros(shape, np.uint8), np.zeros(shape, np.uint8), per_image=True)
    for value in counts.values():
        np.testing.assert_array_equal(value, np.zeros(shape[0]))
    scores = segmentation_scores(np.zeros(shape, np.uint8), np.zeros(shape, np.uint8), zero_division=1.0)
    assert (scores["iou"], scores["tp"], scores["tn"]) == (1.0, 0, 0)


@pytest.mark.parametrize("dtype, value, where", [
    (np.uint8, 2, "y_pred"), (np.uint8, 255, "y_true"), (np.uint16, 256, "y_true"),
    (np.int8, -1, "y_true"), (np.int64, -1, "y_pred"), (np.int32, 7, "y_pred"),
])
def test_labels_other_than_0_and_1_are_refused_in_any_block(monkeypatch, dtype, value, where):
    monkeypatch.setattr(metrics_module, "_CPU_BLOCK_BYTES", 64)  # several blocks a mask: the bad pixel is in the last
    y = {"y_true": np.zeros((3, 12, 12), dtype), "y_pred": np.ones((3, 12, 12), dtype)}
    y[where][-1, -1, -1] = value
    for per_image in (False, True):
        with pytest.raises(InputError, match=r"^labels must be 0 \(background\) or 1 \(mining\)$"):
            confusion_counts(y["y_true"], y["y_pred"], per_image=per_image)


def test_bad_labels_and_shapes_are_refused():
    with pytest.raises(InputError, match="0 \\(background\\) or 1"):
        segmentation_scores(np.full((1, 2, 2), 2, np.uint8), np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(InputError, match="differ in shape"):
        segmentation_scores(np.zeros((1, 2, 2), np.uint8), np.zeros((1, 2, 3), np.uint8))
    with pytest.raises(InputError, match="y_true must hold integer or bool labels, got dtype float64"):
        segmentation_scores(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(InputError, match="y_pred must hold integer or bool labels, got dtype float32"):
        segmentation_scores(np.zeros((1, 2, 2), bool), np.ones((1, 2, 2), np.float32))  # 0 / 1 floats too
    with pytest.raises(InputError, match=r"y_pred must have shape \(N, H, W\) or \(H, W\), got \(1, 1, 2, 2\)"):
        segmentation_scores(np.zeros((1, 2, 2), np.uint8), np.zeros((1, 1, 2, 2), np.uint8))


@pytest.mark.gpu
def test_cupy_input_gives_the_same_scores(rng):
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("no CUDA GPU")
    t = (rng.random((4, 32, 32)) < 0.2).astype(np.uint8)
    p = (rng.random((4, 32, 32)) < 0.2).astype(np.uint8)
    assert segmentation_scores(cupy.asarray(t), cupy.asarray(p)) == segmentation_scores(t, p)
