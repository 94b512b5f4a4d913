"""Maps in degrees (EPSG:4326, as Earth Engine exports): every pixel has its area on the ellipsoid.

Expected areas come from the closed form of a cell between two parallels (tests.helpers.cell_m2), never from the
package's own geodesic code.
"""

import numpy as np
import pytest
import rasterio
import rasterio.warp
from rasterio.transform import from_origin
from scipy import ndimage

from smallmines_classic import (
    MAP_NODATA,
    change_areas,
    change_map,
    mined_area,
    mined_polygons,
    region_areas,
    region_change_areas,
)
from smallmines_classic.cli import main
from smallmines_classic.errors import SceneError
from smallmines_classic.io.vectors import read_vector, write_vector
from tests.helpers import EE_PIXEL, EE_TRANSFORM, ee_pixel_m2, write_raster

SIDE = 400


@pytest.fixture(scope="module")
def mask():
    """Mined patches of several shapes (one with a hole, one a single row 300 pixels long, a staircase whose long
    bottom edge is not matched by its top one), and a no-data corner."""
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mask[10:60, 20:90] = 1
    mask[25:35, 40:50] = 0            # a hole
    mask[100, 50:350] = 1             # one row, 300 pixels long: its edges are long parallels
    mask[150:390, 200:230] = 1        # tall: its rows differ in area
    mask[250:260, 300:305] = 1        # small
    for i in range(100):              # a staircase: a geodesic from corner to corner would miss 1e-5 of its area
        mask[280 + i, 240:240 + int(1.5 * (i + 1))] = 1
    mask[380:, :40] = MAP_NODATA
    return mask


@pytest.fixture(scope="module")
def maps(tmp_path_factory, mask):
    folder = tmp_path_factory.mktemp("degrees")
    later = mask.copy()
    later[200:220, 100:140] = 1       # new
    later[150:200, 200:230] = 0       # no longer mined
    return {"old": write_raster(folder / "old.tif", mask, crs="EPSG:4326", transform=EE_TRANSFORM),
            "new": write_raster(folder / "new.tif", later, crs="EPSG:4326", transform=EE_TRANSFORM),
            "later": later}


def _m2(where):
    """Exact area of the pixels ``where`` (a boolean SIDE x SIDE array on EE_TRANSFORM)."""
    return float(where.sum(axis=1) @ ee_pixel_m2(where.shape[0]))


def test_row_areas_are_the_ellipsoidal_cells_in_degrees_and_one_pixel_in_a_projection(maps, tmp_path):
    from smallmines_classic.io.maps import row_areas_m2

    with rasterio.open(maps["old"]) as src:
        rows = row_areas_m2(src)
    np.testing.assert_allclose(rows, ee_pixel_m2(SIDE), rtol=1e-9)
    assert 98.7 < rows[0] < rows[-1] < 98.8  # 10 m of the equator squared, less at 6.5 N, and less northwards
    feet = write_raster(tmp_path / "feet.tif", np.zeros((3, 4)), crs="EPSG:2236")  # US survey feet, 10 ft pixels
    with rasterio.open(feet) as src:
        np.testing.assert_allclose(row_areas_m2(src), np.full(3, 100 * (1200 / 3937) ** 2), rtol=1e-12)


@pytest.mark.parametrize("crs, transform, message", [
    (None, EE_TRANSFORM, "has no CRS: the area of its pixels is unknown"),
    ("EPSG:4326", from_origin(-2.0, 90.02, EE_PIXEL, EE_PIXEL), "reaches latitude 90.02"),
    ("EPSG:4326", EE_TRANSFORM * rasterio.Affine.rotation(10), "is in degrees on a rotated grid"),
])
def test_maps_whose_pixels_cannot_be_measured_are_refused_by_name(tmp_path, crs, transform, message):
    path = write_raster(tmp_path / "odd.tif", np.ones((4, 4)), crs=crs, transform=transform)
    with pytest.raises(SceneError, match=f"odd.tif {message}"):
        mined_area(path)
    assert main(["area", str(path)]) == 1


def test_mined_and_nodata_areas_add_up_each_pixels_own_area(maps, mask, capsys):
    areas = mined_area(maps["old"])
    assert areas["pixels"] == (mask == 1).sum() and areas["nodata"]["pixels"] == (mask == MAP_NODATA).sum()
    assert areas["m2"] == pytest.approx(_m2(mask == 1), rel=1e-9)
    assert areas["nodata"]["m2"] == pytest.approx(_m2(mask == MAP_NODATA), rel=1e-9)
    assert areas["ha"] == pytest.approx(areas["m2"] / 1e4) and areas["km2"] == pytest.approx(areas["m2"] / 1e6)
    assert main(["area", str(maps["old"])]) == 0
    assert f"{areas['ha']:>14.2f} ha" in capsys.readouterr().out


