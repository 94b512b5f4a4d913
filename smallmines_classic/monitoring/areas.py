"""The numbers of one year's rows: map-based areas per region, change since the previous year, error-adjusted areas.

Map-based areas add up the areas of the map's pixels (a pixel belongs to a
region when its centre lies inside it). Error-adjusted areas come from a
labelled stratified sample of the map (Olofsson et al. 2014): for the whole
box with :func:`smallmines_classic.assess_map`, and for a region as a domain
of that sample (Stehman 2014: the indicator "mined and in the region"
estimated from the whole sample), where the region holds at least
:data:`MIN_REGION_POINTS` points of every stratum. Both weigh the strata by
their mapped areas, so pixels of unequal area (a map in degrees) count as
much as they cover.
"""

import numpy as np
import rasterio

from ..assessment import assess_map, estimate_area, read_points
from ..assessment.points import point_labels
from ..mapping.analysis import change_areas, mined_area, region_areas, region_change_areas
from .regions import ALL

__all__ = ["MIN_REGION_POINTS", "year_areas", "adjusted_areas"]

#: Sample points of each map class (stratum) a region must hold for its own error-adjusted area.
MIN_REGION_POINTS = 20
_HA = 1e4


def _ha(areas):
    return round(areas["m2"] / _HA, 4)


def year_areas(map_path, change_path, regions):
    """Per region name (and :data:`ALL` for the box): ``mined_ha``, ``nodata_ha`` and, with a change map since
    the previous year, ``new_ha``, ``persistent_ha``, ``no_longer_ha`` and ``change_nodata_ha``."""
    rows = {ALL: mined_area(map_path)}
    rows.update(region_areas(map_path, regions.path, regions.field))
    rows = {name: {"mined_ha": _ha(areas), "nodata_ha": _ha(areas["nodata"])} for name, areas in rows.items()}
    if change_path is not None:
        changes = {ALL: change_areas(change_path), **region_change_areas(change_path, regions.path, regions.field)}
        for name, areas in changes.items():
            rows[name].update(new_ha=_ha(areas["new"]), persistent_ha=_ha(areas["persistent"]),
                              no_longer_ha=_ha(areas["no longer mined"]), change_nodata_ha=_ha(areas["nodata"]))
    return rows


def adjusted_areas(map_path, points_path, regions):
    """Error-adjusted mined area (ha) and the half-width of its 95 % interval, for the box and each region.

    Returns
    -------
    dict
        Region name (and :data:`ALL`) -> ``{"adjusted_ha", "adjusted_ha_ci", "points"}``, or None for a region
        that holds fewer than :data:`MIN_REGION_POINTS` points of a stratum. ``points`` counts the sample
        points inside the region.
    """
    report = assess_map(map_path, points_path)
    estimate, pixels, mapped_m2 = report["estimate"], report["mapped_pixels"], report["mapped_area_m2"]
    points = read_points(points_path)
    mapped = point_labels(points, "map_class", points_path, len(pixels))
    reference = point_labels(points, "reference", points_path, len(pixels))
    out = {ALL: {"adjusted_ha": round(estimate.area[1] / _HA, 4), "adjusted_ha_ci": round(estimate.area_ci[1] / _HA, 4),
                 "points": len(mapped)}}
    if "x" not in points or "y" not in points:   # without coordinates no point can be placed in a region
        return {**out, **dict.fromkeys(regions.names)}
    with rasterio.open(map_path) as src:
        inside = regions.containing(src.crs, points["x"], points["y"])
    for name, held in zip(regions.names, inside):
        per_stratum = np.bincount(mapped[held], minlength=len(pixels))
        if per_stratum.min() < MIN_REGION_POINTS:
            out[name] = None
            continue
        # The region as a domain: "mined and inside" is the reference class whose area the whole sample estimates,
        # stratum by stratum (Stehman 2014's estimator with the map classes as strata is Olofsson's).
        counts = np.zeros((len(pixels), len(pixels)), np.int64)
        np.add.at(counts, (mapped, reference * held), 1)
        domain = estimate_area(counts, mapped_m2)
        out[name] = {"adjusted_ha": round(domain.area[1] / _HA, 4),
                     "adjusted_ha_ci": round(domain.area_ci[1] / _HA, 4), "points": int(held.sum())}
    return out
