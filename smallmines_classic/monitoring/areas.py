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
import rasterio.errors
import rasterio.features

from ..assessment import assess_map, estimate_area, read_points
from ..assessment.points import point_labels
from ..io.maps import measure_values, open_map, row_areas_m2
from ..io.raster import MAP_NODATA
from ..mapping.analysis import change_areas, mined_area, region_areas, region_change_areas
from .regions import ALL

__all__ = ["MIN_REGION_POINTS", "observed_shares", "year_areas", "adjusted_areas"]

#: Sample points of each map class (stratum) a region must hold for its own error-adjusted area.
MIN_REGION_POINTS = 20
_HA = 1e4


def _ha(areas):
    return round(areas["m2"] / _HA, 4)


def observed_shares(map_path, regions):
    """Per region name: the share (0..1) of its area that the map observed, inside the box and with data.

    The observed area counts the map's pixels with data whose centre lies in
    the region (as the areas do); the region's area is that of its outline,
    measured as the map measures its pixels. Pixel centres along the border
    can make the count a little more than the outline, so the share is capped at 1.
    """
    with open_map(map_path) as src:
        row_m2, out = row_areas_m2(src), {}
        for name, geometry, area in zip(regions.names, regions.in_crs(src.crs), regions.areas_m2(src.crs)):
            try:
                window = rasterio.features.geometry_window(src, [geometry])
            except rasterio.errors.WindowError:  # wholly outside the map
                out[name] = 0.0
                continue
            m2 = measure_values(src, window, geometry, row_m2)[1]
            out[name] = round(min(1.0, float(m2.sum() - m2[MAP_NODATA]) / area), 4) if area > 0 else 0.0
    return out


def year_areas(map_path, change_path, regions):
    """Per region name (and :data:`ALL` for the box): ``observed_share``, ``mined_ha``, ``nodata_ha`` and, with a
    change map since the previous year, ``new_ha``, ``persistent_ha``, ``no_longer_ha`` and ``change_nodata_ha``.

    A region the map did not observe at all (outside the box, or only no-data pixels) has None for every area:
    its mining is unknown, not 0. The box's ``observed_share`` is that of its pixels with data.
    """
    whole = mined_area(map_path)
    rows = {ALL: whole, **region_areas(map_path, regions.path, regions.field)}
    rows = {name: {"mined_ha": _ha(areas), "nodata_ha": _ha(areas["nodata"])} for name, areas in rows.items()}
    with open_map(map_path) as src:
        box_m2 = float(row_areas_m2(src).sum() * src.width)
    shares = {ALL: round(1 - whole["nodata"]["m2"] / box_m2, 4), **observed_shares(map_path, regions)}
    if change_path is not None:
        changes = {ALL: change_areas(change_path), **region_change_areas(change_path, regions.path, regions.field)}
        for name, areas in changes.items():
            rows[name].update(new_ha=_ha(areas["new"]), persistent_ha=_ha(areas["persistent"]),
                              no_longer_ha=_ha(areas["no longer mined"]), change_nodata_ha=_ha(areas["nodata"]))
    for name, share in shares.items():
        rows[name]["observed_share"] = share
        if share == 0:
            rows[name].update(dict.fromkeys(set(rows[name]) - {"observed_share"}))
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
