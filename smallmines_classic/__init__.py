"""smallmines_classic: map artisanal and small-scale gold mining from Sentinel-1/2 and DEM stacks.

numpy, scikit-learn and rasterio only: importing this package never imports
torch, CuPy or cuML. Importing it loads none of them either: each public name
is imported from its module on first use (see :mod:`._lazy`), so that the
command line starts quickly.
"""

from . import _moved
from ._lazy import attach

# Where each public name lives; a name is imported from there the first time it is used.
_lazy_getattr, __dir__, __all__ = attach(__name__, {
    "errors": ["BandError", "CompositeError", "DatasetError", "DeviceError", "DiskFullError", "DomainError",
               "DomainWarning", "DownloadError", "InputError", "MissingExtraError", "ModelFileError",
               "ModelFileNotFoundError", "MonitorFolderError", "NonResponseWarning", "OutputError", "PointsError",
               "RegionsError", "SceneError", "SessionLockedError", "SmallminesError", "SmallminesWarning", "StacError"],
    "_signals": ["Interrupted"],
    "bands": ["BANDS", "BAND_NAMES", "BAND_SETS", "band_indices", "resolve_bands"],
    "metrics": ["confusion_counts", "segmentation_scores"],
    "io": ["MAP_NODATA", "CompositePlan", "SmallMinesDS", "build_composite", "composite_plan", "download_smallminesds",
           "find_patches", "histogram_split", "load_smallminesds", "make_synthetic_smallminesds", "observations_path",
           "open_composite", "read_split_csv", "spatially_disjoint_split", "twin_mosaic", "write_twin_items"],
    "models": ["CompactForest", "DERIVED_FEATURES", "PAPER_PRESETS", "RandomForestSegmenter", "SegmenterMixin",
               "feature_names", "pixel_features", "required_bands", "undersample_indices"],
    "mapping": ["CHANGE_CLASSES", "change_areas", "change_map", "check_scene", "mined_area", "mined_polygons",
                "mosaic_tiles", "predict_scene", "region_areas", "region_change_areas"],
    "assessment": ["AreaEstimate", "LabelSession", "allocate_sample", "assess_map", "bootstrap_scores", "estimate_area",
                   "estimate_area_stehman", "labelling_server", "read_ceo_answers", "sample_size", "stratified_sample",
                   "write_ceo_plots"],
    "monitoring": ["monitor", "read_monitor", "write_report"],
    "tour": ["run_tour"],
}, submodules=["assessment", "bands", "cli", "errors", "io", "mapping", "metrics", "models", "monitoring", "plotting",
               "tables", "tour", "workflows"])

_moved.install()


def __getattr__(name):
    """A public name on first use; ``smallmines_classic.forest`` and the other modules of 0.2.0's flat layout, for
    one more release."""
    if name in _moved.MOVED:
        return _moved.moved_module(name)
    return _lazy_getattr(name)
