"""The ``smallmines`` command: the only place that parses arguments and prints.

Exit codes: 0 success, 1 a failure the message explains (bad input, missing
file, unusable model, full disk), 2 wrong usage (argparse), 128 + the signal
number when stopped by a signal (130 SIGINT / Ctrl-C, 143 SIGTERM), after the
temporary files are removed. An unforeseen error (a bug) also exits 1 with
one line; set ``SMALLMINES_DEBUG=1`` to see its traceback.
"""

import argparse
import os
import signal
import sys
import warnings
from pathlib import Path

__all__ = ["main"]

EXPECTED_ERRORS = (ValueError, FileNotFoundError, RuntimeError, OSError, ImportError)


def _years(parser):
    parser.add_argument("--years", type=int, nargs="+", help="years to use (default: every year folder found)")


def _engine(parser, default):
    parser.add_argument("--engine", choices=["auto", "sklearn", "numba", "nvforest"],
                        help=f"forest inference engine: numba is compiled and gives scikit-learn's probabilities exactly, "
                             f"nvforest runs on a GPU ({default})")


def _data_inputs(args):
    """The dataset root, its split CSVs and the cache folder: what an output of train / evaluate must not replace."""
    return [args.data, args.cache, *Path(args.data).glob("train_test_splits_*.csv")]


def _cmd_synth(args):
    from .io.synthetic import make_synthetic_smallminesds

    root = make_synthetic_smallminesds(args.out, args.tiles, years=args.years, seed=args.seed, n_jobs=args.jobs,
                                       progress=not args.quiet, overwrite=args.overwrite)
    print(f"wrote a synthetic SmallMinesDS twin of {args.tiles} tiles x {len(args.years)} years to {root}")


def _cmd_demo(args):
    from .workflows import DEMO_MAX_PIXELS, DEMO_TREES, run_demo

    result = run_demo(args.out, n_tiles=args.tiles, seed=args.seed, n_jobs=args.jobs, progress=not args.quiet)
    print(f"\nRandom forest on the synthetic twin ({result['data']}), official-style test split.")
    print(f"Demo settings: {DEMO_TREES} trees, at most {DEMO_MAX_PIXELS:,} training pixels (the paper: 300 trees, all pixels).")
    print("The twin is synthetic: compare RGB with RGB+, not with the paper's numbers.\n")
    print(result["table"])
    print(f"table:  {result['table_path']}\nfigure: {result['figure_path']}")


def _print_scores(models, test):
    """Score fitted models on a loaded split and print the Table-I-style table with its intervals; returns the rows."""
    from .tables import format_table
    from .workflows import evaluate_models

    rows, _ = evaluate_models(models, test)
    print(format_table(rows))
    print("Intervals: 95 % bootstrap over test patches (1000 resamples).")
    return rows


def _cmd_train(args):
    from ._guards import check_output_not_input
    from .io.dataset import find_patches, load_smallminesds
    from .models.features import required_bands
    from .models.forest import RandomForestSegmenter

    bands = args.bands[0] if args.bands and len(args.bands) == 1 else args.bands  # a set name, or band names
    overrides = {key: value for key, value in (("bands", bands), ("n_estimators", args.trees),
                                               ("max_pixels", args.max_pixels), ("derived", tuple(args.derived or ())),
                                               ("engine", args.engine))
                 if value not in (None, ())}
    check_output_not_input(args.out, *_data_inputs(args))
    model = RandomForestSegmenter.from_preset(args.preset, device=args.device, n_jobs=args.jobs, verbose=not args.quiet,
                                              **overrides)
    bands = required_bands(model.bands, model.derived)
    data = load_smallminesds(args.data, years=args.years, split="train", bands=bands, cache_dir=args.cache,
                             progress=not args.quiet)
    model.fit(data.images, data.masks, data.band_names)
    model.set_params(verbose=False).save(args.out)  # progress bars are this run's choice, not the saved model's
    model.set_params(verbose=not args.quiet)
    print(f"trained {model.n_estimators} trees on {model.n_training_pixels_} pixels of {len(data)} patches, "
          f"bands {list(model.band_names_)}; saved to {args.out}")
    del data  # one split in memory at a time
    if not find_patches(args.data, args.years, split="test"):
        print(f"{args.data} has no test split: no test score")
        return
    test = load_smallminesds(args.data, years=args.years, split="test", bands=bands, cache_dir=args.cache,
                             progress=not args.quiet)
    print(f"\nScore on the test split ({len(test)} patches):")
    _print_scores({(Path(args.out).stem, "+".join(model.band_names_)): model}, test)


