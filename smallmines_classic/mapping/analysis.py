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
    ValueTally,
    map_polygons,
    measure_values,
    open_change_map,
    open_map,
    read_map,
    row_areas_m2,
)
from ..io.raster import MAP_NODATA, cog_output, map_profile
from ..io.vectors import read_vector, vector_format, write_vector

__all__ = ["CHANGE_CLASSES", "mined_area", "region_areas", "region_change_areas", "change_areas",
           "mined_polygons", "change_map"]


def _areas(pixels, m2):
    m2 = float(m2)
    return {"pixels": int(pixels), "m2": m2, "ha": m2 / 1e4, "km2": m2 / 1e6}


def _mined_and_nodata(pixels, m2):
    """Areas of the mined pixels (1) and beside them of the nodata pixels, from :func:`measure_values`' arrays."""
    return {**_areas(pixels[1], m2[1]), "nodata": _areas(pixels[MAP_NODATA], m2[MAP_NODATA])}


def mined_area(path):
    """Mined area of a mask map (band 1 == 1), in pixels, m2, ha and km2, and beside it the nodata area.

    Returns
    -------
    dict
        ``pixels``, ``m2``, ``ha``, ``km2`` of the mined pixels, and ``nodata``:
        the same for the pixels with no data (255: no valid input there), where
        mining is unknown.

    Each pixel counts with its own area (:func:`smallmines_classic.io.maps.row_areas_m2`):
    in a projected CRS the same for all, in a geographic one (EPSG:4326, as
    Earth Engine exports) its area on the ellipsoid.

    Raises SceneError (a ValueError) for a file that is not a mask map (see
    :mod:`smallmines_classic.io.maps`) and for a map whose pixels cannot be
    measured (no CRS, a CRS of unknown unit).
    """
    with open_map(path) as src:
        return _mined_and_nodata(*measure_values(src))


def _region_measures(src, regions, name_field):
    """``{region name: (pixels, m2) of each value}`` of the open map ``src`` inside each polygon of ``regions``."""
    mapping = require("shapely.geometry", "maps").mapping

    fields, geometries, crs = read_vector(regions, what="regions", error=RegionsError)
    if name_field is not None and name_field not in fields:
        raise RegionsError(f"{regions} has no field {name_field!r}; it has {list(fields)}")
    names = [str(name) for name in fields[name_field]] if name_field else [str(i) for i in range(len(geometries))]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # keyed by name, their areas would silently merge into one
        raise RegionsError(f"{regions}: field {name_field!r} names more than one polygon {repeated[:5]}; "
                           "give each region its own name (or dissolve them into one polygon first)")
    row_m2, out = row_areas_m2(src), {}
    for name, shape in zip(names, geometries):
        geometry = mapping(shape)
        if crs and rasterio.crs.CRS.from_user_input(crs) != src.crs:
            geometry = rasterio.warp.transform_geom(crs, src.crs, geometry)
        try:
            window = rasterio.features.geometry_window(src, [geometry])
        except rasterio.errors.WindowError:  # the region lies outside the map
            out[name] = np.zeros(256, np.int64), np.zeros(256)
            continue
        out[name] = measure_values(src, window, geometry, row_m2)
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
        measures = _region_measures(src, regions, name_field)
        return {name: _mined_and_nodata(*values) for name, values in measures.items()}


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
        measures = _region_measures(src, regions, name_field)
        return {name: _change_areas(*values) for name, values in measures.items()}


def change_areas(path):
    """Area of each change class of a change map (:func:`change_map`), and its nodata area.

    Returns
    -------
    dict
        Class name (see ``CHANGE_CLASSES``) -> areas (pixels, m2, ha, km2),
        and ``"nodata"`` -> the areas of the pixels with no data in either year.
    """
    with open_change_map(path) as src:
        return _change_areas(*measure_values(src))


def _change_areas(pixels, m2):
    """Areas of each change class and of the nodata pixels, from :func:`measure_values`' arrays."""
    return {**{name: _areas(pixels[code], m2[code]) for code, name in CHANGE_CLASSES.items()},
            "nodata": _areas(pixels[MAP_NODATA], m2[MAP_NODATA])}


def mined_polygons(path, dst, min_area_m2=0.0):
    """Write the mined areas of a mask map as polygons, in the format of the suffix of ``dst``.

    Each polygon carries ``id``, ``area_m2`` and ``area_ha``, measured in the
    plane of a projected map's CRS, on the ellipsoid for a map in degrees
    (``min_area_m2`` too). GeoPackage (``.gpkg``), Shapefile (``.shp``) and CSV
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
        or a map whose pixels cannot be measured.
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
    with open_map(old) as before, open_map(new) as after:
        check_output_not_input(dst, *before.files, *after.files)
        _check_same_grid(before, after)
        tally = ValueTally(row_areas_m2(before))
        # Scratch: the uint8 map, and at most as much again for its COG copy.
        with cog_output(dst, size=2 * before.width * before.height) as (_, tmp), \
                rasterio.open(tmp, "w", **map_profile(before, 1)) as out:
            for _, window in before.block_windows(1):
                a, b = read_map(before, window), read_map(after, window)
                cases = [(a == 0) & (b == 1), (a == 1) & (b == 1), (a == 1) & (b == 0), (a == 0) & (b == 0)]
                classes = np.select(cases, [1, 2, 3, 0], MAP_NODATA).astype(np.uint8)
                tally.add(window.row_off, classes)
                out.write(classes, 1, window=window)
            out.set_band_description(1, CHANGE_DESCRIPTION)
    return _change_areas(tally.pixels, tally.m2)
