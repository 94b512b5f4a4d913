"""asv suites: each class times ours and the reference on the same data (``asv run``; see asv.conf.json)."""

import numpy as np

from benchmarks.classic import (
    OFFICIAL_TEST_PATCHES,
    our_sample_features,
    reference_load,
    reference_metrics,
    reference_sample_features,
)
from smallmines_classic import load_smallminesds, segmentation_scores
from smallmines_classic.workflows import synthetic_twin

TILES = 200


def _twin():
    return str(synthetic_twin(TILES, progress=False))


class Metrics:
    timeout = 300

    def setup_cache(self):
        return _twin()

    def setup(self, root):
        test = load_smallminesds(root, split="test", progress=False)
        self.y_true = test.masks[np.resize(np.arange(len(test)), OFFICIAL_TEST_PATCHES)]
        self.y_pred = np.roll(self.y_true, 3, axis=2)

    def time_ours(self, root):
        segmentation_scores(self.y_true, self.y_pred)

    def time_reference(self, root):
        reference_metrics(self.y_true, self.y_pred)


class UndersampleFeatures:
    timeout = 300

    def setup_cache(self):
        return _twin()

    def setup(self, root):
        self.train = load_smallminesds(root, split="train", progress=False)

    def time_ours(self, root):
        our_sample_features(self.train.images, self.train.masks, "rgb+")

    def time_reference(self, root):
        reference_sample_features(self.train.images, self.train.masks, "rgb+")

    def peakmem_ours(self, root):
        our_sample_features(self.train.images, self.train.masks, "rgb+")

    def peakmem_reference(self, root):
        reference_sample_features(self.train.images, self.train.masks, "rgb+")


class Load:
    timeout = 600

    def setup_cache(self):
        return _twin()

    def time_ours(self, root):
        load_smallminesds(root, progress=False)

    def time_reference(self, root):
        reference_load(root)