def _cmd_evaluate(args):
    from ._guards import check_output_not_input
    from .io.dataset import load_smallminesds
    from .models.persistence import load_model
    from .tables import write_table

    if args.table:
        check_output_not_input(args.table, *args.models, *_data_inputs(args))
    models = {}
    for path in args.models:
        model = load_model(path)
        models[Path(path).stem, "+".join(model.band_names_)] = model
    test = load_smallminesds(args.data, years=args.years, split=args.split, cache_dir=args.cache, progress=not args.quiet)
    rows = _print_scores(models, test)
    if args.table:
        print(f"table: {write_table(args.table, rows)}")


def _cmd_predict(args):
    from ._guards import check_output_not_input
    from .mapping.scene import predict_scene
    from .models.persistence import load_model

    check_output_not_input(args.out, args.model)  # the scene is checked by predict_scene
    model = load_model(args.model)
    inference = {key: value for key, value in (("engine", args.engine), ("n_jobs", args.jobs)) if value is not None}
    if inference:  # a forest's settings; a deep model refuses them ("Invalid parameter 'engine'")
        model.set_params(**inference)
    out = predict_scene(model, args.scene, args.out, band_names=args.band_names, window_size=args.window,
                        overlap=args.overlap, probability=args.probability, progress=not args.quiet, strict=args.strict)
    print(f"wrote {out}")


def _cmd_check_scene(args):
    from .mapping.scene import check_scene
    from .models._domain import DomainError
    from .models.persistence import load_model
    from .tables import text_table

    checks = check_scene(load_model(args.model), args.scene, args.band_names)
    verdicts = {True: "ok", False: "OUT OF RANGE", None: "no valid pixels"}
    header = ["band", "train q01", "train median", "train q99", "scene q01", "scene median", "scene q99", "verdict",
              "likely cause"]
    rows = [[c.band, *(f"{v:.4g}" for v in (*c.training, *c.input)), verdicts[c.ok], c.cause or "-"] for c in checks]
    print(text_table(header, rows), end="")
    flagged, empty = [c.band for c in checks if c.ok is False], [c.band for c in checks if c.ok is None]
    problems = ([f"bands {flagged} do not look like the model's training data"] if flagged else []) + \
        ([f"bands {empty} have no valid pixel where sampled, so the map would be nodata there"] if empty else [])
    if problems:
        raise DomainError(f"{args.scene}: {'; '.join(problems)} (see the table)")
    print(f"{args.scene}: every band the model reads looks like its training data")


def _cmd_convert_model(args):
    from .models.persistence import FORMAT_VERSION, convert_legacy_model

    out = convert_legacy_model(args.old, args.new, trust=args.trust)
    print(f"converted {args.old} to {out} (model file format {FORMAT_VERSION})")


def _print_areas(label, areas):
    line = f"{label:<18} {areas['pixels']:>12d} px  {areas['ha']:>14.2f} ha  {areas['km2']:>12.4f} km2"
    if "nodata" in areas:
        nodata = areas["nodata"]
        line += f"   no data: {nodata['pixels']:>10d} px  {nodata['ha']:>12.2f} ha  {nodata['km2']:>10.4f} km2"
    print(line)


def _cmd_area(args):
    from .mapping.analysis import mined_area, region_areas

    for path in args.maps:
        _print_areas(Path(path).name, mined_area(path))
        if args.regions:
            for name, areas in region_areas(path, args.regions, args.field).items():
                _print_areas(f"  {name}", areas)


def _cmd_polygons(args):
    from .mapping.analysis import mined_polygons

    count = mined_polygons(args.map, args.out, min_area_m2=args.min_area)
    print(f"wrote {count} polygons to {args.out}")


def _cmd_change(args):
    from .mapping.analysis import change_map

    areas = change_map(args.old, args.new, args.out)
    for name, area in areas.items():
        _print_areas("no data" if name == "nodata" else name, area)
    print(f"wrote {args.out}")


