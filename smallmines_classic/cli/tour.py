"""``smallmines tour``: the whole chain, offline, on a synthetic twin, from the twin to the report."""

from ..defaults import TOUR_POINTS, TOUR_TILES, TOUR_TREES
from . import options
from .output import monitor_table


def register(subparsers):
    p = options.add_command(subparsers, "tour", "the whole chain, offline, on a synthetic twin: synth, train, "
                            "monitor three years, sample, assess, report",
                            ["smallmines tour", "smallmines tour -o tour/ --tiles 36 --trees 50"],
                            details="Each step is printed with the command that does the same on your own data, its "
                            "time and what it wrote; the last line is the report to open in a browser. Needs the maps "
                            "extra, no connection. About a minute on 2 cores with the defaults.")
    options.output(p, "folder for everything the tour writes, new or empty (default: ./smallmines-tour)",
                   default="smallmines-tour")
    p.add_argument("--tiles", type=int, default=TOUR_TILES,
                   help=f"tiles of the twin, a square number from 4 up (default: {TOUR_TILES}: about 5 x 5 km)")
    p.add_argument("--trees", type=int, default=TOUR_TREES, help=f"trees of the forest (default: {TOUR_TREES})")
    p.add_argument("--points", type=int, default=TOUR_POINTS,
                   help=f"sample points on the 2022 map (default: {TOUR_POINTS})")
    p.add_argument("--seed", type=int, default=0, help="seeds the twin, the forest and the sample (default: 0)")
    options.jobs(p, "forest threads (default: -1, all cores)", default=-1)
    p.add_argument("--overwrite", action="store_true", help="replace a previous tour's files in the folder (others "
                   "are kept)")
    return p


def run(args):
    from ..tour import run_tour

    result = run_tour(args.out, tiles=args.tiles, trees=args.trees, points=args.points, seed=args.seed,
                      n_jobs=args.jobs, overwrite=args.overwrite, log=None if args.quiet else _print)
    if not args.quiet:
        print()
        print(monitor_table(result["summary"]["rows"]), end="")
    print(f"\nopen {result['report'].resolve()} in a web browser (no connection needed)")


def _print(line):
    print(line, flush=True)
