"""Mined area of a map and change between two maps, read block by block."""

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
from rasterio.windows import Window

from ._atomic import atomic_path
from ._backend import require
from .scene import MAP_NODATA, cog_output, map_profile, scene_windows

__all__ = ["CHANGE_CLASSES", "mined_area", "region_areas", "mined_polygons", "change_map"]

_BLOCK = 4096

#: Classes of a change map (band 1); 255 is nodata.
CHANGE_CLASSES = {0: "never mined", 1: "new", 2: "persistent", 3: "no longer mined"}


def _unit_m2(src):
    """Square metres in one square CRS unit; refuses unprojected maps, where areas need reprojecting first."""
    if not src.crs or not src.crs.is_projected:
        raise ValueError(f"{src.name} has CRS {src.crs}: areas need a projected CRS in metres (reproject it, e.g. to UTM)")
    return src.crs.linear_units_factor[1] ** 2


def _pixel_area_m2(src):
    return abs(src.transform.a * src.transform.e - src.transform.b * src.transform.d) * _unit_m2(src)


def _areas(pixels, pixel_m2):
    m2 = pixels * pixel_m2
    return {"pixels": int(pixels), "m2": m2, "ha": m2 / 1e4, "km2": m2 / 1e6}


def _count_mined(src, window=None, geometry=None):
    """Mined pixels of ``src`` inside ``window`` (default: all) and ``geometry`` (map CRS), block by block."""
    window = window or Window(0, 0, src.width, src.height)
    pixels = 0
    for core, _ in scene_windows(window.height, window.width, _BLOCK, 0):
        block = Window(window.col_off + core.col_off, window.row_off + core.row_off, core.width, core.height)
        mined = src.read(1, window=block) == 1
        if geometry is not None:
            mined &= rasterio.features.geometry_mask([geometry], mined.shape, src.window_transform(block), invert=True)
        pixels += int(np.count_nonzero(mined))
    return pixels


def mined_area(path):
    """Mined area of a mask map (band 1 == 1), in pixels, m2, ha and km2.

    Raises ValueError for a map in a geographic (unprojected) CRS.
    """
    with rasterio.open(path) as src:
        return _areas(_count_mined(src), _pixel_area_m2(src))


def region_areas(path, regions, name_field=None):
    """Mined area of a mask map inside each polygon of a vector file (GeoPackage, GeoJSON, Shapefile, ...).

    Regions in another CRS are reprojected onto the map's CRS. A pixel counts
    when its centre lies inside the region.

    Returns
    -------
    dict
        Region name (the ``name_field`` value, else the feature index) -> areas.
    """
    read = require("pyogrio.raw", "scale").read
    shapely = require("shapely", "scale")

    meta, _, geometries, fields = read(regions)
    if name_field is not None and name_field not in meta["fields"]:
        raise ValueError(f"{regions} has no field {name_field!r}; it has {list(meta['fields'])}")
    names = fields[list(meta["fields"]).index(name_field)] if name_field else range(len(geometries))
    out = {}
    with rasterio.open(path) as src:
        pixel_m2 = _pixel_area_m2(src)
        for name, wkb in zip(names, geometries):
            geometry = shapely.geometry.mapping(shapely.from_wkb(wkb))
            if meta["crs"] and rasterio.crs.CRS.from_user_input(meta["crs"]) != src.crs:
                geometry = rasterio.warp.transform_geom(meta["crs"], src.crs, geometry)
            try:
                window = rasterio.features.geometry_window(src, [geometry])
            except rasterio.errors.WindowError:  # the region lies outside the map
                out[str(name)] = _areas(0, pixel_m2)
                continue
            out[str(name)] = _areas(_count_mined(src, window, geometry), pixel_m2)
    return out


def mined_polygons(path, dst, min_area_m2=0.0):
    """Write the mined areas of a mask map as polygons (GeoJSON for .geojson / .json, else GeoPackage).

    Each polygon carries ``area_m2`` and ``area_ha``. The map is read in
    blocks; pieces that meet across block edges are merged, so memory follows
    the polygons, not the raster.

    Returns
    -------
    int
        Number of polygons written.
    """
    write = require("pyogrio.raw", "scale").write
    shapely = require("shapely", "scale")
    shape = require("shapely.geometry", "scale").shape

    pieces = []
    with rasterio.open(path) as src:
        unit_m2 = _unit_m2(src)
        crs = src.crs.to_wkt()
        for core, _ in scene_windows(src.height, src.width, _BLOCK, 0):
            mined = (src.read(1, window=core) == 1).astype(np.uint8)
            pieces += [shape(geometry) for geometry, _ in
                       rasterio.features.shapes(mined, mask=mined.astype(bool), transform=src.window_transform(core))]
    merged = shapely.unary_union(pieces) if pieces else None
    polygons = [] if merged is None else list(getattr(merged, "geoms", [merged]))
    polygons = [p for p in polygons if p.area * unit_m2 >= min_area_m2]
    area = np.array([p.area * unit_m2 for p in polygons], dtype=float)
    driver = "GeoJSON" if str(dst).lower().endswith((".geojson", ".json")) else "GPKG"
    with atomic_path(dst) as tmp:
        write(tmp, geometry=shapely.to_wkb(polygons).astype(object) if polygons else np.array([], dtype=object),
              field_data=[np.arange(1, len(polygons) + 1), area, area / 1e4], fields=["id", "area_m2", "area_ha"],
              crs=crs, driver=driver, geometry_type="Polygon", layer="mined_areas")
    return len(polygons)


def _check_same_grid(a, b):
    if a.crs != b.crs:
        raise ValueError(f"{a.name} (CRS {a.crs}) and {b.name} (CRS {b.crs}) differ in CRS: reproject one onto the other's grid")
    if a.transform != b.transform or a.shape != b.shape:
        raise ValueError(f"{a.name} ({a.shape}, {tuple(a.transform)[:6]}) and {b.name} ({b.shape}, {tuple(b.transform)[:6]}) "
                         "are on different grids: resample one onto the other's grid")


def change_map(old, new, dst):
    """Change between two mask maps on the same grid, and the area of each class.

    Classes (band 1 of ``dst``): 0 never mined, 1 new, 2 persistent, 3 no
    longer mined, 255 nodata (nodata in either map).

    Returns
    -------
    dict
        Class name -> areas (pixels, m2, ha, km2).
    """
    counts = np.zeros(4, np.int64)
    with rasterio.open(old) as before, rasterio.open(new) as after:
        _check_same_grid(before, after)
        pixel_m2 = _pixel_area_m2(before)
        # Scratch: the uint8 map, and at most as much again for its COG copy.
        with cog_output(dst, size=2 * before.width * before.height) as (_, tmp), \
                rasterio.open(tmp, "w", **map_profile(before, 1)) as out:
            for _, window in before.block_windows(1):
                a, b = before.read(1, window=window), after.read(1, window=window)
                classes = np.select([(a == 0) & (b == 1), (a == 1) & (b == 1), (a == 1) & (b == 0), (a == 0) & (b == 0)],
                                    [1, 2, 3, 0], MAP_NODATA).astype(np.uint8)
                counts += np.bincount(classes[classes != MAP_NODATA], minlength=4)[:4]
                out.write(classes, 1, window=window)
            out.set_band_description(1, "0 never mined, 1 new, 2 persistent, 3 no longer mined")
    return {name: _areas(counts[code], pixel_m2) for code, name in CHANGE_CLASSES.items()}
