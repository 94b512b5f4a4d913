"""``smallmines composite``: a SmallMinesDS-style 13-band scene for a box and year, from STAC items."""

import sys

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "composite", "build a SmallMinesDS-style 13-band scene for a box and year "
                            "from STAC items",
                            ["smallmines composite --bbox -2.05 5.25 -1.95 5.35 --year 2024 -o tarkwa_2024.tif",
                             "smallmines composite --bbox -2.05 5.25 -1.95 5.35 --year 2022 --items items.json "
                             "-o scene.tif",
                             "smallmines composite --bbox -2.05 5.25 -1.95 5.35 --year 2024 --stac earth-search "
                             "--s1-stac planetary-computer -o tarkwa_2024.tif"])
    options.bbox(p, "box in degrees (EPSG:4326)", required=True)
    p.add_argument("--year", type=options.year, required=True, help="year to composite, from 2015 on")
    options.months(p, "months of the year to composite (default: 1, as the dataset)")
    options.stac_source(p, "local STAC ItemCollection JSON (asset hrefs: local paths or URLs)")
    options.output(p, "output scene (.tif); the observation count goes beside it as <stem>_obs.tif", required=True)
    p.add_argument("--chunk-size", type=int, default=512,
                   help="side of the windows read and written at a time (default: 512)")
    options.client(p, "run the windows on this Dask scheduler's workers (needs the maps extra; the items' files "
                   "or URLs must be readable from the workers)")
    return p


def run(args):
    import contextlib

    options.needs("maps", *options.STAC_MODULES)   # before the job's size is printed: nothing done in vain
    from ..errors import CompositeError
    from ..io.composite import PLANETARY_COMPUTER, build_composite, composite_plan, observations_path

    if not args.quiet:   # the job's size, before any work
        print(f"smallmines composite: {composite_plan(args.bbox).describe()}", file=sys.stderr)
    try:
        with options.dask_client(args.client) if args.client else contextlib.nullcontext() as client:
            out = build_composite(args.bbox, args.year, args.out, months=args.months, items=args.items,
                                  stac_url=args.stac or PLANETARY_COMPUTER, s1_source=args.s1_stac,
                                  chunk_size=args.chunk_size,
                                  progress=not args.quiet, client=client)
    except CompositeError:
        if args.items:   # no item for the box: was it given as lat/lon?
            _check_bbox(args)
        raise
    print(f"wrote {out} and {observations_path(out)}")


def _check_bbox(args):
    """A box that no Sentinel-2 item of the local items covers, but would read as S W N E: say so."""
    from ..io.stac import item_query, read_item_collection, select_items

    found = read_item_collection(args.items)
    options.check_bbox_covers(args.bbox, lambda box: bool(select_items(found, item_query(box, args.year,
                                                                                          args.months)).s2),
                              f"any Sentinel-2 item of {args.items} in {args.year} (months "
                              f"{' '.join(map(str, args.months))})", refuse=False)
