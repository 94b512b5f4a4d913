"""`smallmines report` on a 50 x 50 km box, three years: the HTML file's size, the build time, the peak memory.

    python -m benchmarks.report                  # 5000 x 5000 px (50 x 50 km) per year, 2016 2019 2022
    python -m benchmarks.report --side 2000      # quick

A monitor folder that follows the contract is written once and cached (the
tests' generator, ``tests/monitor_folder.py``: 13-band float32 COG composites,
mining maps, change maps, new-mining polygons, two regions, ``monitor.json``).
``smallmines report`` then runs in a child process, whose peak resident set is
read from the operating system (``benchmarks/_peak.py``), once per picture
budget. The reference, in the same run and also in a child process, is
folium's own recipe for a raster on a map: ``folium.raster_layers.ImageOverlay``
of one year's true colour as a numpy array at full resolution (folium embeds
it as a PNG), saved with ``Map.save``; its size is per year, so three years
would be three times that.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

from smallmines_classic.workflows import default_cache_dir

from ._peak import PRINT_PEAK_RSS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from monitor_folder import write_monitor_folder  # noqa: E402  (the tests' generator)

YEARS = (2016, 2019, 2022)

# folium's own way: the full-resolution true colour as an array, one year. Leaflet comes from the CDNs here.
_FOLIUM_REFERENCE = """
import folium, numpy as np, rasterio, rasterio.warp
from smallmines_classic.bands import band_indices
from smallmines_classic.mapping.scene import scene_band_names
from smallmines_classic.monitoring import previews
with rasterio.open({composite!r}) as src:
    rgb = src.read([i + 1 for i in band_indices("rgb", scene_band_names(src))])
    bounds = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
picture = previews.colour_picture(rgb, previews.stretch_limits([rgb]))
m = folium.Map(tiles=None)
corners = [[bounds[1], bounds[0]], [bounds[3], bounds[2]]]
folium.raster_layers.ImageOverlay(picture, corners, mercator_project=True).add_to(m)
m.save({out!r})
"""


def _child(code):
    """Run ``code`` in a fresh interpreter; its wall time in seconds and its peak resident set in bytes."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + "\n" + PRINT_PEAK_RSS], check=True, capture_output=True,
                          text=True)
    return time.perf_counter() - started, int(done.stdout.split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=5000, help="box side in 10 m pixels (default: 5000, 50 km)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[4_000_000, 1_000_000],
                        help="picture pixel budgets to run (default: 4000000 1000000)")
    parser.add_argument("--no-reference", action="store_true", help="skip folium's full-resolution reference")
    args = parser.parse_args(argv)

    folder = default_cache_dir() / f"report-bench-{args.side}" / "run"
    started = time.perf_counter()
    if not (folder / "monitor.json").is_file():
        write_monitor_folder(folder, size=args.side, years=YEARS, names=("Amansie West", "Obuasi"), block=256)
    data = sum(p.stat().st_size for p in folder.rglob("*.tif"))
    print(f"monitor folder: {folder} ({time.perf_counter() - started:.0f} s to write or find); "
          f"GeoTIFFs {data / 2**20:.0f} MiB")
    for budget in args.budgets:
        out = folder.parent / f"report_{budget}.html"
        code = ("from smallmines_classic.monitoring import write_report\n"
                f"write_report({str(folder)!r}, {str(out)!r}, preview_pixels={budget}, progress=False)")
        seconds, peak = _child(code)
        html = out.read_text(encoding="utf-8")
        stated = html[html.index("previews at about"):].split(" (")[0]
        print(f"report, budget {budget:,} px: {out.stat().st_size / 2**20:.2f} MiB ({out.stat().st_size:,} bytes) "
              f"in {seconds:.1f} s, peak RSS {peak / 2**30:.2f} GiB; {stated}")
    if not args.no_reference:
        out = folder.parent / "folium_reference_2022.html"
        seconds, peak = _child(_FOLIUM_REFERENCE.format(composite=str(folder / "2022" / "composite.tif"), out=str(out)))
        print(f"reference, folium ImageOverlay of one year at full resolution: {out.stat().st_size / 2**20:.2f} MiB "
              f"in {seconds:.1f} s, peak RSS {peak / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
