"""Vector files: one writer and one reader for every table of features the package writes or reads.

The format follows the suffix:

- GeoPackage (``.gpkg``) and Shapefile (``.shp``, with its ``.shx``,
  ``.dbf``, ``.prj`` and ``.cpg``): in the CRS given, at full precision.
- GeoJSON (``.geojson``, ``.json``): in WGS 84 longitude and latitude, as
  RFC 7946 requires (GDAL reprojects features given in another CRS, and
  writes coordinates with 7 decimals of a degree, about 1 cm).
- CSV (``.csv``): UTF-8, one row per feature, the fields as columns at full
  precision; geometries, when given, as WKT in a first column ``WKT`` (which
  GDAL and QGIS read as the geometry). Points given as two coordinate
  fields (``xy``) are those columns alone. A CSV file declares no CRS.

Every file is written atomically (a Shapefile's files as one commit): it
appears complete or not at all. GeoPackage, GeoJSON and Shapefile go
through pyogrio and shapely (the ``scale`` extra); CSV needs neither.
Reading (:func:`read_vector`) takes any format pyogrio reads, and CSV
strictly: a row whose fields do not match the header is refused, naming its line.
"""

import csv
import os
import typing
from pathlib import Path

import numpy as np
from rasterio.crs import CRS

from .._backend import require
from .._cells import csv_writer
from .._writes import atomic_path, atomic_paths, scratch_dir
from ..errors import InputError, OutputError

__all__ = ["VECTOR_FORMATS", "WGS84", "VectorData", "vector_format", "write_vector", "read_vector"]

