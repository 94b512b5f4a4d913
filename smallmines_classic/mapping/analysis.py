"""Mined area of a map and change between two maps, read block by block.

A mask map is what ``smallmines predict`` writes: band 1 uint8, 0
background, 1 mining, 255 nodata (declared as the nodata value, or no nodata
declared and no 255 pixels, as in the dataset's MASK files); an optional
band 2 (the probability) is ignored. A change map (``change_map``) has the
classes of :data:`CHANGE_CLASSES`, told by its band description. Another
declared nodata value is honoured, unless it is one of the map's classes
(then no data could not be told from that class). Any other file given as a
map is refused with an error that names it and what is wrong: one check,
:func:`_check_map` and :func:`_read_map`, serves every reader of maps.
"""

import contextlib
import warnings
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
from rasterio.windows import Window

from .._backend import require
from .._guards import check_output_not_input
from .._writes import atomic_path
from ..io.raster import MAP_NODATA, OBS_DESCRIPTION, cog_output, map_profile, scene_windows

__all__ = ["CHANGE_CLASSES", "mined_area", "region_areas", "region_change_areas", "change_areas",
           "mined_polygons", "change_map"]

_BLOCK = 4096

#: Classes of a change map (band 1); 255 is nodata.
CHANGE_CLASSES = {0: "never mined", 1: "new", 2: "persistent", 3: "no longer mined"}
#: Band 1 description of a change map, which tells it apart from a mask map.
_CHANGE_DESCRIPTION = ", ".join(f"{code} {name}" for code, name in CHANGE_CLASSES.items())
_MASK_MAP = f"band 1 uint8: 0 background, 1 mining, {MAP_NODATA} nodata, as `smallmines predict` writes"
_CHANGE_MAP = f"band 1 uint8: {_CHANGE_DESCRIPTION}, {MAP_NODATA} nodata, as `smallmines change` writes"


def _is_change_map(src):
    """Whether an open map is a change map (by the band description ``change_map`` writes)."""
    return src.count > 0 and src.descriptions[0] == _CHANGE_DESCRIPTION


def _n_map_classes(src):
    """Classes of an open map: 4 for a change map, 2 (background, mining) for a mask map."""
    return len(CHANGE_CLASSES) if _is_change_map(src) else 2


def _check_map(src, change=False):
    """Refuse an open raster that cannot be a mask map (or, with ``change``, a change map) by its header.

    Raises
    ------
    ValueError
        Naming the file and what is wrong: no raster band, a change map
        where a mask map is wanted, a composite's observation count, more
        than two bands or not uint8, a nodata value that is one of the classes.
    """
    wanted = f"a mask map ({_MASK_MAP}) or a change map ({_CHANGE_MAP})" if change else f"a mask map ({_MASK_MAP})"
    if src.count == 0:
        raise ValueError(f"{src.name} is not {wanted}: it holds no raster band"
                         + (f" (it has {len(src.subdatasets)} subdatasets)" if src.subdatasets else ""))
    if _is_change_map(src) and not change:
        raise ValueError(f"{src.name} is a change map ({_CHANGE_DESCRIPTION}), not a mask map ({_MASK_MAP}); "
                         "`smallmines change` reports the area of each class")
    if src.descriptions[0] == OBS_DESCRIPTION:
        raise ValueError(f"{src.name} is not {wanted}: it is the count of valid observations beside a composite; "
                         "map the composite itself with `smallmines predict`")
    if src.count > 2 or src.dtypes[0] != "uint8":
        raise ValueError(f"{src.name} is not {wanted}: it has {src.count} band(s) of {src.dtypes[0]}")
    classes = _n_map_classes(src)
    if src.nodata is not None and not (src.nodata == int(src.nodata) and classes <= src.nodata <= 255):
        raise ValueError(f"{src.name} is not {wanted}: its nodata value is {src.nodata}, which "
                         + (f"is one of its classes 0..{classes - 1}, so no data could not be told from that class"
                            if 0 <= src.nodata < classes else "no uint8 pixel can hold"))


@contextlib.contextmanager
def _open_map(path, change=False):
    """Open a mask map (or, with ``change``, a mask or change map), refusing a file that cannot be one (:func:`_check_map`)."""
    try:
        with warnings.catch_warnings():  # its checks below say what is wrong with a file that is no map
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except rasterio.errors.RasterioError as error:
        raise ValueError(f"cannot read map {path}: {error}") from None
    with src:
        _check_map(src, change)
        yield src


