"""The regions of a monitoring run (districts, forest reserves, concessions): read once, checked, reprojected.

Regions come from any vector file pyogrio reads (GeoPackage, GeoJSON,
Shapefile, ...) in any CRS; a field names them. Their names must be unique
and present, since each becomes a row of the table.
"""

import warnings

import numpy as np
import rasterio.warp
from rasterio.crs import CRS

from .._backend import require
from ..assessment.points import cell_text
from ..errors import RegionsError, SmallminesWarning
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

    Warns
    -----
    SmallminesWarning
        Invalid polygons (a self-crossing ring, a hole outside its shell, as
        4 of the 253 districts of geoBoundaries' Ghana ADM2 file) are repaired
        with shapely's ``make_valid`` (the polygonal parts kept), naming each
        region and why it was invalid.

    Raises
    ------
    RegionsError
        For a file that cannot be read, without features, a CRS, the field, or with a region that
        has no name, a name used twice or the name ``(all)``, no geometry,
        one that is not a polygon, or an invalid one that holds no area once repaired.
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
        self._repair()
        self.identity = content_identity(self.crs.to_wkt(), self.names, *(g.wkb for g in self.geometries))

    def _repair(self):
        """Make invalid polygons valid (shapely's ``make_valid``, polygonal parts kept), with one warning naming
        each; refuse one that holds no area once repaired. Overlays (the alerts) fail on an invalid polygon."""
        shapely = require("shapely", "maps")
        invalid = [i for i, geometry in enumerate(self.geometries) if not geometry.is_valid]
        if not invalid:
            return
        reasons = [f"{self.names[i]!r} ({shapely.is_valid_reason(self.geometries[i])})" for i in invalid]
        for i in invalid:
            parts = [part for part in shapely.get_parts(shapely.make_valid(self.geometries[i])) if part.area > 0]
            if not parts:
                raise RegionsError(f"the regions {self.path}: region {self.names[i]!r} is an invalid polygon "
                                   f"({shapely.is_valid_reason(self.geometries[i])}) that holds no area once "
                                   "repaired; fix or remove it")
            self.geometries[i] = shapely.multipolygons(shapely.get_parts(shapely.union_all(parts)))
        warnings.warn(f"the regions {self.path}: {len(invalid)} invalid polygon(s) repaired with shapely's make_valid "
                      f"(their outlines kept, self-crossings resolved): {', '.join(reasons)}", SmallminesWarning,
                      stacklevel=3)

    def areas_m2(self, crs):
        """Each region's area in square metres, as a map in ``crs`` measures its pixels: in the plane of a projected
        CRS, on the WGS 84 ellipsoid (pyproj's ``Geod``) for a geographic one."""
        crs = CRS.from_user_input(crs)
        if crs.is_projected:
            metres = crs.linear_units_factor[1]
            return np.array([g.area * metres ** 2 for g in self.in_crs(crs)])
        from pyproj import Geod  # a dependency of the package, for maps in degrees only: imports stay light

        geod = Geod(ellps="WGS84")
        return np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in self.in_crs(WGS84)])

    def in_crs(self, crs):
        """The geometries reprojected onto ``crs`` (shapely)."""
        shapely_geometry = require("shapely.geometry", "maps")
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
        shapely = require("shapely", "maps")
        x, y = np.asarray(x, float), np.asarray(y, float)
        held = [shapely.contains_xy(g, x, y) for g in self.in_crs(crs)]
        return np.array(held, dtype=bool).reshape(len(self.names), -1)

    def write_geojson(self, path):
        """Write the regions in WGS 84 as RFC 7946 GeoJSON, each with its ``name``, as given (not clipped)."""
        write_vector(path, {"name": np.array(self.names, dtype=object)}, self.in_crs(WGS84), crs=WGS84,
                     geometry_type="Polygon", layer="regions", what="regions")
