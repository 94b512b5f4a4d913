"""``smallmines reproduce``: the paper's protocol on a SmallMinesDS download, Table I beside the paper's."""

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "reproduce", "run the paper's protocol on a SmallMinesDS download and print "
                            "Table I beside the paper's",
                            ["smallmines reproduce --data SmallMinesDS -o table1/",
                             "smallmines reproduce --data SmallMinesDS --models rf,unet --epochs 5 "
                             "--unet-weights none"])
    p.add_argument("--data", required=True, help="SmallMinesDS root with the official split CSVs")
    p.add_argument("--models", default="rf", help="comma-separated: rf,unet,prithvi,sam2 (default: rf)")
    options.output(p, "folder for table1.csv, table1.md and the figure", default="smallmines-reproduce")
    options.cache(p)
    p.add_argument("--trees", type=int, help="RF trees (paper: 300)")
    p.add_argument("--max-pixels", type=int, help="cap on RF training pixels (paper: none)")
    options.jobs(p, "RF threads (default: all cores)", default=-1)
    p.add_argument("--epochs", type=int, help="deep models' epochs (paper: 100)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="deep models' device (default: auto)")
    p.add_argument("--unet-encoder", default="resnet50")
    p.add_argument("--unet-weights", type=weights, default="imagenet",
                   help="imagenet (paper), none, or a local encoder file")
    p.add_argument("--prithvi-variant", default="300", help="300 (paper), 600, 100, tiny, ...")
    p.add_argument("--prithvi-weights", type=weights, default="hub", help="hub (paper), none, or a local checkpoint")
    p.add_argument("--sam-config", default="hiera_small")
    p.add_argument("--sam-checkpoint", type=weights, default="hub", help="hub (paper), none, or a local .pt file")
    p.add_argument("--sam-image-size", type=int, default=1024)
    p.add_argument("--no-disjoint", action="store_true", help="skip the second run on a spatially disjoint split")
    return p


def weights(value):
    """'none' means random initialisation; anything else is passed on ('imagenet', 'hub' or a path)."""
    return None if value.lower() == "none" else value


def run(args):
    from ..workflows import reproduce_table1

    settings = {"trees": args.trees, "max_pixels": args.max_pixels, "n_jobs": args.jobs, "epochs": args.epochs,
                "device": args.device, "verbose": not args.quiet, "unet_encoder": args.unet_encoder,
                "unet_weights": args.unet_weights, "prithvi_variant": args.prithvi_variant,
                "prithvi_weights": args.prithvi_weights, "sam_config": args.sam_config,
                "sam_checkpoint": args.sam_checkpoint, "sam_image_size": args.sam_image_size,
                "disjoint": not args.no_disjoint}
    result = reproduce_table1(args.data, [m.strip() for m in args.models.split(",")], args.out, settings,
                              cache_dir=args.cache, progress=not args.quiet)
    changed = [f"{k}={v}" for k, v in settings.items() if k in ("trees", "max_pixels", "epochs") and v is not None]
    print(f"\nTable I on {args.data} (official split)"
          f"{'; changed from the paper: ' + ', '.join(changed) if changed else ''}\n")
    print(result["table"])
    if "disjoint_table" in result:
        print("Spatially disjoint split (no location on both sides; the paper column is the official split's):\n")
        print(result["disjoint_table"])
    print("Intervals: 95 % bootstrap over test patches (1000 resamples).")
    print("tables: " + ", ".join(str(p) for p in result["table_paths"]) + f"\nfigure: {result['figure_path']}")
