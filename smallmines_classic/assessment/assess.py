"""A map and its labelled sample -> accuracy and error-adjusted area (strata = map classes)."""

import json

import numpy as np
import rasterio
import rasterio.transform
import rasterio.warp

from .._atomic import atomic_path
from ..mapping.analysis import _CHANGE_DESCRIPTION, CHANGE_CLASSES, _pixel_area_m2
from .ceo import is_ceo_export, read_ceo_answers
from .design import map_class_counts
from .estimators import estimate_area
from .labels import point_ids, unsure_rows, warn_non_response
from .points import point_labels, read_points

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
        raise ValueError(f"{source}: columns lon and lat must hold numbers (WGS 84 degrees)") from None
    x, y = rasterio.warp.transform("EPSG:4326", src.crs, lon, lat)
    rows, cols = (np.asarray(v) for v in rasterio.transform.rowcol(src.transform, x, y))
    off = np.flatnonzero((rows < 0) | (rows >= src.height) | (cols < 0) | (cols >= src.width))
    if off.size:
        raise ValueError(f"{source}: {off.size} point(s) lie outside {src.name} (first: plot "
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
        ``CHANGE_CLASSES``), in a projected CRS.
    points_path : str or Path
        The sample points (CSV, GeoPackage, GeoJSON) with their map class and
        the reference class a labeller gave each. Where they have ``x`` and
        ``y`` (map CRS), the map class must be the map's value there. Points
        answered unsure (empty reference, ``confidence`` ``unsure``, as
        ``smallmines label`` writes them) are left out of the estimate with a
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
        points not counted), ``mapped_pixels``, ``pixel_area_m2``,
        ``estimate`` (:class:`AreaEstimate`, areas in m2) and ``unsure``
        (``count``, ``ids`` and ``per_map_class`` of the points left out).
    """
    with rasterio.open(map_path) as src:
        pixel_m2 = _pixel_area_m2(src)
        change = src.descriptions[0] == _CHANGE_DESCRIPTION
        pixels = map_class_counts(src, 4 if change else None)
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
        if "x" in points and "y" in points:  # a sample drawn on another map would silently give wrong strata
            xy = zip(np.asarray(points["x"], float), np.asarray(points["y"], float))
            found = np.array([value[0] for value in src.sample(xy, indexes=1)])
            wrong = np.flatnonzero(found != mapped)
            if wrong.size:
                raise ValueError(f"{points_path}: {wrong.size} point(s) have a {map_column!r} other than {map_path}'s class "
                                 f"at their x, y (first at row {wrong[0] + 1}: {mapped[wrong[0]]} vs {found[wrong[0]]}); "
                                 "was the sample drawn from another map?")
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (mapped[~unsure], reference[~unsure]), 1)
    ids = point_ids(points)[unsure].tolist()
    if ids:
        warn_non_response(points_path, ids, len(unsure))
    return {"classes": names, "counts": counts, "mapped_pixels": pixels, "pixel_area_m2": pixel_m2,
            "estimate": estimate_area(counts, pixels * pixel_m2, confidence),
            "unsure": {"count": len(ids), "ids": ids,
                       "per_map_class": np.bincount(mapped[unsure], minlength=k).tolist()}}


def write_json(path, payload):
    """Write a JSON report atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return path
