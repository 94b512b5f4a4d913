"""Scene mapping: throughput in km2 per second, Dask scaling from 1 to 2 workers, and peak memory.

    python -m benchmarks.scene                 # a 20000 x 20000 px scene (40000 km2)
    python -m benchmarks.scene --side 4096     # quick
    python -m benchmarks.scene --memory        # peak RSS of predict_scene at 2048^2 and 10000^2 px

The scene is a tiled GeoTIFF of the model's bands, filled with twin tiles
repeated across it (uint16 reflectances, as Sentinel-2 L2A is delivered), so
its content is realistic and its size is arbitrary. Each Dask run uses a
LocalCluster whose workers have a hard memory limit; the peak resident
memory of every worker is sampled while it runs.

``--memory`` maps a 3-band (RGB) scene of each size in a fresh process and
reads that process's peak resident set (``VmHWM``, Linux), once with the bounded
GDAL block cache that scene mapping sets and once with GDAL's default (5% of RAM).
"""

import argparse
import json
import subprocess
import sys
import threading
import time

import numpy as np
import rasterio
from rasterio.transform import from_origin

from smallmines_classic import RandomForestSegmenter, load_smallminesds, mined_area, predict_scene, resolve_bands
from smallmines_classic.io.synthetic import CRS_EPSG, ORIGIN
from smallmines_classic.mapping.distributed import predict_scene_dask
from smallmines_classic.workflows import default_cache_dir, synthetic_twin

from ._peak import PRINT_PEAK_RSS

BANDS = "rgb+"


