"""Composites from STAC items: each recipe step against values worked out by hand, on tiny local COGs."""

import json
import math
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform

pytest.importorskip("odc.stac")
pytest.importorskip("pystac_client")

from smallmines_classic import BAND_NAMES, CompositeError, build_composite  # noqa: E402
from smallmines_classic.cli import main  # noqa: E402
from smallmines_classic.io import composite as comp  # noqa: E402
from smallmines_classic.io import stac  # noqa: E402
from smallmines_classic.io.stac import item_query, select_items  # noqa: E402

UTM = "EPSG:32630"
LEFT, TOP, SIDE = 600_000, 700_000, 8          # the expected output grid: 8 x 8 pixels of 10 m
S2_BANDS = BAND_NAMES[:10]
TWENTY_M = ("B05", "B06", "B07", "B8A", "B11", "B12")
S2_ORIGIN = (LEFT - 20, TOP + 20)              # S2 and S1 rasters reach 2 pixels (20 m) beyond the grid


def grid_bbox():
    """A lon/lat box whose UTM bounds, snapped outward to 10 m, are exactly the 8 x 8 grid."""
    xs, ys = [LEFT + 2, LEFT + 10 * SIDE - 2], [TOP - 10 * SIDE + 2, TOP - 2]
    lons, lats = warp_transform(UTM, "EPSG:4326", [xs[0], xs[1], xs[0], xs[1]], [ys[0], ys[0], ys[1], ys[1]])
    return [min(lons), min(lats), max(lons), max(lats)]


