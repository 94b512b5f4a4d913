"""``smallmines change``: the change map between two years, and the area of each class."""

from . import options
from .output import print_areas


def register(subparsers):
    p = options.add_command(subparsers, "change", "change map between two years: new, persistent, no longer mined",
                            ["smallmines change map_2016.tif map_2022.tif -o change_2016_2022.tif"])
    p.add_argument("old", help="earlier map")
    p.add_argument("new", help="later map, on the same grid")
    options.output(p, "output change map (.tif)", positional=True)
    return p


def run(args):
    from ..mapping.analysis import change_map

    areas = change_map(args.old, args.new, args.out)
    for name, area in areas.items():
        print_areas("no data" if name == "nodata" else name, area)
    print(f"wrote {args.out}")
