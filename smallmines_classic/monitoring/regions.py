"""The regions of a monitoring run (districts, forest reserves, concessions): read once, checked, reprojected.

Regions come from any vector file pyogrio reads (GeoPackage, GeoJSON,
Shapefile, ...) in any CRS; a field names them. Their names must be unique
and present, since each becomes a row of the table.
"""

import numpy as np
import rasterio.warp
from rasterio.crs import CRS

from .._backend import require
from ..assessment.points import cell_text
from ..errors import RegionsError
from ..io.vectors import WGS84, read_vector, write_vector
from .steps import content_identity

__all__ = ["ALL", "WGS84", "Regions"]

#: The name of the whole box's row in the table.
ALL = "(all)"


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
    RegionsError
        For a file that cannot be read, without features, a CRS, the field, or with a region that
        has no name, a name used twice or the name ``(all)``, no geometry or
        one that is not a polygon.
    """

    def __init__(self, path, field):
        self.path, self.field = path, field
        fields, geometries, crs = read_vector(path, what="regions", error=RegionsError)
        if field not in fields:
            raise RegionsError(f"the regions {path} have no field {field!r}; they have {list(fields)}")
        if not len(geometries):
            raise RegionsError(f"the regions {path} hold no feature")
        if not crs:
            raise RegionsError(f"the regions {path} declare no CRS: set it (e.g. in QGIS, or ogr2ogr -a_srs)")
        self.crs = CRS.from_user_input(crs)
        self.names, self.geometries = [], []
        for row, (value, geometry) in enumerate(zip(fields[field], geometries), start=1):
            # str(), as region_areas names them, so the two agree; blank or null is no name
            name = cell_text(value)
            if not name.strip():
                raise RegionsError(f"the regions {path}: feature {row} has no {field!r}")
            if name in self.names or name == ALL:
                used = "for the whole box" if name == ALL else "twice"
                raise RegionsError(f"the regions {path}: the name {name!r} ({field!r}) is used {used}; each region "
                                   "needs its own name")
            empty = geometry is None or geometry.is_empty
            if empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
                raise RegionsError(f"the regions {path}: feature {row} ({name!r}) is "
                                   f"{'empty' if empty else 'a ' + geometry.geom_type}, not a polygon")
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
        write_vector(path, {"name": np.array(self.names, dtype=object)}, self.in_crs(WGS84), crs=WGS84,
                     geometry_type="Polygon", layer="regions", what="regions")