def _write(path, array, crs, transform, nodata):
    array = np.asarray(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="COG", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=array.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(array, 1)


def _footprint(crs, transform, shape):
    height, width = shape
    xs = [transform.c, transform.c + transform.a * width]
    ys = [transform.f + transform.e * height, transform.f]
    if crs != "EPSG:4326":
        lons, lats = warp_transform(crs, "EPSG:4326", [xs[0], xs[1], xs[1], xs[0]], [ys[0], ys[0], ys[1], ys[1]])
        xs, ys = [min(lons), max(lons)], [min(lats), max(lats)]
    w, e, s, n = xs[0], xs[1], ys[0], ys[1]
    return [w, s, e, n], {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _item(item_id, collection, when, assets, crs, transform, shape, **properties):
    bbox, geometry = _footprint(crs, transform, shape)
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection, "bbox": bbox,
            "geometry": geometry, "links": [],
            "properties": {"datetime": when, **properties},
            "assets": {key: {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                             "roles": ["data"]} for key, href in assets.items()}}


def grid_mask(rows=slice(None), cols=slice(None)):
    """A boolean 8 x 8 mask on the output grid."""
    mask = np.zeros((SIDE, SIDE), bool)
    mask[rows, cols] = True
    return mask


# Sentinel-2 items: B02 level, processing baseline, SCL on the grid (class, where) and the kept class elsewhere.
S2_ITEMS = {
    "s2_a": ("2022-01-05T10:30:00Z", 1200, "02.14", [(9, grid_mask(rows=slice(0, 2)))], 2),
    "s2_b": ("2022-01-10T10:30:00Z", 2400, "04.00", [(3, grid_mask(cols=slice(0, 2)))], 11),
    "s2_c": ("2022-01-20T10:30:00Z", 2600, "05.09", [(8, grid_mask(slice(0, 2), slice(0, 4)))], 7),
    "s2_d": ("2022-01-28T10:30:00Z", 3000, "05.09", [(10, grid_mask(rows=slice(0, 4))),
                                                     (1, grid_mask(slice(4, 8), slice(0, 4)))], 6),
    "s2_feb": ("2022-02-03T10:30:00Z", 9000, "05.09", [], 4),      # outside the months: ignored
}
#: B02 of item s2_b at grid pixel (7, 7): below the offset, so 0 once harmonised.
LOW_DN = 700
#: B05 adds this many DN per 20 m column: bilinear to 10 m gives 10 DN per 10 m column (see test).
RAMP = 20


def _s2_item(root, item_id, spec):
    when, level, baseline, clouds, kept = spec
    t10 = from_origin(*S2_ORIGIN, 10, 10)
    t20 = from_origin(*S2_ORIGIN, 20, 20)
    scl10 = np.full((SIDE + 4, SIDE + 4), kept, np.uint8)
    for cls, where in clouds:
        scl10[2:-2, 2:-2][where] = cls
    assets = {}
    for k, band in enumerate(S2_BANDS):
        value = level + 100 * k
        if band in TWENTY_M:
            array = np.full((6, 6), value, np.uint16)
            if band == "B05":
                array += (RAMP * np.arange(6)).astype(np.uint16)
            _write(root / item_id / f"{band}.tif", array, UTM, t20, 0)
        else:
            array = np.full((SIDE + 4, SIDE + 4), value, np.uint16)
            if item_id == "s2_b" and band == "B02":
                array[2 + 7, 2 + 7] = LOW_DN
            _write(root / item_id / f"{band}.tif", array, UTM, t10, 0)
        assets[band] = f"{item_id}/{band}.tif"
    _write(root / item_id / "SCL.tif", scl10[::2, ::2], UTM, t20, 0)    # SCL is a 20 m product
    assets["SCL"] = f"{item_id}/SCL.tif"
    return _item(item_id, "sentinel-2-l2a", when, assets, UTM, t20, (6, 6), **{"s2:processing_baseline": baseline})


def s1_linear(seed):
    """Linear gamma0 on the S1 raster (grid + 2 px ring), NaN (no data) in its top-left 4 x 4."""
    values = np.random.default_rng(seed).uniform(0.01, 0.3, (SIDE + 4, SIDE + 4)).astype(np.float32)
    values[:4, :4] = np.nan
    return values


S1_ITEMS = {"s1_a": ("2022-01-03T18:00:00Z", 1), "s1_b": ("2022-01-15T18:00:00Z", 2),
            "s1_c": ("2022-01-27T18:00:00Z", 3), "s1_dec": ("2021-12-22T18:00:00Z", 4)}

DEM_ORIGIN, DEM_STEP = (-2.12, 6.36), 1 / 3600


def dem_height(lon, lat):
    """The DEM is a plane in lon / lat, so bilinear resampling must reproduce it exactly."""
    return 100 + 1000 * (lon - DEM_ORIGIN[0]) + 2000 * (DEM_ORIGIN[1] - lat)


@pytest.fixture(scope="module")
def items_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("stac")
    features = [_s2_item(root, item_id, spec) for item_id, spec in S2_ITEMS.items()]
    t_s1 = from_origin(*S2_ORIGIN, 10, 10)
    for item_id, (when, seed) in S1_ITEMS.items():
        vv = s1_linear(seed)
        _write(root / item_id / "vv.tif", vv, UTM, t_s1, np.nan)
        _write(root / item_id / "vh.tif", vv / 5, UTM, t_s1, np.nan)
        features.append(_item(item_id, "sentinel-1-rtc", when, {"vv": f"{item_id}/vv.tif", "vh": f"{item_id}/vh.tif"},
                              UTM, t_s1, (SIDE + 4, SIDE + 4)))
    t_dem = from_origin(*DEM_ORIGIN, DEM_STEP, DEM_STEP)
    rows, cols = np.mgrid[0:200, 0:200]
    dem = dem_height(DEM_ORIGIN[0] + (cols + 0.5) * DEM_STEP, DEM_ORIGIN[1] - (rows + 0.5) * DEM_STEP)
    _write(root / "dem" / "dem.tif", dem.astype(np.float32), "EPSG:4326", t_dem, None)
    features.append(_item("dem", "cop-dem-glo-30", "2021-04-22T00:00:00Z", {"data": "dem/dem.tif"},
                          "EPSG:4326", t_dem, (200, 200)))
    # An item far from the box whose file does not exist: it must be filtered out, never read.
    far = _item("s2_far", "sentinel-2-l2a", "2022-01-07T10:30:00Z", {b: "nowhere.tif" for b in (*S2_BANDS, "SCL")},
                "EPSG:4326", from_origin(30, 50, 1, 1), (1, 1), **{"s2:processing_baseline": "05.09"})
    features.append(far)
    path = root / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.fixture(scope="module")
def composite(items_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "scene.tif"
    build_composite(grid_bbox(), 2022, out, items=items_file, progress=False, chunk_size=16)
    with rasterio.open(out) as src:
        data, profile, descriptions = src.read(), src.profile, src.descriptions
    with rasterio.open(out.with_name("scene_obs.tif")) as obs:
        return {"data": data, "profile": profile, "descriptions": descriptions, "obs": obs.read(1),
                "obs_dtype": obs.dtypes[0], "path": out}


def test_grid_crs_and_band_names(composite):
    profile = composite["profile"]
    assert profile["crs"].to_epsg() == 32630
    assert tuple(profile["transform"])[:6] == (10, 0, LEFT, 0, -10, TOP)
    assert (profile["width"], profile["height"]) == (SIDE, SIDE)
    assert profile["count"] == 13 and profile["dtype"] == "float32"
    assert composite["descriptions"] == BAND_NAMES


# Hand-worked valid B02 values (after the offset) per pixel, from the cloud / shadow layout of S2_ITEMS:
#   s2_a 1200 (cloud rows 0-1), s2_b 1400 (shadow cols 0-1), s2_c 1600 (cloud rows 0-1 x cols 0-3),
#   s2_d 2000 (cirrus rows 0-3, defective rows 4-7 x cols 0-3); s2_feb is outside January.
EXPECTED_B02 = {
    (0, 0): [],                               # cloud, shadow, cloud, cirrus: nothing valid
    (1, 3): [1400],
    (0, 5): [1400, 1600],
    (3, 1): [1200, 1600],
    (3, 5): [1200, 1400, 1600],
    (5, 1): [1200, 1600],
    (5, 5): [1200, 1400, 1600, 2000],
    (7, 7): [1200, 0, 1600, 2000],            # s2_b's DN 700 - 1000 is floored at 0
}


def test_s2_masking_offset_and_median(composite):
    data, obs = composite["data"], composite["obs"]
    for (row, col), values in EXPECTED_B02.items():
        assert obs[row, col] == len(values), (row, col)
        if not values:
            assert np.isnan(data[:10, row, col]).all()
            continue
        assert data[0, row, col] == pytest.approx(np.median(values)), (row, col)
        if (row, col) != (7, 7):   # the other bands sit 100 DN apart in every item (see _s2_item)
            for k, band in enumerate(S2_BANDS):
                if band != "B05":
                    assert data[k, row, col] == pytest.approx(np.median(values) + 100 * k), (band, row, col)
    assert composite["obs_dtype"] == "uint8"
    assert obs.max() == 4 and not np.isnan(data[:10][:, obs > 0]).any()


def test_every_item_is_an_observation_even_on_the_same_day(items_file, tmp_path):
    """A second item of s2_c's day over the same pixels counts again, as in Earth Engine's collection median."""
    collection = json.loads(items_file.read_text())
    twin = json.loads(json.dumps(next(f for f in collection["features"] if f["id"] == "s2_c")))
    twin["id"] = "s2_c_next_tile"
    for asset in twin["assets"].values():
        asset["href"] = str(items_file.parent / asset["href"])
    path = items_file.parent / "with_same_day.json"
    path.write_text(json.dumps({**collection, "features": [*collection["features"], twin]}))
    out = tmp_path / "scene.tif"
    build_composite(grid_bbox(), 2022, out, items=path, progress=False, chunk_size=16)
    with rasterio.open(out) as src, rasterio.open(tmp_path / "scene_obs.tif") as obs:
        b02, count = src.read(1), obs.read(1)
    for (row, col), values in EXPECTED_B02.items():
        values = values + [1600] * (1600 in values)   # s2_c is valid there: so is its twin
        assert count[row, col] == len(values), (row, col)
        if values:
            assert b02[row, col] == pytest.approx(np.median(values)), (row, col)


def test_twenty_metre_band_is_bilinear(composite):
    """B05's 20 m ramp of RAMP DN per column, bilinear at 10 m: 10 m column j sits at 20 m column 0.75 + j / 2."""
    data, obs = composite["data"], composite["obs"]
    cols = np.arange(SIDE)
    row = 5   # valid there: s2_a and s2_c (cols 0-1), and s2_b (cols 2-3), and s2_d (cols 4-7)
    assert obs[row].tolist() == [2, 2, 3, 3, 4, 4, 4, 4]
    level = np.array([1400, 1400, 1400, 1400, 1500, 1500, 1500, 1500])   # medians of the B02 levels
    expected = level + 300 + RAMP * (0.75 + cols / 2)
    np.testing.assert_allclose(data[3, row], expected, rtol=0, atol=1e-3)


def _expected_s1(polarisation_scale):
    """Median of the three January items, 3x3 circle (centre + 4 edge neighbours) over valid pixels, dB."""
    stack = np.stack([s1_linear(seed) / polarisation_scale for _, (_, seed) in list(S1_ITEMS.items())[:3]])
    median = _nanmedian_quiet(stack)
    out = np.full((SIDE, SIDE), np.nan)
    for row in range(SIDE):
        for col in range(SIDE):
            r, c = row + 2, col + 2   # the S1 raster starts 2 px before the grid
            ring = [median[r, c], median[r - 1, c], median[r + 1, c], median[r, c - 1], median[r, c + 1]]
            ring = [v for v in ring if np.isfinite(v)]
            if ring:
                out[row, col] = 10 * math.log10(sum(ring) / len(ring))
    return out


def _nanmedian_quiet(stack):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(stack, axis=0)


def test_s1_median_circular_filter_and_db(composite):
    data = composite["data"]
    vv, vh = _expected_s1(1), _expected_s1(5)
    np.testing.assert_allclose(data[10], vv, rtol=0, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(data[11], vh, rtol=0, atol=1e-4, equal_nan=True)
    # The S1 raster's top-left 4 x 4 is empty: grid pixel (0, 0)'s whole circle is empty; (1, 1)'s centre is
    # empty but its lower and right neighbours are not.
    assert np.isnan(data[10:12, 0, 0]).all() and np.isfinite(data[10:12, [0, 1, 1], [1, 0, 1]]).all()
    assert data[11, 5, 5] == pytest.approx(data[10, 5, 5] - 10 * math.log10(5), abs=1e-4)


def test_dem_is_bilinear_from_geographic(composite):
    rows, cols = np.mgrid[0:SIDE, 0:SIDE]
    lons, lats = warp_transform(UTM, "EPSG:4326", (LEFT + 10 * cols + 5).ravel().tolist(),
                                (TOP - 10 * rows - 5).ravel().tolist())
    expected = dem_height(np.array(lons), np.array(lats)).reshape(SIDE, SIDE)
    np.testing.assert_allclose(composite["data"][12], expected, rtol=0, atol=1e-3)


def test_windows_do_not_change_the_result(items_file, composite, tmp_path):
    """Windows of 3 px (odd, straddling the 20 m pixels and the S1 filter's ring) give the one-window result."""
    out = build_composite(grid_bbox(), 2022, tmp_path / "small.tif", items=items_file, progress=False, chunk_size=3)
    with rasterio.open(out) as src, rasterio.open(tmp_path / "small_obs.tif") as obs:
        np.testing.assert_array_equal(src.read(), composite["data"])
        np.testing.assert_array_equal(obs.read(1), composite["obs"])


def test_items_as_objects_and_file_urls(items_file, composite, tmp_path):
    """pystac Items work as well as a file, and file:// hrefs as well as relative paths."""
    items = comp.read_item_collection(items_file)
    for item in items:
        for asset in item.assets.values():
            asset.href = "file://" + asset.href if asset.href.startswith("/") else asset.href
    assert all(asset.href.startswith("file:///")
               for item in items if item.id != "s2_far" for asset in item.assets.values())
    collection = {"type": "FeatureCollection", "features": [item.to_dict() for item in items]}
    (tmp_path / "urls.json").write_text(json.dumps(collection))
    for source in (items, tmp_path / "urls.json"):
        out = build_composite(grid_bbox(), 2022, tmp_path / "objects.tif", items=source, progress=False)
        with rasterio.open(out) as src:
            np.testing.assert_array_equal(src.read(), composite["data"])
    assert items[0].assets["B02"].href.startswith("file:///")      # the caller's items are untouched


def test_items_selected_once_make_the_same_file(items_file, composite, tmp_path, monkeypatch):
    """write_composite takes items selected already: it checks and selects nothing again, and gives the same bytes."""
    query = item_query(grid_bbox(), 2022, [1])
    found, source, inputs = stac.find_items(items_file, query)
    selection = select_items(found, query, source, inputs)
    with rasterio.open(composite["path"]) as src:   # the items the composite read, by its tags
        tags = src.tags()
    assert selection.counts == {key: int(tags[f"{key}_items"]) for key in ("s2", "s1", "dem")}

    def again(*args):
        raise AssertionError("checked or selected twice")

    for module in (comp, stac):
        for name in ("check_bbox", "check_months", "item_query", "select_items", "find_items"):
            monkeypatch.setattr(module, name, again, raising=False)
    out = comp.write_composite(selection, tmp_path / "selected.tif", chunk_size=16, progress=False)
    for path in (out, comp.observations_path(out)):
        assert path.read_bytes() == (composite["path"].parent / path.name.replace("selected", "scene")).read_bytes()


def test_recipe_pieces_on_arrays():
    image = np.array([[1, np.nan, 3], [4, 5, 6], [np.nan, np.nan, np.nan]], np.float32)
    filtered = comp.circular_mean(image)
    assert filtered[0, 0] == pytest.approx((1 + 4) / 2)             # centre, below; right is NaN
    assert filtered[1, 1] == pytest.approx((5 + 4 + 6) / 3)         # left, right, centre; above and below NaN
    assert filtered[0, 1] == pytest.approx((1 + 3 + 5) / 3)         # a missing centre still gets its neighbours
    assert filtered[2, 1] == pytest.approx(5.0)
    np.testing.assert_allclose(comp.to_db(np.array([1.0, 0.1, 0.0, -1.0, np.nan])), [0, -10, np.nan, np.nan, np.nan],
                               equal_nan=True)
    assert comp.harmonise(np.array([500.0, 1000.0, 2500.0]), 1000).tolist() == [0, 0, 1500]
    bands = np.array([[[[1200]], [[0]]], [[[1300]], [[1400]]]], np.float32)   # (T=2, B=2, 1, 1)
    assert comp.s2_valid(bands, np.array([[[4]], [[4]]], np.float32)).ravel().tolist() == [False, True]
    scl = np.array(list(range(12)), np.float32).reshape(12, 1, 1)
    valid = comp.s2_valid(np.ones((12, 1, 1, 1), np.float32), scl).ravel()
    assert [cls for cls in range(12) if not valid[cls]] == [0, 1, 3, 8, 9, 10]


def test_nan_median_equals_numpy(rng):
    stack = rng.normal(size=(7, 20, 30)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.4] = np.nan
    stack[:, 0, 0] = np.nan                                  # nothing valid
    stack[:, 0, 1] = [1, 2, np.nan, 4, np.nan, np.nan, np.nan]   # odd count
    stack[:, 0, 2] = [1, 2, np.nan, 4, 10, np.nan, np.nan]       # even count: mean of the middle two
    ours = comp.nan_median(stack)
    assert ours.dtype == np.float32 and np.isnan(ours[0, 0]) and ours[0, 1] == 2 and ours[0, 2] == 3
    np.testing.assert_allclose(ours, _nanmedian_quiet(stack), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("bbox, epsg", [
    ([-2.0, 6.0, -1.99, 6.01], 32630),
    ([30.5, -1.01, 30.51, -1.0], 32736),        # south of the equator: 327zz
    ([-0.001, 5.0, 0.003, 5.001], 32631),       # the centre's zone decides
])
def test_composite_grid(bbox, epsg):
    crs, transform, width, height = comp.composite_grid(bbox)
    assert crs.to_epsg() == epsg
    assert transform.a == 10 and transform.e == -10 and transform.c % 10 == 0 and transform.f % 10 == 0
    left, bottom, right, top = rasterio.warp.transform_bounds("EPSG:4326", crs, *bbox, densify_pts=21)
    assert transform.c <= left and transform.f >= top
    assert transform.c + 10 * width >= right and transform.f - 10 * height <= bottom
    assert transform.c + 10 * width - right < 10 and left - transform.c < 10


def test_no_sentinel2_in_months_is_an_error_and_writes_nothing(items_file, tmp_path):
    out = tmp_path / "scene.tif"
    with pytest.raises(CompositeError, match=r"no sentinel-2-l2a item .* 2022, months \[3\]"):
        build_composite(grid_bbox(), 2022, out, months=[3], items=items_file, progress=False)
    with pytest.raises(CompositeError, match="no sentinel-2-l2a, sentinel-1-rtc or cop-dem-glo-30 item"):
        build_composite([100, 40, 100.01, 40.01], 2022, out, items=items_file, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_pixels_name_the_item(items_file, tmp_path):
    collection = json.loads(items_file.read_text())
    broken = next(f for f in collection["features"] if f["id"] == "s2_c")
    for asset in broken["assets"].values():
        asset["href"] = str(items_file.parent / asset["href"])
    (tmp_path / "garbage.tif").write_bytes(b"not a tiff at all")
    broken["assets"]["B03"]["href"] = str(tmp_path / "garbage.tif")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [broken]}))
    out = tmp_path / "out" / "scene.tif"
    with pytest.warns(RuntimeWarning, match="no sentinel-1-rtc item"):
        with pytest.raises(CompositeError, match="s2_c"):
            build_composite(grid_bbox(), 2022, out, items=path, progress=False)
    broken["assets"]["B03"]["href"] = str(tmp_path / "missing.tif")
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [broken]}))
    with pytest.warns(RuntimeWarning), pytest.raises(CompositeError, match=r"s2_c.*'B03'.*missing.tif does not exist"):
        build_composite(grid_bbox(), 2022, out, items=path, progress=False)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_cli_composite(items_file, tmp_path, capsys):
    out = tmp_path / "cli.tif"
    code = main(["-q", "composite", "--bbox", *map(str, grid_bbox()), "--year", "2022", "--months", "1",
                 "--items", str(items_file), "--out", str(out)])
    assert code == 0
    assert "cli_obs.tif" in capsys.readouterr().out
    with rasterio.open(out) as src, rasterio.open(tmp_path / "cli_obs.tif") as obs:
        assert src.descriptions == BAND_NAMES and obs.read(1)[5, 5] == 4
    code = main(["-q", "composite", "--bbox", *map(str, grid_bbox()), "--year", "2019", "--items", str(items_file),
                 "--out", str(tmp_path / "none.tif")])
    assert code == 1 and "no sentinel-2-l2a item" in capsys.readouterr().err
    assert not (tmp_path / "none.tif").exists()


