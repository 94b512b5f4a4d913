"""Forest inference engines against scikit-learn's predict_proba, in the same run, and scene mapping in km2/s.

    python -m benchmarks.forest_engines --quick   # CI-sized: 24-tile twin, 30 trees, a 512 px scene (under a minute)
    python -m benchmarks.forest_engines           # the paper preset on the full-size twin (300 trees; ~80 min to train)
    python -m benchmarks.forest_engines --model rf.skops              # a forest trained with `smallmines train`
    python -m benchmarks.forest_engines --model rf.skops --copies 25  # its trees repeated as 25 distinct copies

The forest is the paper preset (RGB+, 300 full-depth trees, balanced
undersampling, seed 42) fitted on the twin's train split, or ``--model``.
``--copies K`` repeats the model's trees K times as separate copies in
memory: a forest of the paper's size and memory footprint, with trees of the
real shape, without the hours of training (say so when quoting its figures).

For 1 thread and ``--jobs`` threads it times scikit-learn's ``predict_proba``
(the reference) and the numba engine on the same test-split pixels, best of 3,
interleaved, and checks that its float64 probabilities equal scikit-learn's
at n_jobs=1 bit for bit; ``--nvforest`` adds nvForest's CPU mode (it needs
memory for treelite's copy of the forest: more than 16 GB on the paper's).
Then ``predict_scene`` maps a scene of twin tiles once per engine: km2/s
(10 m pixels: 1 km2 = 10^4 px), maps compared, and the time Ghana
(238,533 km2) would take at that rate. CPU seconds are recorded beside wall
seconds: on a shared machine the wall time measures the other jobs too, and
CPU seconds / ``--jobs`` is the wall time the same work takes on free cores.
"""

import argparse
import copy
import functools
import json
import os
import platform
import time

import numpy as np
import rasterio
import sklearn

from smallmines_classic import RandomForestSegmenter, load_smallminesds, pixel_features, predict_scene
from smallmines_classic.models import _forest_engines
from smallmines_classic.models.persistence import load_model
from smallmines_classic.workflows import default_cache_dir, synthetic_twin

from .classic import row
from .scene import write_scene

GHANA_KM2 = 238_533
PIXELS_PER_KM2 = 10_000


def paper_forest(tiles, trees, max_pixels, jobs):
    """The paper-rgb+ preset fitted on the train split of a twin of ``tiles`` tiles, and the fit time."""
    train = load_smallminesds(synthetic_twin(tiles), split="train", bands="rgb+", progress=False)
    model = RandomForestSegmenter.from_preset("paper-rgb+", n_jobs=jobs, **{
        key: value for key, value in (("n_estimators", trees), ("max_pixels", max_pixels)) if value is not None})
    start = time.perf_counter()
    model.fit(train.images, train.masks, train.band_names)
    return model, time.perf_counter() - start


def with_copies(model, copies):
    """``model`` with its trees repeated ``copies`` times, each copy its own memory (a forest ``copies`` times
    larger)."""
    if copies == 1:
        return model
    model = copy.copy(model)
    model.forest_ = copy.copy(model.forest_)
    model.forest_.estimators_ = [copy.deepcopy(tree) for _ in range(copies) for tree in model.forest_.estimators_]
    model.forest_.n_estimators = model.n_estimators = len(model.forest_.estimators_)
    return model


def forest_with_jobs(model, n_jobs):
    forest = copy.copy(model.forest_)
    forest.n_jobs = n_jobs
    return forest


def forest_summary(model):
    trees = model.forest_.estimators_
    nodes = np.array([tree.tree_.node_count for tree in trees])
    depth = np.array([tree.tree_.max_depth for tree in trees])
    return {"trees": len(trees), "nodes_per_tree": float(nodes.mean()), "max_depth": int(depth.max()),
            "mean_max_depth": float(depth.mean()), "training_pixels": int(getattr(model, "n_training_pixels_", 0))}


