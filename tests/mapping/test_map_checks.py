"""The one map check: declared nodata, polygons in WGS 84, the no-data area of a change."""

import numpy as np
import pytest
import rasterio

from smallmines_classic import MAP_NODATA, change_map, mined_area, mined_polygons, stratified_sample
from smallmines_classic.assessment import map_class_counts
from smallmines_classic.cli import main
from tests.helpers import TRANSFORM, write_raster


def test_a_declared_nodata_other_than_255_is_honoured(tmp_path, mask):
    seven = np.where(mask == MAP_NODATA, 7, mask)
    path = write_raster(tmp_path / "seven.tif", seven, nodata=7)
    valid = seven != 7
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(map_class_counts(src), [np.sum(seven == 0), np.sum(seven == 1)])
    points, pixels, _ = stratified_sample(path, 60, min_per_class=20, seed=1)
    rows, cols = rasterio.transform.rowcol(TRANSFORM, points["x"], points["y"])
    assert valid[rows, cols].all() and len(pixels) == 2
    assert mined_area(path)["nodata"]["pixels"] == np.sum(~valid) and mined_area(path)["pixels"] == np.sum(seven == 1)
    areas = change_map(path, path, tmp_path / "change.tif")
    with rasterio.open(tmp_path / "change.tif") as src:
        np.testing.assert_array_equal(src.read(1) == MAP_NODATA, ~valid)
    assert areas["nodata"]["pixels"] == np.sum(~valid)
    one = write_raster(tmp_path / "one.tif", seven, nodata=1)
    with pytest.raises(ValueError, match="its nodata value is 1.0, which is one of its classes 0..1"):
        stratified_sample(one, 10, min_per_class=2)


def test_polygons_geojson_is_wgs84_and_matches_the_map(tmp_path, mask):
    from pyogrio.raw import read
    from shapely import from_wkb
    from shapely.geometry import shape

    path = write_raster(tmp_path / "map.tif", mask)
    count = mined_polygons(path, tmp_path / "mines.geojson")
    meta, _, geometries, fields = read(tmp_path / "mines.geojson")
    assert rasterio.crs.CRS.from_user_input(meta["crs"]).to_epsg() == 4326 and len(geometries) == count
    lon, lat = np.concatenate([np.asarray(from_wkb(g).exterior.coords) for g in geometries]).T
    assert (-3 < lon).all() and (lon < -1).all() and (5 < lat).all() and (lat < 7).all()
    back = [shape(rasterio.warp.transform_geom("EPSG:4326", "EPSG:32630", from_wkb(g).__geo_interface__))
            for g in geometries]
    # the areas were measured in the map's CRS; RFC 7946's 7 decimals of a degree move corners by up to 1 cm
    np.testing.assert_allclose([g.area for g in back], fields[1], rtol=5e-3)
    assert sum(fields[1]) == pytest.approx(np.sum(mask == 1) * 100)


def test_change_reports_the_nodata_area(tmp_path, mask, capsys):
    old = write_raster(tmp_path / "old.tif", mask)
    later = mask.copy()
    later[6:10] = MAP_NODATA
    new = write_raster(tmp_path / "new.tif", later)
    areas = change_map(old, new, tmp_path / "change.tif")
    assert areas["nodata"]["pixels"] == np.sum((mask == MAP_NODATA) | (later == MAP_NODATA)) == 10 * 80
    assert areas["nodata"]["ha"] == pytest.approx(800 * 100 / 1e4)
    assert sum(a["pixels"] for a in areas.values()) == mask.size
    assert main(["change", str(old), str(new), "-o", str(tmp_path / "change2.tif")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("no data"))
    assert line.split()[2:4] == ["800", "px"]
