"""Issue 18 (sample, assess, area, change, polygons, the guard, train): no silent wrong number, no internal crash."""

import csv
import hashlib
import json
import os
import re
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy.stats import norm

from smallmines_classic import (
    BAND_NAMES,
    MAP_NODATA,
    RandomForestSegmenter,
    assess_map,
    bootstrap_scores,
    change_map,
    check_scene,
    estimate_area,
    estimate_area_stehman,
    mined_area,
    mined_polygons,
    stratified_sample,
)
from smallmines_classic.assessment import map_class_counts, read_points, write_points
from smallmines_classic.cli import build_parser, main
from smallmines_classic.models._domain import check_domain, sample_pixels
from smallmines_classic.tables import format_table, score_row

TRANSFORM = from_origin(600000, 700000, 10, 10)
CHANGE_DESCRIPTION = "0 never mined, 1 new, 2 persistent, 3 no longer mined"


def write_raster(path, bands, *, dtype="uint8", nodata=MAP_NODATA, description=None, crs="EPSG:32630"):
    bands = np.asarray(bands)
    bands = bands[None] if bands.ndim == 2 else bands
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=dtype, crs=crs, transform=TRANSFORM, nodata=nodata) as dst:
        dst.write(bands.astype(dtype))
        if description:
            dst.set_band_description(1, description)
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(capsys, command):
    err = capsys.readouterr().err
    assert err.startswith(f"smallmines {command}: error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def mask(rng):
    classes = (rng.random((60, 80)) < 0.2).astype(np.uint8)
    classes[:6] = MAP_NODATA
    return classes


@pytest.fixture
def labelled(tmp_path, mask):
    """A map, its sample as CSV rows labelled by a perfect labeller, and a writer of variants of those rows."""
    path = write_raster(tmp_path / "map.tif", mask)
    points, _, crs = stratified_sample(path, 40, min_per_class=15, seed=2)
    points["reference"] = points["map_class"]
    write_points(points, tmp_path / "labels.csv", crs)
    with open(tmp_path / "labels.csv", newline="") as handle:
        rows = list(csv.reader(handle))

    def variant(name, edit):
        table = [list(row) for row in rows]
        edit(table)
        with open(tmp_path / name, "w", newline="") as handle:
            csv.writer(handle).writerows(table)
        return tmp_path / name

    return path, tmp_path / "labels.csv", rows, variant


# 1. assess --json over one of its inputs

def test_assess_refuses_to_write_its_json_over_the_labels_or_the_map(labelled, tmp_path, capsys):
    path, labels, _, _ = labelled
    os.symlink(labels, tmp_path / "link.json")
    before = digest(labels), digest(path)
    for out in (labels, path, tmp_path / "link.json"):
        assert main(["-q", "assess", str(path), str(labels), "--json", str(out)]) == 1
        assert "is the input" in one_error_line(capsys, "assess")
    assert (digest(labels), digest(path)) == before
    assert main(["-q", "assess", str(path), str(labels), "--json", str(tmp_path / "report.json")]) == 0
    assert json.loads((tmp_path / "report.json").read_text())["overall_accuracy"] == pytest.approx(1.0)


# 2 and 6. labels, coordinates and point tables: a named error, never a truncated number or a traceback

@pytest.mark.parametrize("value, shown", [("0.9", "0.9"), ("0.4", "0.4"), ("1.5", "1.5"), ("inf", "inf"), ("-inf", "-inf"),
                                          ("nan", "nan"), ("-1", "-1"), ("2", "2")])
def test_labels_that_are_not_whole_class_numbers_are_refused_naming_the_row(labelled, value, shown):
    path, _, _, variant = labelled
    bad = variant("bad.csv", lambda t: t[4].__setitem__(t[0].index("reference"), value))
    with pytest.raises(ValueError, match=rf"bad.csv: column 'reference' has {shown} at row 4; classes are 0..1 \(whole"):
        assess_map(path, bad)


def test_fractional_labels_are_not_truncated_and_whole_floats_are_accepted(labelled):
    path, labels, _, variant = labelled
    reference = labelled[2][0].index("reference")
    floats = variant("floats.csv", lambda t: [row.__setitem__(reference, f"{row[reference]}.0") for row in t[1:]])
    np.testing.assert_array_equal(assess_map(path, floats)["counts"], assess_map(path, labels)["counts"])
    fractions = variant("fractions.csv", lambda t: (t[1].__setitem__(reference, "0.9"), t[2].__setitem__(reference, "0.4")))
    with pytest.raises(ValueError, match=r"has 0.9 at row 1, and 1 more point\(s\)"):
        assess_map(path, fractions)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t[5].__setitem__(3, ""), r"bad.csv: 1 point\(s\) have no 'y' coordinate \(first at row 5\)"),
    (lambda t: t[6].__setitem__(2, "nan"), r"bad.csv: column 'x' has nan at row 6; coordinates must be finite numbers"),
    (lambda t: t[7].__setitem__(2, "east"), r"bad.csv: column 'x' has 'east' at row 7, which is not a number"),
    (lambda t: t[2].append("extra"), r"bad.csv, line 3: 8 fields where the header has 7"),
    (lambda t: t[9].append("extra"), r"bad.csv, line 10: 8 fields where the header has 7"),
    (lambda t: t[9].pop(), r"bad.csv, line 10: 6 fields where the header has 7"),
    (lambda t: t[0].__setitem__(4, "x"), r"bad.csv: the header names column\(s\) \['x'\] more than once"),
    (lambda t: [row.pop(3) for row in t], "bad.csv has a column 'x' but no 'y'"),
    (lambda t: t[3].__setitem__(2, "100"), r"bad.csv: 1 point\(s\) lie outside .*map.tif \(first at row 3: x, y = 100.0"),
])
def test_bad_point_rows_are_refused_naming_file_and_row(labelled, edit, message):
    path, _, _, variant = labelled
    with pytest.raises(ValueError, match=message):
        assess_map(path, variant("bad.csv", edit))


