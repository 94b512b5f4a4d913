"""`smallmines monitor`: wall time split by step, against the same work done by the bare calls.

    python -m benchmarks.monitor                 # 64-tile twin: 1024 x 1024 px (10 x 10 km), three years
    python -m benchmarks.monitor --tiles 16      # quick

The region is a synthetic twin (cached) made into local STAC items by
``write_twin_items`` for 2016, 2019 (west half 2016's tiles, east half 2022's)
and 2022; four districts (the quarters, in degrees); a random forest of 20
trees on RGB+. Three runs, in this process and on the same files (each of the
first two ``--repeat`` times, in alternating order; the fastest of each is
kept, as the machine may be shared):

1. **reference**: the bare calls a script would make for the same folder
   (``build_composite``, ``predict_scene``, ``mined_area`` + ``region_areas``,
   ``change_map`` + ``change_areas`` + ``region_change_areas``, ``mined_polygons``
   of the new mining), without records, hashing or alerts' regions;
2. **monitor**, into a new folder: each step's time as ``monitor.json`` records it;
3. **monitor again** on that folder: every step skipped after its check (the
   outputs hashed against their records).
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from pyogrio.raw import write as write_vector
from shapely import to_wkb
from shapely.geometry import box, mapping, shape

from smallmines_classic import (
    RandomForestSegmenter,
    build_composite,
    change_areas,
    change_map,
    load_smallminesds,
    mined_area,
    mined_polygons,
    monitor,
    predict_scene,
    region_areas,
    region_change_areas,
    write_twin_items,
)
from smallmines_classic.io.synthetic import ORIGIN
from smallmines_classic.monitoring.regions import Regions
from smallmines_classic.workflows import default_cache_dir, synthetic_twin

KINDS = ("composite", "map", "areas", "change", "alerts")


def _regions(path, side_m):
    """The four quarters of the twin, 20 m inside its edge, as districts in degrees."""
    left, top = ORIGIN
    half = side_m / 2
    edge = lambda k: 20 * (k == 0) - 20 * (k == 2)  # noqa: E731 (in from the twin's outer edges only)
    quarters = {f"{ns}{we}": box(left + i * half + edge(i), top - (j + 1) * half - edge(j + 1),
                                 left + (i + 1) * half + edge(i + 1), top - j * half - edge(j))
                for j, ns in enumerate(("North", "South")) for i, we in enumerate(("west", "east"))}
    degrees = [shape(rasterio.warp.transform_geom("EPSG:32630", "EPSG:4326", mapping(g))) for g in quarters.values()]
    write_vector(path, geometry=to_wkb(degrees).astype(object), field_data=[np.array(list(quarters), dtype=object)],
                 fields=["NAME"], crs="EPSG:4326", driver="GPKG", geometry_type="Polygon")
    return path


def _reference(folder, bbox, years, items, model, regions):
    """The same maps, areas and change by the bare calls; seconds per kind of step."""
    seconds = dict.fromkeys(KINDS, 0.0)

    def timed(kind, call, *args, **kwargs):
        started = time.perf_counter()
        result = call(*args, **kwargs)
        seconds[kind] += time.perf_counter() - started
        return result

    before = None
    for year in years:
        (folder / str(year)).mkdir(parents=True)
        composite = timed("composite", build_composite, bbox, year, folder / str(year) / "composite.tif",
                          items=items, progress=False)
        year_map = timed("map", predict_scene, model, composite, folder / str(year) / "map.tif", probability=True,
                         progress=False)
        timed("areas", lambda: (mined_area(year_map), region_areas(year_map, regions, "NAME")))
        if before is not None:
            change = folder / f"change_{before}_{year}.tif"
            timed("change", change_map, folder / str(before) / "map.tif", year_map, change)
            timed("areas", lambda: (change_areas(change), region_change_areas(change, regions, "NAME")))
            new = folder / f"new_{before}_{year}.tif"     # the new-mining class as a mask, for mined_polygons
            with rasterio.open(change) as src:
                profile, classes = src.profile, src.read(1)
            with rasterio.open(new, "w", **profile) as dst:
                dst.write(np.where(classes == 255, 255, classes == 1).astype(np.uint8), 1)
            timed("alerts", mined_polygons, new, folder / f"alerts_{before}_{year}.geojson")
        before = year
    return seconds


def _by_kind(steps):
    seconds = dict.fromkeys(KINDS, 0.0)
    for step in steps:
        kind = step["step"].split()[0]
        seconds["areas" if kind in ("regions", "assess") else kind] += step["seconds"]
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=64, help="twin tiles, a square number (default: 64, 10 x 10 km)")
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, in alternating order (default: 2)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    side = int(round(np.sqrt(args.tiles)))
    if side * side != args.tiles:
        parser.error("--tiles must be a square number (the twin's fishnet is square)")

    cache = default_cache_dir() / f"monitor-bench-{args.tiles}"
    root = synthetic_twin(args.tiles, seed=0, progress=False)
    tiles = list(range(1, args.tiles + 1))
    west = {t for t in tiles if (t - 1) % side < side // 2}
    years = {2016: 2016, 2019: {t: 2016 if t in west else 2022 for t in tiles}, 2022: 2022}
    items = cache / "items" / "items.json"
    if not items.is_file():
        write_twin_items(root, cache / "items", tiles, years)
    model_path = cache / f"rf{args.trees}.skops"
    if not model_path.is_file():
        data = load_smallminesds(root, progress=False)
        RandomForestSegmenter(bands="rgb+", n_estimators=args.trees, max_pixels=100_000, random_state=0,
                              n_jobs=-1).fit(data.images, data.masks).save(model_path)
    regions = cache / "districts.gpkg"
    if not regions.is_file():
        _regions(regions, side * 1280)
    bbox = [float(v) for v in Regions(regions, "NAME").bbox()]     # what monitor takes without --bbox

    model = RandomForestSegmenter.load(model_path)
    reference, first, totals = [], [], {"monitor": [], "reference": []}
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        scratch = Path(scratch)
        for repeat in range(args.repeat):   # alternate the order, and keep each one's fastest run: a shared machine
            for which in (("reference", "monitor") if repeat % 2 == 0 else ("monitor", "reference")):
                shutil.rmtree(scratch / which, ignore_errors=True)
                started = time.perf_counter()
                if which == "reference":
                    reference.append(_reference(scratch / which, bbox, list(years), items, model, regions))
                else:
                    summary = monitor(scratch / which, regions, "NAME", list(years), model_path, items=items,
                                      progress=False, log=None)
                    first.append(_by_kind(summary["steps"]))
                totals[which].append(time.perf_counter() - started)
        started = time.perf_counter()
        again = monitor(scratch / "monitor", regions, "NAME", list(years), model_path, items=items, progress=False,
                        log=None)
        rerun_total = time.perf_counter() - started
        stored = sum(f.stat().st_size for f in (scratch / "monitor").rglob("*") if f.is_file())
        with rasterio.open(scratch / "monitor" / "2016" / "map.tif") as src:
            shape_px = src.shape

    ours = {kind: min(run[kind] for run in first) for kind in KINDS}
    reference = {kind: min(run[kind] for run in reference) for kind in KINDS}
    first_total, reference_total = min(totals["monitor"]), min(totals["reference"])
    skipped = _by_kind(again["steps"])
    assert all(step["status"] == "skipped" for step in again["steps"])
    print(f"region: {shape_px[0]} x {shape_px[1]} px ({shape_px[0] * shape_px[1] / 1e4:.0f} km2), 3 years, "
          f"4 districts, forest of {args.trees} trees on RGB+; folder {stored / 2**20:.1f} MiB")
    print(f"{'step':<10} {'monitor':>9} {'bare calls':>11} {'rerun (skipped)':>16}")
    for kind in KINDS:
        print(f"{kind:<10} {ours[kind]:>8.1f}s {reference[kind]:>10.1f}s {skipped[kind]:>15.2f}s")
    print(f"{'total':<10} {first_total:>8.1f}s {reference_total:>10.1f}s {rerun_total:>15.2f}s"
          f"   (monitor / bare calls: {first_total / reference_total:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"tiles": args.tiles, "shape": shape_px, "monitor": ours,
                                               "reference": reference, "rerun": skipped, "totals": {
                                                   "monitor": first_total, "reference": reference_total,
                                                   "rerun": rerun_total}, "folder_bytes": stored}, indent=2))


if __name__ == "__main__":
    main()
