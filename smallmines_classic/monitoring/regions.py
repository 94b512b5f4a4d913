"""The regions of a monitoring run (districts, forest reserves, concessions): read once, checked, reprojected.

Regions come from any vector file pyogrio reads (GeoPackage, GeoJSON,
Shapefile, ...) in any CRS; a field names them. Their names must be unique
and present, since each becomes a row of the table.
"""

import numpy as np
import rasterio.warp
from rasterio.crs import CRS

from .._backend import require
from .._writes import atomic_path
from ..assessment.points import cell_text
from .steps import content_identity

__all__ = ["ALL", "Regions", "write_vector"]

#: The name of the whole box's row in the table.
ALL = "(all)"
WGS84 = "EPSG:4326"


class Regions:
    """Named polygons from a vector file.

    Parameters
    ----------
    path : str or Path
    field : str
        The attribute that names each region.

    Attributes
    ----------
    names : list of str
        In file order.
    geometries : list of shapely geometries
        In the file's CRS.
    crs : rasterio.crs.CRS
    identity : str
        sha256 of the CRS, names and geometries: what the regions are, whatever the file format.

    Raises
    ------
    ValueError
        For a file without features, a CRS, the field, or with a region that
        has no name, a name used twice or the name ``(all)``, no geometry or
        one that is not a polygon.
    """

    def __init__(self, path, field):
        read = require("pyogrio.raw", "scale").read
        shapely = require("shapely", "scale")
        self.path, self.field = path, field
        try:
            meta, _, wkbs, fields = read(path)
        except Exception as error:   # pyogrio raises its own DataSourceError, DataLayerError, ...
            raise ValueError(f"cannot read the regions {path}: {error}") from None
        if field not in meta["fields"]:
            raise ValueError(f"the regions {path} have no field {field!r}; they have {list(meta['fields'])}")
        if not len(wkbs):
            raise ValueError(f"the regions {path} hold no feature")
        if not meta["crs"]:
            raise ValueError(f"the regions {path} declare no CRS: set it (e.g. in QGIS, or ogr2ogr -a_srs)")
        self.crs = CRS.from_user_input(meta["crs"])
        values = fields[list(meta["fields"]).index(field)]
        self.names, self.geometries = [], []
        for row, (value, wkb) in enumerate(zip(values, wkbs), start=1):
            # str(), as region_areas names them, so the two agree; blank or null is no name
            name = cell_text(value)
            if not name.strip():
                raise ValueError(f"the regions {path}: feature {row} has no {field!r}")
            if name in self.names or name == ALL:
                raise ValueError(f"the regions {path}: the name {name!r} ({field!r}) is used "
                                 f"{'for the whole box' if name == ALL else 'twice'}; each region needs its own name")
            geometry = None if wkb is None else shapely.from_wkb(wkb)
            if geometry is None or geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
                raise ValueError(f"the regions {path}: feature {row} ({name!r}) is "
                                 f"{'empty' if geometry is None or geometry.is_empty else 'a ' + geometry.geom_type}, "
                                 "not a polygon")
            self.names.append(name)
            self.geometries.append(geometry)
        self.identity = content_identity(self.crs.to_wkt(), self.names, *(g.wkb for g in self.geometries))

    def in_crs(self, crs):
        """The geometries reprojected onto ``crs`` (shapely)."""
        shapely_geometry = require("shapely.geometry", "scale")
        crs = CRS.from_user_input(crs)
        if crs == self.crs:
            return list(self.geometries)
        return [shapely_geometry.shape(rasterio.warp.transform_geom(self.crs, crs, shapely_geometry.mapping(g)))
                for g in self.geometries]

    def bbox(self):
        """West, south, east, north (degrees) of all the regions together."""
        bounds = np.array([g.bounds for g in self.in_crs(WGS84)])
        return [*map(float, bounds[:, :2].min(axis=0)), *map(float, bounds[:, 2:].max(axis=0))]

    def outside(self, crs, box):
        """Names of the regions not wholly inside ``box`` (shapely polygon in ``crs``)."""
        return [name for name, geometry in zip(self.names, self.in_crs(crs)) if not box.contains(geometry)]

    def containing(self, crs, x, y):
        """Boolean (regions, points) array: which of the points ``x``, ``y`` (in ``crs``) each region holds."""
        shapely = require("shapely", "scale")
        x, y = np.asarray(x, float), np.asarray(y, float)
        held = [shapely.contains_xy(g, x, y) for g in self.in_crs(crs)]
        return np.array(held, dtype=bool).reshape(len(self.names), -1)

    def write_geojson(self, path):
        """Write the regions in WGS 84 as RFC 7946 GeoJSON, each with its ``name``, as given (not clipped)."""
        write_vector(path, self.in_crs(WGS84), {"name": np.array(self.names, dtype=object)}, "regions")


def write_vector(path, geometries, fields, layer):
    """Write WGS 84 polygons and their fields, atomically: GeoJSON (RFC 7946) for ``.geojson``, else GeoPackage."""
    write = require("pyogrio.raw", "scale").write
    shapely = require("shapely", "scale")
    geojson = str(path).lower().endswith(".geojson")
    kinds = {g.geom_type for g in geometries}
    geometry_type = kinds.pop() if len(kinds) == 1 else "MultiPolygon"   # mixed: every polygon promoted to multi
    with atomic_path(path) as tmp:
        write(tmp, geometry=shapely.to_wkb(geometries).astype(object) if geometries else np.array([], dtype=object),
              field_data=list(fields.values()), fields=list(fields), crs=WGS84, driver="GeoJSON" if geojson else "GPKG",
              geometry_type=geometry_type if geometries else "Polygon",
              promote_to_multi=geometry_type == "MultiPolygon",
              layer=layer, layer_options={"RFC7946": "YES"} if geojson else None)
    return path
