"""Estimators at their edges: Stehman from pixel counts, zero-width bootstrap intervals."""

import numpy as np
import pytest
from scipy.stats import norm

from smallmines_classic import bootstrap_scores, estimate_area_stehman
from smallmines_classic.tables import format_table, score_row


def test_stehman_takes_pixel_counts_and_gives_areas_in_the_unit_asked():
    strata = np.repeat([0, 1], [4, 5])
    map_class = strata.copy()
    reference = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1])
    pixels = np.array([20, 30])
    # By hand (Stehman 2014, eqs. 2-3 and 25): class 1's area = sum_h N_h ybar_h, with the FPC (1 - n_h / N_h).
    share_1 = np.array([1 / 4, 4 / 5])
    var_1 = np.array([np.var([0, 0, 1, 0], ddof=1), np.var([1, 1, 0, 1, 1], ddof=1)])
    area_1 = pixels @ share_1
    se_1 = np.sqrt(np.sum(pixels ** 2 * (1 - np.array([4, 5]) / pixels) * var_1 / np.array([4, 5])))
    # ha given as stratum sizes (0.2, 0.3 ha of 10 m pixels): refused, not a wrong correction
    with pytest.raises(ValueError, match="stratum_sizes must be pixel counts .*pass unit_area"):
        estimate_area_stehman(strata, map_class, reference, pixels * 0.01)
    result = estimate_area_stehman(strata, map_class, reference, pixels, finite_population=True, unit_area=0.01)
    assert result.area[1] == pytest.approx(area_1 * 0.01)
    assert result.area_se[1] == pytest.approx(se_1 * 0.01)
    assert result.area_ci[1] == pytest.approx(norm.ppf(0.975) * se_1 * 0.01)
    in_pixels = estimate_area_stehman(strata, map_class, reference, pixels, finite_population=True)
    np.testing.assert_allclose(in_pixels.area * 0.01, result.area)
    np.testing.assert_allclose(in_pixels.users_accuracy, result.users_accuracy)
    with pytest.raises(ValueError, match="unit_area must be a positive area"):
        estimate_area_stehman(strata, map_class, reference, pixels, unit_area=0)


def test_a_zero_width_bootstrap_interval_is_flagged_not_printed_as_certainty():
    counts = {key: np.zeros(20) for key in ("tp", "fp", "fn")}
    counts["tn"] = np.full(20, 256.0)
    counts["tp"][7], counts["fp"][7], counts["fn"][7], counts["tn"][7] = 30, 5, 10, 211  # one mined patch
    with pytest.warns(UserWarning, match=r"zero width: every resample of the 20 test patches gave the same value, "
                                         r"as 1 patch\(es\) hold all the mining"):
        intervals = bootstrap_scores(counts, n_resamples=200)
    assert intervals["iou"] == (30 / 45, 30 / 45)
    row = score_row("RF", "rgb", {"iou": 30 / 45, "sdc": 60 / 75, "precision": 30 / 35, "recall": 0.75}, intervals)
    for style in ("text", "markdown"):
        table = format_table([row], style)
        assert "0.6667 [0.6667, 0.6667]*" in table
        assert table.rstrip().endswith("(*) zero-width interval: every bootstrap resample gave the same value (e.g. "
                                       "one test patch holds all the mining); too few patches to measure the "
                                       "uncertainty, not certainty.")
    assert "zero-width" not in format_table([row], "csv")
