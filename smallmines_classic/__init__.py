"""smallmines_classic: map artisanal and small-scale gold mining from Sentinel-1/2 and DEM stacks.

numpy, scikit-learn and rasterio only: importing this package never imports
torch, CuPy or cuML.
"""

from . import _moved
from ._signals import Interrupted
from .assessment import (
    AreaEstimate,
    LabelSession,
    NonResponseWarning,
    SessionLockedError,
    allocate_sample,
    assess_map,
    bootstrap_scores,
    estimate_area,
    estimate_area_stehman,
    labelling_server,
    read_ceo_answers,
    sample_size,
    stratified_sample,
    write_ceo_plots,
)
from .bands import BAND_NAMES, BAND_SETS, BANDS, band_indices, resolve_bands
from .errors import (
    BandError,
    DiskFullError,
    InputError,
    MissingExtraError,
    OutputError,
    PointsError,
    RegionsError,
    SceneError,
    SmallminesError,
    SmallminesWarning,
    StacError,
)
from .io.composite import (
    CompositeError,
    CompositePlan,
    build_composite,
    composite_plan,
    observations_path,
    open_composite,
)
from .io.dataset import DatasetError, SmallMinesDS, find_patches, load_smallminesds
from .io.splits import histogram_split, read_split_csv, spatially_disjoint_split
from .io.synthetic import make_synthetic_smallminesds
from .io.twin_items import twin_mosaic, write_twin_items
from .mapping.analysis import (
    CHANGE_CLASSES,
    change_areas,
    change_map,
    mined_area,
    mined_polygons,
    region_areas,
    region_change_areas,
)
from .mapping.scene import MAP_NODATA, check_scene, mosaic_tiles, predict_scene
from .metrics import confusion_counts, segmentation_scores
from .models._domain import DomainError, DomainWarning
from .models.base import SegmenterMixin
from .models.features import DERIVED_FEATURES, feature_names, pixel_features, required_bands
from .models.forest import PAPER_PRESETS, RandomForestSegmenter
from .models.persistence import ModelFileError
from .models.sampling import undersample_indices
from .monitoring import MonitorFolderError, monitor, read_monitor, write_report

__all__ = [
    "BANDS",
    "BAND_NAMES",
    "BAND_SETS",
    "CHANGE_CLASSES",
    "DERIVED_FEATURES",
    "MAP_NODATA",
    "PAPER_PRESETS",
    "AreaEstimate",
    "BandError",
    "CompositeError",
    "CompositePlan",
    "DatasetError",
    "DiskFullError",
    "DomainError",
    "DomainWarning",
    "InputError",
    "Interrupted",
    "LabelSession",
    "MissingExtraError",
    "ModelFileError",
    "MonitorFolderError",
    "NonResponseWarning",
    "OutputError",
    "PointsError",
    "RandomForestSegmenter",
    "RegionsError",
    "SceneError",
    "SegmenterMixin",
    "SessionLockedError",
    "SmallMinesDS",
    "SmallminesError",
    "SmallminesWarning",
    "StacError",
    "allocate_sample",
    "assess_map",
    "band_indices",
    "bootstrap_scores",
    "build_composite",
    "change_areas",
    "change_map",
    "check_scene",
    "composite_plan",
    "confusion_counts",
    "estimate_area",
    "estimate_area_stehman",
    "feature_names",
    "find_patches",
    "histogram_split",
    "labelling_server",
    "load_smallminesds",
    "make_synthetic_smallminesds",
    "mined_area",
    "mined_polygons",
    "monitor",
    "mosaic_tiles",
    "observations_path",
    "open_composite",
    "pixel_features",
    "predict_scene",
    "read_ceo_answers",
    "read_monitor",
    "read_split_csv",
    "region_areas",
    "region_change_areas",
    "required_bands",
    "resolve_bands",
    "sample_size",
    "segmentation_scores",
    "spatially_disjoint_split",
    "stratified_sample",
    "twin_mosaic",
    "undersample_indices",
    "write_ceo_plots",
    "write_report",
    "write_twin_items",
]

_moved.install()


def __getattr__(name):
    """``smallmines_classic.forest`` and the other modules of 0.2.0's flat layout, for one more release."""
    if name in _moved.MOVED:
        return _moved.moved_module(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
