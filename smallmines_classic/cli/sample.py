"""``smallmines sample``: a stratified random sample of a map's pixels to label, for ``assess``."""

from ..errors import InputError
from . import options
from .output import print_sample_counts


def register(subparsers):
    p = options.add_command(subparsers, "sample", "stratified random sample of a map's pixels to label, for 'assess'",
                            ["smallmines sample map_2022.tif --n 600 --min-per-class 100 -o points.gpkg points.csv",
                             "smallmines sample map_2022.tif --n 600 --format ceo -o plots.csv"])
    p.add_argument("map", help="map file (mask or change map)")
    p.add_argument("--n", type=int, required=True,
                   help="total points (Olofsson et al. 2014 eq. 13 gives one from a target SE)")
    p.add_argument("--min-per-class", type=int, default=50, help="floor per map class (default: 50)")
    options.output(p, required=True, nargs="+", metavar="FILE",
                   help="points file(s) to write, each in the format of its suffix: .gpkg (the map's CRS), .csv, "
                   ".geojson (WGS 84); give several for several formats")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--format", choices=["points", "ceo"], default="points",
                   help="points: our point files (default); ceo: Collect Earth Online's plot CSV "
                   "(LON, LAT, PLOTID) at each --out (.csv)")
    return p


def run(args):
    import numpy as np

    from .._guards import check_output_not_input
    from ..assessment import stratified_sample, write_points
    from ..assessment.points import point_format

    for out in args.out:  # before the map is read: a wrong name fails at once
        if args.format == "ceo" and not out.lower().endswith(".csv"):
            raise InputError(f"--format ceo writes Collect Earth Online's plot CSV: give --out a .csv name, not {out}")
        point_format(out)
        check_output_not_input(out, args.map)
        options.needs("maps", *options.vector_modules(out))
    points, class_pixels, crs = stratified_sample(args.map, args.n, min_per_class=args.min_per_class, seed=args.seed)
    print_sample_counts(class_pixels, np.bincount(points["map_class"], minlength=len(class_pixels)))
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

    from ..assessment.ceo import write_ceo_plots
    from ..io.maps import row_areas_m2

    write_ceo_plots(points, out)
    with rasterio.open(map_path) as src:
        side = float(row_areas_m2(src).mean() ** 0.5)  # metres, also for a map in degrees
    print(f"wrote {len(points['id'])} plots to {out} (LON, LAT, PLOTID; no map class, so interpreters stay blind)")
    print(f"in Collect Earth Online: plot file {out}, square plots of {side:g} m (one map pixel), sample design "
          "'Center'; one question with the answers Mining / Not mining / Unsure. Then run 'smallmines assess' on "
          "the map and CEO's 'Download Sample Data' file")
