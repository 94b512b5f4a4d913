import numpy as np
import pytest
from scipy.stats import norm

from smallmines_classic import (
    allocate_sample,
    bootstrap_scores,
    confusion_counts,
    estimate_area,
    estimate_area_stehman,
    sample_size,
    segmentation_scores,
)
from smallmines_classic.assessment.estimators import _olofsson

# Olofsson et al. (2014), RSE 148, section 5, Table 8: rows = map (deforestation, forest gain, stable forest,
# stable non-forest), columns = reference; mapped areas in 30 m pixels (0.09 ha each).
OLOFSSON_COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
OLOFSSON_PIXELS = np.array([200000, 150000, 3200000, 6450000])
# The paper computes its intervals with z = 1.96 exactly.
Z196 = 2 * norm.cdf(1.96) - 1


def test_olofsson_2014_worked_example_to_the_published_digits():
    result = estimate_area(OLOFSSON_COUNTS, OLOFSSON_PIXELS * 0.09, confidence=Z196)
    # Section 5.2.2: error-adjusted area +- 95 % half-width, ha
    np.testing.assert_array_equal(np.round(result.area), [21158, 11686, 285770, 581386])
    np.testing.assert_array_equal(np.round(result.area_ci), [6158, 3756, 15510, 16282])
    # "S(A_1) ... 1.96 x S = 68,418 pixels" (section 5.2.2)
    assert round(1.96 * result.area_se[0] / 0.09) == 68418
    # Table 9: area proportions, 4 dp
    np.testing.assert_array_equal(np.round(result.proportions, 4), [[0.0176, 0, 0.0013, 0.0011],
                                                                    [0, 0.0110, 0.0016, 0.0024],
                                                                    [0.0019, 0, 0.2967, 0.0213],
                                                                    [0.0040, 0.0020, 0.0179, 0.6212]])
    # Section 5.2.1: accuracies +- 95 % half-width, 2 dp
    np.testing.assert_array_equal(np.round(result.users_accuracy, 2), [0.88, 0.73, 0.93, 0.96])
    np.testing.assert_array_equal(np.round(result.users_accuracy_ci, 2), [0.07, 0.10, 0.04, 0.02])
    np.testing.assert_array_equal(np.round(result.producers_accuracy, 2), [0.75, 0.85, 0.93, 0.96])
    # Printed 0.21, 0.23, 0.03, 0.01; eq. 7 itself gives 0.254 and 0.018 for forest gain and stable non-forest
    # (a known misprint, also reproduced by the R packages mapaccuracy and mapac), so those two are the equation's.
    np.testing.assert_array_equal(np.round(result.producers_accuracy_ci, 2), [0.21, 0.25, 0.03, 0.02])
    assert round(result.overall_accuracy, 2) == 0.95 and round(result.overall_accuracy_ci, 2) == 0.02
    # The default 95 % (z = 1.95996...) differs from z = 1.96 by less than 1 ha here
    default = estimate_area(OLOFSSON_COUNTS, OLOFSSON_PIXELS * 0.09)
    np.testing.assert_allclose(default.area_ci, result.area_ci, atol=1)
    np.testing.assert_array_equal(default.area, result.area)


def test_olofsson_sample_size_example():
    # Section 5.1.1: U = 0.70, 0.60, 0.90, 0.95, W from Table 8, target SE of overall accuracy 0.01 -> n = 641
    assert sample_size([0.70, 0.60, 0.90, 0.95], OLOFSSON_PIXELS, 0.01) == 641
    assert sample_size([0.70, 0.60, 0.90, 0.95], [0.02, 0.015, 0.32, 0.645], 0.01) == 641


def test_estimates_against_a_direct_computation():
    counts = np.array([[40, 10], [5, 95]])
    mapped = np.array([1000.0, 9000.0])
    result = estimate_area(counts, mapped)
    w = mapped / mapped.sum()
    p = w[:, None] * counts / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(result.proportions, p)
    np.testing.assert_allclose(result.area, p.sum(0) * 10000)
    se1 = np.sqrt(sum((w[i] * p[i, 1] - p[i, 1] ** 2) / (counts[i].sum() - 1) for i in range(2)))
    np.testing.assert_allclose(result.area_se[1], se1 * 10000)
    np.testing.assert_allclose(result.users_accuracy, [0.8, 0.95])
    np.testing.assert_allclose(result.users_accuracy_ci, norm.ppf(0.975) * np.sqrt([0.8 * 0.2 / 49, 0.95 * 0.05 / 99]))
    np.testing.assert_allclose(result.producers_accuracy, np.diag(p) / p.sum(0))
    assert result.overall_accuracy == pytest.approx(np.trace(p))
    assert result.area.sum() == pytest.approx(mapped.sum())  # areas add up to the mapped total


