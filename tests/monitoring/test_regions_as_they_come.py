"""`smallmines monitor` with regions as they come (an invalid polygon, a district outside the box), items that cover
part of the box, and labelled samples checked before any work; on the twin's local items (see test_monitor)."""

import csv
import re
import warnings

import numpy as np
import pytest
import rasterio
import rasterio.warp

pytest.importorskip("odc.stac")
pytest.importorskip("pyogrio")

import shapely  # noqa: E402
from pyogrio.raw import write as write_vector  # noqa: E402
from shapely.geometry import Polygon, box  # noqa: E402

from smallmines_classic import MAP_NODATA, PointsError, SmallminesWarning  # noqa: E402
from smallmines_classic.cli import main  # noqa: E402
from smallmines_classic.io.composite import composite_plan  # noqa: E402
from smallmines_classic.io.stac import item_query  # noqa: E402
from smallmines_classic.monitoring.checks import year_items  # noqa: E402
from tests.monitoring.test_monitor import CLOUD, LEFT, REGIONS, TOP, inputs, model, rows_by, run_monitor  # noqa: E402, F401

# A bow tie: its ring crosses itself, as 4 of the 253 districts of geoBoundaries' Ghana ADM2 file do.
BOW_TIE = [(LEFT + 100, TOP - 100), (LEFT + 1200, TOP - 2400), (LEFT + 1200, TOP - 100), (LEFT + 100, TOP - 2400)]
FAR = (LEFT + 60_000, TOP - 2540, LEFT + 61_000, TOP - 20)      # 60 km east: outside any box of the twin
FAR_NAME = "=Far()"   # a name a spreadsheet would run as a formula
AREA_COLUMNS = ("mined_ha", "nodata_ha", "adjusted_ha", "adjusted_ha_ci", "new_ha", "persistent_ha", "no_longer_ha",
                "alerts")


def _degrees(left, bottom, right, top):
    lons, lats = rasterio.warp.transform("EPSG:32630", "EPSG:4326", [left, right, left, right],
                                         [bottom, bottom, top, top])
    return [min(lons), min(lats), max(lons), max(lats)]


INSIDE_BOX = _degrees(LEFT + 10, TOP - 2550, LEFT + 2550, TOP - 10)   # inside the four tiles the items cover


@pytest.fixture(scope="module")
def regions(inputs):
    path = inputs["folder"] / "as_they_come.gpkg"
    polygons = [Polygon(BOW_TIE), box(*REGIONS["East"]), box(*FAR)]
    write_vector(path, geometry=shapely.to_wkb(polygons).astype(object),
                 field_data=[np.array(["Bow tie", "East", FAR_NAME], dtype=object)], fields=["NAME"], crs="EPSG:32630",
                 driver="GPKG", geometry_type="Polygon")
    return path


@pytest.fixture(scope="module")
def as_they_come(inputs, regions, tmp_path_factory):
    out = tmp_path_factory.mktemp("as_they_come") / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary, lines = run_monitor(out, {**inputs, "regions": regions}, years=[2016, 2019], bbox=INSIDE_BOX)
    return {"out": out, "summary": summary, "lines": lines, "warnings": [(w.category, str(w.message)) for w in caught]}


def test_an_invalid_region_is_repaired_with_a_warning_and_the_run_ends(as_they_come):
    repaired = [message for category, message in as_they_come["warnings"] if category is SmallminesWarning]
    assert len(repaired) == 1
    assert re.search(r"1 invalid polygon\(s\) repaired with shapely's make_valid .*'Bow tie' \(Self-intersection",
                     repaired[0]), repaired
    assert any(line.startswith("alerts 2016-2019: done") for line in as_they_come["lines"])
    rows = rows_by(as_they_come["summary"])
    assert isinstance(rows["Bow tie", 2019]["alerts"], int) and rows["Bow tie", 2019]["mined_ha"] is not None


