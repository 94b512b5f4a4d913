"""Reading and writing imagery: the SmallMinesDS layout, its splits, the synthetic twin, composites from STAC, rasters."""

from .composite import CompositeError, CompositePlan, build_composite, composite_plan, observations_path, open_composite
from .dataset import DatasetError, SmallMinesDS, find_patches, load_smallminesds
from .raster import MAP_NODATA
from .splits import histogram_split, read_split_csv, spatially_disjoint_split
from .synthetic import make_synthetic_smallminesds
from .twin_items import twin_mosaic, write_twin_items

__all__ = ["CompositeError", "CompositePlan", "DatasetError", "MAP_NODATA", "SmallMinesDS", "build_composite",
           "composite_plan", "find_patches", "histogram_split", "load_smallminesds", "make_synthetic_smallminesds",
           "observations_path", "open_composite", "read_split_csv", "spatially_disjoint_split", "twin_mosaic",
           "write_twin_items"]
