"""Collect Earth Online interchange: `sample --format ceo` writes CEO's plot CSV; `assess` reads CEO's sample export."""

import csv
import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from smallmines_classic import MAP_NODATA, estimate_area, read_ceo_answers
from smallmines_classic.assessment import is_ceo_export, read_points
from smallmines_classic.cli import main

# CEO's "Download Sample Data" columns before the plot file's (pl_) and the questions (its code, projects.clj).
CEO_BASE = ["plotid", "sampleid", "sample_internal_id", "lon", "lat", "email", "flagged", "collection_time",
            "analysis_duration", "used_geodash", "used_kml", "imagery_title", "imagery_attributions", "sample_geom",
            "confidence", "confidence_comment"]
QUESTION = "Is there mining at the point?"


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """A map, the same sample written as our points (with the map class) and as CEO's plot file."""
    folder = tmp_path_factory.mktemp("ceo")
    rng = np.random.default_rng(7)
    classes = (rng.random((120, 140)) < 0.12).astype(np.uint8)
    classes[:10] = MAP_NODATA
    with rasterio.open(folder / "map.tif", "w", driver="GTiff", width=140, height=120, count=1, dtype="uint8",
                       crs="EPSG:32630", transform=from_origin(600000, 700000, 10, 10), nodata=MAP_NODATA) as dst:
        dst.write(classes, 1)
    args = [str(folder / "map.tif"), "--n", "60", "--min-per-class", "20", "--seed", "3"]
    assert main(["-q", "sample", *args, "--out", str(folder / "points.csv")]) == 0
    assert main(["-q", "sample", *args, "--format", "ceo", "--out", str(folder / "plots.csv")]) == 0
    with open(folder / "points.csv", newline="") as handle:
        points = list(csv.DictReader(handle))
    return {"folder": folder, "map": folder / "map.tif", "plots": folder / "plots.csv", "points": points}


def _plan(points):
    """Answers by plot id: the map class mostly, errors both ways, two unsure and one flagged plot."""
    answers = {p["id"]: {"0": "Not mining", "1": "Mining"}[p["map_class"]] for p in points}
    ones = [p["id"] for p in points if p["map_class"] == "1"]
    zeros = [p["id"] for p in points if p["map_class"] == "0"]
    answers[ones[0]], answers[ones[1]], answers[zeros[0]] = "Not mining", "Not mining", "Mining"
    answers[ones[2]] = answers[zeros[1]] = "Unsure"
    answers[zeros[2]] = "FLAGGED"
    return answers


def _write_export(path, plots_csv, answers, header=CEO_BASE, question=QUESTION, rename=None, extra_rows=()):
    """A CEO-shaped sample export of the plot file, as CEO writes it: a byte-order mark, one row per plot (sample at
    the centre), a pl_ column, the question's answer text, and the trailing ' Guest Interpreters' column."""
    with open(plots_csv, newline="") as handle:
        plots = list(csv.DictReader(handle))
    rename = rename or {}
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow([rename.get(c, c) for c in header] + ["pl_note", question, " Guest Interpreters"])
        for plot in [*plots, *extra_rows]:
            flagged = answers[plot["PLOTID"]] == "FLAGGED"
            values = {"plotid": plot["PLOTID"], "sampleid": "1", "sample_internal_id": "99", "lon": plot["LON"],
                      "lat": plot["LAT"], "email": "a@b.org", "flagged": str(flagged).lower(),
                      "collection_time": "2025-03-01 10:00", "analysis_duration": "12.0 secs",
                      "sample_geom": f"POINT({plot['LON']} {plot['LAT']})", "confidence": "100"}
            writer.writerow([values.get(c, "") for c in header] + ["", "" if flagged else answers[plot["PLOTID"]], ""])
    return path


def _expected_counts(points, answers, classes=None):
    classes = classes or {"Mining": 1, "Not mining": 0}
    counts = np.zeros((2, 2), int)
    for p in points:
        if answers[p["id"]] in classes:
            counts[int(p["map_class"]), classes[answers[p["id"]]]] += 1
    return counts


