"""Sampling and assessing a map in degrees (EPSG:4326): the strata weigh by their areas on the ellipsoid."""

import numpy as np
import pytest

from smallmines_classic import MAP_NODATA, assess_map, estimate_area, stratified_sample
from smallmines_classic.assessment import read_points, write_points
from smallmines_classic.cli import main
from tests.helpers import EE_TRANSFORM, ee_pixel_m2, write_raster

ROWS = 3000  # 0.27 degrees north to south: the northern pixels are 0.05 % smaller than the southern ones


@pytest.fixture(scope="module")
def classes():
    classes = np.zeros((ROWS, 40), np.uint8)
    classes[:600, 5:35] = 1              # mining in the north, where pixels are smallest
    classes[-200:, :5] = MAP_NODATA
    return classes


@pytest.fixture(scope="module")
def degrees_map(tmp_path_factory, classes):
    return write_raster(tmp_path_factory.mktemp("sample") / "map.tif", classes, crs="EPSG:4326",
                        transform=EE_TRANSFORM)


def _exact_m2(classes, k):
    return np.array([(classes == c).sum(axis=1) @ ee_pixel_m2(len(classes)) for c in range(k)])


def test_a_map_in_degrees_is_sampled_and_assessed_with_its_classes_areas(degrees_map, classes, tmp_path, capsys):
    assert main(["sample", str(degrees_map), "--n", "200", "--min-per-class", "60", "-o",
                 str(tmp_path / "points.gpkg"), "--seed", "1"]) == 0
    capsys.readouterr()
    points = read_points(tmp_path / "points.gpkg")
    np.testing.assert_array_equal(points["x"], points["lon"])  # the map's CRS is WGS 84 itself
    mapped = np.asarray(points["map_class"], int)
    reference = mapped.copy()
    reference[np.flatnonzero(mapped == 0)[:12]] = 1   # omission: mining the map missed
    reference[np.flatnonzero(mapped == 1)[:6]] = 0    # commission
    points["reference"] = reference
    write_points(points, tmp_path / "labels.gpkg", "EPSG:4326")

    report = assess_map(degrees_map, tmp_path / "labels.gpkg")
    exact = _exact_m2(classes, 2)
    np.testing.assert_allclose(report["mapped_area_m2"], exact, rtol=1e-9)
    counts = np.zeros((2, 2), int)
    np.add.at(counts, (mapped, reference), 1)
    expected = estimate_area(counts, exact)
    np.testing.assert_allclose(report["estimate"].area, expected.area, rtol=1e-9)
    np.testing.assert_allclose(report["estimate"].area_ci, expected.area_ci, rtol=1e-9)
    # weighing the strata by their pixel counts instead would miss by far more than the tolerance above
    by_pixels = estimate_area(counts, report["mapped_pixels"] * exact.sum() / report["mapped_pixels"].sum())
    assert abs(by_pixels.area[1] / expected.area[1] - 1) > 1e-5
    assert main(["assess", str(degrees_map), str(tmp_path / "labels.gpkg")]) == 0
    assert f"mined       mapped {exact[1] / 1e4:>12.2f} ha" in capsys.readouterr().out


def test_a_collect_earth_online_plot_of_a_map_in_degrees_is_one_pixel_in_metres(degrees_map, tmp_path, capsys):
    assert main(["sample", str(degrees_map), "--n", "120", "--format", "ceo", "-o", str(tmp_path / "plots.csv"),
                 "--seed", "2"]) == 0
    side = np.sqrt(ee_pixel_m2(ROWS).mean())
    assert 9.9 < side < 10 and f"square plots of {side:g} m (one map pixel)" in capsys.readouterr().out


def test_the_sample_of_a_map_in_degrees_is_uniform_within_each_class(degrees_map, classes):
    points, pixels, crs = stratified_sample(degrees_map, 200, min_per_class=60, seed=3)
    assert crs == "EPSG:4326"
    np.testing.assert_array_equal(pixels, [(classes == 0).sum(), (classes == 1).sum()])
    np.testing.assert_array_equal(points["lon"], points["x"])
    np.testing.assert_array_equal(points["lat"], points["y"])
