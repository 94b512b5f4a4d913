"""The compact forest file against the skops file, in the same run: size, load time, identical probabilities and masks.

    python -m benchmarks.forest_file --quick   # CI-sized: 24-tile twin, 30 trees on 20,000 pixels (under a minute)
    python -m benchmarks.forest_file           # the paper preset's 300 trees on a sample (see --tiles, --max-pixels)
    python -m benchmarks.forest_file --model rf.skops --copies 25   # a trained forest, its trees repeated 25 times

The forest is the paper preset (RGB+, 300 full-depth trees, balanced
undersampling, seed 42) fitted on the train split of a twin of ``--tiles``
tiles, on at most ``--max-pixels`` training pixels (the preset's shape on a
sample: fitting it on all 6.7 million pixels of the full-size twin takes
about 80 minutes on 2 cores), or ``--model`` (with ``--copies``, as in
:mod:`benchmarks.forest_engines`). Each file is written once (timed) and
loaded ``--repeat`` times, interleaved, best of; the compact forest's
probabilities on test pixels are compared with scikit-learn's at n_jobs=1
(float64, bit for bit) and its masks with the full model's.
"""

import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from smallmines_classic import load_smallminesds, pixel_features
from smallmines_classic.models.compact import convert_to_compact
from smallmines_classic.models.persistence import load_model
from smallmines_classic.workflows import synthetic_twin

from .classic import row
from .forest_engines import forest_arguments, forest_summary, forest_with_jobs, paper_forest, with_copies


def best_of(calls, repeat):
    """Best-of-``repeat`` seconds of each call, the calls interleaved (so a busy moment hits both)."""
    seconds = {}
    for _ in range(repeat):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[name] = min(seconds.get(name, np.inf), time.perf_counter() - start)
    return seconds


def main(argv=None):
    parser = forest_arguments(__doc__, "24-tile twin, 30 trees on 20,000 pixels", 96, "200000, quick 20000")
    parser.add_argument("--jobs", type=int, default=2, help="threads to fit with (default: 2)")
    parser.add_argument("--repeat", type=int, default=3, help="loads of each file, best of (default: 3)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    tiles = args.tiles or (24 if args.quick else 96)
    trees = args.trees or (30 if args.quick else None)
    max_pixels = args.max_pixels or (20_000 if args.quick else 200_000)

    report = {"settings": {"tiles": tiles, "trees": trees or 300, "max_pixels": max_pixels, "copies": args.copies}}
    if args.model:
        model = load_model(args.model, "RandomForestSegmenter")
    else:
        model, report["fit_seconds"] = paper_forest(tiles, trees, max_pixels, args.jobs)
    model = with_copies(model, args.copies)
    report["forest"] = forest_summary(model)
    print(f"forest: {report['forest']}", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        skops, compact = Path(folder) / "rf.skops", Path(folder) / "rf_compact.safetensors"
        start = time.perf_counter()
        model.save(skops)
        report["write_skops_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        convert_to_compact(skops, compact)  # reads the skops file, packs the trees, writes
        report["convert_seconds"] = time.perf_counter() - start
        sizes = {"skops": skops.stat().st_size, "compact": compact.stat().st_size}
        loads = best_of({"skops": lambda: load_model(skops), "compact": lambda: load_model(compact)}, args.repeat)
        loaded = load_model(compact)

    test = load_smallminesds(synthetic_twin(tiles), split="test", bands="rgb+", progress=False)
    X = test.images[:8]
    features = pixel_features(X, model.bands, model.derived, band_names=test.band_names)
    reference = forest_with_jobs(model, 1).predict_proba(features)[:, 1]
    full = copy.copy(model).set_params(engine="sklearn", n_jobs=1)
    report["checks"] = {
        "probabilities_identical": bool(np.array_equal(loaded._forest_proba(features), reference)),
        "masks_identical": bool(np.array_equal(loaded.predict(X, test.band_names), full.predict(X, test.band_names))),
        "pixels": len(features)}
    report["rows"] = [
        row("file size (MiB), compact vs skops", sizes["compact"] / 2**20, sizes["skops"] / 2**20, "MiB"),
        row("load_model (s), compact vs skops", loads["compact"], loads["skops"], "s"),
    ]
    report["sizes"], report["load_seconds"] = sizes, loads
    print(f"compact / skops size: {sizes['compact'] / sizes['skops']:.3f} ({sizes['compact'] / 2**20:.1f} MiB of "
          f"{sizes['skops'] / 2**20:.1f} MiB); bytes a node: compact "
          f"{sizes['compact'] / (report['forest']['nodes_per_tree'] * report['forest']['trees']):.1f}, skops "
          f"{sizes['skops'] / (report['forest']['nodes_per_tree'] * report['forest']['trees']):.1f}")
    print(f"convert: {report['convert_seconds']:.1f} s (write skops {report['write_skops_seconds']:.1f} s)")
    print(f"checks on {len(features)} test pixels: {report['checks']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return report


if __name__ == "__main__":
    main()
