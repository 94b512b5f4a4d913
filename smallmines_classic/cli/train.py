"""``smallmines train``: fit a random forest on the train split, save it, score it on the test split."""

from pathlib import Path

from . import options
from .output import print_scores


def register(subparsers):
    p = options.add_command(subparsers, "train", "train a random forest on the train split of a SmallMinesDS folder",
                            ["smallmines train SmallMinesDS -o rf_rgbplus.skops",
                             "smallmines train SmallMinesDS -o rf.skops --bands rgb+ --derived ndvi --trees 100"])
    p.add_argument("data", help="SmallMinesDS root (with the year folders and split CSVs)")
    options.output(p, "model file to write (.skops)", positional=True)
    p.add_argument("--preset", default="paper-rgb+", choices=["paper-rgb", "paper-rgb+"],
                   help="the paper's settings to start from")
    p.add_argument("--bands", nargs="+", help="a band set (rgb, rgb+, s2, all) or band names, e.g. B02 B8A swir1 "
                   "(overrides the preset)")
    p.add_argument("--derived", nargs="+", help="derived indices to add, e.g. ndvi mndwi slope")
    p.add_argument("--trees", type=int, help="number of trees (preset: 300)")
    p.add_argument("--max-pixels", type=int, help="cap on training pixels after undersampling")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu", "auto"])
    options.jobs(p, "forest threads (-1: all cores)")
    options.engine(p, "stored in the model (default: auto)")
    options.cache(p)
    options.years(p)
    return p


def run(args):
    from .._guards import check_output_not_input
    from ..io.dataset import find_patches, load_smallminesds
    from ..models.features import required_bands
    from ..models.forest import RandomForestSegmenter

    bands = args.bands[0] if args.bands and len(args.bands) == 1 else args.bands  # a set name, or band names
    overrides = {key: value for key, value in (("bands", bands), ("n_estimators", args.trees),
                                               ("max_pixels", args.max_pixels), ("derived", tuple(args.derived or ())),
                                               ("engine", args.engine))
                 if value not in (None, ())}
    check_output_not_input(args.out, *options.data_inputs(args))
    model = RandomForestSegmenter.from_preset(args.preset, device=args.device, n_jobs=args.jobs, verbose=not args.quiet,
                                              **overrides)
    bands = required_bands(model.bands, model.derived)
    data = load_smallminesds(args.data, years=args.years, split="train", bands=bands, cache_dir=args.cache,
                             progress=not args.quiet)
    model.fit(data.images, data.masks, data.band_names)
    model.set_params(verbose=False).save(args.out)  # progress bars are this run's choice, not the saved model's
    model.set_params(verbose=not args.quiet)
    left_out = f" ({model.n_missing_pixels_} with no data left out)" if model.n_missing_pixels_ else ""
    print(f"trained {model.n_estimators} trees on {model.n_training_pixels_} pixels of {len(data)} patches{left_out}, "
          f"bands {list(model.band_names_)}; saved to {args.out}")
    del data  # one split in memory at a time
    if not find_patches(args.data, args.years, split="test"):
        print(f"{args.data} has no test split: no test score")
        return
    test = load_smallminesds(args.data, years=args.years, split="test", bands=bands, cache_dir=args.cache,
                             progress=not args.quiet)
    print(f"\nScore on the test split ({len(test)} patches):")
    print_scores({(Path(args.out).stem, "+".join(model.band_names_)): model}, test)