def test_areas_agree_with_the_map_warped_onto_an_equal_area_grid(maps, mask):
    """The issue's test: within 0.1 % of the same map, nearest-resampled onto EASE-Grid 2.0 (EPSG:6933) at 1 m."""
    with rasterio.open(maps["old"]) as src:
        transform, width, height = rasterio.warp.calculate_default_transform(src.crs, "EPSG:6933", src.width,
                                                                              src.height, *src.bounds, resolution=1.0)
        warped = np.full((height, width), MAP_NODATA, np.uint8)
        rasterio.warp.reproject(mask, warped, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                                dst_crs="EPSG:6933", resampling=rasterio.warp.Resampling.nearest,
                                src_nodata=None, dst_nodata=200)
    ease_m2 = (warped == 1).sum() * abs(transform.a * transform.e)
    assert mined_area(maps["old"])["m2"] == pytest.approx(ease_m2, rel=1e-3)


def test_change_and_its_classes_are_measured_per_pixel(maps, mask, tmp_path):
    later = maps["later"]
    areas = change_map(maps["old"], maps["new"], tmp_path / "change.tif")
    expected = {"never mined": (mask == 0) & (later == 0), "new": (mask == 0) & (later == 1),
                "persistent": (mask == 1) & (later == 1), "no longer mined": (mask == 1) & (later == 0),
                "nodata": (mask == MAP_NODATA) | (later == MAP_NODATA)}
    for name, where in expected.items():
        assert areas[name]["pixels"] == where.sum(), name
        assert areas[name]["m2"] == pytest.approx(_m2(where), rel=1e-9), name
    assert change_areas(tmp_path / "change.tif") == areas


def test_region_areas_in_degrees_count_the_pixels_whose_centre_is_inside(maps, mask, tmp_path):
    import shapely
    from shapely.geometry import box, shape

    rows, cols = np.mgrid[:SIDE, :SIDE]
    lon, lat = rasterio.transform.xy(EE_TRANSFORM, rows.ravel(), cols.ravel())
    west, north = EE_TRANSFORM.c, EE_TRANSFORM.f
    # its sides between pixel centres, so that reprojecting it moves none
    region = box(west + 30 * EE_PIXEL, north - 300 * EE_PIXEL, west + 250 * EE_PIXEL, north - 40 * EE_PIXEL)
    inside = shapely.contains_xy(region, lon, lat).reshape(SIDE, SIDE)
    # the region given in UTM, as a districts file may be: reprojected onto the map's CRS
    utm = rasterio.warp.transform_geom("EPSG:4326", "EPSG:32630", region.__geo_interface__)
    write_vector(tmp_path / "regions.gpkg", {"name": np.array(["Offin"], dtype=object)}, [shape(utm)], crs="EPSG:32630",
                 geometry_type="Polygon", layer="regions", what="regions")
    got = region_areas(maps["old"], tmp_path / "regions.gpkg", "name")["Offin"]
    assert got["pixels"] == (inside & (mask == 1)).sum()
    assert got["m2"] == pytest.approx(_m2(inside & (mask == 1)), rel=1e-9)
    change_map(maps["old"], maps["new"], tmp_path / "change.tif")
    new = region_change_areas(tmp_path / "change.tif", tmp_path / "regions.gpkg", "name")["Offin"]["new"]
    assert new["m2"] == pytest.approx(_m2(inside & (mask == 0) & (maps["later"] == 1)), rel=1e-9)


def test_polygons_in_degrees_carry_their_area_on_the_ellipsoid(maps, mask, tmp_path, capsys):
    labels, n = ndimage.label(mask == 1)  # 4-connected, as rasterio's shapes
    exact = sorted(_m2(labels == k) for k in range(1, n + 1))
    assert mined_polygons(maps["old"], tmp_path / "mines.gpkg") == n == 5
    fields, geometries, crs = read_vector(tmp_path / "mines.gpkg")
    areas = np.asarray(fields["area_m2"], float)
    # every polygon, the one with a hole, the long row and the staircase among them, within 1e-7 of its pixels' area
    np.testing.assert_allclose(sorted(areas), exact, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(fields["area_ha"], float), areas / 1e4)
    # --min-area is in square metres on the ellipsoid too: between the two smallest polygons' areas
    threshold = (exact[0] + exact[1]) / 2
    assert main(["polygons", str(maps["old"]), "-o", str(tmp_path / "big.geojson"), "--min-area", f"{threshold}"]) == 0
    assert "wrote 4 polygons" in capsys.readouterr().out
