"""``smallmines report``: one self-contained HTML file from a ``smallmines monitor`` folder."""

from ..defaults import MAX_ALERTS, PREVIEW_PIXELS
from . import options


def register(subparsers):
    p = options.add_command(subparsers, "report", "one self-contained HTML file (map, table, plot) from a "
                            "'smallmines monitor' folder",
                            ["smallmines report monitor/", "smallmines report monitor/ -o ashanti_2016_2022.html"],
                            details="Write one HTML file that opens in any browser without a connection: a "
                            "zoomable map of each year's true-colour composite and mining map, the new-mining "
                            "polygons and the regions, the region x year table, a plot of mined area over the "
                            "years, and what was run. Pictures are previews at a resolution stated on the page; "
                            "the GeoTIFFs in the folder are the data.")
    p.add_argument("folder", help="the --out folder of 'smallmines monitor' (with monitor.json)")
    options.output(p, "HTML file to write (default: FOLDER/report.html); not among the folder's other files")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file that is not an earlier "
                   "smallmines report (an earlier report is replaced without it)")
    p.add_argument("--preview-pixels", type=int, default=PREVIEW_PIXELS,
                   help=f"pixel budget of each picture; sets the preview resolution (default: {PREVIEW_PIXELS:,})")
    p.add_argument("--max-alerts", type=int, default=MAX_ALERTS,
                   help=f"new-mining polygons drawn per pair of years, the largest first (default: {MAX_ALERTS:,})")
    return p


def run(args):
    options.needs("maps", *options.REPORT_MODULES)
    from ..monitoring.report import write_report

    out = write_report(args.folder, args.out, preview_pixels=args.preview_pixels, max_alerts=args.max_alerts,
                       progress=not args.quiet, overwrite=args.overwrite)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB); open it in any web browser, no connection needed")
