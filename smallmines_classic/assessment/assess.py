"""A map and its labelled sample -> accuracy and error-adjusted area (strata = map classes)."""

import json

import numpy as np
import rasterio.transform

from .._atomic import atomic_path
from ..mapping.analysis import CHANGE_CLASSES, _open_map, _pixel_area_m2
from .design import map_class_counts
from .estimators import estimate_area
from .points import point_coordinates, point_labels, read_points, unique_points

__all__ = ["assess_map", "write_json"]


def _class_names(k):
    """Names of a map's classes: the change classes for a change map, else not mined / mined."""
    if k > 2:
        return [CHANGE_CLASSES.get(i, str(i)) for i in range(k)]
    return ["not mined", "mined"]


def assess_map(map_path, points_path, reference_column="reference", map_column="map_class", confidence=0.95):
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
        ``y`` (map CRS), each must lie on the map and its map class must be
        the map's value there. A point given twice (same ``id``, or same
        ``x``, ``y``) counts once, with a warning; two rows of one point
        that differ (another label) are refused.
    reference_column, map_column : str
    confidence : float

    Returns
    -------
    dict
        ``classes`` (names), ``counts`` (k x k sample counts, rows map),
        ``mapped_pixels``, ``pixel_area_m2`` and ``estimate``
        (:class:`AreaEstimate`, areas in m2).

    Raises
    ------
    ValueError
        Naming the file (and the row, for a point): a file that is not a
        mask or change map; a label that is blank, not a whole class number
        (0.9, inf) or out of range; a coordinate that is blank or not
        finite; a point off the map or on another class than its map class.
    """
    with _open_map(map_path, change=True) as src:
        pixel_m2 = _pixel_area_m2(src)
        pixels = map_class_counts(src)
        names = _class_names(len(pixels))
        k = len(pixels)
        points = read_points(points_path)
        mapped = point_labels(points, map_column, points_path, k)
        reference = point_labels(points, reference_column, points_path, k)
        xy = point_coordinates(points, points_path)
        columns = {**({"id": points["id"]} if "id" in points else {}), **dict(zip("xy", xy or ())),
                   map_column: mapped, reference_column: reference}
        rows = unique_points(columns, points_path)
        mapped, reference = mapped[rows], reference[rows]
        if xy is not None:  # a sample drawn on another map would silently give wrong strata
            _check_map_classes(src, xy[0][rows], xy[1][rows], mapped, rows, map_column, points_path, map_path)
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (mapped, reference), 1)
    return {"classes": names, "counts": counts, "mapped_pixels": pixels, "pixel_area_m2": pixel_m2,
            "estimate": estimate_area(counts, pixels * pixel_m2, confidence)}


def _check_map_classes(src, x, y, mapped, rows, map_column, points_path, map_path):
    """Refuse points off the map, or whose map class is not the map's value at their x, y (``rows``: their row indices)."""
    row, col = (np.asarray(v) for v in rasterio.transform.rowcol(src.transform, x, y))
    outside = np.flatnonzero((row < 0) | (row >= src.height) | (col < 0) | (col >= src.width))
    if outside.size:
        first = outside[0]
        raise ValueError(f"{points_path}: {outside.size} point(s) lie outside {map_path} (first at row {rows[first] + 1}: "
                         f"x, y = {x[first]}, {y[first]}); was the sample drawn from another map?")
    found = np.array([value[0] for value in src.sample(zip(x, y), indexes=1)])
    wrong = np.flatnonzero(found != mapped)
    if wrong.size:
        first = wrong[0]
        raise ValueError(f"{points_path}: {wrong.size} point(s) have a {map_column!r} other than {map_path}'s class "
                         f"at their x, y (first at row {rows[first] + 1}: {mapped[first]} vs {found[first]}); "
                         "was the sample drawn from another map?")


def write_json(path, payload):
    """Write a JSON report atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return path
