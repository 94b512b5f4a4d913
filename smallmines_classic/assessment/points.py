"""Sample point files: written for labelling (CSV, GeoJSON, GeoPackage, Shapefile), read back with their labels.

Rows are counted from 1, the first point (line 2 of a CSV file, below its header).
"""

import warnings

import numpy as np

from ..errors import PointsError
from ..io.vectors import read_vector, vector_format, write_vector

__all__ = ["write_points", "read_points", "point_format", "point_labels", "point_coordinates", "unique_points",
           "cell_text"]


def point_format(path):
    """The format of a point file to write, by its suffix (:func:`~smallmines_classic.io.vectors.vector_format`).

    Raises
    ------
    OutputError
        A suffix of no vector format.
    """
    return vector_format(path, "points")


def write_points(points, path, crs):
    """Write sample points in the format of the suffix of ``path``, atomically.

    Every column of ``points`` becomes a field; ``x``, ``y`` (in ``crs``)
    place each point: GeoPackage (``.gpkg``) and Shapefile (``.shp``) in
    ``crs``, GeoJSON (``.geojson`` / ``.json``) in WGS 84 as RFC 7946 requires
    (coordinates with 7 decimals, about 1 cm; the ``lon``, ``lat`` fields keep
    every digit), CSV (``.csv``) the columns alone. All but CSV need the
    ``scale`` extra (pyogrio, shapely). See :mod:`smallmines_classic.io.vectors`.
    """
    write_vector(path, points, crs=crs, xy=("x", "y"), geometry_type="Point", layer="sample_points", what="points")
    return str(path)


def read_points(path):
    """Columns of a point file (CSV, GeoPackage, GeoJSON, ...) as a dict of arrays (CSV values stay strings).

    Raises
    ------
    PointsError
        A file that cannot be read; for CSV, one that is not UTF-8 text, has
        no points, repeats a column or has a row whose fields do not match the
        header (naming the line).
    """
    return read_vector(path, geometry=False, what="points", error=PointsError).fields


def cell_text(value):
    """A table cell as text; a null (None, or NaN in a number field) is empty."""
    return "" if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)) else str(value)


def _numbers(points, name, source, what):
    """One column as floats (NaN and inf kept, for the caller to judge) and as text; a blank or a word is refused."""
    if name not in points:
        raise PointsError(f"{source} has no column {name!r}; it has {list(points)}")
    # A value left empty reads as "" (CSV), None (a null string field) or NaN (a null number field).
    values = [cell_text(v).strip() for v in points[name]]
    blank = [row for row, value in enumerate(values, 1) if value == ""]
    if blank:
        raise PointsError(f"{source}: {len(blank)} point(s) have no {name!r} {what} (first at row {blank[0]})")
    numbers = np.empty(len(values))
    for row, value in enumerate(values, 1):
        try:
            numbers[row - 1] = float(value)
        except ValueError:
            raise PointsError(f"{source}: column {name!r} has {value!r} at row {row}, which is not a number") from None
    return numbers, values


def _first_bad(bad, values, name, source):
    """The message part that names the first of the ``bad`` rows and counts the others."""
    more = f", and {bad.size - 1} more point(s)" if bad.size > 1 else ""
    return f"{source}: column {name!r} has {values[bad[0]]} at row {bad[0] + 1}{more}"


def point_labels(points, name, source, n_classes):
    """One column of a point table as integer class labels 0..n_classes-1.

    Refuses, naming the file and the row: a blank, a value that is not a
    number, and one that is not a whole number of a class (0.9 is not read
    as 0, nor inf as anything).
    """
    numbers, values = _numbers(points, name, source, "label")
    whole = np.isfinite(numbers) & (numbers == np.round(numbers))
    bad = np.flatnonzero(~whole | (numbers < 0) | (numbers >= n_classes))
    if bad.size:
        raise PointsError(f"{_first_bad(bad, values, name, source)}; classes are 0..{n_classes - 1} (whole numbers)")
    return numbers.astype(np.int64)


def point_coordinates(points, source):
    """Columns ``x`` and ``y`` (the map's CRS) as finite floats; None when the table has neither.

    Refuses, naming the file and the row, a blank, a value that is not a
    number, NaN or inf, and a table with one of the two columns only.
    """
    present = [name for name in ("x", "y") if name in points]
    if not present:
        return None
    if len(present) == 1:
        raise PointsError(f"{source} has a column {present[0]!r} but no {'y' if present[0] == 'x' else 'x'!r}")
    xy = []
    for name in ("x", "y"):
        numbers, values = _numbers(points, name, source, "coordinate")
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            raise PointsError(f"{_first_bad(bad, values, name, source)}; coordinates must be finite numbers")
        xy.append(numbers)
    return tuple(xy)


def unique_points(columns, source):
    """Rows that are distinct points: a point given twice (same ``id``, or same ``x`` and ``y``) counts once.

    Parameters
    ----------
    columns : dict
        Column name -> one value per row, as read and parsed (labels,
        coordinates, ``id``); points are matched on ``id`` and on ``x``, ``y``
        where those columns are present.
    source : str or Path
        The file, for messages.

    Returns
    -------
    ndarray of int
        Indices of the rows to use. A row that repeats an earlier one in
        every column is left out with a warning (a copy-paste, say).

    Raises
    ------
    PointsError
        For two rows of one point that differ in any column (another label,
        or one id at two places), naming both rows.
    """
    names = list(columns)
    rows = list(zip(*(np.asarray(columns[name]).tolist() for name in names)))
    keep = np.ones(len(rows), bool)
    repeats = []
    for key in (("id",), ("x", "y")):
        if not all(name in columns for name in key):
            continue
        first = {}
        for i, row in enumerate(rows):
            value = tuple(row[names.index(name)] for name in key)
            j = first.setdefault(value, i)
            differ = [name for name, a, b in zip(names, rows[j], row) if a != b]
            if differ:
                raise PointsError(f"{source}: rows {j + 1} and {i + 1} are one point (the same {', '.join(key)}: "
                                  f"{', '.join(map(str, value))}) but differ in {differ}; a point may appear once")
            if j != i and keep[i]:
                keep[i] = False
                repeats.append((j, i))
    if repeats:
        warnings.warn(f"{source}: {len(repeats)} row(s) repeat an earlier point exactly and count once "
                      f"(first: row {repeats[0][1] + 1} repeats row {repeats[0][0] + 1})", stacklevel=2)
    return np.flatnonzero(keep)
