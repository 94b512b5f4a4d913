import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

from smallmines_classic import confusion_counts, segmentation_scores
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


def test_chunking_does_not_change_counts(rng, monkeypatch):
    t = (rng.random((9, 20, 20)) < 0.2).astype(np.uint8)
    p = (rng.random((9, 20, 20)) < 0.2).astype(np.uint8)
    whole = confusion_counts(t, p)
    monkeypatch.setattr(metrics_module, "_CHUNK_PIXELS", 800)  # two images per chunk
    assert confusion_counts(t, p) == whole


def test_bad_labels_and_shapes_are_refused():
    with pytest.raises(ValueError, match="0 \\(background\\) or 1"):
        segmentation_scores(np.full((1, 2, 2), 2, np.uint8), np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="differ in shape"):
        segmentation_scores(np.zeros((1, 2, 2), np.uint8), np.zeros((1, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="integer or bool"):
        segmentation_scores(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), np.uint8))


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
