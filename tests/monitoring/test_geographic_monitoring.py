"""A monitoring year's numbers on maps in degrees (EPSG:4326): areas, change, error-adjusted areas and alerts."""

import numpy as np
import pytest
import shapely
from scipy import ndimage
from shapely.geometry import box

from smallmines_classic import MAP_NODATA, change_map, stratified_sample
from smallmines_classic.assessment import write_points
from smallmines_classic.io.vectors import read_vector, write_vector
from smallmines_classic.monitoring.alerts import write_alerts
from smallmines_classic.monitoring.areas import adjusted_areas, year_areas
from smallmines_classic.monitoring.regions import ALL, Regions
from tests.helpers import EE_PIXEL, EE_TRANSFORM, ee_pixel_m2, write_raster

ROWS, COLS = 2000, 200
WEST, NORTH = EE_TRANSFORM.c, EE_TRANSFORM.f
#: Two regions whose sides lie between pixel centres: columns 0-99 and 100-199.
REGIONS = {"West": box(WEST, NORTH - ROWS * EE_PIXEL, WEST + 100 * EE_PIXEL, NORTH),
           "East": box(WEST + 100 * EE_PIXEL, NORTH - ROWS * EE_PIXEL, WEST + COLS * EE_PIXEL, NORTH)}


def _m2(where):
    return float(where.sum(axis=1) @ ee_pixel_m2(ROWS))


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitor_degrees")
    before = np.zeros((ROWS, COLS), np.uint8)
    before[100:900, 20:180] = 1
    before[1900:, :10] = MAP_NODATA
    after = before.copy()
    after[1000:1400, 30:170] = 1       # new, across both regions
    after[1500:1504, 60:64] = 1        # new and small
    after[100:300, 20:180] = 0         # no longer mined
    truth = after.copy()
    truth[1600:1800, 40:160] = 1       # mining the map missed
    old = write_raster(folder / "2020.tif", before, crs="EPSG:4326", transform=EE_TRANSFORM)
    new = write_raster(folder / "2022.tif", after, crs="EPSG:4326", transform=EE_TRANSFORM)
    change_map(old, new, folder / "change.tif")
    write_vector(folder / "regions.gpkg", {"NAME": np.array(list(REGIONS), dtype=object)}, list(REGIONS.values()),
                 crs="EPSG:4326", geometry_type="Polygon", layer="regions", what="regions")
    return {"folder": folder, "before": before, "after": after, "truth": truth, "map": new,
            "change": folder / "change.tif", "regions": Regions(folder / "regions.gpkg", "NAME")}


def _columns(name):
    columns = np.zeros((ROWS, COLS), bool)
    columns[:, :100] = name in (ALL, "West")
    columns[:, 100:] |= name in (ALL, "East")
    return columns


def test_a_years_map_and_change_areas_in_degrees(year):
    rows = year_areas(year["map"], year["change"], year["regions"])
    before, after = year["before"], year["after"]
    for name in (ALL, "West", "East"):
        inside = _columns(name)
        expected = {"mined_ha": after == 1, "nodata_ha": after == MAP_NODATA,
                    "new_ha": (before == 0) & (after == 1), "persistent_ha": (before == 1) & (after == 1),
                    "no_longer_ha": (before == 1) & (after == 0),
                    "change_nodata_ha": (before == MAP_NODATA) | (after == MAP_NODATA)}
        for column, where in expected.items():
            assert rows[name][column] == pytest.approx(_m2(where & inside) / 1e4, abs=1e-4), (name, column)


def _domain(strata, y, areas):
    """Stratified estimate of the area where ``y`` and its 95 % half-width (Stehman 2014), strata weighed by area."""
    total, variance = 0.0, 0.0
    for h, area in enumerate(areas):
        values = y[strata == h].astype(float)
        total += area * values.mean()
        variance += area ** 2 * values.var(ddof=1) / len(values)
    return total, 1.959963984540054 * np.sqrt(variance)


def test_error_adjusted_areas_in_degrees_weigh_the_strata_by_area(year, tmp_path):
    points, _, crs = stratified_sample(year["map"], 400, min_per_class=160, seed=4)
    rows = np.round((NORTH - points["y"]) / EE_PIXEL - 0.5).astype(int)
    cols = np.round((points["x"] - WEST) / EE_PIXEL - 0.5).astype(int)
    points["reference"] = year["truth"][rows, cols]
    labelled = write_points(points, tmp_path / "labelled.csv", crs)
    got = adjusted_areas(year["map"], labelled, year["regions"])
    strata, mined = np.asarray(points["map_class"]), points["reference"] == 1
    areas = [_m2(year["after"] == 0), _m2(year["after"] == 1)]
    for name in (ALL, "West", "East"):
        inside = shapely.contains_xy(REGIONS[name], points["x"], points["y"]) if name != ALL else True
        area, half = _domain(strata, mined & inside, areas)
        assert got[name]["adjusted_ha"] == pytest.approx(area / 1e4, abs=1e-4), name
        assert got[name]["adjusted_ha_ci"] == pytest.approx(half / 1e4, abs=1e-4), name


def test_alerts_of_a_change_map_in_degrees(year, tmp_path):
    new = (year["before"] == 0) & (year["after"] == 1)
    labels, n = ndimage.label(new)
    exact = np.array([_m2(labels == k) for k in range(1, n + 1)])
    assert n == 2
    summary = write_alerts(year["change"], [tmp_path / "alerts.geojson"], year["regions"], 2020, 2022,
                           min_area_m2=exact.min() + 1)   # the small one left out, by its area on the ellipsoid
    assert summary == {"count": 1, "regions": {"West": 1, "East": 1}}
    fields, _, _ = read_vector(tmp_path / "alerts.geojson")
    assert float(fields["area_m2"][0]) == pytest.approx(exact.max(), rel=1e-7)
    assert fields["region"][0] in ("West", "East")