def _cmd_sample(args):
    import numpy as np

    from ._guards import check_output_not_input
    from .assessment import stratified_sample, write_points
    from .assessment.points import point_format

    for out in args.out:  # before the map is read: a wrong name fails at once
        if args.format == "ceo" and not out.lower().endswith(".csv"):
            raise ValueError(f"--format ceo writes Collect Earth Online's plot CSV: give --out a .csv name, not {out}")
        point_format(out)
        check_output_not_input(out, args.map)
    points, class_pixels, crs = stratified_sample(args.map, args.n, min_per_class=args.min_per_class, seed=args.seed)
    drawn = np.bincount(points["map_class"], minlength=len(class_pixels))
    for code, (pixels, n) in enumerate(zip(class_pixels, drawn)):
        print(f"class {code}: {pixels:>12d} px mapped, {n:>5d} points")
    if args.format == "ceo":
        for out in args.out:
            _write_ceo_sample(args.map, out, points)
        return
    # An empty column for the labeller to fill with each point's reference class.
    points["reference"] = np.full(len(points["id"]), "", dtype=object)
    paths = [write_points(points, out, crs) for out in args.out]
    print(f"wrote {len(points['id'])} points to " + ", ".join(paths))
    print("label each point's 'reference' class from better imagery (e.g. with 'smallmines label'), "
          "then run 'smallmines assess'")


def _write_ceo_sample(map_path, out, points):
    import rasterio

    from .assessment.ceo import write_ceo_plots

    write_ceo_plots(points, out)
    with rasterio.open(map_path) as src:
        side = abs(src.res[0])
    print(f"wrote {len(points['id'])} plots to {out} (LON, LAT, PLOTID; no map class, so interpreters stay blind)")
    print(f"in Collect Earth Online: plot file {out}, square plots of {side:g} m (one map pixel), sample design "
          "'Center'; one question with the answers Mining / Not mining / Unsure. Then run 'smallmines assess' on "
          "the map and CEO's 'Download Sample Data' file")


def _ceo_answer(text):
    """'Not mining=0' -> ('Not mining', '0'); the class is a number or 'unsure'."""
    answer, sep, value = text.rpartition("=")
    if not sep or not answer.strip() or not (value.strip().isdigit() or value.strip().lower() == "unsure"):
        raise argparse.ArgumentTypeError(f"expected ANSWER TEXT=CLASS with CLASS a number or 'unsure', got {text!r}")
    return answer.strip(), value.strip().lower()


def _cmd_assess(args):
    from ._guards import check_output_not_input
    from .assessment import assess_map, write_json

    if args.json:
        check_output_not_input(args.json, args.map, args.labels)
    answers = dict(args.ceo_answer) if args.ceo_answer else None
    report = assess_map(args.map, args.labels, args.reference_column, args.map_column, args.confidence,
                        ceo_question=args.ceo_question, ceo_answers=answers)
    names, counts, estimate = report["classes"], report["counts"], report["estimate"]
    mapped_m2 = report["mapped_pixels"] * report["pixel_area_m2"]
    width = max(len(n) for n in names) + 2
    print(f"Error matrix, sample counts (rows: map, columns: reference; {counts.sum()} points)")
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, counts):
        print(f"{name:<{width}}" + "".join(f"{v:>{width}d}" for v in row))
    print("\nError matrix, estimated area proportions")
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, estimate.proportions):
        print(f"{name:<{width}}" + "".join(f"{v:>{width}.4f}" for v in row))
    unsure = report["unsure"]
    if unsure["count"]:
        per_class = ", ".join(f"{n} {name}" for name, n in zip(names, unsure["per_map_class"]) if n)
        print(f"\nNot interpreted (unsure), left out: {unsure['count']} point(s) ({per_class} on the map); "
              f"ids {', '.join(unsure['ids'])}")
    level = f"{args.confidence:.0%}"
    print(f"\nAccuracy ({level} intervals)")
    for i, name in enumerate(names):
        print(f"{name:<{width}} user's {estimate.users_accuracy[i]:.3f} ± {estimate.users_accuracy_ci[i]:.3f}   "
              f"producer's {estimate.producers_accuracy[i]:.3f} ± {estimate.producers_accuracy_ci[i]:.3f}")
    print(f"overall {estimate.overall_accuracy:.3f} ± {estimate.overall_accuracy_ci:.3f}")
    print(f"\nArea: mapped (pixel count) and error-adjusted ({level} interval)")
    for i, name in enumerate(names):
        print(f"{name:<{width}} mapped {mapped_m2[i] / 1e4:>12.2f} ha   estimated {estimate.area[i] / 1e4:>12.2f} ± "
              f"{estimate.area_ci[i] / 1e4:.2f} ha  ({estimate.area[i] / 1e6:.4f} ± {estimate.area_ci[i] / 1e6:.4f} km2)")
    if args.json:
        payload = {"map": str(args.map), "labels": str(args.labels), "confidence": args.confidence, "classes": names,
                   "counts": counts.tolist(), "mapped_pixels": report["mapped_pixels"].tolist(),
                   "mapped_area_ha": (mapped_m2 / 1e4).tolist(), "area_ha": (estimate.area / 1e4).tolist(),
                   "area_ha_ci": (estimate.area_ci / 1e4).tolist(), "area_km2": (estimate.area / 1e6).tolist(),
                   "area_km2_ci": (estimate.area_ci / 1e6).tolist(), "area_unit": "m2", "unsure": unsure,
                   **estimate.to_dict()}
        print(f"json: {write_json(args.json, payload)}")


