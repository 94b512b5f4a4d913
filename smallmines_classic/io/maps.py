"""Mask and change maps: one reader, which opens, checks and reads them block by block, for every reader of maps.

A mask map is what ``smallmines predict`` writes: band 1 uint8, 0
background, 1 mining, 255 nodata (declared as the nodata value, or no nodata
declared and no 255 pixels, as in the dataset's MASK files); an optional
band 2 (the probability) is ignored. A change map
(:func:`smallmines_classic.change_map`) has the classes of
:data:`CHANGE_CLASSES`, told by its band description. Another declared
nodata value is honoured, unless it is one of the map's classes (then no
data could not be told from that class). Any other file given as a map is
refused with a :class:`~smallmines_classic.errors.SceneError` that names it
and what is wrong: one check, :func:`check_map` and :func:`read_map`, serves
area, change, polygons, the sample design, the assessment and the alerts.
"""

import contextlib
import warnings

import numpy as np
import rasterio
import rasterio.features
from rasterio.windows import Window

from .._backend import require
from ..errors import SceneError
from .raster import MAP_NODATA, OBS_DESCRIPTION, scene_windows

__all__ = ["CHANGE_CLASSES", "CHANGE_DESCRIPTION", "MAP_BLOCK", "is_change_map", "n_map_classes", "check_map",
           "open_map", "open_change_map", "read_map", "map_blocks", "count_values", "unit_m2", "pixel_area_m2",
           "map_polygons"]

CHANGE_CLASSES = {0: "never mined", 1: "new", 2: "persistent", 3: "no longer mined"}
"""Classes of a change map (band 1); 255 is nodata."""
#: Band 1 description of a change map, which tells it apart from a mask map.
CHANGE_DESCRIPTION = ", ".join(f"{code} {name}" for code, name in CHANGE_CLASSES.items())
#: Side in pixels of the blocks a map is read in (:func:`map_blocks`): 16 MB of uint8.
MAP_BLOCK = 4096
_MASK_MAP = f"band 1 uint8: 0 background, 1 mining, {MAP_NODATA} nodata, as `smallmines predict` writes"
_CHANGE_MAP = f"band 1 uint8: {CHANGE_DESCRIPTION}, {MAP_NODATA} nodata, as `smallmines change` writes"


def is_change_map(src):
    """Whether an open map is a change map (by the band description ``change_map`` writes)."""
    return src.count > 0 and src.descriptions[0] == CHANGE_DESCRIPTION


def n_map_classes(src):
    """Classes of an open map: 4 for a change map, 2 (background, mining) for a mask map."""
    return len(CHANGE_CLASSES) if is_change_map(src) else 2


def check_map(src, change=False):
    """Refuse an open raster that cannot be a mask map (or, with ``change``, a change map) by its header.

    Raises
    ------
    SceneError
        Naming the file and what is wrong: no raster band, a change map
        where a mask map is wanted, a composite's observation count, more
        than two bands or not uint8, a nodata value that is one of the classes.
    """
    wanted = f"a mask map ({_MASK_MAP}) or a change map ({_CHANGE_MAP})" if change else f"a mask map ({_MASK_MAP})"
    if src.count == 0:
        raise SceneError(f"{src.name} is not {wanted}: it holds no raster band"
                         + (f" (it has {len(src.subdatasets)} subdatasets)" if src.subdatasets else ""))
    if is_change_map(src) and not change:
        raise SceneError(f"{src.name} is a change map ({CHANGE_DESCRIPTION}), not a mask map ({_MASK_MAP}); "
                         "`smallmines change` reports the area of each class")
    if src.descriptions[0] == OBS_DESCRIPTION:
        raise SceneError(f"{src.name} is not {wanted}: it is the count of valid observations beside a composite; "
                         "map the composite itself with `smallmines predict`")
    if src.count > 2 or src.dtypes[0] != "uint8":
        raise SceneError(f"{src.name} is not {wanted}: it has {src.count} band(s) of {src.dtypes[0]}")
    classes = n_map_classes(src)
    if src.nodata is not None and not (src.nodata == int(src.nodata) and classes <= src.nodata <= 255):
        raise SceneError(f"{src.name} is not {wanted}: its nodata value is {src.nodata}, which "
                         + (f"is one of its classes 0..{classes - 1}, so no data could not be told from that class"
                            if 0 <= src.nodata < classes else "no uint8 pixel can hold"))


