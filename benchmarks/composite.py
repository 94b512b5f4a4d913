"""Composite building: wall time and peak resident memory on a large local ItemCollection.

    python -m benchmarks.composite                  # 5000 x 5000 px (50 x 50 km), 6 Sentinel-2 + 3 Sentinel-1 items
    python -m benchmarks.composite --side 2000      # quick
    python -m benchmarks.composite --side 2000 --dask 2   # also on a local Dask cluster of 2 worker processes
    python -m benchmarks.composite --side 2000 --floor --rounds 3   # also the floor: raw reads plus medians

The items are written once (tiled, deflate GeoTIFFs in the layout of the
Planetary Computer: uint16 Sentinel-2 bands at 10 and 20 m with a 20 m SCL,
float32 linear Sentinel-1, a float32 DEM in EPSG:4326), then
``smallmines composite --items`` runs in a child process whose peak resident
set is read from the operating system, so the number is the whole command's.
With ``--dask N``, the same composite is also built with a
``LocalCluster`` of N single-threaded worker processes started in that child
(its peak is then the client's, which writes the output; the workers read
and reduce), and the two outputs are compared byte for byte. Each run also
prints the disk space the preflight estimated (``composite_plan``) beside the
sizes written.

With ``--floor``, the same child process then times the least any composite
of these items must do (:func:`floor`): read every asset it needs whole at its
own resolution (rasterio, no resampling) and take the per-pixel medians of
the Sentinel-2 bands and of VV and VH (``nan_median``); the composite's time
is printed as a ratio to it, both measured in the same run: with
``--rounds N``, N rounds of the composite then the floor, alternated so both
see the same load from other jobs, and the fastest of each is counted.
"""

import argparse
import hashlib
import json
import subprocess
import sys
import time

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from smallmines_classic.bands import BAND_SETS
from smallmines_classic.io.composite import composite_plan, observations_path
from smallmines_classic.workflows import default_cache_dir

from ._peak import PRINT_PEAK_RSS

UTM, LEFT, TOP = "EPSG:32630", 600_000, 750_000
TWENTY_M = {"B05", "B06", "B07", "B8A", "B11", "B12"}


def _write(path, array, crs, transform, nodata):
    profile = dict(driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=array.dtype, crs=crs,
                   transform=transform, nodata=nodata, tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


def _feature(item_id, collection, when, assets, bounds, **properties):
    w, s, e, n = bounds
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection, "bbox": [w, s, e, n],
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}, "links": [],
            "properties": {"datetime": when, **properties},
            "assets": {k: {"href": v, "type": "image/tiff; application=geotiff", "roles": ["data"]}
                       for k, v in assets.items()}}


def write_items(root, side, n_s2, n_s1, seed=0):
    """A FeatureCollection of n_s2 + n_s1 + 1 items over a side x side 10 m box; returns (path, bbox in degrees)."""
    path = root / "items.json"
    extent = (LEFT, TOP - 10 * side, LEFT + 10 * side, TOP)
    lonlat = transform_bounds(UTM, "EPSG:4326", *extent)
    if path.is_file():
        return path, lonlat
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, cols = np.ogrid[0:side, 0:side]
    field = (np.sin(rows / 97.0) + np.cos(cols / 61.0)).astype(np.float32)     # smooth land cover
    features = []
    for i in range(n_s2):
        folder = root / f"s2_{i}"
        folder.mkdir(exist_ok=True)
        scl = np.where(np.sin(rows[::2] / (13.0 + i) + cols[:, ::2] / (17.0 + i)) > 0.6, 9, 4).astype(np.uint8)
        _write(folder / "SCL.tif", scl, UTM, from_origin(LEFT, TOP, 20, 20), 0)
        for k, band in enumerate(BAND_SETS["s2"]):
            step = 2 if band in TWENTY_M else 1
            base = field[::step, ::step] * 300 + 2000 + 150 * k + (1000 if i % 2 else 0)
            dn = (base + rng.normal(0, 40, base.shape)).clip(1, 20000).astype(np.uint16)
            _write(folder / f"{band}.tif", dn, UTM, from_origin(LEFT, TOP, 10 * step, 10 * step), 0)
        assets = {name: f"s2_{i}/{name}.tif" for name in (*BAND_SETS["s2"], "SCL")}
        features.append(_feature(f"s2_{i}", "sentinel-2-l2a", f"2022-01-{2 + 5 * i:02d}T10:30:00Z", assets, lonlat,
                                 **{"s2:processing_baseline": "04.00" if i % 2 else "03.01"}))
    for i in range(n_s1):
        folder = root / f"s1_{i}"
        folder.mkdir(exist_ok=True)
        for pol, scale in (("vv", 0.1), ("vh", 0.02)):
            linear = (scale * rng.gamma(4.0, 0.25, (side, side)) * np.exp(field / 4)).astype(np.float32)
            _write(folder / f"{pol}.tif", linear, UTM, from_origin(LEFT, TOP, 10, 10), np.nan)
        features.append(_feature(f"s1_{i}", "sentinel-1-rtc", f"2022-01-{3 + 6 * i:02d}T18:00:00Z",
                                 {"vv": f"s1_{i}/vv.tif", "vh": f"s1_{i}/vh.tif"}, lonlat))
    step = 1 / 3600
    west, north = np.floor(lonlat[0]), np.ceil(lonlat[3])
    n_lon, n_lat = int(np.ceil((lonlat[2] - west) / step)) + 2, int(np.ceil((north - lonlat[1]) / step)) + 2
    dem = (200 + 50 * np.sin(np.arange(n_lat)[:, None] / 300) * np.cos(np.arange(n_lon)[None] / 200)).astype(np.float32)
    (root / "dem").mkdir(exist_ok=True)
    _write(root / "dem" / "dem.tif", dem, "EPSG:4326", from_origin(west, north, step, step), None)
    features.append(_feature("dem", "cop-dem-glo-30", "2021-04-22T00:00:00Z", {"data": "dem/dem.tif"},
                             (west, north - n_lat * step, west + n_lon * step, north)))
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path, lonlat