def _cmd_label(args):
    import getpass

    from .assessment.label import labelling_server

    interpreter = args.interpreter or getpass.getuser()
    with labelling_server(args.points, args.scene, args.out, interpreter=interpreter, seed=args.seed,
                          port=args.port) as server:
        session = server.session
        print(f"labelling {session.n} points of {args.points} ({session.labelled} labelled already) on "
              f"{len(session.scenes)} scene(s); every answer is saved at once to {session.labels_path}")
        print(f"open {server.url}  (keys: 1 mining, 0 not mining, u unsure, arrows to move; Ctrl-C stops)", flush=True)
        try:
            if not args.no_browser:
                server.open_browser()  # through a redirect file: the token on no command line
            server.serve_forever()
        finally:
            print(f"{session.labelled} / {session.n} labelled ({session.unsure} unsure), "
                  f"saved in {session.labels_path}", flush=True)


def _dask_client(address):
    """A client of the Dask scheduler at ``address``, or an error that names it."""
    from ._backend import require

    distributed = require("dask.distributed", "scale")
    try:
        return distributed.Client(address, timeout=20)
    except (OSError, TimeoutError, ValueError) as error:   # refused, timed out, or not an address
        raise ConnectionError(f"cannot connect to the Dask scheduler at {address} ({error}); start one with "
                              "'dask scheduler' and workers with 'dask worker ADDRESS', or leave out --client") from None


def _cmd_composite(args):
    import contextlib

    from .io.composite import PLANETARY_COMPUTER, build_composite, composite_plan, observations_path

    if not args.quiet:   # the job's size, before any work
        print(f"smallmines composite: {composite_plan(args.bbox).describe()}", file=sys.stderr)
    with _dask_client(args.client) if args.client else contextlib.nullcontext() as client:
        out = build_composite(args.bbox, args.year, args.out, months=args.months, items=args.items,
                              stac_url=args.stac or PLANETARY_COMPUTER, chunk_size=args.chunk_size,
                              progress=not args.quiet, client=client)
    print(f"wrote {out} and {observations_path(out)}")


def _assess_arg(value):
    """``YEAR=points.csv`` -> (year, path)."""
    year, sep, path = value.partition("=")
    if not sep or not year.strip().isdigit() or not path:
        raise argparse.ArgumentTypeError(f"expected YEAR=LABELLED_POINTS (e.g. 2022=points.csv), got {value!r}")
    return int(year), path


def _cmd_monitor(args):
    import contextlib

    from .io.composite import PLANETARY_COMPUTER
    from .monitoring import monitor

    if len({year for year, _ in args.assess or ()}) != len(args.assess or ()):
        raise ValueError("--assess names a year twice; give one labelled sample per year")
    with _dask_client(args.client) if args.client else contextlib.nullcontext() as client:
        summary = monitor(args.out, args.regions, args.field, args.years, args.model, bbox=args.bbox,
                          items=args.items, stac_url=args.stac or PLANETARY_COMPUTER, months=args.months,
                          min_area_m2=args.min_area, assess=dict(args.assess or ()), progress=not args.quiet,
                          log=lambda line: print(line, flush=True), client=client)
    print(f"wrote {Path(args.out) / 'monitor.json'} and monitor.csv: {len(summary['rows'])} rows "
          f"({len(summary['regions']['names'])} regions and the whole box x {len(summary['years'])} years)")


def _cmd_report(args):
    from .monitoring.report import write_report

    out = write_report(args.folder, args.out, preview_pixels=args.preview_pixels, max_alerts=args.max_alerts,
                       progress=not args.quiet)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB); open it in any web browser, no connection needed")


def _weights(value):
    """'none' means random initialisation; anything else is passed on ('imagenet', 'hub' or a path)."""
    return None if value.lower() == "none" else value