@contextlib.contextmanager
def open_map(path, change=False):
    """Open a mask map (or, with ``change``, a mask or change map), refusing any other file (:func:`check_map`).

    Yields an open rasterio dataset, closed when the block ends.

    Raises
    ------
    SceneError
        A file GDAL cannot read, or one that is not such a map.
    """
    try:
        with warnings.catch_warnings():  # its checks below say what is wrong with a file that is no map
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except rasterio.errors.RasterioError as error:
        raise SceneError(f"cannot read map {path}: {error}") from None
    with src:
        check_map(src, change)
        yield src


@contextlib.contextmanager
def open_change_map(path):
    """Open a change map (:func:`smallmines_classic.change_map`), refusing any other file, a mask map among them."""
    with open_map(path, change=True) as src:
        if not is_change_map(src):
            raise SceneError(f"{path} is not a change map ({_CHANGE_MAP}): it is a mask map")
        yield src


def read_map(src, window):
    """Band 1 of an open map in ``window``, refusing values that are neither its classes nor its nodata.

    The declared nodata value, whatever it is, comes back as 255 (:data:`MAP_NODATA`).
    """
    block = src.read(1, window=window)
    classes, nodata = n_map_classes(src), src.nodata
    bad = (block >= classes) if nodata is None else (block >= classes) & (block != nodata)
    if bad.any():
        found = np.unique(block[bad])[:10].tolist()
        what = _CHANGE_MAP if classes > 2 else _MASK_MAP
        hint = " (a change map's classes?)" if classes == 2 and set(found) <= set(CHANGE_CLASSES) else ""
        raise SceneError(f"{src.name} is not a {'change' if classes > 2 else 'mask'} map ({what}): band 1 holds "
                         f"value(s) {found}{hint}{'' if nodata is not None else ' and declares no nodata'}")
    if nodata is not None and nodata != MAP_NODATA:
        block[block == nodata] = MAP_NODATA
    return block


def map_blocks(src, window=None):
    """Yield ``(block, values)``: each :data:`MAP_BLOCK`-pixel block of ``window`` (default: the whole map), row by row,
    and its band 1 as :func:`read_map` reads it. Memory is one block, whatever the map."""
    window = window or Window(0, 0, src.width, src.height)
    for core, _ in scene_windows(window.height, window.width, MAP_BLOCK, 0):
        block = Window(window.col_off + core.col_off, window.row_off + core.row_off, core.width, core.height)
        yield block, read_map(src, block)


def count_values(src, window=None, geometry=None):
    """Pixels of each value (0..255) of band 1 in ``window`` (default: all) and ``geometry`` (map CRS), by blocks."""
    counts = np.zeros(256, np.int64)
    for block, values in map_blocks(src, window):
        if geometry is not None:
            values = values[rasterio.features.geometry_mask([geometry], values.shape, src.window_transform(block),
                                                            invert=True)]
        counts += np.bincount(values.ravel(), minlength=256)
    return counts


def unit_m2(src):
    """Square metres in one square CRS unit; refuses unprojected maps, where areas need reprojecting first."""
    if not src.crs or not src.crs.is_projected:
        raise SceneError(f"{src.name} has CRS {src.crs}: areas need a projected CRS in metres (reproject it, "
                         "e.g. to UTM)")
    return src.crs.linear_units_factor[1] ** 2


def pixel_area_m2(src):
    """Square metres of one pixel of an open map in a projected CRS (:func:`unit_m2`)."""
    return abs(src.transform.a * src.transform.e - src.transform.b * src.transform.d) * unit_m2(src)


def map_polygons(src, value, min_area_m2=0.0):
    """Polygons (map CRS) of the pixels where band 1 (:func:`read_map`) equals ``value``, and their areas in m2.

    The map is read in blocks; pieces that meet across block edges are
    merged, so memory follows the polygons, not the raster. Polygons smaller
    than ``min_area_m2`` are dropped. Needs the ``scale`` extra (shapely).

    Returns
    -------
    polygons : list of shapely.Polygon
    areas : ndarray of float
    """
    shapely = require("shapely", "scale")
    shape = require("shapely.geometry", "scale").shape

    unit = unit_m2(src)
    pieces = []
    for block, values in map_blocks(src):
        selected = (values == value).astype(np.uint8)
        pieces += [shape(geometry) for geometry, _ in rasterio.features.shapes(
            selected, mask=selected.astype(bool), transform=src.window_transform(block))]
    merged = shapely.unary_union(pieces) if pieces else None
    polygons = [] if merged is None else list(getattr(merged, "geoms", [merged]))
    polygons = [p for p in polygons if p.area * unit >= min_area_m2]
    return polygons, np.array([p.area * unit for p in polygons], dtype=float)