def test_stehman_2014_example():
    # Stehman (2014), IJRS 35, section 4: 4 strata of 10 units, strata sizes 40000 / 30000 / 20000 / 10000.
    A, B, C, D = range(4)
    strata = np.repeat([0, 1, 2, 3], 10)
    mapped = np.array([A] * 7 + [B] * 3 + [A] + [B] * 11 + [C] * 6 + [B, B] + [D] * 10)
    reference = np.array([A] * 5 + [C, B, A, B, C, A] + [B] * 5 + [A, A, B, B] + [C] * 5 + [D, D, B, B, A]
                         + [D] * 7 + [C, C, B])
    result = estimate_area_stehman(strata, mapped, reference, [40000, 30000, 20000, 10000])
    # Stehman reports these on pp. 4932-4936; the values below are those printed for this example by the independent
    # R package mapac (aa_stratified, fpc = FALSE; pages.cms.hu-berlin.de/pflugmad/mapac): its area-proportion
    # matrix (2 dp) gives the areas, overall accuracy and cell (B, C); its table gives the accuracies and SEs.
    np.testing.assert_allclose(result.area[[A, C]] / 100000, [0.35, 0.20])
    assert result.overall_accuracy == pytest.approx(0.63)
    assert result.proportions[B, C] == pytest.approx(0.08)
    assert round(result.users_accuracy[B], 3) == 0.574 and round(result.producers_accuracy[B], 3) == 0.794
    np.testing.assert_allclose(result.users_accuracy_ci[:3] / norm.ppf(0.975), [0.1645627, 0.1248023, 0.2151657],
                               atol=1e-7)
    np.testing.assert_allclose(result.producers_accuracy_ci[:3] / norm.ppf(0.975), [0.1477318, 0.1165671, 0.1504438],
                               atol=1e-7)
    np.testing.assert_allclose(result.users_accuracy[:3], [0.7419355, 0.5744681, 0.5], atol=1e-7)
    # The finite population correction shrinks every variance by at most 1 - n_h / N_h
    fpc = estimate_area_stehman(strata, mapped, reference, [40000, 30000, 20000, 10000], finite_population=True)
    assert np.all(fpc.area_se <= result.area_se) and np.all(fpc.area_se >= result.area_se * np.sqrt(1 - 10 / 10000))


def test_stehman_with_strata_equal_to_map_classes_is_olofsson():
    counts = np.array(OLOFSSON_COUNTS)
    rows, cols = np.nonzero(counts)
    map_class = np.repeat(rows, counts[rows, cols])
    reference = np.repeat(cols, counts[rows, cols])
    got = estimate_area_stehman(map_class, map_class, reference, OLOFSSON_PIXELS)
    want = estimate_area(counts, OLOFSSON_PIXELS)
    for name, value in want.to_dict().items():
        np.testing.assert_allclose(getattr(got, name), value, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("counts, mapped, message", [
    ([[1, 0], [3, 5]], [10, 10], r"map class\(es\) \[0\] have \[1\] sample"),
    ([[5, -1], [3, 5]], [10, 10], "non-negative whole numbers"),
    ([[5, 1, 0], [3, 5, 0]], [10, 10], "square"),
    ([[5, 1], [3, 5]], [10, 10, 10], "one entry per class"),
    ([[5, 1], [3, 5]], [0, 10], "samples but no mapped area"),
    ([[5, 1], [3, 5]], [-1, 10], "non-negative"),
])
def test_bad_input_is_refused_with_a_reason(counts, mapped, message):
    with pytest.raises(ValueError, match=message):
        estimate_area(counts, mapped)


def test_stehman_refuses_bad_input():
    strata, labels = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 0, 1])
    with pytest.raises(ValueError, match=r"strata \[1\] have \[1\] sample"):
        estimate_area_stehman(np.array([0, 0, 1]), labels[:3], labels[:3], [10, 10])
    with pytest.raises(ValueError, match="one length"):
        estimate_area_stehman(strata, labels[:4], labels, [10, 10])
    with pytest.raises(ValueError, match="stratum_sizes has 1 entries"):
        estimate_area_stehman(strata, labels, labels, [10])
    with pytest.raises(ValueError, match="non-negative integer labels"):
        estimate_area_stehman(strata, labels * 1.0, labels, [10, 10])