def time_engines(model, features, jobs, nvforest=False, repeat=3):
    """Best-of-``repeat`` seconds of the reference and the engines, for 1 and ``jobs`` threads, and identity checks.

    nvForest (with ``nvforest``) runs with its own OpenMP threads whatever ``jobs`` says.
    """
    reference = forest_with_jobs(model, 1).predict_proba(features)[:, 1]
    start = time.perf_counter()
    packed = _forest_engines.pack_forest(model.forest_)
    results = {"build numba": time.perf_counter() - start, "packed_bytes": packed.nbytes}
    engines = {("numba", threads): _forest_engines.NumbaForest(packed, threads) for threads in sorted({1, jobs})}
    if nvforest:
        start = time.perf_counter()
        engines["nvforest", "own"] = _forest_engines.build_engine("nvforest", "cpu", model.forest_)
        results["build nvforest"] = time.perf_counter() - start
    checks = {}
    for (name, _), engine in engines.items():
        probability = engine(features)
        checks[name] = {"identical": bool(np.array_equal(probability, reference)),
                        "max_abs_difference": float(np.abs(probability - reference).max())}
    calls = {("sklearn", threads): functools.partial(forest_with_jobs(model, threads).predict_proba, features)
             for threads in sorted({1, jobs})}
    calls.update({key: functools.partial(engine, features) for key, engine in engines.items()})
    cpu = {}
    for _ in range(repeat):
        for key, call in calls.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            results[key] = min(results.get(key, np.inf), time.perf_counter() - start)
            cpu[key] = min(cpu.get(key, np.inf), time.process_time() - start_cpu)
    results["cpu"] = cpu
    return results, checks


