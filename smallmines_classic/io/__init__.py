"""Reading and writing imagery and files: the SmallMinesDS layout, its splits, the synthetic twin, STAC items and
composites, rasters, maps and vector files."""

from .composite import (
    CompositeError,
    CompositePlan,
    build_composite,
    composite_plan,
    observations_path,
    open_composite,
    write_composite,
)
from .dataset import DatasetError, SmallMinesDS, find_patches, load_smallminesds
from .maps import open_change_map, open_map
from .raster import MAP_NODATA
from .splits import histogram_split, read_split_csv, spatially_disjoint_split
from .stac import ItemQuery, ItemSelection, find_items, item_query, read_item_collection, search_stac, select_items
from .synthetic import make_synthetic_smallminesds
from .twin_items import twin_mosaic, write_twin_items
from .vectors import read_vector, write_vector

__all__ = ["CompositeError", "CompositePlan", "DatasetError", "ItemQuery", "ItemSelection", "MAP_NODATA",
           "SmallMinesDS", "build_composite", "composite_plan", "find_items", "find_patches", "histogram_split",
           "item_query", "load_smallminesds", "make_synthetic_smallminesds", "observations_path", "open_change_map",
           "open_composite", "open_map", "read_item_collection", "read_split_csv", "read_vector", "search_stac",
           "select_items", "spatially_disjoint_split", "twin_mosaic", "write_composite", "write_twin_items",
           "write_vector"]
