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

Areas come from one place too, :func:`row_areas_m2`: the square metres of a
pixel in each row of a map, the same in every row of a projected map and
ellipsoidal, shrinking away from the equator, in a geographic one (degrees of
latitude and longitude, as Earth Engine exports). A mapped area is the sum of
its pixels' areas (:func:`measure_values`, :class:`ValueTally`).
"""

import contextlib
import math
import warnings

import numpy as np
import rasterio
import rasterio.features
from rasterio.windows import Window

from .._backend import require
from ..errors import SceneError
from .raster import MAP_NODATA, OBS_DESCRIPTION, scene_windows

__all__ = ["CHANGE_CLASSES", "CHANGE_DESCRIPTION", "MAP_BLOCK", "is_change_map", "n_map_classes", "check_map",
           "open_map", "open_change_map", "read_map", "map_blocks", "count_values", "row_areas_m2", "ValueTally",
           "measure_values", "map_polygons"]

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


class ValueTally:
    """Pixels and, given the pixel areas of the map's rows, square metres of each value (0..255), added block by block.

    The areas do not depend on the blocks: each value's pixels are counted
    row by row (whole numbers, a few per row of the map), and only then
    multiplied by the rows' pixel areas.

    Parameters
    ----------
    row_m2 : ndarray or None
        :func:`row_areas_m2` of the map; None counts pixels only.

    Attributes
    ----------
    pixels : ndarray of int64, shape (256,)
    """

    def __init__(self, row_m2=None):
        self.pixels = np.zeros(256, np.int64)
        # One area for every pixel (a projected map): areas are the counts times it, as exact as one product.
        self._pixel_m2 = row_m2[0] if row_m2 is not None and (row_m2 == row_m2[0]).all() else None
        self._row_m2 = None if self._pixel_m2 is not None else row_m2
        self._row_pixels = {}  # value -> its pixels in each row of the map

    def add(self, row_off, values, inside=None):
        """Add a block of band 1 whose first row is the map's row ``row_off``; only pixels ``inside`` (default all)."""
        counts = np.bincount((values if inside is None else values[inside]).ravel(), minlength=256)
        self.pixels += counts
        if self._row_m2 is not None:
            for value in np.flatnonzero(counts).tolist():
                hit = values == value if inside is None else (values == value) & inside
                rows = self._row_pixels.setdefault(value, np.zeros(len(self._row_m2), np.int64))
                rows[row_off:row_off + values.shape[0]] += hit.sum(axis=1)

    @property
    def m2(self):
        """Square metres of each value (0..255), an ndarray of float (needs ``row_m2``)."""
        if self._pixel_m2 is not None:
            return self.pixels * self._pixel_m2
        if self._row_m2 is None:
            raise TypeError("this tally counts pixels only: give it row_m2 for areas")
        m2 = np.zeros(256)
        for value, rows in self._row_pixels.items():
            m2[value] = rows @ self._row_m2
        return m2


def _tally(src, window, geometry, row_m2):
    tally = ValueTally(row_m2)
    for block, values in map_blocks(src, window):
        inside = None if geometry is None else rasterio.features.geometry_mask(
            [geometry], values.shape, src.window_transform(block), invert=True)
        tally.add(block.row_off, values, inside)
    return tally


def count_values(src, window=None, geometry=None):
    """Pixels of each value (0..255) of band 1 in ``window`` (default: all) and ``geometry`` (map CRS), by blocks."""
    return _tally(src, window, geometry, None).pixels


def measure_values(src, window=None, geometry=None, row_m2=None):
    """Pixels and square metres of each value (0..255) of band 1 in ``window`` and ``geometry`` (map CRS), by blocks.

    A pixel counts when its centre lies inside ``geometry``; its area is that
    of its row (``row_m2``, default :func:`row_areas_m2`: pass it when
    measuring one map many times). Returns two arrays of 256: pixels (int64)
    and m2 (float).
    """
    tally = _tally(src, window, geometry, row_areas_m2(src) if row_m2 is None else row_m2)
    return tally.pixels, tally.m2


def _metres_per_unit(src):
    """Metres in one unit of an open map's projected CRS."""
    try:
        return src.crs.linear_units_factor[1]
    except rasterio.errors.CRSError as error:
        raise SceneError(f"{src.name} has CRS {src.crs}, whose unit of length is unknown ({error}): areas need it "
                         "(reproject the map, e.g. to UTM)") from None


def _degrees_per_unit(src):
    """Degrees in one unit of an open map's geographic CRS (1 but for grads and the like)."""
    name, radians = src.crs.units_factor
    return 1.0 if name in ("degree", "degrees") else math.degrees(radians)


