"""Whole scenes: windowed prediction (one machine or Dask), mosaics, mined area, change and polygons."""

from .analysis import (
                       CHANGE_CLASSES,
                       change_areas,
                       change_map,
                       mined_area,
                       mined_polygons,
                       region_areas,
                       region_change_areas,
)
from .scene import check_scene, mosaic_tiles, predict_scene

__all__ = ["CHANGE_CLASSES", "change_areas", "change_map", "check_scene", "mined_area", "mined_polygons", "mosaic_tiles",
           "predict_scene", "region_areas", "region_change_areas"]