def test_a_point_table_that_is_not_utf8_csv_is_refused(labelled, tmp_path):
    path = labelled[0]
    (tmp_path / "utf16.csv").write_bytes("id,x\n1,2\n".encode("utf-16"))
    with pytest.raises(ValueError, match="utf16.csv is not a readable CSV file of points"):
        assess_map(path, tmp_path / "utf16.csv")


def test_each_crash_of_the_issue_is_one_named_line(labelled, tmp_path, capsys):
    """The CLI's answers to the inputs that crashed (OverflowError, KeyError, IndexError, a bare ValueError, 3 lines)."""
    path, _, _, variant = labelled
    cases = [
        (variant("inf.csv", lambda t: t[3].__setitem__(6, "inf")), "inf.csv: column 'reference' has inf at row 3"),
        (variant("extra.csv", lambda t: t[1].append("extra")), "extra.csv, line 2: 8 fields where the header has 7"),
        (variant("empty_y.csv", lambda t: t[4].__setitem__(3, "")), "empty_y.csv: 1 point(s) have no 'y' coordinate (first at row 4)"),
        (variant("nan_x.csv", lambda t: t[5].__setitem__(2, "nan")), "nan_x.csv: column 'x' has nan at row 5"),
    ]
    for labels, message in cases:
        assert main(["-q", "assess", str(path), str(labels)]) == 1
        assert message in one_error_line(capsys, "assess")
    image = write_raster(tmp_path / "image.tif", np.random.default_rng(0).random((20, 20)), dtype="float32", nodata=None)
    assert main(["-q", "sample", str(image), "--n", "10", "--out", str(tmp_path / "p.csv")]) == 1
    assert "image.tif is not a mask map" in one_error_line(capsys, "sample")
    assert main(["-q", "area", str(_zarr_group(tmp_path))]) == 1
    assert "group.zarr is not a mask map" in one_error_line(capsys, "area")  # IndexError on main


