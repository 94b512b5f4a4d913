"""``smallmines synth``: write a synthetic twin of SmallMinesDS."""

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "synth", "write a synthetic twin of SmallMinesDS in the real layout",
                            ["smallmines synth -o twin/ --tiles 16", "smallmines synth -o twin/ --tiles 2135 --seed 1"])
    options.output(p, "output folder", positional=True)
    p.add_argument("--tiles", type=int, default=200, help="tiles per year (default: 200; the real dataset: 2135)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default: 0)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: 2)")
    options.years(p, "years to write, from 2015 on (default: 2016 2022)", default=[2016, 2022])
    p.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty, replacing the "
                   "SmallMinesDS files there (others are kept)")
    return p


def run(args):
    from ..io.synthetic import make_synthetic_smallminesds

    root = make_synthetic_smallminesds(args.out, args.tiles, years=args.years, seed=args.seed, n_jobs=args.jobs,
                                       progress=not args.quiet, overwrite=args.overwrite)
    print(f"wrote a synthetic SmallMinesDS twin of {args.tiles} tiles x {len(args.years)} years to {root}")
