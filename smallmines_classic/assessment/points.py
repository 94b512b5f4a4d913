"""Sample point files: written for labelling (CSV, GeoJSON, GeoPackage), read back with their labels.

Rows are counted from 1, the first point (line 2 of a CSV file, below its header).
"""

import csv
import warnings
from pathlib import Path

import numpy as np
import rasterio

from .._backend import require
from .._writes import atomic_path

__all__ = ["write_points", "read_points", "point_format", "point_labels", "point_coordinates", "unique_points", "cell_text"]

_FORMATS = {".csv": "CSV", ".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}


def point_format(path):
    """The format of a point file to write, by its suffix: ``"CSV"``, ``"GeoJSON"`` or ``"GPKG"``; others are refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"{path}: points are written as GeoPackage (.gpkg), CSV (.csv) or GeoJSON (.geojson, .json), "
                         f"not {suffix or 'a file without extension'}")
    return _FORMATS[suffix]


def write_points(points, path, crs):
    """Write sample points: CSV (``.csv``), GeoJSON in WGS 84 (``.geojson`` / ``.json``) or GeoPackage in the map's CRS.

    Every column of ``points`` becomes a field; GeoJSON and GeoPackage need
    the ``scale`` extra (pyogrio, shapely).
    """
    path = str(path)
    driver = point_format(path)
    columns = list(points)
    if driver == "CSV":
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(zip(*(np.asarray(points[c]).tolist() for c in columns)))
        return path
    write = require("pyogrio.raw", "scale").write
    shapely = require("shapely", "scale")
    geojson = driver == "GeoJSON"
    x, y = (points["lon"], points["lat"]) if geojson else (points["x"], points["y"])
    with atomic_path(path) as tmp:
        write(tmp, geometry=shapely.to_wkb(shapely.points(np.asarray(x, float), np.asarray(y, float))).astype(object),
              field_data=[np.asarray(points[c]) for c in columns], fields=columns,
              crs="EPSG:4326" if geojson else rasterio.crs.CRS.from_user_input(crs).to_wkt(),
              driver=driver, geometry_type="Point", layer="sample_points")
    return path


def read_points(path):
    """Columns of a point file (CSV, GeoPackage, GeoJSON, ...) as a dict of arrays (CSV values stay strings)."""
    path = str(path)
    if path.lower().endswith(".csv"):
        return _read_csv(path)
    meta, _, _, fields = require("pyogrio.raw", "scale").read(path)
    return dict(zip(meta["fields"], fields))


def _read_csv(path):
    """Columns of a CSV point file, refusing a row whose fields do not match the header, naming its line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark
            reader = csv.reader(handle)
            header = next(reader, [])
            rows = [(reader.line_num, row) for row in reader if row]  # blank lines hold no point
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path} is not a readable CSV file of points: {error}") from None
    if not rows:
        raise ValueError(f"{path} has no points")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}: the header names column(s) {repeated} more than once")
    for line, row in rows:
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} fields where the header has {len(header)} ({header})")
    return {name: np.array([row[i] for _, row in rows]) for i, name in enumerate(header)}


def cell_text(value):
    """A table cell as text; a null (None, or NaN in a number field) is empty."""
    return "" if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)) else str(value)


def _numbers(points, name, source, what):
    """One column as floats (NaN and inf kept, for the caller to judge) and as text; a blank or a word is refused by row."""
    if name not in points:
        raise ValueError(f"{source} has no column {name!r}; it has {list(points)}")
    # A value left empty reads as "" (CSV), None (a null string field) or NaN (a null number field).
    values = [cell_text(v).strip() for v in points[name]]
    blank = [row for row, value in enumerate(values, 1) if value == ""]
    if blank:
        raise ValueError(f"{source}: {len(blank)} point(s) have no {name!r} {what} (first at row {blank[0]})")
    numbers = np.empty(len(values))
    for row, value in enumerate(values, 1):
        try:
            numbers[row - 1] = float(value)
        except ValueError:
            raise ValueError(f"{source}: column {name!r} has {value!r} at row {row}, which is not a number") from None
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
    bad = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < 0) | (numbers >= n_classes))
    if bad.size:
        raise ValueError(f"{_first_bad(bad, values, name, source)}; classes are 0..{n_classes - 1} (whole numbers)")
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
        raise ValueError(f"{source} has a column {present[0]!r} but no {'y' if present[0] == 'x' else 'x'!r}")
    xy = []
    for name in ("x", "y"):
        numbers, values = _numbers(points, name, source, "coordinate")
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            raise ValueError(f"{_first_bad(bad, values, name, source)}; coordinates must be finite numbers")
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
    ValueError
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
                raise ValueError(f"{source}: rows {j + 1} and {i + 1} are one point (the same {', '.join(key)}: "
                                 f"{', '.join(map(str, value))}) but differ in {differ}; a point may appear once")
            if j != i and keep[i]:
                keep[i] = False
                repeats.append((j, i))
    if repeats:
        warnings.warn(f"{source}: {len(repeats)} row(s) repeat an earlier point exactly and count once "
                      f"(first: row {repeats[0][1] + 1} repeats row {repeats[0][0] + 1})", stacklevel=2)
    return np.flatnonzero(keep)
