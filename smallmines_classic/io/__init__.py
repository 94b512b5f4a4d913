"""Reading and writing imagery and files: the SmallMinesDS layout and its download, its splits, the synthetic twin,
STAC items and composites, rasters, maps and vector files."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "composite": ["CompositeError", "CompositePlan", "build_composite", "composite_plan", "observations_path",
                  "open_composite", "write_composite"],
    "dataset": ["DatasetError", "SmallMinesDS", "load_smallminesds"],
    "dataset_layout": ["find_patches"],
    "download": ["download_smallminesds"],
    "maps": ["open_change_map", "open_map"],
    "raster": ["MAP_NODATA"],
    "splits": ["histogram_split", "read_split_csv", "spatially_disjoint_split"],
    "stac": ["ItemQuery", "ItemSelection", "find_items", "item_query", "read_item_collection", "search_stac",
             "select_items"],
    "synthetic": ["make_synthetic_smallminesds"],
    "twin_items": ["twin_mosaic", "write_twin_items"],
    "vectors": ["read_vector", "write_vector"],
})
