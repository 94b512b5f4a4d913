import numpy as np
import pytest
import rasterio
import rasterio.warp

from smallmines_classic import (
    BAND_NAMES,
    CHANGE_CLASSES,
    MAP_NODATA,
    RandomForestSegmenter,
    change_map,
    mined_area,
    mosaic_tiles,
    predict_scene,
)
from smallmines_classic.cli import main
from smallmines_classic.errors import BandError
from tests.conftest import TWIN_TILES


@pytest.fixture(scope="module")
def model(twin):
    forest = RandomForestSegmenter(bands="rgb+", n_estimators=8, max_pixels=20_000, random_state=0)
    return forest.fit(twin.images, twin.masks)


@pytest.fixture(scope="module")
def mosaics(twin_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    return {year: mosaic_tiles(twin_root, year, folder / f"scene_{year}.vrt") for year in (2016, 2022)}


def test_mosaic_lines_up_the_tiles(mosaics, twin):
    side = int(np.sqrt(TWIN_TILES)) * 128
    with rasterio.open(mosaics[2016]) as src:
        assert (src.count, src.height, src.width) == (13, side, side)
        assert src.descriptions[7] == "B8A"
        tile6 = src.read(window=((128, 256), (128, 256)))  # tile 6: row 1, column 1
    i = int(np.flatnonzero((twin.tile_ids == 6) & (twin.years == 2016))[0])
    np.testing.assert_array_equal(tile6, twin.images[i])


def test_scene_map_agrees_with_tiles_and_keeps_the_grid(model, mosaics, twin, tmp_path):
    out = predict_scene(model, mosaics[2016], tmp_path / "map.tif", window_size=200, overlap=16, probability=True,
                        progress=False)
    with rasterio.open(mosaics[2016]) as src, rasterio.open(out) as m:
        assert m.crs == src.crs and m.transform == src.transform and m.shape == src.shape
        assert m.count == 2 and m.nodata == MAP_NODATA and m.dtypes == ("uint8", "uint8")
        mask, percent = m.read(1), m.read(2)
        assert m.overviews(1) or max(m.shape) <= 512  # a COG carries overviews once large enough
    assert set(np.unique(mask)) <= {0, 1}
    year = twin.years == 2016
    per_tile = model.predict(twin.images[year])
    for k, tile in enumerate(twin.tile_ids[year]):
        r, c = divmod(int(tile) - 1, int(np.sqrt(TWIN_TILES)))
        np.testing.assert_array_equal(mask[r * 128:(r + 1) * 128, c * 128:(c + 1) * 128], per_tile[k])
    assert percent.max() <= 100
    area = mined_area(out)
    assert area["pixels"] == int(mask.sum()) and area["m2"] == pytest.approx(mask.sum() * 100.0)
    assert area["ha"] == pytest.approx(area["m2"] / 1e4) and area["km2"] == pytest.approx(area["m2"] / 1e6)


def test_taper_weights():
    from smallmines_classic.mapping.scene import taper

    w = taper(6, 9, overlap=2)
    assert w.shape == (6, 9) and w.max() == 1 and w.min() == pytest.approx(1 / 3)
    np.testing.assert_allclose(w[:, 4], [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3])
    assert (taper(4, 4, overlap=0) == 1).all()


def test_overlapping_windows_blend_without_seams(tmp_path, twin):
    """A model whose output depends on the window: blending leaves no jump at window edges."""
    class WindowMean:
        band_names_, threshold = ("B02",), 0.5

        def predict_proba(self, X, band_names=None):  # each window predicts one value: its mean, scaled
            return np.full((X.shape[0], *X.shape[2:]), X.mean() / 4000, np.float32)

    src = tmp_path / "ramp.tif"
    ramp = np.tile(np.linspace(0, 4000, 300, dtype=np.float32), (60, 1))[None]
    with rasterio.open(src, "w", driver="GTiff", width=300, height=60, count=1, dtype="float32", crs="EPSG:32630",
                       transform=twin.transforms[0]) as dst:
        dst.write(ramp)
        dst.descriptions = ("B02",)
    out = predict_scene(WindowMean(), src, tmp_path / "p.tif", window_size=100, overlap=30, probability=True,
                        progress=False)
    with rasterio.open(out) as m:
        percent = m.read(2)[30].astype(float)
    # blended, the step between neighbouring pixels stays small; cropped windows would jump ~33 percent at x = 100, 200
    assert np.abs(np.diff(percent)).max() <= 3
    assert percent[0] < percent[150] < percent[-1]


def test_source_nodata_stays_nodata_and_small_scenes_work(model, twin, tmp_path):
    image = twin.images[0].copy()
    image[:, :10, :20] = -9999
    src = tmp_path / "small.tif"
    with rasterio.open(src, "w", driver="GTiff", width=128, height=128, count=13, dtype="float32", crs="EPSG:32630",
                       transform=twin.transforms[0], nodata=-9999) as dst:
        dst.write(image)
    before = src.read_bytes()
    out = predict_scene(model, src, tmp_path / "small_map.tif", window_size=1024, progress=False)
    with rasterio.open(out) as m:
        mask = m.read(1)
    assert (mask[:10, :20] == MAP_NODATA).all() and set(np.unique(mask[10:])) <= {0, 1}
    assert src.read_bytes() == before  # input untouched


def nan_scene(path, twin):
    """Tile 0 of the twin with NaN in pixels and blocks of bands an RGB+ model reads, and in its DEM (not read)."""
    image = twin.images[0].copy()
    image[0, 40, 50] = np.nan                   # B02, one pixel
    image[9, 60:62, 60:64] = np.nan             # B12, across the edge of 32-px windows
    image[7, 100:, 90:] = np.nan                # B8A, a corner block
    image[12, 10:20, 10:20] = np.nan            # DEM: the RGB+ model does not read it
    with rasterio.open(path, "w", driver="GTiff", width=128, height=128, count=13, dtype="float32", crs="EPSG:32630",
                       transform=twin.transforms[0]) as dst:
        dst.write(image)
    return path, image


def check_nan_map(model, image, map_path):
    """255 exactly where a band the model reads is NaN; elsewhere the per-pixel prediction; the area's nodata agrees."""
    read = list(model.band_names_)
    invalid = np.isnan(image[[BAND_NAMES.index(b) for b in read]]).any(axis=0)
    with rasterio.open(map_path) as m:
        mask, percent = m.read(1), m.read(2)
    np.testing.assert_array_equal(mask == MAP_NODATA, invalid)
    np.testing.assert_array_equal(percent == MAP_NODATA, invalid)
    expected = model.predict_proba(np.nan_to_num(image)[None])[0] > model.threshold  # a forest: pixel by pixel
    np.testing.assert_array_equal(mask[~invalid], expected[~invalid])
    assert mined_area(map_path)["nodata"]["pixels"] == int(invalid.sum()) == 1 + 8 + 28 * 38


def test_a_pixel_invalid_in_a_read_band_is_nodata_under_every_overlapping_window(model, twin, tmp_path):
    src, image = nan_scene(tmp_path / "holes.tif", twin)
    # 32-px windows padded by 24: every pixel lies in several padded windows, each of which sees the NaN
    out = predict_scene(model, src, tmp_path / "map.tif", window_size=32, overlap=24, probability=True, progress=False)
    check_nan_map(model, image, out)


def test_interrupted_run_leaves_no_output(model, mosaics, tmp_path, monkeypatch):
    calls = []

    def failing(X, band_names=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return np.zeros((X.shape[0], *X.shape[2:]), np.float32)

    monkeypatch.setattr(model, "predict_proba", failing)
    with pytest.raises(KeyboardInterrupt):
        predict_scene(model, mosaics[2016], tmp_path / "map.tif", window_size=128, overlap=0, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_band_mismatch_names_both(model, twin, tmp_path):
    src = tmp_path / "rgb.tif"
    with rasterio.open(src, "w", driver="GTiff", width=128, height=128, count=3, dtype="float32", crs="EPSG:32630",
                       transform=twin.transforms[0]) as dst:
        dst.write(twin.images[0, [2, 1, 0]])
    with pytest.raises(ValueError, match="3 unnamed bands"):
        predict_scene(model, src, tmp_path / "o.tif", progress=False)
    with pytest.raises(BandError, match=r"rgb.tif: the model reads bands \['B02', 'B03', 'B04', 'B8A', 'B11', 'B12'\], "
                       r"but the scene holds \['B04', 'B03', 'B02'\] \(missing \['B8A', 'B11', 'B12'\]\)"):
        predict_scene(model, src, tmp_path / "o.tif", band_names="rgb", progress=False)


@pytest.mark.parametrize("window, overlap", [(0, 8), (-4, 8), (64, -1), (2.5, 8)])
def test_window_and_overlap_are_checked_before_anything_is_written(model, mosaics, tmp_path, window, overlap):
    with pytest.raises(ValueError, match="window size must be a whole number of pixels >= 1 and the overlap >= 0"):
        predict_scene(model, mosaics[2022], tmp_path / "o.tif", window_size=window, overlap=overlap, progress=False)
    assert not list(tmp_path.iterdir())


def test_change_map_classes_add_up(model, mosaics, tmp_path):
    maps = {y: predict_scene(model, mosaics[y], tmp_path / f"m{y}.tif", window_size=256, progress=False)
            for y in (2016, 2022)}
    areas = change_map(maps[2016], maps[2022], tmp_path / "change.tif")
    with rasterio.open(maps[2016]) as a, rasterio.open(maps[2022]) as b, rasterio.open(tmp_path / "change.tif") as c:
        old, new, change = a.read(1), b.read(1), c.read(1)
    assert sum(v["pixels"] for v in areas.values()) == change.size
    assert areas["new"]["pixels"] == np.sum((old == 0) & (new == 1)) == np.sum(change == 1)
    assert areas["persistent"]["pixels"] + areas["no longer mined"]["pixels"] == old.sum()
    assert areas["persistent"]["pixels"] + areas["new"]["pixels"] == new.sum()
    assert areas["nodata"]["pixels"] == np.sum(change == MAP_NODATA)
    assert list(areas) == [*CHANGE_CLASSES.values(), "nodata"]


def test_mismatched_grids_and_maps_without_a_crs(twin, tmp_path):
    def write(path, crs, transform):
        with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8", crs=crs,
                           transform=transform) as dst:
            dst.write(np.ones((1, 64, 64), np.uint8))
        return path

    a = write(tmp_path / "a.tif", "EPSG:32630", twin.transforms[0])
    shifted = write(tmp_path / "b.tif", "EPSG:32630", twin.transforms[1])
    other_crs = write(tmp_path / "c.tif", "EPSG:32631", twin.transforms[0])
    with pytest.raises(ValueError, match="different grids"):
        change_map(a, shifted, tmp_path / "x.tif")
    with pytest.raises(ValueError, match="differ in CRS"):
        change_map(a, other_crs, tmp_path / "x.tif")
    no_crs = write(tmp_path / "g.tif", None, twin.transforms[0])  # one in degrees is measured: see test_geographic.py
    with pytest.raises(ValueError, match="g.tif has no CRS: the area of its pixels is unknown"):
        mined_area(no_crs)
    assert not (tmp_path / "x.tif").exists()


def test_cli_predict_area_change(model, mosaics, tmp_path, capsys):
    model_path = model.save(tmp_path / "rf.skops")
    for year in (2016, 2022):
        assert main(["-q", "predict", str(model_path), str(mosaics[year]), "-o", str(tmp_path / f"{year}.tif"),
                     "--window", "300"]) == 0
    assert main(["area", str(tmp_path / "2016.tif")]) == 0
    out = capsys.readouterr().out
    assert " ha " in out and "no data:          0 px" in out
    assert main(["change", str(tmp_path / "2016.tif"), str(tmp_path / "2022.tif"), "-o",
                 str(tmp_path / "change.tif")]) == 0
    out = capsys.readouterr().out
    assert "no longer mined" in out and "persistent" in out
    assert main(["polygons", str(tmp_path / "2016.tif"), "-o", str(tmp_path / "mines.geojson")]) == 0
    assert "polygons to" in capsys.readouterr().out and (tmp_path / "mines.geojson").is_file()
    assert main(["area", str(tmp_path / "2016.tif"), "--regions", str(tmp_path / "mines.geojson"),
                 "--field", "nope"]) == 1
    assert "no field 'nope'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def mask_map(tmp_path_factory, twin):
    """A 600 x 600 map with two known mined blocks, on the twin's grid."""
    path = tmp_path_factory.mktemp("maps") / "known.tif"
    mask = np.zeros((600, 600), np.uint8)
    mask[10:30, 10:60] = 1          # 1000 px
    mask[100:300, 500:520] = 1      # 4000 px, crosses a block edge in small blocks
    mask[590:, :5] = MAP_NODATA
    with rasterio.open(path, "w", driver="GTiff", width=600, height=600, count=1, dtype="uint8", crs="EPSG:32630",
                       transform=twin.transforms[0], nodata=MAP_NODATA) as dst:
        dst.write(mask, 1)
    return path


def test_polygons_cover_the_mined_pixels(mask_map, tmp_path, monkeypatch):
    import shapely

    from smallmines_classic.io.vectors import read_vector
    from smallmines_classic.mapping import analysis

    monkeypatch.setattr("smallmines_classic.io.maps.MAP_BLOCK", 256)  # blocks cut the second patch: pieces must merge
    # GeoJSON in WGS 84, as RFC 7946 has it; a CSV file (WKT) declares no CRS
    for name, epsg in (("mines.gpkg", 32630), ("mines.shp", 32630), ("mines.csv", None), ("mines.geojson", 4326)):
        assert analysis.mined_polygons(mask_map, tmp_path / name) == 2
        fields, geometries, crs = read_vector(tmp_path / name)
        assert (crs and rasterio.crs.CRS.from_user_input(crs).to_epsg()) == epsg
        areas = np.asarray(fields["area_m2"], float)
        assert sorted(areas.tolist()) == [100_000.0, 400_000.0]  # m2: pixels x 100, measured in the map's CRS
        np.testing.assert_allclose(np.asarray(fields["area_ha"], float), areas / 1e4)
        if epsg != 4326:   # the polygons themselves, in the map's CRS
            np.testing.assert_array_equal(shapely.area(geometries), areas)
    assert analysis.mined_polygons(mask_map, tmp_path / "big.gpkg", min_area_m2=200_000) == 1


def test_region_areas_in_another_crs(mask_map, tmp_path, twin):
    from pyogrio.raw import write
    from shapely import to_wkb
    from shapely.geometry import box, shape

    t = twin.transforms[0]
    west = box(t.c, t.f - 600 * 10, t.c + 300 * 10, t.f)       # holds the first block only
    east = box(t.c + 300 * 10, t.f - 600 * 10, t.c + 600 * 10, t.f)

    def to_wgs84(geometry):
        return shape(rasterio.warp.transform_geom("EPSG:32630", "EPSG:4326", geometry.__geo_interface__))

    regions = tmp_path / "regions.gpkg"
    write(regions, geometry=to_wkb([to_wgs84(west), to_wgs84(east)]).astype(object),
          field_data=[np.array(["west", "east"], dtype=object)], fields=["district"], crs="EPSG:4326", driver="GPKG",
          geometry_type="Polygon")
    areas = mined_area(mask_map)
    by_region = __import__("smallmines_classic").region_areas(mask_map, regions, "district")
    assert by_region["west"]["pixels"] == 1000 and by_region["east"]["pixels"] == 4000
    assert areas["pixels"] == 5000
    # the 10 x 5 nodata corner lies in the west
    assert areas["nodata"]["pixels"] == by_region["west"]["nodata"]["pixels"] == 50
    assert by_region["east"]["nodata"]["pixels"] == 0
    assert areas["nodata"]["ha"] == pytest.approx(50 * 100 / 1e4)
    with pytest.raises(ValueError, match="no field 'name'"):
        __import__("smallmines_classic").region_areas(mask_map, regions, "name")
    # Two polygons of one name: refused, not summed into one row without a word.
    twice = tmp_path / "twice.gpkg"
    write(twice, geometry=to_wkb([to_wgs84(west), to_wgs84(east)]).astype(object),
          field_data=[np.array(["Tarkwa", "Tarkwa"], dtype=object)], fields=["district"], crs="EPSG:4326",
          driver="GPKG", geometry_type="Polygon")
    with pytest.raises(ValueError, match=r"twice.gpkg: field 'district' names more than one polygon \['Tarkwa'\]"):
        __import__("smallmines_classic").region_areas(mask_map, twice, "district")


def test_change_areas_in_total_and_per_region_by_hand(mask_map, tmp_path, twin):
    from pyogrio.raw import write
    from shapely import contains_xy, to_wkb
    from shapely.geometry import box, shape

    from smallmines_classic import change_areas, region_change_areas

    with rasterio.open(mask_map) as src:
        old, profile = src.read(1), src.profile
    new = old.copy()
    new[10:30, 10:35] = 0                      # half the first block is no longer mined
    new[400:450, 100:400] = 1                  # new mining across both regions
    new[0:3, 590:] = MAP_NODATA                # nodata in the new year only
    later = tmp_path / "later.tif"
    with rasterio.open(later, "w", **profile) as dst:
        dst.write(new, 1)
    change = tmp_path / "change.tif"
    change_map(mask_map, later, change)
    t = twin.transforms[0]
    rects = {"west": box(t.c, t.f - 6000, t.c + 2000, t.f), "east": box(t.c + 2000, t.f - 6000, t.c + 6000, t.f)}
    regions = tmp_path / "regions.gpkg"

    def to_3857(geometry):
        return shape(rasterio.warp.transform_geom("EPSG:32630", "EPSG:3857", geometry.__geo_interface__))

    write(regions, geometry=to_wkb([to_3857(g) for g in rects.values()]).astype(object),
          field_data=[np.array(list(rects), dtype=object)], fields=["name"], crs="EPSG:3857", driver="GPKG",
          geometry_type="Polygon")
    # by hand: classes from the two arrays, regions by pixel centre (x = c + 10 col + 5)
    classes = np.select([(old == 0) & (new == 1), (old == 1) & (new == 1), (old == 1) & (new == 0),
                         (old == 0) & (new == 0)], [1, 2, 3, 0], MAP_NODATA)
    rows, cols = np.mgrid[0:600, 0:600]
    x, y = t.c + 10 * cols + 5, t.f - 10 * rows - 5
    names = {1: "new", 2: "persistent", 3: "no longer mined", 0: "never mined", MAP_NODATA: "nodata"}
    total = change_areas(change)
    per_region = region_change_areas(change, regions, "name")
    for code, name in names.items():
        assert total[name]["pixels"] == np.sum(classes == code), name
        assert total[name]["ha"] == pytest.approx(np.sum(classes == code) * 100 / 1e4)
        for region, geometry in rects.items():
            inside = contains_xy(geometry, x, y)
            assert per_region[region][name]["pixels"] == np.sum((classes == code) & inside), (region, name)
    assert total["nodata"]["pixels"] == 50 + 3 * 10 and per_region["west"]["new"]["pixels"] == 50 * 100
    with pytest.raises(ValueError, match="is not a change map"):
        change_areas(mask_map)


def test_missing_optional_dependency_names_the_extra():
    from smallmines_classic._backend import require

    with pytest.raises(ImportError, match=r"pip install 'smallmines\[maps\]'"):
        require("no_such_module_for_smallmines", "maps")
    assert require("numpy", "maps") is np
