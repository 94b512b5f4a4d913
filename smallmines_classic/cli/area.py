"""``smallmines area``: mined and no-data area of maps, in total and per region."""

from pathlib import Path

from . import options
from .output import print_areas


def register(subparsers):
    p = options.add_command(subparsers, "area", "mined area and no-data area of one or more maps (pixels, ha, km2)",
                            ["smallmines area map_2022.tif",
                             "smallmines area map_2016.tif map_2022.tif --regions districts.gpkg --field NAME"])
    p.add_argument("maps", nargs="+", help="map files from 'smallmines predict'")
    p.add_argument("--regions", help="polygon file (GeoPackage, GeoJSON, ...): also report the area inside each "
                   "polygon")
    p.add_argument("--field", help="attribute that names the regions (default: feature index)")
    return p


def run(args):
    if args.regions:
        options.needs("maps", "shapely", *options.vector_modules(args.regions))
    from ..mapping.analysis import mined_area, region_areas

    for path in args.maps:
        print_areas(Path(path).name, mined_area(path))
        if args.regions:
            for name, areas in region_areas(path, args.regions, args.field).items():
                print_areas(f"  {name}", areas)
