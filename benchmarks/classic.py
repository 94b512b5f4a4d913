"""Classic pipeline vs the paper's reference script, measured side by side in one run.

The reference is the authors' method: flatten every training pixel into one
array, undersample it with imbalanced-learn's RandomUnderSampler, fit
scikit-learn's forest and score with four scikit-learn metric calls.

    python -m benchmarks.classic            # full size: a 2135-tile twin (4270 patches)
    python -m benchmarks.classic --quick    # a 200-tile twin and 30 trees, under 2 minutes once the twin is cached

Loading is compared with a sequential rasterio loop over the same files;
the metrics also with torchmetrics when it is installed.

Every line prints ours, the reference and the ratio; ``--json PATH`` also
saves them. Twins are generated on demand and cached (see
``smallmines_classic.workflows.default_cache_dir``).
"""

import argparse
import json
import os
import platform
import shutil
import time
import tracemalloc

import numpy as np
import rasterio
from imblearn.under_sampling import RandomUnderSampler
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

from smallmines_classic import (
    RandomForestSegmenter,
    band_indices,
    find_patches,
    load_smallminesds,
    pixel_features,
    segmentation_scores,
    undersample_indices,
)
from smallmines_classic.workflows import default_cache_dir, synthetic_twin

OFFICIAL_TEST_PATCHES = 1287  # 643 + 644


def timed(function, repeat=3):
    """Best wall time of ``repeat`` calls, and the last result."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_memory(function):
    """Peak bytes numpy allocated while running ``function`` (tracemalloc sees numpy buffers)."""
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def reference_metrics(y_true, y_pred):
    t, p = y_true.ravel(), y_pred.ravel()
    return [f(t, p, zero_division=0) for f in (jaccard_score, f1_score, precision_score, recall_score)]


def torchmetrics_scores(y_true, y_pred):
    import torch
    from torchmetrics.functional.classification import (
        binary_f1_score,
        binary_jaccard_index,
        binary_precision,
        binary_recall,
    )

    t, p = torch.from_numpy(y_true.ravel()), torch.from_numpy(y_pred.ravel())
    return [float(f(p, t)) for f in (binary_jaccard_index, binary_f1_score, binary_precision, binary_recall)]


def reference_load(root):
    """The usual script: one rasterio.open per file, in a loop."""
    images, masks = [], []
    for _, _, image_path, mask_path in find_patches(root):
        with rasterio.open(image_path) as src:
            images.append(src.read().astype("float32"))
        with rasterio.open(mask_path) as src:
            masks.append(src.read(1))
    return images, masks


def reference_sample_features(X, y, bands):
    """The authors' way: every pixel flattened, then RandomUnderSampler."""
    features = X[:, band_indices(bands)].transpose(0, 2, 3, 1).reshape(-1, len(band_indices(bands)))
    return RandomUnderSampler(random_state=42).fit_resample(features, y.ravel())


def our_sample_features(X, y, bands):
    index = undersample_indices(y, random_state=42)
    return pixel_features(X, bands, index=index), y.reshape(-1)[index]


def reference_forest(train, test, bands, trees):
    features, labels = reference_sample_features(train.images, train.masks, bands)
    forest = RandomForestClassifier(n_estimators=trees, random_state=42, n_jobs=-1).fit(features, labels)
    test_features = test.images[:, band_indices(bands)].transpose(0, 2, 3, 1).reshape(-1, len(band_indices(bands)))
    return forest.predict(test_features).reshape(test.masks.shape).astype(np.uint8)


def our_forest(train, test, bands, trees):
    model = RandomForestSegmenter.from_preset(f"paper-{bands}", n_estimators=trees, n_jobs=-1)
    return model.fit(train.images, train.masks).predict(test.images)