def test_unmapped_class_without_samples_and_reports():
    result = estimate_area([[10, 2, 0], [0, 0, 0], [1, 1, 30]], [100, 0, 900])
    assert np.isnan(result.users_accuracy[1]) and result.area[1] > 0  # class 1 exists only in the reference
    md = result.to_markdown(["a", "b", "c"], unit="ha")
    assert "| map \\ reference | a | b | c | total |" in md and "Overall accuracy" in md
    d = result.to_dict()
    assert set(d) == {"area", "area_se", "area_ci", "users_accuracy", "users_accuracy_ci", "producers_accuracy",
                      "producers_accuracy_ci", "proportions", "overall_accuracy", "overall_accuracy_ci"}
    assert len(d["proportions"]) == 3 and isinstance(d["overall_accuracy"], float)
    with pytest.raises(ValueError, match="confidence"):
        estimate_area([[10, 2], [1, 30]], [1, 9], confidence=95)


def test_allocation_floor_and_total():
    # Table 5, proportional
    assert allocate_sample([200000, 150000, 3200000, 6450000], 641, 0).tolist() == [13, 10, 205, 413]
    alloc = allocate_sample([200000, 150000, 3200000, 6450000], 641, 100)
    assert alloc.sum() == 641 and alloc[:2].tolist() == [100, 100]
    assert abs(alloc[3] / alloc[2] - 6450000 / 3200000) < 0.02  # the rest stays proportional
    # no more than a class has; none from empty ones
    assert allocate_sample([0, 30, 5000], 200, 50).tolist() == [0, 30, 170]
    with pytest.raises(ValueError, match="at least the floors"):
        allocate_sample([1000, 1000, 1000], 100, 50)


@pytest.mark.parametrize("population, n", [
    # a change map: rare new / persistent mining, omission and commission everywhere
    (np.array([[1800, 150, 50, 0], [100, 1300, 100, 0], [50, 40, 14000, 900], [20, 10, 600, 60000]]), 2000),
    # a mining mask: 10 % mapped mining, 20 % commission, 1.7 % omission in the background
    (np.array([[8000, 2000], [1500, 88500]]), 1000),
])
def test_intervals_cover_the_true_area_at_the_nominal_rate(population, n):
    """Many stratified samples (without replacement) from a known population: 95 % intervals cover ~95 % of the time."""
    rng = np.random.default_rng(2014)
    mapped = population.sum(1)
    alloc = allocate_sample(mapped, n, 100)
    replicates = 2000
    counts = np.stack([rng.multivariate_hypergeometric(population[i], alloc[i], size=replicates)
                       for i in range(len(population))], axis=1).astype(float)
    _, share, share_var, *_, overall, overall_var = _olofsson(counts, mapped / mapped.sum())
    z = norm.ppf(0.975)
    covered = np.abs(share * mapped.sum() - population.sum(0)) <= z * np.sqrt(share_var) * mapped.sum()
    assert np.all((covered.mean(0) >= 0.92) & (covered.mean(0) <= 0.98)), covered.mean(0)
    true_overall = np.trace(population) / population.sum()
    assert 0.92 <= np.mean(np.abs(overall - true_overall) <= z * np.sqrt(overall_var)) <= 0.98
    # and the estimator is unbiased: the mean estimate is within 3 Monte Carlo SE of the truth
    mc_se = (share * mapped.sum()).std(0) / np.sqrt(replicates)
    assert np.all(np.abs((share * mapped.sum()).mean(0) - population.sum(0)) < 3 * mc_se)


def test_bootstrap_intervals_resample_patches_whole(rng, monkeypatch):
    truth = (rng.random((60, 16, 16)) < 0.3).astype(np.uint8)
    predicted = np.where(rng.random(truth.shape) < 0.15, 1 - truth, truth)
    counts = confusion_counts(truth, predicted, per_image=True)
    pooled = segmentation_scores(truth, predicted)
    intervals = bootstrap_scores(counts, n_resamples=500, seed=1)
    assert intervals == bootstrap_scores(counts, n_resamples=500, seed=1)  # seeded
    for name, (low, high) in intervals.items():
        assert low < pooled[name] < high < 1
    # An independent loop over the same resamples: draw patch indices, pool their pixels.
    weights = np.random.default_rng(1).multinomial(60, np.full(60, 1 / 60), size=500)
    ious = []
    for w in weights:
        idx = np.repeat(np.arange(60), w)
        ious.append(segmentation_scores(truth[idx], predicted[idx])["iou"])
    np.testing.assert_allclose(intervals["iou"], np.percentile(ious, [2.5, 97.5]))
    # Drawing the resamples in chunks (to bound memory) draws the very same resamples.
    monkeypatch.setattr("smallmines_classic.assessment.bootstrap._BOOTSTRAP_CELLS", 60 * 7)
    assert bootstrap_scores(counts, n_resamples=500, seed=1) == intervals
    # one patch, or identical patches: no spread
    same = {k: np.repeat(v[:1], 10) for k, v in counts.items()}
    with pytest.warns(UserWarning, match="zero width"):
        low, high = bootstrap_scores(same)["iou"]
    assert low == pytest.approx(high)
