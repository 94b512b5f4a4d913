"""A forest grown with a progress bar (by warm start) is the same forest."""

import numpy as np

from smallmines_classic import RandomForestSegmenter


def test_a_forest_grown_with_a_progress_bar_is_the_same_forest(twin):
    settings = {"bands": "rgb", "n_estimators": 23, "max_pixels": 3000, "random_state": 4, "n_jobs": 2}
    quiet = RandomForestSegmenter(**settings).fit(twin.images, twin.masks)
    shown = RandomForestSegmenter(**settings, verbose=True).fit(twin.images, twin.masks)
    assert len(shown.forest_.estimators_) == 23 and not shown.forest_.warm_start
    np.testing.assert_array_equal(quiet.predict_proba(twin.images[:4]), shown.predict_proba(twin.images[:4]))
