"""``smallmines label``: label the sample points on your scenes, in a local web page."""

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "label", "label the sample points on your scenes in a local web page, for "
                            "'assess'",
                            ["smallmines label points.csv --scene scene_2022.tif --scene scene_2016.tif",
                             "smallmines label points.csv --scene scene_2022.tif --interpreter 'A. Mensah' "
                             "--no-browser"],
                            details="Serve a page on 127.0.0.1 that shows each sample point on the scenes (true "
                            "colour, SWIR false colour, Sentinel-1 VV), in a shuffled order, without its map class. "
                            "Keys: 1 mining, 0 not mining, u unsure, arrows to move. Every answer is saved at once "
                            "to the labels file; running the command again resumes where it stopped.")
    p.add_argument("points", help="points from 'smallmines sample' (.csv, .gpkg or .geojson)")
    p.add_argument("--scene", action="append", required=True,
                   help="a scene to show the points on (GeoTIFF or VRT with SmallMinesDS bands); "
                   "repeat for several dates")
    options.output(p, "labels file (.csv; default: <points>_labels.csv beside the points)")
    p.add_argument("--interpreter", help="your name, written with each answer (default: the login name)")
    p.add_argument("--seed", type=int, default=0, help="fixes the shuffled order of the points (default: 0)")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the page's address but do not open a browser")
    return p


def run(args):
    import getpass

    from ..assessment.label import labelling_server

    interpreter = args.interpreter or getpass.getuser()
    with labelling_server(args.points, args.scene, args.out, interpreter=interpreter, seed=args.seed,
                          port=args.port) as server:
        session = server.session
        print(f"labelling {session.n} points of {args.points} ({session.labelled} labelled already) on "
              f"{len(session.scenes)} scene(s); every answer is saved at once to {session.labels_path}")
        if session.xy_copied:
            print(f"the x, y of {args.points} are copied into the labels file, not used: lon, lat place each point")
        print(f"open {server.url}  (keys: 1 mining, 0 not mining, u unsure, arrows to move; Ctrl-C stops)",
              flush=True)
        try:
            if not args.no_browser:
                server.open_browser()  # through a redirect file: the token on no command line
            server.serve_forever()
        finally:
            print(f"{session.labelled} / {session.n} labelled ({session.unsure} unsure), "
                  f"saved in {session.labels_path}", flush=True)