def _cmd_reproduce(args):
    from .workflows import reproduce_table1

    settings = {"trees": args.trees, "max_pixels": args.max_pixels, "n_jobs": args.jobs, "epochs": args.epochs,
                "device": args.device, "verbose": not args.quiet, "unet_encoder": args.unet_encoder,
                "unet_weights": args.unet_weights, "prithvi_variant": args.prithvi_variant,
                "prithvi_weights": args.prithvi_weights, "sam_config": args.sam_config,
                "sam_checkpoint": args.sam_checkpoint, "sam_image_size": args.sam_image_size, "disjoint": not args.no_disjoint}
    result = reproduce_table1(args.data, [m.strip() for m in args.models.split(",")], args.out, settings,
                              cache_dir=args.cache, progress=not args.quiet)
    changed = [f"{k}={v}" for k, v in settings.items() if k in ("trees", "max_pixels", "epochs") and v is not None]
    print(f"\nTable I on {args.data} (official split){'; changed from the paper: ' + ', '.join(changed) if changed else ''}\n")
    print(result["table"])
    if "disjoint_table" in result:
        print("Spatially disjoint split (no location on both sides; the paper column is the official split's):\n")
        print(result["disjoint_table"])
    print("Intervals: 95 % bootstrap over test patches (1000 resamples).")
    print("tables: " + ", ".join(str(p) for p in result["table_paths"]) + f"\nfigure: {result['figure_path']}")


