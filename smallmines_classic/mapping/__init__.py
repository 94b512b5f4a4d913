"""Whole scenes: windowed prediction (one machine or Dask), mosaics, mined area, change and polygons."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "analysis": ["CHANGE_CLASSES", "change_areas", "change_map", "mined_area", "mined_polygons", "region_areas",
                 "region_change_areas"],
    "scene": ["check_scene", "mosaic_tiles", "predict_scene"],
})
