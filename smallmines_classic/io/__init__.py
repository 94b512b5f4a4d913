"""Reading and writing imagery: the SmallMinesDS layout, its splits, the synthetic twin, composites from STAC,
rasters."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "composite": ["CompositeError", "CompositePlan", "build_composite", "composite_plan", "observations_path",
                  "open_composite"],
    "dataset": ["DatasetError", "SmallMinesDS", "find_patches", "load_smallminesds"],
    "raster": ["MAP_NODATA"],
    "splits": ["histogram_split", "read_split_csv", "spatially_disjoint_split"],
    "synthetic": ["make_synthetic_smallminesds"],
    "twin_items": ["twin_mosaic", "write_twin_items"],
})
