"""``smallmines monitor``: every region, every year, in one resumable folder."""

import argparse
import sys
import warnings
from pathlib import Path

from ..errors import InputError
from . import options
from .output import monitor_table


def register(subparsers):
    p = options.add_command(subparsers, "monitor", "every region, every year: composites, maps, areas, change and "
                            "new-mining alerts in one folder (resumable)",
                            ["smallmines monitor --regions districts.gpkg --field NAME --years 2016 2019 2022 \\\n"
                             "      --model rf.skops -o monitor/",
                             "smallmines monitor --regions districts.gpkg --field NAME --years 2016 2019 2022 \\\n"
                             "      --model rf.skops --assess 2022=points_labels.csv -o monitor/"],
                            details="Per year: a composite, a mining map and per-region areas; between consecutive "
                            "years: a change map and new-mining polygons (alerts). A rerun skips the steps whose "
                            "inputs and outputs are unchanged (checked by content).")
    p.add_argument("--regions", required=True, help="region polygons (GeoPackage, GeoJSON, Shapefile, ...), any CRS")
    p.add_argument("--field", required=True, help="the attribute that names the regions (unique names)")
    options.years(p, "years to map, from 2015 on, e.g. 2016 2019 2022", required=True)
    p.add_argument("--model", required=True, help="model file (smallmines train)")
    options.bbox(p, "box in degrees (EPSG:4326); default: the regions' extent")
    options.stac_source(p, "local STAC ItemCollection JSON; may hold several years' items")
    options.months(p, "months of each year to composite (default: 1)")
    p.add_argument("--min-area", type=float, default=0.0, help="smallest new-mining polygon reported as an alert, m2")
    p.add_argument("--assess", type=assess_arg, nargs="+", metavar="YEAR=POINTS",
                   help="labelled sample points of a year's map (smallmines sample, labelled): the error-adjusted "
                   "area with its 95%% interval goes beside that year's map area")
    options.output(p, "output folder (new, empty, or a previous run's: finished steps are kept)", required=True)
    options.client(p, "build the composites on this Dask scheduler's workers (same bytes; the items must be "
                   "readable from the workers)")
    return p


def assess_arg(value):
    """``YEAR=points.csv`` -> (year, path)."""
    year, sep, path = value.partition("=")
    if not sep or not year.strip().isdigit() or not path:
        raise argparse.ArgumentTypeError(f"expected YEAR=LABELLED_POINTS (e.g. 2022=points.csv), got {value!r}")
    return int(year), path


def run(args):
    import contextlib

    options.needs("maps", *options.STAC_MODULES, *options.VECTOR_MODULES)
    from ..io.composite import PLANETARY_COMPUTER, composite_plan
    from ..monitoring import monitor
    from ..monitoring.regions import Regions

    if len({year for year, _ in args.assess or ()}) != len(args.assess or ()):
        raise InputError("--assess names a year twice; give one labelled sample per year")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # monitor() itself warns of what it finds in the regions, once
        extent = Regions(args.regions, args.field).bbox()
    if args.bbox is not None:
        _check_bbox(args, extent)
    if not args.quiet:  # the job's size, before any work
        print(f"smallmines monitor: {len(args.years)} year(s), each a composite of "
              f"{composite_plan(args.bbox or extent).describe()}; each year's composite is kept", file=sys.stderr)
    with options.dask_client(args.client) if args.client else contextlib.nullcontext() as client:
        summary = monitor(args.out, args.regions, args.field, args.years, args.model, bbox=args.bbox,
                          items=args.items, stac_url=args.stac or PLANETARY_COMPUTER, s1_source=args.s1_stac,
                          months=args.months,
                          min_area_m2=args.min_area, assess=dict(args.assess or ()), progress=not args.quiet,
                          log=lambda line: print(line, flush=True), client=client)
    print(f"\nwrote {Path(args.out) / 'monitor.json'} and monitor.csv: {len(summary['rows'])} rows "
          f"({len(summary['regions']['names'])} regions and the whole box x {len(summary['years'])} years)\n")
    print(monitor_table(summary["rows"]), end="")
    print(f"\nnext: smallmines report {args.out}")


def _check_bbox(args, extent):
    """The box must overlap the regions (``extent``) and, with local items, some year's Sentinel-2 items: a box given
    as lat/lon instead of lon/lat is named as such, before any work."""
    from ..io.stac import item_query, read_item_collection, select_items

    options.check_bbox_covers(args.bbox, lambda box: options.boxes_overlap(box, extent),
                              f"the regions of {args.regions} (W S E N {options.box_text(extent)})")
    if args.items:
        found = read_item_collection(args.items)
        options.check_bbox_covers(args.bbox, lambda box: any(select_items(found, item_query(box, year, args.months)).s2
                                                             for year in args.years),
                                  f"any Sentinel-2 item of {args.items} in the years {' '.join(map(str, args.years))}",
                                  refuse=False)
