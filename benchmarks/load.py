"""Dataset cold load: ``load_smallminesds`` against a sequential rasterio loop, the files' pages dropped before each
run.

    python -m benchmarks.load                  # a 200-tile twin (400 patches, 250 MB), 3 runs of each
    python -m benchmarks.load --tiles 2135     # the real dataset's size (4270 patches)

Cold means that no file of the twin is in the page cache when a run starts: before each run, every image and mask
file gets ``posix_fadvise(POSIX_FADV_DONTNEED)``, which evicts its clean pages (no root needed; Linux). The two
loaders run alternately, so that a change in the machine's load hits both; the figure is the median of the runs,
and the ratio is the reference's median over ours. The CPU seconds (every thread's) are printed beside: on a machine
whose cores other work keeps busy, they show the work a loader does when wall time mostly shows the others. Both must
give the same arrays, or the benchmark fails.

The file runs as a script too (``python benchmarks/load.py``), so that the loader of another checkout can be
measured by putting it first on ``PYTHONPATH``: the "before" figure of benchmarks/RESULTS.md.
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from benchmarks.classic import reference_load  # absolute: the file also runs as a script
from smallmines_classic import find_patches, load_smallminesds
from smallmines_classic.workflows import synthetic_twin


def drop_from_page_cache(paths):
    """Evict the pages of ``paths`` from the page cache, so that the next read goes to the disk."""
    for path in paths:
        handle = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(handle, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(handle)


def ours(root, n_jobs=None):
    ds = load_smallminesds(root, n_jobs=n_jobs, progress=False)
    return ds.images, ds.masks


def cold_runs(loaders, files, repeat):
    """Wall and CPU seconds (the process's, every thread's) of each of ``loaders`` (name -> function), cold, run
    alternately ``repeat`` times; and the last arrays of each."""
    seconds, cpu, arrays = {name: [] for name in loaders}, {name: [] for name in loaders}, {}
    for _ in range(repeat):
        for name, load in loaders.items():
            drop_from_page_cache(files)
            start, start_cpu = time.perf_counter(), time.process_time()
            arrays[name] = load()
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return seconds, cpu, arrays


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=200, help="tiles per year of the twin (default: 200)")
    parser.add_argument("--repeat", type=int, default=3, help="cold runs of each loader (default: 3)")
    parser.add_argument("--jobs", type=int, help="our reader threads (default: the loader's)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    root = synthetic_twin(args.tiles)
    files = [path for *_, image, mask in find_patches(root) for path in (image, mask)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f}; {len(files) // 2} patches, {sum(map(os.path.getsize, files)) / 1e6:.0f} MB")
    loaders = {"sequential rasterio loop": lambda: reference_load(root),
               "load_smallminesds": lambda: ours(root, args.jobs)}
    seconds, cpu, arrays = cold_runs(loaders, files, args.repeat)
    reference, mine = arrays.values()
    np.testing.assert_array_equal(mine[0], np.stack(reference[0]))
    np.testing.assert_array_equal(mine[1], np.stack(reference[1]))
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    cpu_medians = {name: statistics.median(times) for name, times in cpu.items()}
    for name, times in seconds.items():
        print(f"{name}: median {medians[name]:.2f} s cold ({', '.join(f'{t:.2f}' for t in times)}), "
              f"CPU {cpu_medians[name]:.2f} s")
    ratio = medians["sequential rasterio loop"] / medians["load_smallminesds"]
    cpu_ratio = cpu_medians["sequential rasterio loop"] / cpu_medians["load_smallminesds"]
    print(f"cold load of {len(files) // 2} patches: {ratio:.2f}x the sequential loop (CPU time {cpu_ratio:.2f}x); "
          "arrays identical")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"seconds": seconds, "cpu_seconds": cpu, "median": medians, "ratio": ratio,
                       "cpu_ratio": cpu_ratio, "cpus": os.cpu_count()}, handle)


if __name__ == "__main__":
    main()