def _zarr_group(folder):
    """A raster with no band (a group of subdatasets, as GDAL opens some JSON and Zarr files)."""
    root = folder / "group.zarr"
    root.mkdir()
    (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    for name in ("a", "b"):  # two arrays: GDAL opens the group as their subdatasets
        (root / name).mkdir()
        (root / name / ".zarray").write_text(json.dumps({"zarr_format": 2, "shape": [4, 4], "chunks": [4, 4], "dtype": "|u1",
                                                         "compressor": None, "fill_value": 0, "order": "C", "filters": None}))
        (root / name / "0.0").write_bytes(bytes(16))
    return root


# 2. repeated points count once

def test_a_point_given_twice_counts_once_with_a_warning(labelled):
    path, labels, rows, variant = labelled
    twice = variant("twice.csv", lambda t: t.extend([list(t[3]), list(t[8])]))
    with pytest.warns(UserWarning, match=r"twice.csv: 2 row\(s\) repeat an earlier point exactly and count once "
                                         r"\(first: row 41 repeats row 3\)"):
        doubled = assess_map(path, twice)
    single = assess_map(path, labels)
    assert doubled["counts"].sum() == single["counts"].sum() == len(rows) - 1
    np.testing.assert_array_equal(doubled["counts"], single["counts"])
    np.testing.assert_array_equal(doubled["estimate"].area, single["estimate"].area)


@pytest.mark.parametrize("edit, message", [
    # the same point labelled twice, differently
    (lambda t: t.append([*t[3][:6], str(1 - int(t[3][6]))]), r"rows 3 and 41 are one point \(the same id: 3\) but differ in \['reference'\]"),
    # another id at the same x, y
    (lambda t: t.append(["99", *t[3][1:]]), r"rows 3 and 41 are one point \(the same x, y: .*\) but differ in \['id'\]"),
    # one id at two places
    (lambda t: t[5].__setitem__(0, t[4][0]), r"rows 4 and 5 are one point \(the same id: 4\) but differ in \['x', 'y'"),
])
def test_two_rows_of_one_point_that_differ_are_refused(labelled, edit, message):
    path, _, _, variant = labelled
    with pytest.raises(ValueError, match=message):
        assess_map(path, variant("conflict.csv", edit))


# 2 and 6. one map check for every reader of maps: sample and map_class_counts too

def test_sample_refuses_what_area_refuses_and_keeps_change_maps(tmp_path, mask, rng, capsys):
    plain = mask.copy()
    plain[plain == MAP_NODATA] = 0
    not_maps = {
        "float": write_raster(tmp_path / "float.tif", rng.random((20, 20)), dtype="float32", nodata=None),
        "rgb": write_raster(tmp_path / "rgb.tif", rng.integers(0, 255, (3, 20, 20)), nodata=None),
        "obs": write_raster(tmp_path / "scene_obs.tif", rng.integers(0, 3, (20, 20)), nodata=None,
                            description="valid Sentinel-2 observations"),
        "nodata 0": write_raster(tmp_path / "zero.tif", plain, nodata=0),
        "counts": write_raster(tmp_path / "counts.tif", rng.integers(0, 9, (20, 20)), nodata=None),
        "no band": _zarr_group(tmp_path),
    }
    messages = {"float": "it has 1 band(s) of float32", "rgb": "it has 3 band(s) of uint8",
                "obs": "it is the count of valid observations beside a composite", "counts": "band 1 holds value(s) [2, 3, 4",
                "nodata 0": "its nodata value is 0.0, which is one of its classes 0..1", "no band": "it holds no raster band"}
    for kind, path in not_maps.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            for call, args in ((stratified_sample, (path, 10, 2)), (mined_area, (path,))):
                with pytest.raises(ValueError, match=f"{path.name} is not a mask map .*{re.escape(messages[kind])}"):
                    call(*args)
            with rasterio.open(path) as src, pytest.raises(ValueError, match="is not a mask map"):
                map_class_counts(src)
    assert main(["-q", "sample", str(not_maps["obs"]), "--n", "6", "--out", str(tmp_path / "p.csv")]) == 1
    one_error_line(capsys, "sample")
    assert not (tmp_path / "p.csv").exists()
    # a change map stays a map for sample (its four classes), and its classes are checked too
    old = write_raster(tmp_path / "old.tif", mask)
    new = write_raster(tmp_path / "new.tif", np.where(mask == MAP_NODATA, mask, 1 - mask))
    change_map(old, new, tmp_path / "change.tif")
    with rasterio.open(tmp_path / "change.tif") as src:
        assert src.descriptions[0] == CHANGE_DESCRIPTION
    points, pixels, _ = stratified_sample(tmp_path / "change.tif", 40, min_per_class=10, seed=0)
    assert len(pixels) == 4 and set(np.unique(points["map_class"])) <= {1, 3}
    seven = write_raster(tmp_path / "seven.tif", np.full(mask.shape, 7), description=CHANGE_DESCRIPTION)
    with pytest.raises(ValueError, match=r"seven.tif is not a change map .*band 1 holds value\(s\) \[7\]"):
        stratified_sample(seven, 40, min_per_class=10)


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


# 2. a scene with no valid pixel is its own verdict

@pytest.fixture(scope="module")
def rgb_model(twin):
    return RandomForestSegmenter(bands="rgb", n_estimators=2, max_pixels=2000, random_state=0).fit(twin.images, twin.masks)


def test_an_all_nan_scene_fails_check_scene_and_strict_predict(rgb_model, tmp_path, capsys):
    scene = write_raster(tmp_path / "empty.tif", np.full((13, 64, 64), np.nan), dtype="float32", nodata=None)
    with rasterio.open(scene, "r+") as dst:
        dst.descriptions = BAND_NAMES
    assert all(check.ok is None for check in check_scene(rgb_model, scene))
    model = rgb_model.save(tmp_path / "rf.skops")
    assert main(["check-scene", str(scene), "--model", str(model)]) == 1
    captured = capsys.readouterr()
    assert "looks like its training data" not in captured.out and captured.out.count("no valid pixels") == 3
    assert "have no valid pixel where sampled" in captured.err
    assert main(["-q", "predict", str(model), str(scene), str(tmp_path / "map.tif"), "--strict"]) == 1
    assert "has no valid pixel (only NaN or nodata)" in one_error_line(capsys, "predict")
    assert not (tmp_path / "map.tif").exists()
    assert main(["-q", "predict", str(model), str(scene), str(tmp_path / "map.tif")]) == 0
    assert "no band it reads has one: everywhere" in capsys.readouterr().err
    assert mined_area(tmp_path / "map.tif")["nodata"]["pixels"] == 64 * 64


# 7. the domain guard names a shift as a shift, and a band order only when the bands form one

@pytest.fixture(scope="module")
def all_bands(twin_root):
    from smallmines_classic import load_smallminesds

    train, test = (load_smallminesds(twin_root, split=side, progress=False) for side in ("train", "test"))
    model = RandomForestSegmenter(bands="all", n_estimators=4, max_pixels=5000, random_state=0).fit(train.images, train.masks)
    return model, test.images


def _causes(model, X):
    return {c.band: c.cause for c in check_domain(model.band_stats_, sample_pixels(X), BAND_NAMES) if c.ok is False}


def _edited(X, bands, function):
    out = X.copy()
    index = [BAND_NAMES.index(b) for b in bands]
    out[:, index] = function(out[:, index])
    return out


@pytest.mark.parametrize("bands, function, words", [
    (("B02", "B03", "B04"), lambda v: v * 0.65, "optical bands lower than in training by ~3"),
    (BAND_NAMES[:10], lambda v: v * 0.65, "all optical bands lower than in training by"),
    (BAND_NAMES[:10], lambda v: v * 2.0, "all optical bands higher than in training by ~10"),
    (("DEM",), lambda v: v + 500, "the DEM higher than in training by ~4"),
    (("VV", "VH"), lambda v: v + 6, "all radar bands higher than in training by ~5"),
])
def test_a_shift_of_correctly_named_bands_is_named_and_no_band_order_is_suggested(all_bands, bands, function, words):
    model, X = all_bands
    causes = _causes(model, _edited(X, bands, function))
    assert causes and set(causes) <= set(bands)
    for cause in causes.values():
        assert words in cause and "another order" not in cause
        assert "`smallmines composite`" in cause and "retrain / fine-tune on local labels" in cause


@pytest.mark.parametrize("swap", [("B04", "B8A"), ("B02", "B11"), ("B02", "DEM"), ("B04", "VV")])
def test_swapped_bands_are_still_taken_for_a_band_order(all_bands, swap):
    model, X = all_bands
    a, b = (BAND_NAMES.index(name) for name in swap)
    swapped = X.copy()
    swapped[:, [a, b]] = X[:, [b, a]]
    causes = _causes(model, swapped)
    assert causes and set(causes) <= set(swap)
    for band, cause in causes.items():
        assert f"fit band {swap[1] if band == swap[0] else swap[0]} best: bands in another order?" in cause


# 8. statistics

def test_stehman_takes_pixel_counts_and_gives_areas_in_the_unit_asked():
    strata = np.repeat([0, 1], [4, 5])
    map_class = strata.copy()
    reference = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1])
    pixels = np.array([20, 30])
    # By hand (Stehman 2014, eqs. 2-3 and 25): class 1's area = sum_h N_h ybar_h, with the FPC (1 - n_h / N_h).
    share_1 = np.array([1 / 4, 4 / 5])
    var_1 = np.array([np.var([0, 0, 1, 0], ddof=1), np.var([1, 1, 0, 1, 1], ddof=1)])
    area_1 = pixels @ share_1
    se_1 = np.sqrt(np.sum(pixels ** 2 * (1 - np.array([4, 5]) / pixels) * var_1 / np.array([4, 5])))
    # ha given as stratum sizes (0.2, 0.3 ha of 10 m pixels): refused, not a wrong correction
    with pytest.raises(ValueError, match="stratum_sizes must be pixel counts .*pass unit_area"):
        estimate_area_stehman(strata, map_class, reference, pixels * 0.01)
    result = estimate_area_stehman(strata, map_class, reference, pixels, finite_population=True, unit_area=0.01)
    assert result.area[1] == pytest.approx(area_1 * 0.01)
    assert result.area_se[1] == pytest.approx(se_1 * 0.01)
    assert result.area_ci[1] == pytest.approx(norm.ppf(0.975) * se_1 * 0.01)
    in_pixels = estimate_area_stehman(strata, map_class, reference, pixels, finite_population=True)
    np.testing.assert_allclose(in_pixels.area * 0.01, result.area)
    np.testing.assert_allclose(in_pixels.users_accuracy, result.users_accuracy)
    with pytest.raises(ValueError, match="unit_area must be a positive area"):
        estimate_area_stehman(strata, map_class, reference, pixels, unit_area=0)


