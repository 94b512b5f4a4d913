"""Mined area of a map and change between two maps, read block by block.

Maps are read through :mod:`smallmines_classic.io.maps`, which says what a
mask map and a change map are and refuses any other file, naming it and
what is wrong; polygons are written through :mod:`smallmines_classic.io.vectors`.
"""

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp

from .._backend import require
from .._guards import check_output_not_input
from ..errors import RegionsError, SceneError
from ..io.maps import (
    CHANGE_CLASSES,
    CHANGE_DESCRIPTION,
    count_values,
    map_polygons,
    open_change_map,
    open_map,
    pixel_area_m2,
    read_map,
)
from ..io.raster import MAP_NODATA, cog_output, map_profile
from ..io.vectors import read_vector, vector_format, write_vector

__all__ = ["CHANGE_CLASSES", "mined_area", "region_areas", "region_change_areas", "change_areas",
           "mined_polygons", "change_map"]


def _areas(pixels, pixel_m2):
    m2 = pixels * pixel_m2
    return {"pixels": int(pixels), "m2": m2, "ha": m2 / 1e4, "km2": m2 / 1e6}


def _count_mined(src, window=None, geometry=None):
    """Mined and nodata pixels of ``src`` inside ``window`` (default: all) and ``geometry`` (map CRS)."""
    counts = count_values(src, window, geometry)
    return int(counts[1]), int(counts[MAP_NODATA])


def _mined_and_nodata(counts, pixel_m2):
    mined, nodata = counts
    return {**_areas(mined, pixel_m2), "nodata": _areas(nodata, pixel_m2)}


def mined_area(path):
    """Mined area of a mask map (band 1 == 1), in pixels, m2, ha and km2, and beside it the nodata area.

    Returns
    -------
    dict
        ``pixels``, ``m2``, ``ha``, ``km2`` of the mined pixels, and ``nodata``:
        the same for the pixels with no data (255: no valid input there), where
        mining is unknown.

    Raises SceneError (a ValueError) for a file that is not a mask map (see
    :mod:`smallmines_classic.io.maps`) and for a map in a geographic (unprojected) CRS.
    """
    with open_map(path) as src:
        return _mined_and_nodata(_count_mined(src), pixel_area_m2(src))


def _region_counts(src, regions, name_field):
    """``{region name: value counts}`` of the open map ``src`` inside each polygon of the vector file ``regions``."""
    mapping = require("shapely.geometry", "scale").mapping

    fields, geometries, crs = read_vector(regions, what="regions", error=RegionsError)
    if name_field is not None and name_field not in fields:
        raise RegionsError(f"{regions} has no field {name_field!r}; it has {list(fields)}")
    names = [str(name) for name in fields[name_field]] if name_field else [str(i) for i in range(len(geometries))]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # keyed by name, their areas would silently merge into one
        raise RegionsError(f"{regions}: field {name_field!r} names more than one polygon {repeated[:5]}; "
                           "give each region its own name (or dissolve them into one polygon first)")
    out = {}
    for name, shape in zip(names, geometries):
        geometry = mapping(shape)
        if crs and rasterio.crs.CRS.from_user_input(crs) != src.crs:
            geometry = rasterio.warp.transform_geom(crs, src.crs, geometry)
        try:
            window = rasterio.features.geometry_window(src, [geometry])
        except rasterio.errors.WindowError:  # the region lies outside the map
            out[name] = np.zeros(256, np.int64)
            continue
        out[name] = count_values(src, window, geometry)
    return out


def region_areas(path, regions, name_field=None):
    """Mined area of a mask map inside each polygon of a vector file (GeoPackage, GeoJSON, Shapefile, ...).

    Regions in another CRS are reprojected onto the map's CRS. A pixel counts
    when its centre lies inside the region.

    Returns
    -------
    dict
        Region name (the ``name_field`` value, else the feature index) -> areas,
        as :func:`mined_area` (with the region's ``nodata`` area).
    """
    with open_map(path) as src:
        pixel_m2 = pixel_area_m2(src)
        return {name: _mined_and_nodata((counts[1], counts[MAP_NODATA]), pixel_m2)
                for name, counts in _region_counts(src, regions, name_field).items()}


def region_change_areas(path, regions, name_field=None):
    """Area of each change class of a change map (:func:`change_map`) inside each polygon of a vector file.

    As :func:`region_areas`: regions are reprojected onto the map's CRS, and
    a pixel counts when its centre lies inside the region.

    Returns
    -------
    dict
        Region name -> {class name (see ``CHANGE_CLASSES``) -> areas, and
        ``"nodata"`` -> areas of the pixels with no data in either year}.
    """
    with open_change_map(path) as src:
        pixel_m2 = pixel_area_m2(src)
        return {name: _change_areas(counts, pixel_m2)
                for name, counts in _region_counts(src, regions, name_field).items()}