def test_the_observed_share_of_each_region(as_they_come):
    out, rows = as_they_come["out"], rows_by(as_they_come["summary"])
    for year in (2016, 2019):
        with rasterio.open(out / str(year) / "map.tif") as src:
            mask, transform = src.read(1), src.transform
        observed = mask != MAP_NODATA
        assert rows["(all)", year]["observed_share"] == pytest.approx(observed.mean(), abs=1e-4)
        rows_, cols = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
        x, y = transform.c + 10 * cols + 5, transform.f - 10 * rows_ - 5
        # the two triangles of the bow tie, the pixels whose centre they hold, against their own area (GDAL's
        # rasterising decides a centre on a diagonal border its own way: a few of the 12,650 pixels, 0.15 %)
        halves = [Polygon([BOW_TIE[0], ((LEFT + 650), TOP - 1250), BOW_TIE[3]]),
                  Polygon([BOW_TIE[1], ((LEFT + 650), TOP - 1250), BOW_TIE[2]])]
        held = np.any([shapely.contains_xy(h, x, y) for h in halves], axis=0)
        area = sum(h.area for h in halves)
        expected = (held & observed).sum() * 100 / area
        assert rows["Bow tie", year]["observed_share"] == pytest.approx(min(1, expected), abs=1.5e-3)
        assert rows["Bow tie", year]["observed_share"] <= 1
    east_pixels = (1260 // 10) * (2520 // 10)
    cloud_pixels = (CLOUD[0].stop - CLOUD[0].start) * (CLOUD[1].stop - CLOUD[1].start)
    assert rows["East", 2016]["observed_share"] == 1.0
    assert rows["East", 2019]["observed_share"] == round(1 - cloud_pixels / east_pixels, 4) < 1


def test_a_region_outside_the_box_has_empty_areas_not_zeros(as_they_come):
    assert any(category is RuntimeWarning and f"the regions [{FAR_NAME!r}] reach beyond the box" in message
               for category, message in as_they_come["warnings"])
    rows = rows_by(as_they_come["summary"])
    for year in (2016, 2019):
        far = rows[FAR_NAME, year]
        assert far["observed_share"] == 0.0 and far["area_basis"] is None
        assert all(far[column] is None for column in AREA_COLUMNS), far
    with open(as_they_come["out"] / "monitor.csv", newline="", encoding="utf-8") as handle:
        table = {(row["region"], row["year"]): row for row in csv.DictReader(handle)}
    far = table["'" + FAR_NAME, "2019"]   # neutralised for spreadsheets
    assert far["mined_ha"] == far["nodata_ha"] == "" and far["observed_share"] == "0.0"
    assert float(table["East", "2019"]["mined_ha"]) == rows["East", 2019]["mined_ha"]


def test_items_that_cover_part_of_the_box_are_named(inputs, as_they_come):
    assert not any("of the box" in message for _, message in as_they_come["warnings"])   # the box inside the tiles
    west, south, east, north = INSIDE_BOX
    wider = (west, south, east + (east - west), north)   # as wide again to the east, where no item is
    with pytest.warns(RuntimeWarning, match=r"items of .* in 2016 cover (\d+\.\d)% of the box") as caught:
        year_items(inputs["items"], None, item_query(wider, 2016, [1]), [2016])
    share = float(re.search(r"cover (\d+\.\d)%", str(caught[0].message))[1])
    assert share == pytest.approx(50, abs=1.5)


def _sample(path, reference, confidence=None, header=None):
    """A sample file of three points with these reference labels (and confidences)."""
    header = header or ["id", "x", "y", "lon", "lat", "map_class", "reference", "confidence"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, label in enumerate(reference):
            row = [i + 1, LEFT + 500 + 10 * i, TOP - 500, -2.1, 5.8, i % 2, label, (confidence or [""] * 3)[i]]
            writer.writerow(row[:len(header)])
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _sample(p, ["", "", ""]), r"3 point\(s\) have no 'reference' label \(first at row 1\)"),
    (lambda p: _sample(p, ["1", "", "0"]), r"1 point\(s\) have no 'reference' label \(first at row 2\)"),
    (lambda p: _sample(p, ["", "", ""], ["unsure"] * 3), r"none of its 3 point\(s\) is labelled \(all unsure\)"),
    (lambda p: _sample(p, ["1", "0", "1"], header=["id", "x", "y", "lon", "lat", "map_class"]),
     "has no column 'reference': label the sample first"),
    (lambda p: _sample(p, ["1", "7", "1"]), "column 'reference' has 7 at row 2"),
    (lambda p: _sample(p, ["1", "0", "1"], header=["id", "x", "y", "lon", "lat"]), "has no column 'map_class'"),
    (lambda p: (p.write_bytes(b"\xff\xfe\x00binary"), p)[1], "is not a readable CSV file of points"),
    (lambda p: p, "does not exist"),
])
def test_every_labelled_sample_is_checked_before_any_work(inputs, tmp_path, make, message):
    sample = make(tmp_path / "points_labels.csv")
    with pytest.raises(PointsError, match=f"the labelled sample for 2019.*{message}"):
        run_monitor(tmp_path / "out", inputs, years=[2016, 2019], assess={2019: sample})
    assert not (tmp_path / "out").exists()


def test_the_command_prints_the_jobs_size_and_refuses_an_unlabelled_sample_first(inputs, tmp_path, capsys):
    sample = _sample(tmp_path / "points.csv", ["", "", ""])
    code = main(["monitor", "--regions", str(inputs["regions"]), "--field", "NAME", "--years", "2016", "2019",
                 "--model", str(inputs["model"]), "--items", str(inputs["items"]), "--assess", f"2019={sample}",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    plan = composite_plan(_degrees(*REGIONS["West"][:2], *REGIONS["East"][2:]))
    assert code == 1 and not (tmp_path / "out").exists()
    assert err.startswith(f"smallmines monitor: 2 year(s), each a composite of {plan.width} x {plan.height} px "
                          "of 10 m"), err
    assert "the labelled sample for 2019 cannot be used" in err and "unexpected error" not in err


def test_the_commands_table_shows_an_unobserved_region_as_unknown():
    from smallmines_classic.cli.output import monitor_table

    rows = [{"region": "(all)", "year": 2016, "mined_ha": 12.34}, {"region": "Far", "year": 2016, "mined_ha": None}]
    lines = monitor_table(rows).splitlines()
    assert lines[1].split() == ["(all)", "12.3"] and lines[2].split() == ["Far", "–"]


def test_an_invalid_region_without_area_is_refused(tmp_path):
    from smallmines_classic import RegionsError
    from smallmines_classic.monitoring.regions import Regions

    path = tmp_path / "flat.gpkg"
    flat = Polygon([(LEFT, TOP), (LEFT + 100, TOP - 100), (LEFT + 200, TOP - 200), (LEFT, TOP)])   # a ring on a line
    write_vector(path, geometry=shapely.to_wkb([box(*REGIONS["East"]), flat]).astype(object),
                 field_data=[np.array(["East", "Line"], dtype=object)], fields=["NAME"], crs="EPSG:32630",
                 driver="GPKG", geometry_type="Polygon")
    with pytest.raises(RegionsError, match=r"region 'Line' is an invalid polygon \(.*\) that holds no area once "
                                           "repaired; fix or remove it"):
        Regions(path, "NAME")