def test_a_zero_width_bootstrap_interval_is_flagged_not_printed_as_certainty():
    counts = {key: np.zeros(20) for key in ("tp", "fp", "fn")}
    counts["tn"] = np.full(20, 256.0)
    counts["tp"][7], counts["fp"][7], counts["fn"][7], counts["tn"][7] = 30, 5, 10, 211  # one mined patch
    with pytest.warns(UserWarning, match=r"zero width: every resample of the 20 test patches gave the same value, "
                                         r"as 1 patch\(es\) hold all the mining"):
        intervals = bootstrap_scores(counts, n_resamples=200)
    assert intervals["iou"] == (30 / 45, 30 / 45)
    row = score_row("RF", "rgb", {"iou": 30 / 45, "sdc": 60 / 75, "precision": 30 / 35, "recall": 0.75}, intervals)
    for style in ("text", "markdown"):
        table = format_table([row], style)
        assert "0.6667 [0.6667, 0.6667]*" in table
        assert table.rstrip().endswith("(*) zero-width interval: every bootstrap resample gave the same value (e.g. one "
                                       "test patch holds all the mining); too few patches to measure the uncertainty, not "
                                       "certainty.")
    assert "zero-width" not in format_table([row], "csv")


# 9. small consistency

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
    back = [shape(rasterio.warp.transform_geom("EPSG:4326", "EPSG:32630", from_wkb(g).__geo_interface__)) for g in geometries]
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
    assert main(["change", str(old), str(new), str(tmp_path / "change2.tif")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("no data"))
    assert line.split()[2:4] == ["800", "px"]


def test_sample_writes_exactly_the_files_asked(tmp_path, mask, capsys):
    path = write_raster(tmp_path / "map.tif", mask)
    (tmp_path / "x.gpkg").write_text("mine: not to be replaced")
    assert main(["-q", "sample", str(path), "--n", "30", "--min-per-class", "10", "--out", str(tmp_path / "x.csv")]) == 0
    assert "wrote 30 points to " + str(tmp_path / "x.csv") in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "x.csv", "x.gpkg"]
    assert (tmp_path / "x.gpkg").read_text() == "mine: not to be replaced"
    assert main(["-q", "sample", str(path), "--n", "30", "--min-per-class", "10", "--seed", "1",
                 "--out", str(tmp_path / "y.geojson"), str(tmp_path / "y.gpkg")]) == 0
    assert len(read_points(tmp_path / "y.geojson")["id"]) == len(read_points(tmp_path / "y.gpkg")["id"]) == 30
    for out, message in ((tmp_path / "z.txt", "points are written as GeoPackage (.gpkg), CSV (.csv) or GeoJSON"),
                         (path, "points are written as"), (tmp_path / "map.tif.csv", None)):
        if message is None:  # a link to the map, with a points suffix
            os.symlink(path, out)
            message = "is the input"
        assert main(["-q", "sample", str(path), "--n", "30", "--out", str(out)]) == 1
        assert message in one_error_line(capsys, "sample")