def write_scene(path, tiles, side, bands=BANDS):
    """A side x side scene of the model's bands, tiled with the twin's patches (uint16)."""
    if path.is_file():
        return path
    n, count = len(tiles), tiles.shape[1]
    profile = dict(driver="GTiff", width=side, height=side, count=count, dtype="uint16", crs=f"EPSG:{CRS_EPSG}",
                   transform=from_origin(*ORIGIN, 10, 10), tiled=True, blockxsize=512, blockysize=512,
                   compress="deflate", BIGTIFF="YES")
    strip = 128 * 8
    with rasterio.open(path, "w", **profile) as dst:
        dst.descriptions = resolve_bands(bands)
        for row in range(0, side, strip):
            height = min(strip, side - row)
            block = np.empty((count, height, side), np.uint16)
            for r in range(0, height, 128):
                for c in range(0, side, 128):
                    tile = tiles[((row + r) // 128 * 7919 + c // 128) % n]  # a fixed pseudo-random tile order
                    block[:, r:r + 128, c:c + 128] = tile[:, :height - r, :side - c]
            dst.write(block, window=((row, row + height), (0, side)))
    return path


def peak_worker_memory(client, stop, peaks):
    while not stop.is_set():
        for worker, rss in client.run(lambda: __import__("psutil").Process().memory_info().rss).items():
            peaks[worker] = max(peaks.get(worker, 0), rss)
        time.sleep(0.5)


# Run in a fresh process: map one scene and print its peak resident set in bytes.
_PEAK_RSS = """
import sys
from smallmines_classic import predict_scene
from smallmines_classic.io import raster
from smallmines_classic.mapping import scene
from smallmines_classic.models.persistence import load_model
if sys.argv[4] != "default":
    raster.GDAL_CACHE_MB = int(sys.argv[4])
else:
    scene.bounded_gdal_cache = __import__("contextlib").nullcontext
predict_scene(load_model(sys.argv[1]), sys.argv[2], sys.argv[3], progress=False)
""" + PRINT_PEAK_RSS


def peak_rss_table(sides=(2048, 10000)):
    """Peak RSS of predict_scene per scene side, bounded GDAL cache vs GDAL's default, each run in its own process."""
    from smallmines_classic.io.raster import GDAL_CACHE_MB
    from smallmines_classic.models.persistence import save_model

    root = synthetic_twin(200)
    data = load_smallminesds(root, bands="rgb", progress=False)
    model = RandomForestSegmenter(bands="rgb", n_estimators=5, max_depth=8, max_pixels=100_000, random_state=0,
                                  n_jobs=1).fit(data.images, data.masks, data.band_names)
    work = default_cache_dir() / "bench-scene"
    work.mkdir(parents=True, exist_ok=True)
    model_path = save_model(work / "rf_rgb_memory.model", model)
    tiles = np.clip(data.images, 0, 65535).astype(np.uint16)
    peaks = {}
    for side in sides:
        scene = write_scene(work / f"scene_rgb_{side}.tif", tiles, side, bands="rgb")
        for cache in (str(GDAL_CACHE_MB), "default"):
            done = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(model_path), str(scene),
                                   str(work / "map_memory.tif"), cache], capture_output=True, text=True, check=True)
            peaks[side, cache] = int(done.stdout.split()[-1])
            print(f"{side:>6}^2 px, GDAL cache {cache + ' MB' if cache != 'default' else 'default'}: "
                  f"peak RSS {peaks[side, cache] / 2**20:8.1f} MiB", flush=True)
    small, large = sides
    for cache in (str(GDAL_CACHE_MB), "default"):
        print(f"GDAL cache {cache}: {large}^2 / {small}^2 peak RSS = {peaks[large, cache] / peaks[small, cache]:.2f}")
    return {f"{side}/{cache}": peak for (side, cache), peak in peaks.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=20000, help="scene side in pixels (default: 20000)")
    parser.add_argument("--memory-limit", default="1.5GiB", help="per-worker memory limit (default: 1.5GiB)")
    parser.add_argument("--block", type=int, default=2048)
    parser.add_argument("--memory", action="store_true",
                        help="only the peak-memory comparison of 2048^2 and 10000^2 px")
    args = parser.parse_args(argv)
    if args.memory:
        print(json.dumps(peak_rss_table()))
        return
    from dask.distributed import Client, LocalCluster

    root = synthetic_twin(200)
    data = load_smallminesds(root, bands=BANDS, progress=False)
    model = RandomForestSegmenter(bands=BANDS, n_estimators=20, max_depth=12, max_pixels=200_000, random_state=0,
                                  n_jobs=1).fit(data.images, data.masks, data.band_names)
    work = default_cache_dir() / "bench-scene"
    work.mkdir(parents=True, exist_ok=True)
    scene = write_scene(work / f"scene_{args.side}.tif", np.clip(data.images, 0, 65535).astype(np.uint16), args.side)
    km2 = args.side**2 * 100 / 1e6
    print(f"scene {args.side} x {args.side} px = {km2:.0f} km2; "
          f"RF {model.n_estimators} trees, depth {model.max_depth}, {BANDS}")

    if args.side <= 8192:
        start = time.perf_counter()
        predict_scene(model, scene, work / "map_local.tif", window_size=args.block, progress=False)
        local = time.perf_counter() - start
        print(f"predict_scene (1 process):        {local:8.1f} s  {km2 / local:8.2f} km2/s")

    timings = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=args.memory_limit,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            peaks, stop = {}, threading.Event()
            sampler = threading.Thread(target=peak_worker_memory, args=(client, stop, peaks), daemon=True)
            sampler.start()
            start = time.perf_counter()
            out = predict_scene_dask(model, scene, work / f"map_dask{workers}.tif", client, block_size=args.block,
                                     progress=False)
            timings[workers] = time.perf_counter() - start
            stop.set()
            sampler.join()
        peak = max(peaks.values()) / 2**30
        print(f"predict_scene_dask, {workers} worker(s):  {timings[workers]:8.1f} s  "
              f"{km2 / timings[workers]:8.2f} km2/s  peak worker RSS {peak:.2f} GiB (limit {args.memory_limit})")
    print(f"Dask scaling 1 -> 2 workers: {timings[1] / timings[2]:.2f}x; mined area {mined_area(out)['km2']:.1f} km2")


if __name__ == "__main__":
    main()
