"""Sample points and labels read strictly: a named error with file and row, never a silent wrong number."""

import json
import os
import re
import warnings

import numpy as np
import pytest
import rasterio

from smallmines_classic import MAP_NODATA, assess_map, change_map, estimate_area, mined_area, stratified_sample
from smallmines_classic.assessment import map_class_counts, read_points
from smallmines_classic.cli import main
from tests.helpers import CHANGE_DESCRIPTION, _zarr_group, digest, one_error_line, write_raster


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


@pytest.mark.parametrize("value, shown", [("0.9", "0.9"), ("0.4", "0.4"), ("1.5", "1.5"), ("inf", "inf"),
                                          ("-inf", "-inf"), ("nan", "nan"), ("-1", "-1"), ("2", "2")])
def test_labels_that_are_not_whole_class_numbers_are_refused_naming_the_row(labelled, value, shown):
    path, _, _, variant = labelled
    bad = variant("bad.csv", lambda t: t[4].__setitem__(t[0].index("reference"), value))
    with pytest.raises(ValueError,
                       match=rf"bad.csv: column 'reference' has {shown} at row 4; classes are 0..1 \(whole"):
        assess_map(path, bad)


def test_fractional_labels_are_not_truncated_and_whole_floats_are_accepted(labelled):
    path, labels, _, variant = labelled
    reference = labelled[2][0].index("reference")
    floats = variant("floats.csv", lambda t: [row.__setitem__(reference, f"{row[reference]}.0") for row in t[1:]])
    np.testing.assert_array_equal(assess_map(path, floats)["counts"], assess_map(path, labels)["counts"])
    fractions = variant("fractions.csv",
                        lambda t: (t[1].__setitem__(reference, "0.9"), t[2].__setitem__(reference, "0.4")))
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
    (lambda t: t[3].__setitem__(2, "100"),
     r"bad.csv: 1 point\(s\) lie outside .*map.tif \(first at row 3: x, y = 100.0"),
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
    """The CLI's answers to the inputs that crashed (OverflowError, KeyError, IndexError, bare ValueError, 3 lines)."""
    path, _, _, variant = labelled
    cases = [
        (variant("inf.csv", lambda t: t[3].__setitem__(6, "inf")), "inf.csv: column 'reference' has inf at row 3"),
        (variant("extra.csv", lambda t: t[1].append("extra")), "extra.csv, line 2: 8 fields where the header has 7"),
        (variant("empty_y.csv", lambda t: t[4].__setitem__(3, "")),
         "empty_y.csv: 1 point(s) have no 'y' coordinate (first at row 4)"),
        (variant("nan_x.csv", lambda t: t[5].__setitem__(2, "nan")), "nan_x.csv: column 'x' has nan at row 5"),
    ]
    for labels, message in cases:
        assert main(["-q", "assess", str(path), str(labels)]) == 1
        assert message in one_error_line(capsys, "assess")
    image = write_raster(tmp_path / "image.tif", np.random.default_rng(0).random((20, 20)), dtype="float32",
                         nodata=None)
    assert main(["-q", "sample", str(image), "--n", "10", "--out", str(tmp_path / "p.csv")]) == 1
    assert "image.tif is not a mask map" in one_error_line(capsys, "sample")
    assert main(["-q", "area", str(_zarr_group(tmp_path))]) == 1
    assert "group.zarr is not a mask map" in one_error_line(capsys, "area")  # IndexError on main


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
    (lambda t: t.append([*t[3][:6], str(1 - int(t[3][6]))]),
     r"rows 3 and 41 are one point \(the same id: 3\) but differ in \['reference'\]"),
    # another id at the same x, y
    (lambda t: t.append(["99", *t[3][1:]]),
     r"rows 3 and 41 are one point \(the same x, y: .*\) but differ in \['id'\]"),
    # one id at two places
    (lambda t: t[5].__setitem__(0, t[4][0]), r"rows 4 and 5 are one point \(the same id: 4\) but differ in \['x', 'y'"),
])
def test_two_rows_of_one_point_that_differ_are_refused(labelled, edit, message):
    path, _, _, variant = labelled
    with pytest.raises(ValueError, match=message):
        assess_map(path, variant("conflict.csv", edit))


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
                "obs": "it is the count of valid observations beside a composite",
                "counts": "band 1 holds value(s) [2, 3, 4",
                "nodata 0": "its nodata value is 0.0, which is one of its classes 0..1",
                "no band": "it holds no raster band"}
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


def test_sample_writes_exactly_the_files_asked(tmp_path, mask, capsys):
    path = write_raster(tmp_path / "map.tif", mask)
    (tmp_path / "x.gpkg").write_text("mine: not to be replaced")
    assert main(["-q", "sample", str(path), "--n", "30", "--min-per-class", "10",
                 "--out", str(tmp_path / "x.csv")]) == 0
    assert "wrote 30 points to " + str(tmp_path / "x.csv") in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "x.csv", "x.gpkg"]
    assert (tmp_path / "x.gpkg").read_text() == "mine: not to be replaced"
    assert main(["-q", "sample", str(path), "--n", "30", "--min-per-class", "10", "--seed", "1",
                 "--out", str(tmp_path / "y.geojson"), str(tmp_path / "y.gpkg")]) == 0
    assert len(read_points(tmp_path / "y.geojson")["id"]) == len(read_points(tmp_path / "y.gpkg")["id"]) == 30
    for out, message in ((tmp_path / "z.txt", "points are written as GeoPackage (.gpkg), CSV (.csv), GeoJSON"),
                         (path, "points are written as"), (tmp_path / "map.tif.csv", None)):
        if message is None:  # a link to the map, with a points suffix
            os.symlink(path, out)
            message = "is the input"
        assert main(["-q", "sample", str(path), "--n", "30", "--out", str(out)]) == 1
        assert message in one_error_line(capsys, "sample")


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