def map_scene(model, scene, out, engine):
    """Wall and CPU seconds (this process, every thread) of mapping ``scene`` with ``engine``, and the map.

    The engine is built first (once per process, like a country's worth of scenes; timed by ``time_engines``).
    """
    model = copy.copy(model).set_params(engine=engine)
    model.predict_proba(np.zeros((1, len(model.band_names_), 1, 1), np.float32), band_names=model.band_names_)
    start, start_cpu = time.perf_counter(), time.process_time()
    predict_scene(model, scene, out, probability=True, progress=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    with rasterio.open(out) as done:
        return seconds, cpu_seconds, done.read()


def forest_arguments(description, quick, tiles, max_pixels):
    """A parser with the options of a benchmark on a trained forest: ``quick`` says what ``--quick`` makes,
    ``tiles`` and ``max_pixels`` the defaults of the twin's size and of the training pixels."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"CI-sized: {quick}")
    parser.add_argument("--model", help="a saved RandomForestSegmenter on RGB+ instead of training one")
    parser.add_argument("--copies", type=int, default=1, help="repeat the forest's trees this many times (default: 1)")
    parser.add_argument("--tiles", type=int, help=f"twin size (default: {tiles}, quick 24)")
    parser.add_argument("--trees", type=int, help="trees when training (default: the preset's 300, quick 30)")
    parser.add_argument("--max-pixels", type=int, help=f"training pixels (default: {max_pixels})")
    return parser


def main(argv=None):
    parser = forest_arguments(__doc__, "24-tile twin, 30 trees, 512 px scene", 2135, "all, quick 50000")
    parser.add_argument("--pixels", type=int, help="test pixels timed (default: 2^19, quick 2^16)")
    parser.add_argument("--side", type=int, help="scene side in pixels (default: 2048, quick 512)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="threads of the threaded runs and of scene mapping (default: 2)")
    parser.add_argument("--nvforest", action="store_true",
                        help="also time nvForest's CPU mode (it holds treelite's copy of the forest: memory!)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    tiles = args.tiles or (24 if args.quick else 2135)
    pixels = args.pixels or (2**16 if args.quick else 2**19)
    side = args.side or (512 if args.quick else 2048)

    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "date": time.strftime("%Y-%m-%d"),
              "versions": {"numpy": np.__version__, "scikit-learn": sklearn.__version__}}
    if _forest_engines.numba_available():
        report["versions"]["numba"] = __import__("numba").__version__
    if args.model:
        model = load_model(args.model)
        report["model"] = args.model
    else:
        model, fit_seconds = paper_forest(tiles, args.trees or (30 if args.quick else None),
                                          args.max_pixels or (50_000 if args.quick else None), args.jobs)
        report["fit_seconds"] = fit_seconds
    model = with_copies(model.set_params(n_jobs=args.jobs), args.copies)
    report["forest"] = {**forest_summary(model), "copies": args.copies}
    print(f"forest: {report['forest']}", flush=True)

    test = load_smallminesds(synthetic_twin(tiles), split="test", bands="rgb+", progress=False)
    features = pixel_features(test.images, "rgb+", band_names=test.band_names)[:pixels]
    times, checks = time_engines(model, features, args.jobs, args.nvforest)
    report["identity"] = checks
    rows = []
    for key, seconds in times.items():
        if isinstance(key, tuple) and key[0] != "sklearn":
            name, threads = key
            against = threads if threads != "own" else args.jobs
            rows.append(row(f"predict_proba {name} ({threads} threads) vs sklearn ({against}), {len(features)} px",
                            seconds, times["sklearn", against], "s"))
            rows.append(row("  the same in CPU seconds", times["cpu"][key], times["cpu"]["sklearn", against], "s"))
    for name, check in checks.items():
        print(f"{name}: identical to scikit-learn (n_jobs=1) {check['identical']}, "
              f"max |difference| {check['max_abs_difference']:.3g}; built in {times[f'build {name}']:.2f} s")
    print(f"numba's packed forest: {times['packed_bytes'] / 2**20:.0f} MiB")

    work = default_cache_dir() / "bench-forest-engines"
    work.mkdir(parents=True, exist_ok=True)
    scene = write_scene(work / f"scene_rgbplus_{side}.tif", np.clip(test.images, 0, 65535).astype(np.uint16), side)
    km2 = side**2 / PIXELS_PER_KM2
    maps, scene_rows = {}, {}
    for engine in ("sklearn", "numba", *(["nvforest"] if "nvforest" in checks else [])):
        seconds, cpu_seconds, maps[engine] = map_scene(model, scene, work / f"map_{engine}.tif", engine)
        # On a machine whose cores are all ours, the CPU seconds spread over --jobs cores bound the wall time.
        scene_rows[engine] = {"seconds": seconds, "cpu_seconds": cpu_seconds, "km2_per_s": km2 / seconds,
                              "ghana_hours": GHANA_KM2 / (km2 / seconds) / 3600,
                              "km2_per_s_on_free_cores": km2 * args.jobs / cpu_seconds,
                              "ghana_hours_on_free_cores": GHANA_KM2 * cpu_seconds / km2 / args.jobs / 3600}
        print(f"predict_scene {side}^2 px ({km2:.0f} km2), {engine:<8} {args.jobs} thread(s): {seconds:8.1f} s "
              f"{km2 / seconds:8.2f} km2/s, Ghana ({GHANA_KM2:,} km2) in {scene_rows[engine]['ghana_hours']:.1f} h; "
              f"CPU {cpu_seconds:.1f} s: on {args.jobs} free cores {scene_rows[engine]['km2_per_s_on_free_cores']:.2f} "
              f"km2/s, Ghana in {scene_rows[engine]['ghana_hours_on_free_cores']:.1f} h", flush=True)
    report["scene"] = {"side": side, "km2": km2, "runs": scene_rows,
                       "maps_identical": {e: bool(np.array_equal(maps[e], maps["sklearn"])) for e in maps}}
    print(f"scene maps identical to scikit-learn's: {report['scene']['maps_identical']}")
    print(f"scene ratio sklearn / numba: {scene_rows['sklearn']['seconds'] / scene_rows['numba']['seconds']:.2f}x")
    report["rows"] = rows
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
