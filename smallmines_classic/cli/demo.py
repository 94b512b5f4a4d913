"""``smallmines demo``: the main job on the synthetic twin, Table I and a figure."""

from ..defaults import DEMO_MAX_PIXELS, DEMO_TILES, DEMO_TREES
from . import options


def register(subparsers):
    p = options.add_command(subparsers, "demo", "the main job on the synthetic twin: train RF on RGB and RGB+, print "
                            "Table I, draw a figure", ["smallmines demo", "smallmines demo -o demo/ --tiles 200"])
    options.output(p, "folder for the table and figure (default: ./smallmines-output)", default="smallmines-output")
    p.add_argument("--tiles", type=int, default=DEMO_TILES, help=f"tiles per year of the twin (default: {DEMO_TILES})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=-1, help="forest threads (default: -1, all cores)")
    return p


def run(args):
    from ..workflows import run_demo

    result = run_demo(args.out, n_tiles=args.tiles, seed=args.seed, n_jobs=args.jobs, progress=not args.quiet,
                      log=None if args.quiet else print)
    print(f"\nRandom forest on the synthetic twin ({result['data']}), official-style test split.")
    print(f"Demo settings: {DEMO_TREES} trees, at most {DEMO_MAX_PIXELS:,} training pixels "
          "(the paper: 300 trees, all pixels).")
    print("The twin is synthetic: compare RGB with RGB+, not with the paper's numbers.\n")
    print(result["table"])
    print(f"table:  {result['table_path']}\nfigure: {result['figure_path']}")
