"""A map and its labelled sample -> accuracy and error-adjusted area (strata = map classes)."""

import json

import numpy as np
import rasterio.transform
import rasterio.warp

from .._writes import atomic_path
from ..errors import PointsError
from ..io.maps import CHANGE_CLASSES, open_map
from .ceo import is_ceo_export, read_ceo_answers
from .design import map_class_areas
from .estimators import estimate_area
from .labels import point_ids, unsure_rows, warn_non_response
from .points import point_coordinates, point_labels, read_points, unique_points

__all__ = ["assess_map", "write_json"]


def _class_names(k):
    """Names of a map's classes: the change classes for a change map, else not mined / mined."""
    if k > 2:
        return [CHANGE_CLASSES.get(i, str(i)) for i in range(k)]
    return ["not mined", "mined"]


def _classes_at_lon_lat(src, points, source):
    """The map's class under each WGS 84 point (a CEO export carries no map class: the map says it)."""
    try:
        lon, lat = np.asarray(points["lon"], float), np.asarray(points["lat"], float)
    except ValueError:
        raise PointsError(f"{source}: columns lon and lat must hold numbers (WGS 84 degrees)") from None
    x, y = rasterio.warp.transform("EPSG:4326", src.crs, lon, lat)
    rows, cols = (np.asarray(v) for v in rasterio.transform.rowcol(src.transform, x, y))
    off = np.flatnonzero((rows < 0) | (rows >= src.height) | (cols < 0) | (cols >= src.width))
    if off.size:
        raise PointsError(f"{source}: {off.size} point(s) lie outside {src.name} (first: plot "
                          f"{point_ids(points)[off[0]]}); was the sample drawn from this map?")
    return np.array([value[0] for value in src.sample(zip(x, y), indexes=1)]).astype(str)


def assess_map(map_path, points_path, reference_column="reference", map_column="map_class", confidence=0.95, *,
               ceo_question=None, ceo_answers=None):
    """Accuracy and error-adjusted area of a map from its labelled sample points (strata = map classes).

    Parameters
    ----------
    map_path : str or Path
        The map the sample was drawn from (:func:`stratified_sample`): a
        mining mask (classes 0, 1) or a change map (0..3, see
        ``CHANGE_CLASSES``), in a projected CRS or in degrees (its pixels'
        areas on the ellipsoid).
    points_path : str or Path
        The sample points (CSV, GeoPackage, GeoJSON) with their map class and
        the reference class a labeller gave each. Where they have ``x`` and
        ``y`` (map CRS), each must lie on the map and its map class must be
        the map's value there. A point given twice (same ``id``, or same
        ``x``, ``y``) counts once, with a warning; two rows of one point
        that differ (another label) are refused. Points answered unsure
        (empty reference, ``confidence`` ``unsure``, as ``smallmines label``
        writes them) are left out of the estimate with a
        :class:`NonResponseWarning` and reported. A sample data download of
        Collect Earth Online is read as it is: its answers come from the
        question column, each point's map class from the map at its lon / lat,
        and flagged plots count as unsure.
    reference_column, map_column : str
    confidence : float
    ceo_question : str or None
        For a CEO export: the question column (default: the only one).
    ceo_answers : dict or None
        For a CEO export: answer text -> class or ``"unsure"`` (default
        :data:`DEFAULT_CEO_ANSWERS`: Mining 1, Not mining 0, Unsure).

    Returns
    -------
    dict
        ``classes`` (names), ``counts`` (k x k sample counts, rows map; unsure
        points not counted), ``mapped_pixels``, ``mapped_area_m2`` (of each
        map class: the sum of its pixels' areas), ``estimate``
        (:class:`AreaEstimate`, areas in m2) and ``unsure``
        (``count``, ``ids`` and ``per_map_class`` of the points left out).

    Raises
    ------
    SceneError
        A file that is not a mask or change map, or one whose pixels cannot be measured (no CRS, say).
    PointsError
        Naming the file (and the row, for a point): a label that is blank
        (and not unsure), not a whole class number (0.9, inf) or out of
        range; a coordinate that is blank or not finite; a point off the map
        or on another class than its map class.
    """
    with open_map(map_path, change=True) as src:
        pixels, mapped_m2 = map_class_areas(src)
        names = _class_names(len(pixels))
        k = len(pixels)
        points = read_points(points_path)
        if is_ceo_export(points):
            points, reference_column = read_ceo_answers(points, points_path, ceo_question, ceo_answers)
            points[map_column] = _classes_at_lon_lat(src, points, points_path)
        unsure = unsure_rows(points, reference_column)
        mapped = point_labels(points, map_column, points_path, k)
        if unsure.any():  # a stand-in class, left out of the counts below, so that messages keep the file's row numbers
            given = np.asarray(points[reference_column], dtype=object)
            points = {**points, reference_column: np.where(unsure, "0", given)}
        reference = point_labels(points, reference_column, points_path, k)
        xy = point_coordinates(points, points_path)
        ids = point_ids(points)
        columns = {**({"id": points["id"]} if "id" in points else {}), **dict(zip("xy", xy or ())),
                   map_column: mapped, reference_column: np.where(unsure, -1, reference)}
        rows = unique_points(columns, points_path)
        mapped, reference, unsure, ids = mapped[rows], reference[rows], unsure[rows], ids[rows]
        if xy is not None:  # a sample drawn on another map would silently give wrong strata
            _check_map_classes(src, xy[0][rows], xy[1][rows], mapped, rows, map_column, points_path, map_path)
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (mapped[~unsure], reference[~unsure]), 1)
    ids = ids[unsure].tolist()
    if ids:
        warn_non_response(points_path, ids, len(unsure))
    return {"classes": names, "counts": counts, "mapped_pixels": pixels, "mapped_area_m2": mapped_m2,
            "estimate": estimate_area(counts, mapped_m2, confidence),
            "unsure": {"count": len(ids), "ids": ids,
                       "per_map_class": np.bincount(mapped[unsure], minlength=k).tolist()}}


def _check_map_classes(src, x, y, mapped, rows, map_column, points_path, map_path):
    """Refuse points off the map, or whose map class is not the map's value at their x, y (``rows``: their rows)."""
    row, col = (np.asarray(v) for v in rasterio.transform.rowcol(src.transform, x, y))
    outside = np.flatnonzero((row < 0) | (row >= src.height) | (col < 0) | (col >= src.width))
    if outside.size:
        first = outside[0]
        raise PointsError(f"{points_path}: {outside.size} point(s) lie outside {map_path} (first at row "
                          f"{rows[first] + 1}: x, y = {x[first]}, {y[first]}); was the sample drawn from another map?")
    found = np.array([value[0] for value in src.sample(zip(x, y), indexes=1)])
    wrong = np.flatnonzero(found != mapped)
    if wrong.size:
        first = wrong[0]
        raise PointsError(f"{points_path}: {wrong.size} point(s) have a {map_column!r} other than {map_path}'s class "
                          f"at their x, y (first at row {rows[first] + 1}: {mapped[first]} vs {found[first]}); "
                          "was the sample drawn from another map?")


def write_json(path, payload):
    """Write a JSON report atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return path
