"""``smallmines polygons``: the mined areas of a map as polygons."""

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "polygons", "export the mined areas of a map as polygons (GeoJSON or "
                            "GeoPackage)", ["smallmines polygons map_2022.tif -o mines_2022.gpkg --min-area 5000"])
    p.add_argument("map", help="map file from 'smallmines predict'")
    options.output(p, "output .gpkg or .geojson", positional=True)
    p.add_argument("--min-area", type=float, default=0.0, help="drop polygons smaller than this many m2")
    return p


def run(args):
    options.needs("maps", "shapely", *options.vector_modules(args.out))   # shapely traces the polygons
    from ..mapping.analysis import mined_polygons

    count = mined_polygons(args.map, args.out, min_area_m2=args.min_area)
    print(f"wrote {count} polygons to {args.out}")
