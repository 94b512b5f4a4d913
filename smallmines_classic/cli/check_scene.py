"""``smallmines check-scene``: does a scene look like a model's training data? A table per band."""

from ..errors import DomainError
from . import options
from .output import scene_check_table


def register(subparsers):
    p = options.add_command(subparsers, "check-scene", "does a scene look like a model's training data? a table per "
                            "band", ["smallmines check-scene tarkwa_2024.tif --model rf.skops"],
                            details="Compare a sample of the scene's bands with the model's training pixels: "
                            "q0.01 / median / q0.99 of each, a verdict and the likely cause of a mismatch "
                            "(reflectance scaled 0-1, the Sentinel-2 offset left in, Sentinel-1 in linear power, "
                            "bands in another order, or a sensor's bands shifted: lower or higher by some percent, "
                            "dB or metres). Exit 0 when every band looks right, 1 when a band is out of range or "
                            "has no valid pixel (or the model file holds no training statistics).")
    p.add_argument("scene", help="scene GeoTIFF or VRT with SmallMinesDS bands")
    p.add_argument("--model", required=True, help="model file")
    options.band_names(p)
    return p


def run(args):
    from ..mapping.scene import check_scene
    from ..models.persistence import load_model

    checks = check_scene(load_model(args.model), args.scene, args.band_names)
    print(scene_check_table(checks), end="")
    flagged, empty = [c.band for c in checks if c.ok is False], [c.band for c in checks if c.ok is None]
    problems = ([f"bands {flagged} do not look like the model's training data"] if flagged else []) + \
        ([f"bands {empty} have no valid pixel where sampled, so the map would be nodata there"] if empty else [])
    if problems:
        raise DomainError(f"{args.scene}: {'; '.join(problems)} (see the table)")
    print(f"{args.scene}: every band the model reads looks like its training data")