def row(name, ours, reference, unit, better="lower"):
    ratio = reference / ours if better == "lower" else ours / reference
    print(f"{name:<42} ours {ours:>10.4g} {unit:<4} reference {reference:>10.4g} {unit:<4} ratio {ratio:>7.2f}x")
    return {"benchmark": name, "ours": ours, "reference": reference, "unit": unit, "ratio": ratio}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 200-tile twin and 30 trees (CI-sized)")
    parser.add_argument("--trees", type=int, help="trees for the forest comparison (default: 30 quick, 100 full)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    tiles = 200 if args.quick else 2135
    trees = args.trees or (30 if args.quick else 100)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores; "
          f"twin of {tiles} tiles; {trees} trees")
    root = synthetic_twin(tiles)
    train = load_smallminesds(root, split="train", progress=False)
    test = load_smallminesds(root, split="test", progress=False)
    rows = []

    # Metrics on the official test-set size: repeat the twin's test masks up to 1287 patches.
    take = np.resize(np.arange(len(test)), OFFICIAL_TEST_PATCHES)
    y_true = test.masks[take]
    y_pred = np.roll(y_true, 3, axis=2)
    ours_t, ours = timed(lambda: segmentation_scores(y_true, y_pred))
    ref_t, ref = timed(lambda: reference_metrics(y_true, y_pred), repeat=1)
    assert np.allclose([ours[k] for k in ("iou", "sdc", "precision", "recall")], ref)
    rows.append(row(f"metrics, {OFFICIAL_TEST_PATCHES}x128x128 (s)", ours_t, ref_t, "s"))
    try:
        tm_t, tm = timed(lambda: torchmetrics_scores(y_true, y_pred), repeat=1)
        assert np.allclose([ours[k] for k in ("iou", "sdc", "precision", "recall")], tm, atol=1e-6)
        rows.append(row("metrics vs torchmetrics (CPU) (s)", ours_t, tm_t, "s"))
    except ImportError:
        print("torchmetrics not installed: skipped")

    # Loading: the whole twin, ours (threads, validated) vs a sequential rasterio loop; then from our cache.
    cache = default_cache_dir() / "bench-array-cache"
    shutil.rmtree(cache, ignore_errors=True)
    ref_t, _ = timed(lambda: reference_load(root), repeat=1)
    ours_t, _ = timed(lambda: load_smallminesds(root, progress=False), repeat=1)
    rows.append(row(f"load {2 * tiles} patches (s)", ours_t, ref_t, "s"))
    first_t, _ = timed(lambda: load_smallminesds(root, cache_dir=cache, progress=False), repeat=1)
    cached_t, _ = timed(lambda: np.asarray(load_smallminesds(root, cache_dir=cache, progress=False).images).sum(),
                        repeat=1)
    rows.append(row("load, first with cache (s)", first_t, ref_t, "s"))
    rows.append(row("load from cache, arrays read (s)", cached_t, ref_t, "s"))

    # Undersampling + features: peak memory and time on the whole train split.
    for bands in ("rgb", "rgb+"):
        ours_mem = peak_memory(lambda: our_sample_features(train.images, train.masks, bands))
        ref_mem = peak_memory(lambda: reference_sample_features(train.images, train.masks, bands))
        rows.append(row(f"undersample + features {bands}, peak (MB)", ours_mem / 1e6, ref_mem / 1e6, "MB"))
    ours_t, _ = timed(lambda: our_sample_features(train.images, train.masks, "rgb+"))
    ref_t, _ = timed(lambda: reference_sample_features(train.images, train.masks, "rgb+"))
    rows.append(row("undersample + features rgb+, time (s)", ours_t, ref_t, "s"))

    # Forest fit + predict with the paper's preset and seed: time and IoU.
    for bands in ("rgb", "rgb+"):
        ours_t, ours_pred = timed(lambda: our_forest(train, test, bands, trees), repeat=1)
        ref_t, ref_pred = timed(lambda: reference_forest(train, test, bands, trees), repeat=1)
        rows.append(row(f"forest fit + predict {bands} (s)", ours_t, ref_t, "s"))
        ours_iou = segmentation_scores(test.masks, ours_pred)["iou"]
        ref_iou = reference_metrics(test.masks, ref_pred)[0]
        rows.append(row(f"forest IoU {bands} (|diff| {abs(ours_iou - ref_iou):.4f})", ours_iou, ref_iou, "IoU",
                        better="higher"))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