def _geod(src):
    """pyproj's Geod on the ellipsoid of an open map's geographic CRS."""
    from pyproj import CRS  # only for maps in degrees: imports stay light

    geod = CRS.from_wkt(src.crs.to_wkt()).get_geod()
    if geod is None:
        raise SceneError(f"{src.name} has CRS {src.crs}, which names no ellipsoid: its pixels' areas are unknown")
    return geod


def row_areas_m2(src):
    """Square metres of one pixel in each row of an open map: an ndarray of ``src.height`` floats.

    Every pixel of a row has the same area. In a projected CRS so has every
    row: the pixel's area in the plane of the projection, the CRS unit
    converted to metres (feet, say). In a geographic CRS (degrees, such as
    EPSG:4326) a pixel is the cell between two meridians and two parallels;
    its area on the CRS's ellipsoid is the geodesic area of pyproj's ``Geod``
    (Karney 2013), which shrinks with the cosine of the latitude.

    Raises
    ------
    SceneError
        For a map whose pixels cannot be measured, naming it and why: no CRS,
        a projected CRS of unknown unit, a geographic grid that is rotated or
        reaches beyond a pole, a CRS neither projected nor geographic.
    """
    crs, t = src.crs, src.transform
    if not crs:
        raise SceneError(f"{src.name} has no CRS: the area of its pixels is unknown (declare the CRS it was made in, "
                         "e.g. gdal_edit.py -a_srs EPSG:32630)")
    if crs.is_projected:
        return np.full(src.height, abs(t.a * t.e - t.b * t.d) * _metres_per_unit(src) ** 2)
    if not crs.is_geographic:
        raise SceneError(f"{src.name} has CRS {crs}, neither projected nor geographic: the area of its pixels is "
                         "unknown (reproject it, e.g. to UTM)")
    if t.b or t.d:
        raise SceneError(f"{src.name} is in degrees on a rotated grid: warp it onto a north-up grid (gdalwarp) first")
    degrees = _degrees_per_unit(src)
    edges = (t.f + np.arange(src.height + 1) * t.e) * degrees  # latitudes of the rows' top and bottom edges
    if np.abs(edges).max() > 90 + 1e-9:
        raise SceneError(f"{src.name} reaches latitude {edges[np.abs(edges).argmax()]:.6f}, beyond a pole: it is "
                         "not a map in degrees of latitude and longitude")
    edges, width, geod = np.clip(edges, -90, 90), abs(t.a) * degrees, _geod(src)
    return np.array([abs(geod.polygon_area_perimeter([0, width, width, 0], [top, top, bottom, bottom])[0])
                     for top, bottom in zip(edges[:-1].tolist(), edges[1:].tolist())])


def map_polygons(src, value, min_area_m2=0.0):
    """Polygons (map CRS) of the pixels where band 1 (:func:`read_map`) equals ``value``, and their areas in m2.

    The map is read in blocks; pieces that meet across block edges are
    merged, so memory follows the polygons, not the raster. Areas are
    measured in the plane of a projected CRS, and on the ellipsoid for a
    geographic one (pyproj's ``Geod``, with vertices every pixel along each
    edge, so that the geodesics follow the pixels' parallels). Polygons
    smaller than ``min_area_m2`` are dropped. Needs the ``scale`` extra (shapely).

    Returns
    -------
    polygons : list of shapely.Polygon
    areas : ndarray of float
    """
    shapely = require("shapely", "maps")
    shape = require("shapely.geometry", "maps").shape

    row_areas_m2(src)  # refuse a map whose pixels cannot be measured before reading it
    pieces = []
    for block, values in map_blocks(src):
        selected = (values == value).astype(np.uint8)
        pieces += [shape(geometry) for geometry, _ in rasterio.features.shapes(
            selected, mask=selected.astype(bool), transform=src.window_transform(block))]
    merged = shapely.unary_union(pieces) if pieces else None
    polygons = [] if merged is None else list(getattr(merged, "geoms", [merged]))
    areas = np.array(_polygon_m2(src, polygons), dtype=float)
    keep = areas >= min_area_m2
    return [p for p, kept in zip(polygons, keep) if kept], areas[keep]


def _polygon_m2(src, polygons):
    """Square metres of each polygon (map CRS) of an open map: planar for a projected CRS, geodesic for degrees."""
    if src.crs.is_projected:
        unit = _metres_per_unit(src) ** 2
        return [p.area * unit for p in polygons]
    shapely = require("shapely", "maps")
    orient = require("shapely.geometry.polygon", "maps").orient
    geod, degrees, step = _geod(src), _degrees_per_unit(src), abs(src.transform.a)
    return [geod.geometry_area_perimeter(orient(shapely.transform(shapely.segmentize(p, step), lambda xy: xy * degrees),
                                                1.0))[0] for p in polygons]