#: Suffix -> GDAL driver of the files :func:`write_vector` writes.
VECTOR_FORMATS = {".gpkg": "GPKG", ".csv": "CSV", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile"}
WGS84 = "EPSG:4326"
_NAMES = "GeoPackage (.gpkg), CSV (.csv), GeoJSON (.geojson, .json) or Shapefile (.shp)"
#: The files of a Shapefile besides the ``.shp``, as GDAL writes them.
_SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")
_WKT = "WKT"


class VectorData(typing.NamedTuple):
    """The features of a vector file.

    Attributes
    ----------
    fields : dict
        Field name -> one value per feature (numpy array), in file order; a CSV file's values are strings.
    geometries : ndarray of shapely geometries (None for a null geometry) or None
        None when not read; a CSV file without a ``WKT`` column has a null geometry per row.
    crs : str or None
        As the file declares it (a CSV file declares none).
    """

    fields: dict
    geometries: typing.Any
    crs: typing.Any


def vector_format(path, what="features"):
    """The GDAL driver of a vector file to write, by its suffix (:data:`VECTOR_FORMATS`).

    Raises
    ------
    OutputError
        Another suffix, naming the file and the formats (``what`` names the features in the message).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in VECTOR_FORMATS:
        raise OutputError(f"{path}: {what} are written as {_NAMES}, not {suffix or 'a file without extension'}")
    return VECTOR_FORMATS[suffix]


def write_vector(path, fields, geometries=None, *, crs=None, xy=None, geometry_type=None, layer="features",
                 what="features"):
    """Write features to a vector file in the format of its suffix, atomically (see the module docstring).

    Parameters
    ----------
    path : str or Path
    fields : dict
        Field name -> one value per feature (array-like; None or NaN is null).
    geometries : sequence of shapely geometries or None
        One per feature, in ``crs``.
    crs : str, rasterio.crs.CRS or None
        The CRS of the geometries (anything ``CRS.from_user_input`` reads).
    xy : pair of str or None
        Instead of ``geometries``: the two fields that hold each feature's
        point coordinates in ``crs`` (a CSV file is then the fields alone).
    geometry_type : str or None
        ``"Point"``, ``"Polygon"``, ...: the layer's type, single parts
        promoted to multi where some features are multi; needed for a
        layer without features. None takes the features' one type.
    layer : str
        The layer's name (GeoPackage; a Shapefile's is its file name).
    what : str
        The features in words, for the message that refuses a suffix.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputError
        A suffix of no format above (before anything is written).
    InputError
        Geometries of another type than ``geometry_type``.
    MissingExtraError
        GeoPackage, GeoJSON or Shapefile without the ``scale`` extra.
    """
    driver = vector_format(path, what)
    fields = {name: np.asarray(values) for name, values in fields.items()}
    if driver == "CSV":
        wkts = None if geometries is None or xy is not None else \
            [None if g is None else g.wkt for g in geometries]
        _write_csv(path, fields, wkts)
        return Path(path)
    shapely = require("shapely", "maps")
    write = require("pyogrio.raw", "maps").write
    if xy is not None:
        geometries = shapely.points(np.asarray(fields[xy[0]], float), np.asarray(fields[xy[1]], float))
    geometries = list(geometries)
    kind = _layer_type(path, geometries, geometry_type)
    options = dict(geometry=shapely.to_wkb(geometries).astype(object) if geometries else np.array([], dtype=object),
                   field_data=list(fields.values()), fields=list(fields), driver=driver, geometry_type=kind,
                   promote_to_multi=kind.startswith("Multi"), layer=layer,
                   crs=None if crs is None else CRS.from_user_input(crs).to_wkt(),
                   layer_options={"RFC7946": "YES"} if driver == "GeoJSON" else None)
    if driver == "ESRI Shapefile":
        _write_shapefile(Path(path), write, options)
    else:
        with atomic_path(path) as tmp:
            write(tmp, **options)
    return Path(path)


def _layer_type(path, geometries, geometry_type):
    """The geometry type of a layer: ``geometry_type`` (else the features' own), multi where any feature is multi."""
    kinds = {g.geom_type for g in geometries if g is not None}
    first = next((g.geom_type for g in geometries if g is not None), "Unknown")
    single = (geometry_type or first).removeprefix("Multi")
    others = kinds - {single, f"Multi{single}"}
    if others:
        raise InputError(f"{path}: a layer of {single} features cannot hold {sorted(others)}")
    return f"Multi{single}" if f"Multi{single}" in kinds or geometry_type == f"Multi{single}" else single


def _write_csv(path, fields, wkts):
    columns = ([_WKT] if wkts is not None else []) + list(fields)
    values = ([wkts] if wkts is not None else []) + [values.tolist() for values in fields.values()]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(columns)
        writer.writerows(zip(*values))


def _write_shapefile(path, write, options):
    """Write a Shapefile in a scratch folder, then commit its files together beside ``path``."""
    with scratch_dir(path) as work:
        write(work / path.name, **options)
        parts = [suffix for suffix in _SHAPEFILE_PARTS if (work / path.name).with_suffix(suffix).exists()]
        with atomic_paths([path, *(path.with_suffix(suffix) for suffix in parts)]) as temps:
            for suffix, tmp in zip([path.suffix, *parts], temps):
                os.replace((work / path.name).with_suffix(suffix), tmp)


def read_vector(path, *, geometry=True, what="features", error=InputError):
    """The features of a vector file: CSV (``.csv``, read strictly) or any format pyogrio reads.

    Parameters
    ----------
    path : str or Path
    geometry : bool
        Read the geometries (else :attr:`VectorData.geometries` is None).
    what : str
        The features in words (``"points"``, ``"regions"``), for messages.
    error : type
        The :class:`~smallmines_classic.errors.InputError` subclass to raise.

    Returns
    -------
    VectorData

    Raises
    ------
    error
        A file that cannot be read, naming it and why; for CSV, one that is
        not UTF-8 text, has no rows, repeats a column or has a row whose
        fields do not match the header (naming the line).
    MissingExtraError
        A format other than CSV without the ``scale`` extra.
    """
    if str(path).lower().endswith(".csv"):
        fields = _read_csv(path, what, error)
        wkts = fields.pop(_WKT, None)
        if not geometry:
            return VectorData(fields, None, None)
        if wkts is None:
            return VectorData(fields, np.full(len(next(iter(fields.values()), [])), None, dtype=object), None)
        shapely = require("shapely", "maps")
        try:
            return VectorData(fields, shapely.from_wkt(np.where(wkts == "", None, wkts)), None)
        except shapely.errors.GEOSException as problem:
            raise error(f"{path}: column {_WKT} holds a geometry that is not WKT ({problem})") from None
    read = require("pyogrio.raw", "maps").read
    pyogrio_errors = require("pyogrio.errors", "maps")
    try:
        meta, _, wkbs, values = read(path, read_geometry=geometry)
    except (pyogrio_errors.DataSourceError, pyogrio_errors.DataLayerError, OSError) as problem:
        raise error(f"cannot read the {what} {path}: {problem}") from None
    geometries = require("shapely", "maps").from_wkb(wkbs) if geometry else None
    return VectorData(dict(zip(meta["fields"], values)), geometries, meta["crs"])


def _read_csv(path, what, error):
    """Columns of a CSV file as string arrays, refusing a row whose fields do not match the header, naming its line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark
            reader = csv.reader(handle)
            header = next(reader, [])
            rows = [(reader.line_num, row) for row in reader if row]  # blank lines hold no feature
    except (UnicodeDecodeError, csv.Error) as problem:
        raise error(f"{path} is not a readable CSV file of {what}: {problem}") from None
    except OSError as problem:
        raise error(f"cannot read the {what} {path}: {problem.strerror or problem}") from None
    if not rows:
        raise error(f"{path} has no {what}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise error(f"{path}: the header names column(s) {repeated} more than once")
    for line, row in rows:
        if len(row) != len(header):
            raise error(f"{path}, line {line}: {len(row)} fields where the header has {len(header)} ({header})")
    return {name: np.array([row[i] for _, row in rows]) for i, name in enumerate(header)}
