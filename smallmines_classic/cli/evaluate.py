"""``smallmines evaluate``: score saved models on a split, as Table I."""

from pathlib import Path

from . import options
from .output import print_scores


def register(subparsers):
    p = options.add_command(subparsers, "evaluate", "score models on a split and print a Table-I-style table",
                            ["smallmines evaluate rf_rgb.skops rf_rgbplus.skops --data SmallMinesDS --table table.md"])
    p.add_argument("models", nargs="+", help="model files")
    p.add_argument("--data", required=True, help="SmallMinesDS root")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--table", help="also write the table (.csv or .md)")
    options.cache(p)
    options.years(p)
    return p


def run(args):
    from .._guards import check_output_not_input
    from ..io.dataset import load_smallminesds
    from ..models.persistence import load_model
    from ..tables import write_table

    if args.table:
        check_output_not_input(args.table, *args.models, *options.data_inputs(args))
    models = {}
    for path in args.models:
        model = load_model(path)
        models[Path(path).stem, "+".join(model.band_names_)] = model
    test = load_smallminesds(args.data, years=args.years, split=args.split, cache_dir=args.cache,
                             progress=not args.quiet)
    rows = print_scores(models, test)
    if args.table:
        print(f"table: {write_table(args.table, rows)}")
