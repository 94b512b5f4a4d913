"""Default settings that the command line's help texts show, in a module that imports nothing.

The modules that use them import them from here, so that ``smallmines --help`` needs none of the heavy modules.
"""

__all__ = ["DEMO_MAX_PIXELS", "DEMO_TILES", "DEMO_TREES", "MAX_ALERTS", "PREVIEW_PIXELS", "TOUR_POINTS", "TOUR_TILES",
           "TOUR_TREES"]

#: Demo settings: a small twin and fewer trees than the paper, to finish in about a minute on 2 cores.
DEMO_TILES = 64
DEMO_TREES = 100
DEMO_MAX_PIXELS = 100_000

PREVIEW_PIXELS = 4_000_000
"""Default pixel budget of one picture of the report (about 2000 x 2000): a 50 x 50 km box is previewed at 30 m per
pixel."""
MAX_ALERTS = 2000
"""Default number of new-mining polygons the report draws per pair of years (the largest); all are in the GeoJSON
files."""

# Tour settings: a 4 x 4-tile twin (about 5 x 5 km), a small forest and a 200-point sample, to run the whole chain in
# about a minute on 2 cores.
TOUR_TILES = 16
"""Tiles of the tour's synthetic twin (4 x 4, about 5 x 5 km)."""
TOUR_TREES = 20
"""Trees of the tour's forest."""
TOUR_POINTS = 200
"""Points of the tour's accuracy sample."""
