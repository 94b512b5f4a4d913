"""Sampling a map, labelling the points and assessing the map: functions, files and the CLI."""

import csv
import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from smallmines_classic import (
    MAP_NODATA,
    RandomForestSegmenter,
    assessment,
    change_map,
    estimate_area,
    mined_area,
    mosaic_tiles,
    predict_scene,
    stratified_sample,
)
from smallmines_classic.assessment import read_points, write_points
from smallmines_classic.cli import main


def _write_map(path, classes, description=None):
    with rasterio.open(path, "w", driver="GTiff", width=classes.shape[1], height=classes.shape[0], count=1,
                       dtype="uint8", crs="EPSG:32630", transform=from_origin(600000, 700000, 10, 10),
                       nodata=MAP_NODATA) as dst:
        dst.write(classes, 1)
        if description:
            dst.set_band_description(1, description)
    return path


@pytest.fixture
def small_map(tmp_path, rng):
    classes = (rng.random((150, 170)) < 0.1).astype(np.uint8)
    classes[:20, :] = MAP_NODATA
    classes[60:80, 30:90] = 1
    return _write_map(tmp_path / "map.tif", classes), classes


def test_sample_is_stratified_uniform_and_never_nodata(small_map, monkeypatch):
    path, classes = small_map
    monkeypatch.setattr("smallmines_classic.io.maps.MAP_BLOCK", 64)  # many windows: the ranks cross window edges
    points, pixels, crs = stratified_sample(path, 300, min_per_class=120, seed=5)
    assert crs == "EPSG:32630"
    np.testing.assert_array_equal(pixels, [np.sum(classes == 0), np.sum(classes == 1)])
    np.testing.assert_array_equal(np.bincount(points["map_class"]), assessment.allocate_sample(pixels, 300, 120))
    assert sorted(points["id"]) == list(range(1, 301))
    with rasterio.open(path) as src:
        rows, cols = rasterio.transform.rowcol(src.transform, points["x"], points["y"])
        x, y = rasterio.transform.xy(src.transform, rows, cols)
    np.testing.assert_array_equal(x, points["x"])  # pixel centres
    np.testing.assert_array_equal(classes[rows, cols], points["map_class"])  # the map's class, never nodata
    assert len(set(zip(rows, cols))) == 300  # without replacement
    assert np.all((points["lon"] > -3) & (points["lon"] < -1) & (points["lat"] > 5) & (points["lat"] < 7))
    again, _, _ = stratified_sample(path, 300, min_per_class=120, seed=5)
    np.testing.assert_array_equal(again["x"], points["x"])


def test_every_pixel_of_a_class_is_equally_likely(small_map, monkeypatch):
    path, classes = small_map
    monkeypatch.setattr("smallmines_classic.io.maps.MAP_BLOCK", 64)
    hits = np.zeros(classes.shape)
    for seed in range(200):
        points, _, _ = stratified_sample(path, 80, min_per_class=40, seed=seed)
        with rasterio.open(path) as src:
            rows, cols = rasterio.transform.rowcol(src.transform, points["x"], points["y"])
        np.add.at(hits, (rows, cols), 1)
    # Each class-1 pixel has probability 40 / N1 per draw; compare the hits per 64-px window with their expectation.
    mined = classes == 1
    expected = 200 * 40 / mined.sum()
    for r in range(0, 150, 64):
        for c in range(0, 170, 64):
            window = (slice(r, r + 64), slice(c, c + 64))
            n = mined[window].sum()
            if n > 50:
                observed = hits[window][mined[window]].sum()
                assert abs(observed - n * expected) < 4 * np.sqrt(n * expected), (r, c)


def test_point_files_round_trip(small_map, tmp_path):
    path, _ = small_map
    points, _, crs = stratified_sample(path, 50, min_per_class=10, seed=0)
    for name in ("p.csv", "p.gpkg", "p.geojson"):
        write_points(points, tmp_path / name, crs)
        back = read_points(tmp_path / name)
        np.testing.assert_array_equal(np.asarray(back["map_class"]).astype(int), points["map_class"])
        np.testing.assert_allclose(np.asarray(back["x"]).astype(float), points["x"])
    with pytest.raises(ValueError, match="at least the floors"):
        stratified_sample(path, 10, min_per_class=10)


