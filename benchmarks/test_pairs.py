"""pytest-benchmark pairs: ours and the reference, timed in one run, grouped so their ratio reads off one table.

    python -m pytest benchmarks --benchmark-group-by=group --benchmark-columns=min,mean,rounds

(pytest-benchmark prints, per group, each row's multiple of the fastest.)
Uses the 200-tile twin; ``SMALLMINES_BENCH_TILES`` changes the size.
"""

import os

import numpy as np
import pytest

from benchmarks.classic import (
    OFFICIAL_TEST_PATCHES,
    our_forest,
    our_sample_features,
    reference_forest,
    reference_load,
    reference_metrics,
    reference_sample_features,
)
from smallmines_classic import load_smallminesds, segmentation_scores
from smallmines_classic.workflows import synthetic_twin

TILES = int(os.environ.get("SMALLMINES_BENCH_TILES", 200))


@pytest.fixture(scope="module")
def root():
    return synthetic_twin(TILES, progress=False)


@pytest.fixture(scope="module")
def train(root):
    return load_smallminesds(root, split="train", progress=False)


@pytest.fixture(scope="module")
def test_set(root):
    return load_smallminesds(root, split="test", progress=False)


@pytest.fixture(scope="module")
def masks(test_set):
    y_true = test_set.masks[np.resize(np.arange(len(test_set)), OFFICIAL_TEST_PATCHES)]
    return y_true, np.roll(y_true, 3, axis=2)


@pytest.mark.benchmark(group="metrics")
def test_metrics_ours(benchmark, masks):
    benchmark(segmentation_scores, *masks)


@pytest.mark.benchmark(group="metrics")
def test_metrics_reference(benchmark, masks):
    benchmark.pedantic(reference_metrics, args=masks, rounds=2)


@pytest.mark.benchmark(group="undersample+features")
def test_sampling_ours(benchmark, train):
    benchmark(our_sample_features, train.images, train.masks, "rgb+")


@pytest.mark.benchmark(group="undersample+features")
def test_sampling_reference(benchmark, train):
    benchmark.pedantic(reference_sample_features, args=(train.images, train.masks, "rgb+"), rounds=3)


@pytest.mark.benchmark(group="load")
def test_load_ours(benchmark, root):
    benchmark.pedantic(load_smallminesds, args=(root,), kwargs={"progress": False}, rounds=2)


@pytest.mark.benchmark(group="load")
def test_load_reference(benchmark, root):
    benchmark.pedantic(reference_load, args=(root,), rounds=2)


@pytest.mark.benchmark(group="forest fit+predict (10 trees)")
def test_forest_ours(benchmark, train, test_set):
    benchmark.pedantic(our_forest, args=(train, test_set, "rgb+", 10), rounds=1)


@pytest.mark.benchmark(group="forest fit+predict (10 trees)")
def test_forest_reference(benchmark, train, test_set):
    benchmark.pedantic(reference_forest, args=(train, test_set, "rgb+", 10), rounds=1)
