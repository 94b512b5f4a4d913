"""Sample point files: written for labelling (CSV, GeoJSON, GeoPackage), read back with their labels."""

import csv

import numpy as np
import rasterio

from .._atomic import atomic_path
from .._backend import require

__all__ = ["write_points", "read_points", "point_labels"]


def write_points(points, path, crs):
    """Write sample points: CSV (``.csv``), GeoJSON in WGS 84 (``.geojson`` / ``.json``) or GeoPackage in the map's CRS.

    Every column of ``points`` becomes a field; GeoJSON and GeoPackage need
    the ``scale`` extra (pyogrio, shapely).
    """
    path = str(path)
    columns = list(points)
    if path.lower().endswith(".csv"):
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(zip(*(np.asarray(points[c]).tolist() for c in columns)))
        return path
    write = require("pyogrio.raw", "scale").write
    shapely = require("shapely", "scale")
    geojson = path.lower().endswith((".geojson", ".json"))
    x, y = (points["lon"], points["lat"]) if geojson else (points["x"], points["y"])
    with atomic_path(path) as tmp:
        write(tmp, geometry=shapely.to_wkb(shapely.points(np.asarray(x, float), np.asarray(y, float))).astype(object),
              field_data=[np.asarray(points[c]) for c in columns], fields=columns,
              crs="EPSG:4326" if geojson else rasterio.crs.CRS.from_user_input(crs).to_wkt(),
              driver="GeoJSON" if geojson else "GPKG", geometry_type="Point", layer="sample_points")
    return path


def read_points(path):
    """Columns of a point file (CSV, GeoPackage, GeoJSON, ...) as a dict of arrays (CSV values stay strings)."""
    path = str(path)
    if path.lower().endswith(".csv"):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            raise ValueError(f"{path} has no points")
        return {name: np.array([row[name] for row in rows]) for name in rows[0]}
    meta, _, _, fields = require("pyogrio.raw", "scale").read(path)
    return dict(zip(meta["fields"], fields))


def point_labels(points, name, source, n_classes):
    """One column of a point table as integer class labels 0..n_classes-1, refusing blanks and other values."""
    if name not in points:
        raise ValueError(f"{source} has no column {name!r}; it has {list(points)}")
    # A label left empty reads as "" (CSV), None (a null string field) or NaN (a null number field).
    values = np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip() for v in points[name]])
    blank = np.flatnonzero(values == "")
    if blank.size:
        raise ValueError(f"{source}: {blank.size} point(s) have no {name!r} label (first at row {blank[0] + 1})")
    try:
        labels = np.array([int(float(v)) for v in values])
    except ValueError as error:
        raise ValueError(f"{source}: column {name!r} must hold class numbers 0..{n_classes - 1} ({error})") from None
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise ValueError(f"{source}: column {name!r} has value {values[bad[0]]} (row {bad[0] + 1}); classes are 0..{n_classes - 1}")
    return labels
