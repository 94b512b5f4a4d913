"""``smallmines predict``: map a whole scene with a saved model."""

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "predict", "map a whole GeoTIFF scene with a saved model (Cloud-Optimized "
                            "GeoTIFF out)",
                            ["smallmines predict rf.skops tarkwa_2024.tif -o tarkwa_2024_map.tif",
                             "smallmines predict rf.skops scene.tif -o map.tif --probability --strict"])
    p.add_argument("model", help="model file")
    p.add_argument("scene", help="scene GeoTIFF or VRT with SmallMinesDS bands")
    options.output(p, "output map (.tif): band 1 mask 0/1, 255 nodata", positional=True)
    p.add_argument("--probability", action="store_true", help="add band 2: mining probability in percent")
    options.band_names(p)
    p.add_argument("--window", type=int, default=1024, help="window side in pixels (default: 1024)")
    p.add_argument("--overlap", type=int, default=64,
                   help="pixels by which neighbouring windows overlap and are blended (default: 64)")
    p.add_argument("--strict", action="store_true", help="refuse (exit 1, nothing written) a scene whose bands do not "
                   "look like the model's training data, instead of warning (see check-scene)")
    options.engine(p, "default: the model's, auto unless it was trained with --engine")
    options.jobs(p, "forest inference threads (-1: all cores; default: the model's, as trained)")
    return p


def run(args):
    from .._guards import check_output_not_input
    from ..mapping.scene import predict_scene
    from ..models.persistence import load_model

    check_output_not_input(args.out, args.model)  # the scene is checked by predict_scene
    model = load_model(args.model)
    inference = {key: value for key, value in (("engine", args.engine), ("n_jobs", args.jobs)) if value is not None}
    if inference:  # a forest's settings; a deep model refuses them ("Invalid parameter 'engine'")
        model.set_params(**inference)
    out = predict_scene(model, args.scene, args.out, band_names=args.band_names, window_size=args.window,
                        overlap=args.overlap, probability=args.probability, progress=not args.quiet, strict=args.strict)
    print(f"wrote {out}")
