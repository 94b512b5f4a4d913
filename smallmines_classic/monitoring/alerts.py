"""New-mining alerts: the polygons of class 1 ("new") of a change map, in WGS 84, each with its region."""

import numpy as np
import rasterio.warp

from .._backend import require
from ..io.maps import map_polygons, open_change_map
from ..io.vectors import WGS84, write_vector

__all__ = ["NEW", "write_alerts"]

#: The change class that alerts are made of.
NEW = 1


def _regions_of(polygons, regions, crs, pixel_area):
    """Each polygon's region and, per region, how many polygons it holds, both in whole pixels of overlap.

    A polygon is in a region when they overlap by at least half a pixel, so a
    border that runs along a polygon's edge (after reprojection, a few
    millimetres off) does not count it; its ``region`` is the one it overlaps
    by the most pixels (ties: the first in file order; None outside all). ``pixel_area``: of one pixel, in the
    square units of ``crs``, as the polygons' overlaps are measured.
    """
    shapely = require("shapely", "maps")
    region_of = [None] * len(polygons)
    best = np.zeros(len(polygons))
    counts = {}
    tree = shapely.STRtree(polygons)
    for name, geometry in zip(regions.names, regions.in_crs(crs)):
        candidates = tree.query(geometry, predicate="intersects")
        pixels = np.rint(shapely.area(shapely.intersection(np.asarray(polygons, dtype=object)[candidates], geometry))
                         / pixel_area)
        held = pixels >= 1
        counts[name] = int(held.sum())
        for index, share in zip(candidates[held].tolist(), pixels[held].tolist()):
            if share > best[index]:
                best[index], region_of[index] = share, name
    return region_of, counts


def write_alerts(change, paths, regions, year_from, year_to, min_area_m2=0.0):
    """Write the new-mining polygons of a change map to GeoJSON (RFC 7946) and / or GeoPackage, in WGS 84.

    Parameters
    ----------
    change : str or Path
        A change map (:func:`smallmines_classic.change_map`) in a projected CRS or in degrees.
    paths : sequence of str or Path
        Outputs, each in the format of its suffix (:mod:`smallmines_classic.io.vectors`), written atomically.
    regions : Regions
    year_from, year_to : int
    min_area_m2 : float
        Polygons smaller than this (in the plane of a projected map, on the ellipsoid for one in degrees) are
        left out.

    Returns
    -------
    dict
        ``count`` (polygons written) and ``regions``: per region, the number
        of polygons that overlap it by at least half a pixel. Each polygon's
        ``region`` property is the region it overlaps most (null outside every
        region), so a polygon across a border, or in nested regions, counts in
        each of them.
    """
    shape = require("shapely.geometry", "maps")
    with open_change_map(change) as src:
        polygons, areas = map_polygons(src, NEW, min_area_m2)
        crs, pixel_area = src.crs, abs(src.transform.determinant)
    order = np.argsort(-areas, kind="stable")   # id 1 is the largest
    polygons, areas = [polygons[i] for i in order], areas[order]
    region_of, counts = ([], dict.fromkeys(regions.names, 0)) if not polygons else _regions_of(polygons, regions, crs,
                                                                                             pixel_area)
    in_wgs84 = [shape.shape(g) for g in rasterio.warp.transform_geom(crs, WGS84, [shape.mapping(p) for p in polygons])
                ] if polygons else []
    fields = {"id": np.arange(1, len(polygons) + 1), "area_m2": areas, "area_ha": areas / 1e4,
              "region": np.array(region_of, dtype=object), "year_from": np.full(len(polygons), int(year_from)),
              "year_to": np.full(len(polygons), int(year_to))}
    for path in paths:
        write_vector(path, fields, in_wgs84, crs=WGS84, geometry_type="Polygon", layer="alerts", what="alerts")
    return {"count": len(polygons), "regions": counts}