def build_parser():
    from .monitoring.report import MAX_ALERTS, PREVIEW_PIXELS
    from .workflows import DEMO_TILES

    parser = argparse.ArgumentParser(prog="smallmines", description="Map artisanal and small-scale gold mining "
                                     "from Sentinel-1/2 + DEM stacks (SmallMinesDS).")
    quiet = "no progress bars"
    parser.add_argument("--quiet", "-q", action="store_true", help=quiet)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write a synthetic twin of SmallMinesDS in the real layout")
    p.add_argument("out", help="output folder")
    p.add_argument("--tiles", type=int, default=200, help="tiles per year (default: 200; the real dataset: 2135)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default: 0)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: 2)")
    p.add_argument("--years", type=int, nargs="+", default=[2016, 2022], help="years to write (default: 2016 2022)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a folder that is not empty, replacing the SmallMinesDS files there (others are kept)")
    p.set_defaults(run=_cmd_synth)

    p = sub.add_parser("demo", help="the main job on the synthetic twin: train RF on RGB and RGB+, print Table I, draw a figure")
    p.add_argument("--out", default="smallmines-output", help="folder for the table and figure (default: ./smallmines-output)")
    p.add_argument("--tiles", type=int, default=DEMO_TILES, help=f"tiles per year of the twin (default: {DEMO_TILES})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=-1, help="forest threads (default: -1, all cores)")
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser("train", help="train a random forest on the train split of a SmallMinesDS folder")
    p.add_argument("data", help="SmallMinesDS root (with the year folders and split CSVs)")
    p.add_argument("out", help="model file to write (.skops)")
    p.add_argument("--preset", default="paper-rgb+", choices=["paper-rgb", "paper-rgb+"], help="the paper's settings to start from")
    p.add_argument("--bands", nargs="+", help="a band set (rgb, rgb+, s2, all) or band names, e.g. B02 B8A swir1 (overrides the preset)")
    p.add_argument("--derived", nargs="+", help="derived indices to add, e.g. ndvi mndwi slope")
    p.add_argument("--trees", type=int, help="number of trees (preset: 300)")
    p.add_argument("--max-pixels", type=int, help="cap on training pixels after undersampling")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu", "auto"])
    p.add_argument("--jobs", type=int, default=None, help="forest threads (-1: all cores)")
    _engine(p, "stored in the model (default: auto)")
    p.add_argument("--cache", help="folder for a memory-mapped cache of the loaded arrays")
    _years(p)
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("evaluate", help="score models on a split and print a Table-I-style table")
    p.add_argument("models", nargs="+", help="model files")
    p.add_argument("--data", required=True, help="SmallMinesDS root")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--table", help="also write the table (.csv or .md)")
    p.add_argument("--cache", help="folder for a memory-mapped cache of the loaded arrays")
    _years(p)
    p.set_defaults(run=_cmd_evaluate)

    p = sub.add_parser("predict", help="map a whole GeoTIFF scene with a saved model (Cloud-Optimized GeoTIFF out)")
    p.add_argument("model", help="model file")
    p.add_argument("scene", help="scene GeoTIFF or VRT with SmallMinesDS bands")
    p.add_argument("out", help="output map (.tif): band 1 mask 0/1, 255 nodata")
    p.add_argument("--probability", action="store_true", help="add band 2: mining probability in percent")
    p.add_argument("--band-names", nargs="+", help="names of the scene's bands, if it does not carry them")
    p.add_argument("--window", type=int, default=1024, help="window side in pixels (default: 1024)")
    p.add_argument("--overlap", type=int, default=64, help="pixels by which neighbouring windows overlap and are blended (default: 64)")
    p.add_argument("--strict", action="store_true", help="refuse (exit 1, nothing written) a scene whose bands do not "
                   "look like the model's training data, instead of warning (see check-scene)")
    _engine(p, "default: the model's, auto unless it was trained with --engine")
    p.add_argument("--jobs", type=int, help="forest inference threads (-1: all cores; default: the model's, as trained)")
    p.set_defaults(run=_cmd_predict)

    p = sub.add_parser("check-scene", help="does a scene look like a model's training data? a table per band",
                       description="Compare a sample of the scene's bands with the model's training pixels: "
                       "q0.01 / median / q0.99 of each, a verdict and the likely cause of a mismatch "
                       "(reflectance scaled 0-1, the Sentinel-2 offset left in, Sentinel-1 in linear power, bands "
                       "in another order, or a sensor's bands shifted: lower or higher by some percent, dB or metres). "
                       "Exit 0 when every band looks right, 1 when a band is out of range or has no valid pixel "
                       "(or the model file holds no training statistics).")
    p.add_argument("scene", help="scene GeoTIFF or VRT with SmallMinesDS bands")
    p.add_argument("--model", required=True, help="model file")
    p.add_argument("--band-names", nargs="+", help="names of the scene's bands, if it does not carry them")
    p.set_defaults(run=_cmd_check_scene)

    p = sub.add_parser("convert-model", help="convert a pickle/joblib model file (format 1) you trust to the current format")
    p.add_argument("old", help="the pickle or joblib model file")
    p.add_argument("new", help="the model file to write (.skops for a forest, .safetensors for a deep model)")
    p.add_argument("--trust", action="store_true",
                   help="required: reading a pickle runs any code it holds; give it only for a file whose origin you trust")
    p.set_defaults(run=_cmd_convert_model)

    p = sub.add_parser("area", help="mined area and no-data area of one or more maps (pixels, ha, km2)")
    p.add_argument("maps", nargs="+", help="map files from 'smallmines predict'")
    p.add_argument("--regions", help="polygon file (GeoPackage, GeoJSON, ...): also report the area inside each polygon")
    p.add_argument("--field", help="attribute that names the regions (default: feature index)")
    p.set_defaults(run=_cmd_area)

    p = sub.add_parser("polygons", help="export the mined areas of a map as polygons (GeoJSON or GeoPackage)")
    p.add_argument("map", help="map file from 'smallmines predict'")
    p.add_argument("out", help="output .gpkg or .geojson")
    p.add_argument("--min-area", type=float, default=0.0, help="drop polygons smaller than this many m2")
    p.set_defaults(run=_cmd_polygons)

    p = sub.add_parser("change", help="change map between two years: new, persistent, no longer mined")
    p.add_argument("old", help="earlier map")
    p.add_argument("new", help="later map, on the same grid")
    p.add_argument("out", help="output change map (.tif)")
    p.set_defaults(run=_cmd_change)

    p = sub.add_parser("sample", help="stratified random sample of a map's pixels to label, for 'assess'")
    p.add_argument("map", help="map file (mask or change map)")
    p.add_argument("--n", type=int, required=True, help="total points (Olofsson et al. 2014 eq. 13 gives one from a target SE)")
    p.add_argument("--min-per-class", type=int, default=50, help="floor per map class (default: 50)")
    p.add_argument("--out", required=True, nargs="+", metavar="FILE",
                   help="points file(s) to write, each in the format of its suffix: .gpkg (the map's CRS), .csv, "
                   ".geojson (WGS 84); give several for several formats")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--format", choices=["points", "ceo"], default="points",
                   help="points: our point files (default); ceo: Collect Earth Online's plot CSV "
                   "(LON, LAT, PLOTID) at each --out (.csv)")
    p.set_defaults(run=_cmd_sample)

    p = sub.add_parser("assess", help="accuracy and error-adjusted area with intervals from labelled sample points")
    p.add_argument("map", help="the map the sample was drawn from")
    p.add_argument("labels", help="labelled points (.gpkg, .csv or .geojson from 'smallmines sample')")
    p.add_argument("--reference-column", default="reference", help="column with the reference class (default: reference)")
    p.add_argument("--map-column", default="map_class", help="column with the map class (default: map_class)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default: 0.95)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--ceo-question", help="a Collect Earth Online export: the question column holding the answers "
                   "(default: the only question column)")
    p.add_argument("--ceo-answer", action="append", type=_ceo_answer, metavar="TEXT=CLASS",
                   help="a Collect Earth Online export: what an answer means, e.g. 'Mining=1' 'Not mining=0' "
                   "'Cloudy=unsure'; repeat for each answer (default: Mining=1, Not mining=0, Unsure=unsure)")
    p.set_defaults(run=_cmd_assess)

    p = sub.add_parser("label", help="label the sample points on your scenes in a local web page, for 'assess'",
                       description="Serve a page on 127.0.0.1 that shows each sample point on the scenes (true colour, "
                       "SWIR false colour, Sentinel-1 VV), in a shuffled order, without its map class. Keys: 1 mining, "
                       "0 not mining, u unsure, arrows to move. Every answer is saved at once to the labels file; "
                       "running the command again resumes where it stopped.")
    p.add_argument("points", help="points from 'smallmines sample' (.csv, .gpkg or .geojson)")
    p.add_argument("--scene", action="append", required=True,
                   help="a scene to show the points on (GeoTIFF or VRT with SmallMinesDS bands); "
                   "repeat for several dates")
    p.add_argument("--out", help="labels file (.csv; default: <points>_labels.csv beside the points)")
    p.add_argument("--interpreter", help="your name, written with each answer (default: the login name)")
    p.add_argument("--seed", type=int, default=0, help="fixes the shuffled order of the points (default: 0)")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the page's address but do not open a browser")
    p.set_defaults(run=_cmd_label)

    p = sub.add_parser("composite", help="build a SmallMinesDS-style 13-band scene for a box and year from STAC items")
    p.add_argument("--bbox", type=float, nargs=4, required=True, metavar=("W", "S", "E", "N"), help="box in degrees (EPSG:4326)")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--months", type=int, nargs="+", default=[1], help="months of the year to composite (default: 1, as the dataset)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--items", help="local STAC ItemCollection JSON (asset hrefs: local paths or URLs)")
    source.add_argument("--stac", help="STAC API to search (default: the Planetary Computer's, items signed)")
    p.add_argument("--out", required=True, help="output scene (.tif); the observation count goes beside it as <stem>_obs.tif")
    p.add_argument("--chunk-size", type=int, default=512, help="side of the windows read and written at a time (default: 512)")
    p.add_argument("--client", metavar="tcp://HOST:PORT", help="run the windows on this Dask scheduler's workers "
                   "(needs smallmines[scale]; the items' files or URLs must be readable from the workers)")
    p.set_defaults(run=_cmd_composite)

    p = sub.add_parser("monitor", help="every region, every year: composites, maps, areas, change and new-mining "
                       "alerts in one folder (resumable)",
                       description="Per year: a composite, a mining map and per-region areas; between consecutive "
                       "years: a change map and new-mining polygons (alerts). A rerun skips the steps whose inputs "
                       "and outputs are unchanged (checked by content).")
    p.add_argument("--regions", required=True, help="region polygons (GeoPackage, GeoJSON, Shapefile, ...), any CRS")
    p.add_argument("--field", required=True, help="the attribute that names the regions (unique names)")
    p.add_argument("--years", type=int, nargs="+", required=True, help="years to map, e.g. 2016 2019 2022")
    p.add_argument("--model", required=True, help="model file (smallmines train)")
    p.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"),
                   help="box in degrees (EPSG:4326); default: the regions' extent")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--items", help="local STAC ItemCollection JSON; may hold several years' items")
    source.add_argument("--stac", help="STAC API to search (default: the Planetary Computer's, items signed)")
    p.add_argument("--months", type=int, nargs="+", default=[1], help="months of each year to composite (default: 1)")
    p.add_argument("--min-area", type=float, default=0.0, help="smallest new-mining polygon reported as an alert, m2")
    p.add_argument("--assess", type=_assess_arg, nargs="+", metavar="YEAR=POINTS",
                   help="labelled sample points of a year's map (smallmines sample, labelled): the error-adjusted "
                   "area with its 95%% interval goes beside that year's map area")
    p.add_argument("--out", required=True,
                   help="output folder (new, empty, or a previous run's: finished steps are kept)")
    p.add_argument("--client", metavar="tcp://HOST:PORT",
                   help="build the composites on this Dask scheduler's workers (same bytes; the items must be "
                   "readable from the workers)")
    p.set_defaults(run=_cmd_monitor)

    p = sub.add_parser("report", help="one self-contained HTML file (map, table, plot) from a 'smallmines monitor' folder",
                       description="Write one HTML file that opens in any browser without a connection: a zoomable map "
                       "of each year's true-colour composite and mining map, the new-mining polygons and the regions, "
                       "the region x year table, a plot of mined area over the years, and what was run. Pictures are "
                       "previews at a resolution stated on the page; the GeoTIFFs in the folder are the data.")
    p.add_argument("folder", help="the --out folder of 'smallmines monitor' (with monitor.json)")
    p.add_argument("-o", "--out", help="HTML file to write (default: FOLDER/report.html)")
    p.add_argument("--preview-pixels", type=int, default=PREVIEW_PIXELS,
                   help=f"pixel budget of each picture; sets the preview resolution (default: {PREVIEW_PIXELS:,})")
    p.add_argument("--max-alerts", type=int, default=MAX_ALERTS,
                   help=f"new-mining polygons drawn per pair of years, the largest first (default: {MAX_ALERTS:,})")
    p.set_defaults(run=_cmd_report)

    p = sub.add_parser("reproduce", help="run the paper's protocol on a SmallMinesDS download and print Table I beside the paper's")
    p.add_argument("--data", required=True, help="SmallMinesDS root with the official split CSVs")
    p.add_argument("--models", default="rf", help="comma-separated: rf,unet,prithvi,sam2 (default: rf)")
    p.add_argument("--out", default="smallmines-reproduce", help="folder for table1.csv, table1.md and the figure")
    p.add_argument("--cache", help="folder for a memory-mapped cache of the loaded arrays")
    p.add_argument("--trees", type=int, help="RF trees (paper: 300)")
    p.add_argument("--max-pixels", type=int, help="cap on RF training pixels (paper: none)")
    p.add_argument("--jobs", type=int, default=-1, help="RF threads (default: all cores)")
    p.add_argument("--epochs", type=int, help="deep models' epochs (paper: 100)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="deep models' device (default: auto)")
    p.add_argument("--unet-encoder", default="resnet50")
    p.add_argument("--unet-weights", type=_weights, default="imagenet", help="imagenet (paper), none, or a local encoder file")
    p.add_argument("--prithvi-variant", default="300", help="300 (paper), 600, 100, tiny, ...")
    p.add_argument("--prithvi-weights", type=_weights, default="hub", help="hub (paper), none, or a local checkpoint")
    p.add_argument("--sam-config", default="hiera_small")
    p.add_argument("--sam-checkpoint", type=_weights, default="hub", help="hub (paper), none, or a local .pt file")
    p.add_argument("--sam-image-size", type=int, default=1024)
    p.add_argument("--no-disjoint", action="store_true", help="skip the second run on a spatially disjoint split")
    p.set_defaults(run=_cmd_reproduce)
    for command in sub.choices.values():  # global options also after the command: `smallmines predict -q ...`
        command.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help=quiet)
    return parser


