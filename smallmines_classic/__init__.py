"""smallmines_classic: map artisanal and small-scale gold mining from Sentinel-1/2 and DEM stacks.

numpy, scikit-learn and rasterio only: importing this package never imports
torch, CuPy or cuML.
"""

from .analysis import CHANGE_CLASSES, change_map, mined_area, mined_polygons, region_areas
from .bands import BAND_NAMES, BAND_SETS, BANDS, band_indices, resolve_bands
from .base import SegmenterMixin
from .composite import CompositeError, build_composite
from .dataset import DatasetError, SmallMinesDS, find_patches, load_smallminesds
from .features import DERIVED_FEATURES, feature_names, pixel_features, required_bands
from .forest import PAPER_PRESETS, RandomForestSegmenter
from .metrics import confusion_counts, segmentation_scores
from .persistence import ModelFileError
from .sampling import undersample_indices
from .scene import MAP_NODATA, mosaic_tiles, predict_scene
from .splits import histogram_split, read_split_csv, spatially_disjoint_split
from .synthetic import make_synthetic_smallminesds

__all__ = [
    "BANDS",
    "CHANGE_CLASSES",
    "MAP_NODATA",
    "BAND_NAMES",
    "BAND_SETS",
    "CompositeError",
    "DERIVED_FEATURES",
    "DatasetError",
    "ModelFileError",
    "PAPER_PRESETS",
    "RandomForestSegmenter",
    "SegmenterMixin",
    "SmallMinesDS",
    "band_indices",
    "build_composite",
    "change_map",
    "confusion_counts",
    "feature_names",
    "find_patches",
    "histogram_split",
    "load_smallminesds",
    "make_synthetic_smallminesds",
    "mined_area",
    "mined_polygons",
    "mosaic_tiles",
    "pixel_features",
    "predict_scene",
    "read_split_csv",
    "region_areas",
    "required_bands",
    "resolve_bands",
    "segmentation_scores",
    "spatially_disjoint_split",
    "undersample_indices",
]