def change_areas(path):
    """Area of each change class of a change map (:func:`change_map`), and its nodata area.

    Returns
    -------
    dict
        Class name (see ``CHANGE_CLASSES``) -> areas (pixels, m2, ha, km2),
        and ``"nodata"`` -> the areas of the pixels with no data in either year.
    """
    with open_change_map(path) as src:
        return _change_areas(count_values(src), pixel_area_m2(src))


def _change_areas(counts, pixel_m2):
    return {**{name: _areas(counts[code], pixel_m2) for code, name in CHANGE_CLASSES.items()},
            "nodata": _areas(counts[MAP_NODATA], pixel_m2)}


def mined_polygons(path, dst, min_area_m2=0.0):
    """Write the mined areas of a mask map as polygons, in the format of the suffix of ``dst``.

    Each polygon carries ``id``, ``area_m2`` and ``area_ha``, measured in the
    map's CRS. GeoPackage (``.gpkg``), Shapefile (``.shp``) and CSV
    (``.csv``, the polygons as WKT) keep the map's CRS; GeoJSON (``.geojson``,
    ``.json``) is written in WGS 84 (lon, lat) as RFC 7946 requires,
    reprojected by GDAL (see :mod:`smallmines_classic.io.vectors`). The map is
    read in blocks; pieces that meet across block edges are merged, so memory
    follows the polygons, not the raster.

    Returns
    -------
    int
        Number of polygons written.

    Raises
    ------
    SceneError
        For a file that is not a mask map (see :mod:`smallmines_classic.io.maps`)
        or an unprojected map.
    OutputError
        ``dst`` being the map itself, or a suffix of no vector format (before the map is read).
    """
    vector_format(dst, "polygons")
    with open_map(path) as src:
        check_output_not_input(dst, *src.files)
        crs = src.crs
        polygons, area = map_polygons(src, 1, min_area_m2)
    write_vector(dst, {"id": np.arange(1, len(polygons) + 1), "area_m2": area, "area_ha": area / 1e4}, polygons,
                 crs=crs, geometry_type="Polygon", layer="mined_areas", what="polygons")
    return len(polygons)


def _check_same_grid(a, b):
    if a.crs != b.crs:
        raise SceneError(f"{a.name} (CRS {a.crs}) and {b.name} (CRS {b.crs}) differ in CRS: reproject one onto the "
                         "other's grid")
    if a.transform != b.transform or a.shape != b.shape:
        raise SceneError(f"{a.name} ({a.shape}, {tuple(a.transform)[:6]}) and {b.name} ({b.shape}, "
                         f"{tuple(b.transform)[:6]}) are on different grids: resample one onto the other's grid")


def change_map(old, new, dst):
    """Change between two mask maps on the same grid, and the area of each class.

    Classes (band 1 of ``dst``): 0 never mined, 1 new, 2 persistent, 3 no
    longer mined, 255 nodata (nodata in either map).

    Returns
    -------
    dict
        Class name -> areas (pixels, m2, ha, km2), and ``nodata``: the same
        for the pixels that are nodata in either map, where change is unknown.

    Raises
    ------
    SceneError
        For a file that is not a mask map (see :mod:`smallmines_classic.io.maps`)
        or maps on different grids.
    OutputError
        ``dst`` being one of the inputs.
    """
    counts = np.zeros(len(CHANGE_CLASSES) + 1, np.int64)  # the classes, then nodata
    with open_map(old) as before, open_map(new) as after:
        check_output_not_input(dst, *before.files, *after.files)
        _check_same_grid(before, after)
        pixel_m2 = pixel_area_m2(before)
        # Scratch: the uint8 map, and at most as much again for its COG copy.
        with cog_output(dst, size=2 * before.width * before.height) as (_, tmp), \
                rasterio.open(tmp, "w", **map_profile(before, 1)) as out:
            for _, window in before.block_windows(1):
                a, b = read_map(before, window), read_map(after, window)
                cases = [(a == 0) & (b == 1), (a == 1) & (b == 1), (a == 1) & (b == 0), (a == 0) & (b == 0)]
                classes = np.select(cases, [1, 2, 3, 0], MAP_NODATA).astype(np.uint8)
                counts += np.bincount(np.minimum(classes, len(CHANGE_CLASSES)).ravel(), minlength=len(counts))
                out.write(classes, 1, window=window)
            out.set_band_description(1, CHANGE_DESCRIPTION)
    return {**{name: _areas(counts[code], pixel_m2) for code, name in CHANGE_CLASSES.items()},
            "nodata": _areas(counts[-1], pixel_m2)}
