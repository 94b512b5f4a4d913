"""``smallmines composite``: a SmallMinesDS-style 13-band scene for a box and year, from STAC items."""

import sys

from . import options


def register(subparsers):
    p = subparsers.add_parser("composite", help="build a SmallMinesDS-style 13-band scene for a box and year from "
                              "STAC items")
    options.bbox(p, "box in degrees (EPSG:4326)", required=True)
    p.add_argument("--year", type=int, required=True)
    options.months(p, "months of the year to composite (default: 1, as the dataset)")
    options.stac_source(p, "local STAC ItemCollection JSON (asset hrefs: local paths or URLs)")
    options.output(p, "output scene (.tif); the observation count goes beside it as <stem>_obs.tif", required=True)
    p.add_argument("--chunk-size", type=int, default=512,
                   help="side of the windows read and written at a time (default: 512)")
    options.client(p, "run the windows on this Dask scheduler's workers (needs smallmines[scale]; the items' files "
                   "or URLs must be readable from the workers)")
    return p


def run(args):
    import contextlib

    from ..io.composite import PLANETARY_COMPUTER, build_composite, composite_plan, observations_path

    if not args.quiet:   # the job's size, before any work
        print(f"smallmines composite: {composite_plan(args.bbox).describe()}", file=sys.stderr)
    with options.dask_client(args.client) if args.client else contextlib.nullcontext() as client:
        out = build_composite(args.bbox, args.year, args.out, months=args.months, items=args.items,
                              stac_url=args.stac or PLANETARY_COMPUTER, chunk_size=args.chunk_size,
                              progress=not args.quiet, client=client)
    print(f"wrote {out} and {observations_path(out)}")