def test_sample_writes_ceo_plot_csv(sampled):
    with open(sampled["plots"], newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["LON", "LAT", "PLOTID"]  # CEO's key fields in its order; nothing else: the class stays hidden
    assert [r[2] for r in rows[1:]] == [p["id"] for p in sampled["points"]]
    np.testing.assert_array_equal([float(r[0]) for r in rows[1:]], [float(p["lon"]) for p in sampled["points"]])
    np.testing.assert_array_equal([float(r[1]) for r in rows[1:]], [float(p["lat"]) for p in sampled["points"]])
    assert not (sampled["folder"] / "plots.gpkg").exists()


def test_sample_format_ceo_needs_a_csv(sampled, capsys):
    assert main(["-q", "sample", str(sampled["map"]), "--n", "60", "--format", "ceo",
                 "--out", str(sampled["folder"] / "plots.gpkg")]) == 1
    assert "give --out a .csv name" in capsys.readouterr().err


def test_assess_reads_a_ceo_export(sampled, tmp_path, capsys):
    answers = _plan(sampled["points"])
    export = _write_export(tmp_path / "ceo-project-sample.csv", sampled["plots"], answers)
    assert main(["-q", "assess", str(sampled["map"]), str(export), "--json", str(tmp_path / "r.json")]) == 0
    out, err = capsys.readouterr()
    report = json.loads((tmp_path / "r.json").read_text())
    counts = _expected_counts(sampled["points"], answers)
    assert report["counts"] == counts.tolist()
    left_out = sorted(p for p, a in answers.items() if a in ("Unsure", "FLAGGED"))
    assert report["unsure"]["count"] == 3 and sorted(report["unsure"]["ids"]) == left_out
    assert "3 of 60 point(s) were not interpreted (unsure)" in err
    assert "Not interpreted (unsure), left out: 3 point(s)" in out
    expected = estimate_area(counts, np.array(report["mapped_pixels"]) * 100.0)
    np.testing.assert_allclose(report["area_ha"], expected.area / 1e4)
    np.testing.assert_allclose(report["area_ha_ci"], expected.area_ci / 1e4)


def test_older_ceo_headers_and_explicit_answer_maps(sampled, tmp_path, capsys):
    answers = {plot: {"Mining": "Yes", "Not mining": "No", "Unsure": "Cloud"}.get(a, a)
               for plot, a in _plan(sampled["points"]).items()}
    old = {"plotid": "PLOT_ID", "sampleid": "SAMPLE_ID", "lon": "LON", "lat": "LAT", "email": "EMAIL",
           "flagged": "FLAGGED", "collection_time": "COLLECTION_TIME"}
    export = _write_export(tmp_path / "old.csv", sampled["plots"], answers, header=CEO_BASE[:14], question="Mined?",
                           rename=old)
    points = read_points(export)
    assert is_ceo_export(points)
    with pytest.raises(ValueError, match=r"holds answers the answer map does not know: \['Cloud', 'No', 'Yes'\]"):
        read_ceo_answers(points, "old.csv")
    args = ["-q", "assess", str(sampled["map"]), str(export), "--json", str(tmp_path / "r.json"),
            "--ceo-question", "mined?", "--ceo-answer", "Yes=1", "--ceo-answer", "No=0", "--ceo-answer", "cloud=unsure"]
    assert main(args) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["counts"] == _expected_counts(sampled["points"], answers, {"Yes": 1, "No": 0}).tolist()
    assert report["unsure"]["count"] == 3
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["-q", "assess", str(sampled["map"]), str(export), "--ceo-answer", "Yes"])
    assert info.value.code == 2 and "expected ANSWER TEXT=CLASS" in capsys.readouterr().err


def test_ceo_exports_that_cannot_be_read_as_a_sample_are_refused(sampled, tmp_path, capsys):
    answers = _plan(sampled["points"])
    first = sampled["points"][0]
    cases = {
        "two questions": (dict(header=[*CEO_BASE, "Notes"]), "has 2 survey question columns"),
        "two interpreters": (dict(extra_rows=[{"PLOTID": first["id"], "LON": first["lon"], "LAT": first["lat"]}]),
                             f"plot {first['id']} has 2 rows"),
        "unknown answer": (dict(), "holds answers the answer map does not know: ['Maybe']; map each"),
        "unanswered": (dict(), "1 point(s) have no 'Is there mining at the point?' label"),
    }
    for name, (options, message) in cases.items():
        plan = dict(answers)
        plan[sampled["points"][5]["id"]] = {"unknown answer": "Maybe", "unanswered": ""}.get(name, plan[first["id"]])
        export = _write_export(tmp_path / f"{name}.csv", sampled["plots"], plan, **options)
        assert main(["-q", "assess", str(sampled["map"]), str(export)]) == 1, name
        assert message in capsys.readouterr().err, name
    export = _write_export(tmp_path / "bad-lon.csv", sampled["plots"], answers)
    lines = export.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(",")
    cells[3] = "east"  # lon
    export.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n", encoding="utf-8-sig")
    assert main(["-q", "assess", str(sampled["map"]), str(export)]) == 1
    assert "bad-lon.csv: columns lon and lat must hold numbers" in capsys.readouterr().err
    plot_download = tmp_path / "plots-download.csv"
    plot_download.write_text("plot_id,center_lon,center_lat,flagged,collection_time,Q:Mining\n1,-2.0,6.3,false,,100\n")
    assert main(["-q", "assess", str(sampled["map"]), str(plot_download)]) == 1
    assert "plot data download" in capsys.readouterr().err
