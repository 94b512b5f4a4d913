"""Property tests: metrics and undersampling against scikit-learn / imbalanced-learn on arbitrary inputs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from imblearn.under_sampling import RandomUnderSampler
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

from smallmines_classic import segmentation_scores, undersample_indices

masks = st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9)).flatmap(
    lambda shape: st.tuples(arrays(np.uint8, shape, elements=st.integers(0, 1)),
                            arrays(np.uint8, shape, elements=st.integers(0, 1))))


@settings(max_examples=200, deadline=None)
@given(masks, st.sampled_from([0.0, 1.0]))
def test_scores_equal_sklearn_on_any_masks(pair, zero_division):
    t, p = pair
    ours = segmentation_scores(t, p, zero_division=zero_division)
    for key, f in (("iou", jaccard_score), ("sdc", f1_score), ("precision", precision_score), ("recall", recall_score)):
        assert np.isclose(ours[key], f(t.ravel(), p.ravel(), zero_division=zero_division)), key


@settings(max_examples=100, deadline=None)
@given(arrays(np.uint8, st.integers(2, 400), elements=st.integers(0, 1)), st.sampled_from([1.0, 0.5, 0.25]),
       st.integers(0, 99))
def test_undersampled_counts_equal_imbalanced_learn(y, ratio, seed):
    if y.min() == y.max():
        return  # one class only: nothing to balance (RandomUnderSampler refuses it)
    ours = np.bincount(y[undersample_indices(y, ratio, seed)], minlength=2)
    try:
        sampler = RandomUnderSampler(sampling_strategy=ratio, random_state=seed)
        _, reference = sampler.fit_resample(np.zeros((y.size, 1)), y)
    except ValueError:
        return  # imbalanced-learn refuses ratios the data already exceed
    assert ours.tolist() == np.bincount(reference, minlength=2).tolist()
