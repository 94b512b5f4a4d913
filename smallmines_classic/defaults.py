"""Default settings that the command line's help texts show, in a module that imports nothing.

The modules that use them import them from here, so that ``smallmines --help`` needs none of the heavy modules.
"""

__all__ = ["DEMO_MAX_PIXELS", "DEMO_TILES", "DEMO_TREES", "MAX_ALERTS", "PREVIEW_PIXELS", "TOUR_POINTS", "TOUR_TILES",
           "TOUR_TREES"]

#: Demo settings: a small twin and fewer trees than the paper, to finish in about a minute on 2 cores.
DEMO_TILES = 64
DEMO_TREES = 100
DEMO_MAX_PIXELS = 100_000

#: Default pixel budget of one picture of the report (about 2000 x 2000): a 50 x 50 km box is previewed at 30 m per
#: pixel.
PREVIEW_PIXELS = 4_000_000
#: Default number of new-mining polygons the report draws per pair of years (the largest); all are in the GeoJSON
#: files.
MAX_ALERTS = 2000

#: Tour settings: a 4 x 4-tile twin (about 5 x 5 km), a small forest and a 200-point sample, to run the whole chain in
#: about a minute on 2 cores.
TOUR_TILES = 16
TOUR_TREES = 20
TOUR_POINTS = 200