def test_cli_without_the_maps_extra_names_it(items_file, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "odc.stac", None)    # as if odc-stac were not installed
    code = main(["-q", "composite", "--bbox", *map(str, grid_bbox()), "--year", "2022", "--items", str(items_file),
                 "--out", str(tmp_path / "scene.tif")])
    assert code == 1 and "smallmines[maps]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# A Planetary Computer search answer as the API returns it (trimmed to what is read).
RECORDED_SEARCH = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "stac_version": "1.0.0", "id": "S2A_MSIL2A_20220105T103421_R108_T30NWN_20220106T033423",
     "collection": "sentinel-2-l2a", "bbox": [-2.1, 5.9, -1.1, 6.9],
     "geometry": {"type": "Polygon",
                  "coordinates": [[[-2.1, 5.9], [-1.1, 5.9], [-1.1, 6.9], [-2.1, 6.9], [-2.1, 5.9]]]},
     "links": [], "properties": {"datetime": "2022-01-05T10:34:21.024000Z", "s2:processing_baseline": "03.01"},
     "assets": {"B02": {"href": "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/30/N/WN/2022/01/05/B02.tif"}}},
    {"type": "Feature", "stac_version": "1.0.0", "id": "S2B_MSIL2A_20220305T103021_R108_T30NWN_20220306T033423",
     "collection": "sentinel-2-l2a", "bbox": [-2.1, 5.9, -1.1, 6.9],
     "geometry": {"type": "Polygon",
                  "coordinates": [[[-2.1, 5.9], [-1.1, 5.9], [-1.1, 6.9], [-2.1, 6.9], [-2.1, 5.9]]]},
     "links": [], "properties": {"datetime": "2022-03-05T10:30:21.024000Z", "s2:processing_baseline": "04.00"},
     "assets": {}},
]}