def test_global_options_are_accepted_after_every_command(tmp_path, mask, capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"predict", "sample", "assess", "train"} <= set(commands)
    for name, command in commands.items():
        assert any("-q" in action.option_strings for action in command._actions), name
    assert parser.parse_args(["area", "m.tif", "-q"]).quiet and not parser.parse_args(["area", "m.tif"]).quiet
    assert parser.parse_args(["-q", "area", "m.tif"]).quiet
    path = write_raster(tmp_path / "map.tif", mask)
    assert main(["area", "-q", str(path)]) == 0 and "map.tif" in capsys.readouterr().out


def test_train_shows_its_progress_and_scores_the_test_split(twin_root, tmp_path, capsys):
    out = tmp_path / "rf.skops"
    assert main(["train", str(twin_root), str(out), "--bands", "rgb", "--trees", "4", "--max-pixels", "3000"]) == 0
    captured = capsys.readouterr()
    assert "reading SmallMinesDS" in captured.err and "fitting trees" in captured.err
    assert "Score on the test split" in captured.out
    row = next(line for line in captured.out.splitlines() if line.startswith("rf "))
    from smallmines_classic import load_smallminesds, segmentation_scores
    from smallmines_classic.models.persistence import load_model

    test = load_smallminesds(twin_root, split="test", progress=False)
    iou = segmentation_scores(test.masks, load_model(out).predict(test.images))["iou"]
    assert row.split()[2] == f"{iou:.4f}"
    assert load_model(out).verbose is False  # the bars were this run's, not the saved model's
    assert main(["-q", "train", str(twin_root), str(tmp_path / "quiet.skops"), "--trees", "2", "--max-pixels", "2000"]) == 0
    assert capsys.readouterr().err == ""


def test_a_forest_grown_with_a_progress_bar_is_the_same_forest(twin):
    settings = {"bands": "rgb", "n_estimators": 23, "max_pixels": 3000, "random_state": 4, "n_jobs": 2}
    quiet = RandomForestSegmenter(**settings).fit(twin.images, twin.masks)
    shown = RandomForestSegmenter(**settings, verbose=True).fit(twin.images, twin.masks)
    assert len(shown.forest_.estimators_) == 23 and not shown.forest_.warm_start
    np.testing.assert_array_equal(quiet.predict_proba(twin.images[:4]), shown.predict_proba(twin.images[:4]))


def test_the_estimates_of_an_assessment_use_the_counts_of_its_rows(labelled):
    """A sanity check that ties the file-reading above to the estimator: the counts are the rows' labels."""
    path, labels, rows, _ = labelled
    report = assess_map(path, labels)
    header = rows[0]
    counts = np.zeros((2, 2), int)
    for row in rows[1:]:
        counts[int(row[header.index("map_class")]), int(row[header.index("reference")])] += 1
    np.testing.assert_array_equal(report["counts"], counts)
    np.testing.assert_allclose(report["estimate"].area, estimate_area(counts, report["mapped_pixels"] * 100.0).area)