def _read_map(src, window):
    """Band 1 of an open map in ``window``, refusing values that are neither its classes nor its nodata.

    The declared nodata value, whatever it is, comes back as 255 (:data:`MAP_NODATA`).
    """
    block = src.read(1, window=window)
    classes, nodata = _n_map_classes(src), src.nodata
    bad = (block >= classes) if nodata is None else (block >= classes) & (block != nodata)
    if bad.any():
        found = np.unique(block[bad])[:10].tolist()
        what = _CHANGE_MAP if classes > 2 else _MASK_MAP
        hint = " (a change map's classes?)" if classes == 2 and set(found) <= set(CHANGE_CLASSES) else ""
        raise ValueError(f"{src.name} is not a {'change' if classes > 2 else 'mask'} map ({what}): band 1 holds "
                         f"value(s) {found}{hint}{'' if nodata is not None else ' and declares no nodata'}")
    if nodata is not None and nodata != MAP_NODATA:
        block[block == nodata] = MAP_NODATA
    return block


@contextlib.contextmanager
def _open_change_map(path):
    """Open a change map (:func:`change_map`), refusing any other file, a mask map among them."""
    with _open_map(path, change=True) as src:
        if not _is_change_map(src):
            raise ValueError(f"{path} is not a change map ({_CHANGE_MAP}): it is a mask map")
        yield src


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


def _count_values(src, window=None, geometry=None):
    """Pixels of each value (0..255) of band 1 inside ``window`` (default: all) and ``geometry`` (map CRS), by blocks."""
    window = window or Window(0, 0, src.width, src.height)
    counts = np.zeros(256, np.int64)
    for core, _ in scene_windows(window.height, window.width, _BLOCK, 0):
        block = Window(window.col_off + core.col_off, window.row_off + core.row_off, core.width, core.height)
        values = _read_map(src, block)
        if geometry is not None:
            values = values[rasterio.features.geometry_mask([geometry], values.shape, src.window_transform(block),
                                                            invert=True)]
        counts += np.bincount(values.ravel(), minlength=256)
    return counts