class _FakeSearch:
    def __init__(self, features):
        self.features = features

    def items(self):
        import pystac

        return iter([pystac.Item.from_dict(f) for f in self.features])


class _FakeClient:
    calls = []

    @classmethod
    def open(cls, url, modifier=None, **kwargs):
        cls.calls.append(("open", url, modifier))
        return cls()

    def search(self, **kwargs):
        self.calls.append(("search", kwargs))
        wanted = kwargs["collections"]
        return _FakeSearch([f for f in RECORDED_SEARCH["features"] if f["collection"] in wanted])


def test_planetary_computer_search(monkeypatch):
    import planetary_computer
    import pystac_client

    monkeypatch.setattr(pystac_client, "Client", _FakeClient)
    _FakeClient.calls.clear()
    found = comp.search_stac([-2.0, 6.0, -1.9, 6.1], 2022, [1, 2], comp.PLANETARY_COMPUTER)
    (_, url, modifier), s12, dem = _FakeClient.calls
    assert url == "https://planetarycomputer.microsoft.com/api/stac/v1" and modifier is planetary_computer.sign_inplace
    assert s12[1] == {"collections": ["sentinel-2-l2a", "sentinel-1-rtc"], "bbox": [-2.0, 6.0, -1.9, 6.1],
                      "datetime": "2022-01-01T00:00:00Z/2022-02-28T23:59:59Z"}
    assert dem[1] == {"collections": ["cop-dem-glo-30"], "bbox": [-2.0, 6.0, -1.9, 6.1]}
    assert len(found) == 2
    # the March item is outside the months and dropped by the selection
    chosen = select_items(found, item_query((-2.0, 6.0, -1.9, 6.1), 2022, [1, 2]))
    assert [item.id for item in chosen.s2] == [RECORDED_SEARCH["features"][0]["id"]]

    _FakeClient.calls.clear()
    comp.search_stac([-2.0, 6.0, -1.9, 6.1], 2022, [1], "https://earth-search.aws.element84.com/v1")
    assert _FakeClient.calls[0][2] is None      # only the Planetary Computer's items are signed


def test_import_does_not_load_stac_libraries():
    import subprocess
    import sys

    code = ("import sys, smallmines_classic; bad = [m for m in ('pystac', 'pystac_client', 'odc', 'planetary_computer')"
            " if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