def _warning_printer(command):
    """Warnings as one ``smallmines COMMAND: warning: ...`` line each, not Python's format with a source line.

    A message is printed once, however often it comes (a folder scanned for the train and then the test split).
    """
    shown = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if str(message) not in shown:
            shown.add(str(message))
            print(f"smallmines {command}: warning: {message}", file=sys.stderr)

    return show


def main(argv=None):
    """Entry point of the ``smallmines`` console script; returns the exit code."""
    from ._signals import Interrupted, stop_on_signals

    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command)  # restored by catch_warnings
            with stop_on_signals():
                args.run(args)
    except KeyboardInterrupt as stop:  # Interrupted, or a Ctrl-C outside the main thread's handler
        signum = stop.signum if isinstance(stop, Interrupted) else signal.SIGINT
        print(f"smallmines {args.command}: interrupted by {signal.Signals(signum).name}; temporary files removed",
              file=sys.stderr)
        return 128 + signum
    except EXPECTED_ERRORS as error:
        print(f"smallmines {args.command}: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # no check foresaw it: still one line, and the traceback on request
        if os.environ.get("SMALLMINES_DEBUG"):
            raise
        print(f"smallmines {args.command}: unexpected error ({type(error).__name__}: {error}); "
              "set SMALLMINES_DEBUG=1 to see the traceback, and please report it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