def _count_mined(src, window=None, geometry=None):
    """Mined and nodata pixels of ``src`` inside ``window`` (default: all) and ``geometry`` (map CRS)."""
    counts = _count_values(src, window, geometry)
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

    Raises ValueError for a file that is not a mask map (see module
    docstring) and for a map in a geographic (unprojected) CRS.
    """
    with _open_map(path) as src:
        return _mined_and_nodata(_count_mined(src), _pixel_area_m2(src))


def _region_counts(src, regions, name_field):
    """``{region name: value counts}`` of the open map ``src`` inside each polygon of the vector file ``regions``."""
    read_vector = require("pyogrio.raw", "scale").read
    shapely = require("shapely", "scale")

    meta, _, geometries, fields = read_vector(regions)
    if name_field is not None and name_field not in meta["fields"]:
        raise ValueError(f"{regions} has no field {name_field!r}; it has {list(meta['fields'])}")
    names = [str(name) for name in fields[list(meta["fields"]).index(name_field)]] if name_field else \
        [str(i) for i in range(len(geometries))]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # keyed by name, their areas would silently merge into one
        raise ValueError(f"{regions}: field {name_field!r} names more than one polygon {repeated[:5]}; "
                         "give each region its own name (or dissolve them into one polygon first)")
    out = {}
    for name, wkb in zip(names, geometries):
        geometry = shapely.geometry.mapping(shapely.from_wkb(wkb))
        if meta["crs"] and rasterio.crs.CRS.from_user_input(meta["crs"]) != src.crs:
            geometry = rasterio.warp.transform_geom(meta["crs"], src.crs, geometry)
        try:
            window = rasterio.features.geometry_window(src, [geometry])
        except rasterio.errors.WindowError:  # the region lies outside the map
            out[name] = np.zeros(256, np.int64)
            continue
        out[name] = _count_values(src, window, geometry)
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
    with _open_map(path) as src:
        pixel_m2 = _pixel_area_m2(src)
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
    with _open_change_map(path) as src:
        pixel_m2 = _pixel_area_m2(src)
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
    with _open_change_map(path) as src:
        return _change_areas(_count_values(src), _pixel_area_m2(src))


def _change_areas(counts, pixel_m2):
    return {**{name: _areas(counts[code], pixel_m2) for code, name in CHANGE_CLASSES.items()},
            "nodata": _areas(counts[MAP_NODATA], pixel_m2)}


def _polygons(src, value, min_area_m2=0.0):
    """Polygons (map CRS) of the pixels where band 1 (:func:`_read_map`) equals ``value``, and their areas in m2.

    The map is read in blocks; pieces that meet across block edges are
    merged, so memory follows the polygons, not the raster. Polygons smaller
    than ``min_area_m2`` are dropped.
    """
    shapely = require("shapely", "scale")
    shape = require("shapely.geometry", "scale").shape

    unit_m2 = _unit_m2(src)
    pieces = []
    for core, _ in scene_windows(src.height, src.width, _BLOCK, 0):
        selected = (_read_map(src, core) == value).astype(np.uint8)
        pieces += [shape(geometry) for geometry, _ in
                   rasterio.features.shapes(selected, mask=selected.astype(bool), transform=src.window_transform(core))]
    merged = shapely.unary_union(pieces) if pieces else None
    polygons = [] if merged is None else list(getattr(merged, "geoms", [merged]))
    polygons = [p for p in polygons if p.area * unit_m2 >= min_area_m2]
    return polygons, np.array([p.area * unit_m2 for p in polygons], dtype=float)


def mined_polygons(path, dst, min_area_m2=0.0):
    """Write the mined areas of a mask map as polygons (GeoJSON for .geojson / .json, else GeoPackage).

    Each polygon carries ``area_m2`` and ``area_ha``, measured in the map's
    CRS. A GeoPackage keeps the map's CRS; GeoJSON is written in WGS 84
    (lon, lat) as RFC 7946 requires, reprojected by GDAL. The map is read in
    blocks; pieces that meet across block edges are merged, so memory follows
    the polygons, not the raster.

    Returns
    -------
    int
        Number of polygons written.

    Raises
    ------
    ValueError
        For a file that is not a mask map (see module docstring), an
        unprojected map, ``dst`` being the map itself or an extension
        other than .gpkg, .geojson, .json.
    """
    driver = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}.get(Path(dst).suffix.lower())
    if driver is None:
        raise ValueError(f"{dst}: polygons are written as GeoPackage (.gpkg) or GeoJSON (.geojson, .json), not "
                         f"{Path(dst).suffix or 'a file without extension'}")
    write = require("pyogrio.raw", "scale").write
    shapely = require("shapely", "scale")

    with _open_map(path) as src:
        check_output_not_input(dst, *src.files)
        crs = src.crs.to_wkt()
        polygons, area = _polygons(src, 1, min_area_m2)
    with atomic_path(dst) as tmp:
        write(tmp, geometry=shapely.to_wkb(polygons).astype(object) if polygons else np.array([], dtype=object),
              field_data=[np.arange(1, len(polygons) + 1), area, area / 1e4], fields=["id", "area_m2", "area_ha"],
              crs=crs, driver=driver, geometry_type="Polygon", layer="mined_areas",
              layer_options={"RFC7946": "YES"} if driver == "GeoJSON" else None)
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
        Class name -> areas (pixels, m2, ha, km2), and ``nodata``: the same
        for the pixels that are nodata in either map, where change is unknown.

    Raises
    ------
    ValueError
        For a file that is not a mask map (see module docstring), maps on
        different grids, or ``dst`` being one of the inputs.
    """
    counts = np.zeros(len(CHANGE_CLASSES) + 1, np.int64)  # the classes, then nodata
    with _open_map(old) as before, _open_map(new) as after:
        check_output_not_input(dst, *before.files, *after.files)
        _check_same_grid(before, after)
        pixel_m2 = _pixel_area_m2(before)
        # Scratch: the uint8 map, and at most as much again for its COG copy.
        with cog_output(dst, size=2 * before.width * before.height) as (_, tmp), \
                rasterio.open(tmp, "w", **map_profile(before, 1)) as out:
            for _, window in before.block_windows(1):
                a, b = _read_map(before, window), _read_map(after, window)
                classes = np.select([(a == 0) & (b == 1), (a == 1) & (b == 1), (a == 1) & (b == 0), (a == 0) & (b == 0)],
                                    [1, 2, 3, 0], MAP_NODATA).astype(np.uint8)
                counts += np.bincount(np.minimum(classes, len(CHANGE_CLASSES)).ravel(), minlength=len(counts))
                out.write(classes, 1, window=window)
            out.set_band_description(1, _CHANGE_DESCRIPTION)
    return {**{name: _areas(counts[code], pixel_m2) for code, name in CHANGE_CLASSES.items()},
            "nodata": _areas(counts[-1], pixel_m2)}