def test_cli_sample_then_assess_on_a_twin_map(twin, twin_root, tmp_path, capsys):
    """Map a twin scene with a small forest, sample the map, label the points from the twin's true masks, assess."""
    model = RandomForestSegmenter(bands="rgb", n_estimators=4, max_pixels=4000, random_state=0)
    model.fit(twin.images, twin.masks)
    scene = mosaic_tiles(twin_root, 2022, tmp_path / "s.vrt")
    truth = mosaic_tiles(twin_root, 2022, tmp_path / "t.vrt", kind="MASK")
    mapped = predict_scene(model, scene, tmp_path / "map.tif", window_size=256, progress=False)
    assert main(["-q", "sample", str(mapped), "--n", "240", "--min-per-class", "80",
                 "--out", str(tmp_path / "pts.gpkg"), str(tmp_path / "pts.csv"), str(tmp_path / "pts.geojson"),
                 "--seed", "3"]) == 0
    assert "wrote 240 points" in capsys.readouterr().out
    assert all((tmp_path / f"pts.{ext}").is_file() for ext in ("gpkg", "csv", "geojson"))
    # The labeller: the true mask at each point.
    with open(tmp_path / "pts.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with rasterio.open(truth) as src:
        true_mask = src.read(1)
        for row in rows:
            r, c = src.index(float(row["x"]), float(row["y"]))
            row["reference"] = str(true_mask[r, c])
    labelled = tmp_path / "labelled.csv"
    with open(labelled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    assert main(["-q", "assess", str(mapped), str(labelled), "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "Error matrix, sample counts" in out and "producer's" in out and "km2" in out
    report = json.loads((tmp_path / "a.json").read_text())
    with rasterio.open(mapped) as src:
        map_values = src.read(1)
    counts = np.zeros((2, 2), int)
    np.add.at(counts, ([int(r["map_class"]) for r in rows], [int(r["reference"]) for r in rows]), 1)
    assert report["counts"] == counts.tolist() and report["classes"] == ["not mined", "mined"]
    assert report["mapped_pixels"][1] == mined_area(mapped)["pixels"]
    expected = estimate_area(counts, np.array(report["mapped_pixels"]) * 100.0)
    np.testing.assert_allclose(report["area_ha"], expected.area / 1e4)
    np.testing.assert_allclose(report["area_ha_ci"], expected.area_ci / 1e4)
    # The interval holds the true mined area of the mapped (valid) pixels.
    true_ha = np.sum(true_mask[map_values != MAP_NODATA] == 1) * 100 / 1e4
    assert abs(report["area_ha"][1] - true_ha) <= report["area_ha_ci"][1]
    assert sum(report["area_ha"]) == pytest.approx(sum(report["mapped_area_ha"]))
    assert 0.5 < report["overall_accuracy"] <= 1 and len(report["proportions"]) == 2


def test_cli_assess_a_change_map(tmp_path, rng, capsys):
    before = (rng.random((120, 120)) < 0.15).astype(np.uint8)
    after = np.maximum(before, rng.random((120, 120)) < 0.1).astype(np.uint8)
    after[rng.random(after.shape) < 0.03] = 0
    a, b = _write_map(tmp_path / "a.tif", before), _write_map(tmp_path / "b.tif", after)
    change_map(a, b, tmp_path / "change.tif")
    assert main(["-q", "sample", str(tmp_path / "change.tif"), "--n", "200", "--min-per-class", "30",
                 "--out", str(tmp_path / "pts.gpkg"), "--seed", "0"]) == 0
    points = read_points(tmp_path / "pts.gpkg")
    points["reference"] = np.asarray(points["map_class"])  # a perfect labeller agrees with the map
    write_points(points, tmp_path / "labelled.geojson", "EPSG:32630")
    assert main(["-q", "assess", str(tmp_path / "change.tif"), str(tmp_path / "labelled.geojson"),
                 "--json", str(tmp_path / "c.json")]) == 0
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["classes"] == ["never mined", "new", "persistent", "no longer mined"]
    np.testing.assert_allclose(report["area_ha"], report["mapped_area_ha"])  # no errors: the map's own areas
    assert report["overall_accuracy"] == pytest.approx(1.0) and report["area_ha_ci"] == [0.0] * 4
    capsys.readouterr()


def test_cli_assess_refuses_unlabelled_and_bad_labels(small_map, tmp_path, capsys):
    path, _ = small_map
    assert main(["-q", "sample", str(path), "--n", "40", "--min-per-class", "10", "--out", str(tmp_path / "p.gpkg"),
                 str(tmp_path / "p.csv")]) == 0
    assert main(["-q", "assess", str(path), str(tmp_path / "p.csv")]) == 1
    assert "40 point(s) have no 'reference' label" in capsys.readouterr().err
    points = read_points(tmp_path / "p.gpkg")  # a null field in a GeoPackage is unlabelled too
    points["reference"] = np.array([None] + ["1"] * 39, dtype=object)
    write_points(points, tmp_path / "null.gpkg", "EPSG:32630")
    assert main(["-q", "assess", str(path), str(tmp_path / "null.gpkg")]) == 1
    assert "1 point(s) have no 'reference' label (first at row 1)" in capsys.readouterr().err
    points["reference"] = np.full(40, "7")
    write_points(points, tmp_path / "bad.csv", "EPSG:32630")
    assert main(["-q", "assess", str(path), str(tmp_path / "bad.csv")]) == 1
    assert "classes are 0..1" in capsys.readouterr().err
    assert main(["-q", "assess", str(path), str(tmp_path / "bad.csv"), "--reference-column", "truth"]) == 1
    assert "has no column 'truth'" in capsys.readouterr().err
    points["reference"] = points["map_class"]
    points["map_class"] = 1 - np.asarray(points["map_class"]).astype(int)  # points of another map
    write_points(points, tmp_path / "other.csv", "EPSG:32630")
    assert main(["-q", "assess", str(path), str(tmp_path / "other.csv")]) == 1
    assert "40 point(s) have a 'map_class' other than" in capsys.readouterr().err