def floor(items):
    """Seconds to read every asset of ``items`` whole and take the Sentinel-2 and Sentinel-1 medians: the floor."""
    from smallmines_classic.io.recipe import nan_median

    features = json.loads(items.read_text())["features"]
    started = time.perf_counter()
    pixels = {}
    for feature in features:
        for key, asset in feature["assets"].items():
            with rasterio.open(items.parent / asset["href"]) as src:
                pixels.setdefault(key, []).append(src.read(1).astype(np.float32))
    for key in (*BAND_SETS["s2"], "vv", "vh"):
        nan_median(np.stack(pixels[key]))
    return time.perf_counter() - started


def _floor_child(items):
    """Run :func:`floor` in a fresh process, as the composite is run: its seconds."""
    code = f"from pathlib import Path\nfrom benchmarks.composite import floor\nprint(floor(Path({str(items)!r})))"
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=5000, help="box side in 10 m pixels (default: 5000, 50 km)")
    parser.add_argument("--s2", type=int, default=6, help="Sentinel-2 items (default: 6)")
    parser.add_argument("--s1", type=int, default=3, help="Sentinel-1 items (default: 3)")
    parser.add_argument("--chunk", type=int, nargs="+", default=[512], help="chunk sizes to run (default: 512)")
    parser.add_argument("--dask", type=int, metavar="WORKERS",
                        help="also run on a local Dask cluster of this many workers")
    parser.add_argument("--floor", action="store_true",
                        help="also time the floor (raw reads + medians) in the same run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --floor: rounds of composite then floor; the fastest of each count (default: 1)")
    args = parser.parse_args(argv)

    root = default_cache_dir() / f"composite-bench-{args.side}-{args.s2}-{args.s1}"
    started = time.perf_counter()
    items, bbox = write_items(root, args.side, args.s2, args.s1)
    print(f"items: {items} ({time.perf_counter() - started:.0f} s to write or find)")
    s2_bytes = args.s2 * (4 * args.side ** 2 * 2 + 7 * (args.side // 2) ** 2 * 2)
    s1_bytes = args.s1 * 2 * args.side ** 2 * 4
    print(f"input pixels, uncompressed: {(s2_bytes + s1_bytes) / 2 ** 30:.2f} GiB")
    plan = composite_plan(bbox)
    print(f"preflight: {plan.describe()}")
    for chunk in args.chunk:
        runs = {"local": ""} if not args.dask else {"local": "", f"dask {args.dask} workers": (
            "from dask.distributed import LocalCluster, Client\n"
            f"client = Client(LocalCluster(n_workers={args.dask}, threads_per_worker=1, processes=True, "
            "dashboard_address=':0'))\n")}
        digests = {}
        for name, setup in runs.items():
            out = root / f"scene_{chunk}{'_dask' if setup else ''}.tif"
            code = ("if __name__ == '__main__':\n" + "".join(f"    {line}\n" for line in (
                    setup + "import smallmines_classic.io.composite as c\n"
                    f"c.build_composite({list(bbox)}, 2022, {str(out)!r}, items={str(items)!r}, chunk_size={chunk}, "
                    f"progress=False{', client=client' if setup else ''})\n" + PRINT_PEAK_RSS).splitlines()))
            rounds, floors = [], []
            for _ in range(args.rounds if args.floor and not setup else 1):   # alternated: both see the same load
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                rounds.append(time.perf_counter() - started)
                if args.floor and not setup:
                    floors.append(_floor_child(items))
            seconds, peak = min(rounds), int(done.stdout.split()[-1]) / 2 ** 30
            with rasterio.open(out) as src:
                shape = (src.count, src.height, src.width)
            written = out.stat().st_size + observations_path(out).stat().st_size
            digests[name] = [hashlib.sha256(path.read_bytes()).hexdigest() for path in (out, observations_path(out))]
            started_cluster = " (with the start of the cluster)" if setup else ""
            print(f"chunk {chunk}, {name}: {shape} in {seconds:.1f} s{started_cluster}, peak RSS {peak:.2f} GiB; "
                  f"wrote {written / 1e6:.1f} MB (preflight: up to {plan.output_bytes / 1e6:.1f} MB)")
            if floors:
                print(f"chunk {chunk}, floor (raw reads + medians): {min(floors):.1f} s; the composite takes "
                      f"{seconds / min(floors):.2f}x its floor (fastest of {len(floors)} alternated rounds each: "
                      f"composite {' '.join(f'{t:.1f}' for t in rounds)} s, floor "
                      f"{' '.join(f'{t:.1f}' for t in floors)} s); scene sha256 {digests[name][0][:16]}")
        if len(digests) > 1:
            same = len(set(map(tuple, digests.values()))) == 1
            print(f"chunk {chunk}: the outputs are {'the same' if same else 'DIFFERENT'} byte for byte")


if __name__ == "__main__":
    main()
