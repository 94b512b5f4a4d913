"""`smallmines monitor` on the synthetic twin, from local STAC items of three years, against the twin's truth.

The items are made from four twin tiles (2 x 2, 256 x 256 px) so that the
composite gives back the twin's optical bands bit for bit: a map is then the
model's prediction on the twin's own pixels, and its areas can be checked
exactly against hand counts, and against the twin's masks (the truth) within
the model's error. 2019 is made honestly from the others: the west tiles from
2016, the east tiles from 2022, with a cloud over part of the east in every
2019 image (no data there).
"""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.warp
from scipy import ndimage

pytest.importorskip("odc.stac")
pytest.importorskip("pyogrio")

from pyogrio.raw import read as read_vector  # noqa: E402
from pyogrio.raw import write as write_vector  # noqa: E402
from shapely import contains_xy, from_wkb, to_wkb  # noqa: E402
from shapely.geometry import box, mapping, shape  # noqa: E402

from smallmines_classic import MAP_NODATA, RandomForestSegmenter, monitor, stratified_sample  # noqa: E402
from smallmines_classic.assessment import write_points  # noqa: E402
from smallmines_classic.cli import main  # noqa: E402
from smallmines_classic.io.twin_items import twin_mosaic, write_twin_items  # noqa: E402
from smallmines_classic.monitoring.areas import MIN_REGION_POINTS  # noqa: E402
from smallmines_classic.monitoring.monitor import TABLE_COLUMNS  # noqa: E402
from smallmines_classic.monitoring.steps import sha256  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
TILES = [1, 2, 5, 6]                     # tiles 1, 2 over 5, 6 on the 16-tile twin's 4-column fishnet
YEARS = {2016: 2016, 2019: {1: 2016, 5: 2016, 2: 2022, 6: 2022}, 2022: 2022}
CLOUD = (slice(150, 180), slice(200, 220))   # mosaic rows / columns under cloud in 2019: 30 x 20 px
LEFT, TOP = 590_000, 640_000             # the twin's origin: tile 1's top-left corner (EPSG:32630)
REGIONS = {"West": (LEFT + 20, TOP - 2540, LEFT + 1280, TOP - 20),      # UTM rectangles on pixel edges
           "East": (LEFT + 1280, TOP - 2540, LEFT + 2540, TOP - 20),
           "Reserve": (LEFT + 1000, TOP - 1600, LEFT + 1600, TOP - 1000)}  # across both, as a forest reserve
PAIRS = [(2016, 2019), (2019, 2022)]


@pytest.fixture(scope="module")
def model(twin):
    return RandomForestSegmenter(bands="rgb+", n_estimators=8, max_pixels=20_000, random_state=0).fit(twin.images,
                                                                                                     twin.masks)


@pytest.fixture(scope="module")
def inputs(twin_root, model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    clouds = np.zeros((256, 256), bool)
    clouds[CLOUD] = True
    items = write_twin_items(twin_root, folder / "items", TILES, YEARS, clouds={2019: clouds})
    regions = folder / "districts.gpkg"   # in degrees: the run reprojects them
    in_degrees = [shape(rasterio.warp.transform_geom("EPSG:32630", "EPSG:4326", mapping(box(*r))))
                  for r in REGIONS.values()]
    write_vector(regions, geometry=to_wkb(in_degrees).astype(object),
                 field_data=[np.array(list(REGIONS), dtype=object)], fields=["NAME"], crs="EPSG:4326", driver="GPKG",
                 geometry_type="Polygon")
    return {"items": items, "regions": regions, "model": model.save(folder / "rf.skops"), "folder": folder}


def run_monitor(out, inputs, years=tuple(YEARS), **kwargs):
    lines = []
    args = dict(items=inputs["items"], progress=False, log=lines.append)
    summary = monitor(out, inputs["regions"], "NAME", years, inputs["model"], **{**args, **kwargs})
    return summary, lines


@pytest.fixture(scope="module")
def run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("monitor") / "run"
    summary, lines = run_monitor(out, inputs)
    return {"out": out, "summary": summary, "lines": lines}


def copy_of(run, tmp_path):
    return Path(shutil.copytree(run["out"], tmp_path / "copy"))


def status(lines):
    """{step: "skipped" | "done" | "redone"} from the run's lines."""
    return {line.split(":")[0]: line.split(": ")[1].split(" ")[0].rstrip(",") for line in lines}


def read_band(path, band=1):
    with rasterio.open(path) as src:
        return src.read(band), src.transform


def offsets(transform):
    """Row and column of a grid's top-left pixel in the twin mosaic."""
    return round((TOP - transform.f) / 10), round((transform.c - LEFT) / 10)


def crop(array, transform, shape):
    row, col = offsets(transform)
    return array[..., row:row + shape[0], col:col + shape[1]]


def centres(transform, shape):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return transform.c + 10 * cols + 5, transform.f - 10 * rows - 5


def same_files(summary, other):
    """The same files, byte for byte, but for GeoPackages (they carry the time they were written)."""
    ours = {path: digest for path, digest in summary["checksums"].items() if not path.endswith(".gpkg")}
    return ours == {path: digest for path, digest in other["checksums"].items() if not path.endswith(".gpkg")}


def rows_by(summary):
    return {(row["region"], row["year"]): row for row in summary["rows"]}


# --- the folder ----------------------------------------------------------------------------------------------------

def test_the_folder_follows_the_contract(run, inputs):
    out, summary = run["out"], run["summary"]
    on_disk = json.loads((out / "monitor.json").read_text())
    assert on_disk["rows"] == summary["rows"]
    assert on_disk["format"] == "smallmines-monitor" and on_disk["format_version"] == 1
    for key in ("created", "smallmines_version", "command", "model", "recipe", "months", "bbox", "crs", "pixel_size_m",
                "regions", "years", "items", "versions", "files", "rows"):
        assert key in on_disk, key
    assert on_disk["crs"] == "EPSG:32630" and on_disk["pixel_size_m"] == 10 and on_disk["years"] == [2016, 2019, 2022]
    assert on_disk["model"]["class"] == "RandomForestSegmenter" and on_disk["model"]["band_names"] == [
        "B02", "B03", "B04", "B8A", "B11", "B12"]
    assert on_disk["regions"] == {"path": str(inputs["regions"]), "field": "NAME", "names": list(REGIONS),
                                  "geojson": "regions.geojson"}
    assert on_disk["table"] == "monitor.csv"
    # The contract: "files" maps a year or "Y0-Y1" to an object of paths, nothing else.
    assert set(on_disk["files"]) == {str(y) for y in YEARS} | {"2016-2019", "2019-2022"}
    assert on_disk["recipe"].startswith("SmallMinesDS: S2 SCL-masked")
    # three Sentinel-2 items of January plus the all-cloud one; February's and other years' items are not used
    assert on_disk["items"]["2019"] == {"source": str(inputs["items"]), "s2": 4, "s1": 1,
                                        "dem": 1, "ids": ["DEM", "S1_2019", "S2_20190105", "S2_20190115", "S2_20190120",
                                                          "S2_20190128"]}
    assert on_disk["command"][:2] == ["smallmines", "monitor"] and "--items" in on_disk["command"]
    for year in YEARS:
        for name in ("composite.tif", "composite_obs.tif", "map.tif"):
            assert (out / str(year) / name).is_file()
        assert on_disk["files"][str(year)]["map"] == f"{year}/map.tif"
    for before, after in PAIRS:
        files = on_disk["files"][f"{before}-{after}"]
        assert files == {"change": f"change_{before}_{after}.tif", "alerts": f"alerts_{before}_{after}.geojson",
                         "alerts_gpkg": f"alerts_{before}_{after}.gpkg"}
    for path, digest in on_disk["checksums"].items():
        assert sha256(out / path) == digest, path
    # the table: (all) and each region per year, the same rows in the CSV
    assert [(r["region"], r["year"]) for r in on_disk["rows"]] == [
        (name, year) for year in YEARS for name in ("(all)", *REGIONS)]
    assert all(list(row) == list(TABLE_COLUMNS) for row in on_disk["rows"])
    with open(out / "monitor.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [{k: ("" if v is None else str(v)) for k, v in row.items()} for row in on_disk["rows"]] == table
    first = [row for row in on_disk["rows"] if row["year"] == 2016]
    assert all(row["new_ha"] is None and row["alerts"] is None and row["area_basis"] == "map" for row in first)
    # regions in WGS 84, as given
    meta, _, geometries, fields = read_vector(out / "regions.geojson")
    assert rasterio.crs.CRS.from_user_input(meta["crs"]).to_epsg() == 4326 and fields[0].tolist() == list(REGIONS)
    with rasterio.open(out / "change_2016_2019.tif") as src:
        assert src.crs.to_epsg() == 32630 and src.nodata == MAP_NODATA
        assert set(np.unique(src.read(1))) <= {0, 1, 2, 3, 255}
    assert not [p for p in out.rglob("*") if ".part" in p.name]


def test_composites_give_back_the_twin(run, twin_root):
    for year, source in YEARS.items():
        image, _, _ = twin_mosaic(twin_root, TILES, source)
        with rasterio.open(run["out"] / str(year) / "composite.tif") as src:
            composite, transform = src.read(), src.transform
        obs, _ = read_band(run["out"] / str(year) / "composite_obs.tif")
        expected = crop(image, transform, composite.shape[1:])
        cloud = np.zeros((256, 256), bool)
        cloud[CLOUD] = year == 2019
        cloud = crop(cloud, transform, obs.shape)
        np.testing.assert_array_equal(composite[:10][:, ~cloud], expected[:10][:, ~cloud])   # bit for bit
        assert np.isnan(composite[:10][:, cloud]).all() and (obs[cloud] == 0).all() and (obs[~cloud] == 3).all()
        dem = twin_mosaic(twin_root, TILES, 2016)[0][12]           # one DEM for every year: the first's
        np.testing.assert_array_equal(composite[12], crop(dem, transform, obs.shape))


@pytest.fixture(scope="module")
def maps(run):
    out = {}
    for year in YEARS:
        (mask, transform), (percent, _) = read_band(run["out"] / str(year) / "map.tif"), read_band(
            run["out"] / str(year) / "map.tif", 2)
        out[year] = {"mask": mask, "percent": percent, "transform": transform}
    return out


def test_maps_are_the_models_predictions_on_the_twin(maps, model, twin_root):
    for year, source in YEARS.items():
        mask, transform = maps[year]["mask"], maps[year]["transform"]
        image, _, _ = twin_mosaic(twin_root, TILES, source)
        expected = model.predict(image[None])[0]
        valid = mask != MAP_NODATA
        np.testing.assert_array_equal(mask[valid], crop(expected, transform, mask.shape)[valid])
        assert (~valid).sum() == (600 if year == 2019 else 0)     # the 30 x 20 px cloud, nowhere else
        assert maps[year]["percent"][valid].max() <= 100


def test_areas_equal_hand_counts_of_the_maps(run, maps):
    rows = rows_by(run["summary"])
    for year in YEARS:
        mask, transform = maps[year]["mask"], maps[year]["transform"]
        x, y = centres(transform, mask.shape)
        assert rows["(all)", year]["mined_ha"] == pytest.approx(np.sum(mask == 1) * 0.01, abs=1e-9)
        assert rows["(all)", year]["nodata_ha"] == pytest.approx(np.sum(mask == MAP_NODATA) * 0.01, abs=1e-9)
        for name, rect in REGIONS.items():
            inside = contains_xy(box(*rect), x, y)
            assert rows[name, year]["mined_ha"] == pytest.approx(np.sum((mask == 1) & inside) * 0.01, abs=1e-9)
            nodata = np.sum((mask == MAP_NODATA) & inside)
            assert rows[name, year]["nodata_ha"] == pytest.approx(nodata * 0.01, abs=1e-9)
    assert rows["East", 2019]["nodata_ha"] == 6.0 and rows["West", 2019]["nodata_ha"] == 0
    # 2019's west is 2016's imagery: the same map there
    assert rows["West", 2019]["mined_ha"] == rows["West", 2016]["mined_ha"] and rows["West", 2019]["new_ha"] == 0


def test_areas_against_the_twins_truth(run, maps, twin_root):
    """The map's area differs from the truth by exactly its false positives minus its false negatives, which stay
    within what this model's error on the twin explains."""
    rows = rows_by(run["summary"])
    for year, source in YEARS.items():
        mask, transform = maps[year]["mask"], maps[year]["transform"]
        truth = crop(twin_mosaic(twin_root, TILES, source, kind="MASK")[0][0], transform, mask.shape)
        valid = mask != MAP_NODATA
        tp = np.sum((mask == 1) & (truth == 1) & valid)
        fp, fn = np.sum((mask == 1) & (truth == 0) & valid), np.sum((mask == 0) & (truth == 1) & valid)
        truth_ha = np.sum((truth == 1) & valid) * 0.01
        assert rows["(all)", year]["mined_ha"] - truth_ha == pytest.approx((fp - fn) * 0.01, abs=1e-6)
        assert tp / (tp + fp + fn) > 0.5                                     # IoU of an 8-tree RGB+ forest on the twin
        assert abs(rows["(all)", year]["mined_ha"] - truth_ha) / truth_ha < 0.25
        assert truth_ha > 50                            # enough mining for the check to mean something


def test_change_and_alerts_by_hand(run, maps):
    rows = rows_by(run["summary"])
    for before, after in PAIRS:
        old, new = maps[before]["mask"], maps[after]["mask"]
        transform = maps[after]["transform"]
        classes = np.select([(old == 0) & (new == 1), (old == 1) & (new == 1), (old == 1) & (new == 0),
                             (old == 0) & (new == 0)], [1, 2, 3, 0], MAP_NODATA)
        change, _ = read_band(run["out"] / f"change_{before}_{after}.tif")
        np.testing.assert_array_equal(change, classes)
        x, y = centres(transform, classes.shape)
        inside = {name: contains_xy(box(*rect), x, y) for name, rect in REGIONS.items()}
        inside["(all)"] = np.ones(classes.shape, bool)
        for name, where in inside.items():
            for code, column in ((1, "new_ha"), (2, "persistent_ha"), (3, "no_longer_ha")):
                assert rows[name, after][column] == pytest.approx(np.sum((classes == code) & where) * 0.01, abs=1e-9)
        # alerts: the 4-connected patches of new mining, each in the region holding most of its pixels
        patches, count = ndimage.label(classes == 1)
        meta, _, geometries, fields = read_vector(run["out"] / f"alerts_{before}_{after}.geojson")
        props = dict(zip(meta["fields"], fields))
        assert rasterio.crs.CRS.from_user_input(meta["crs"]).to_epsg() == 4326
        assert list(props) == ["id", "area_m2", "area_ha", "region", "year_from", "year_to"]
        assert len(geometries) == count == rows["(all)", after]["alerts"]
        sizes = np.bincount(patches.ravel())[1:] * 100.0
        assert props["area_m2"].tolist() == sorted(sizes, reverse=True)     # largest first
        assert (props["year_from"] == before).all() and (props["year_to"] == after).all()
        per_region = {name: np.bincount(patches[where & (patches > 0)], minlength=count + 1)[1:]
                      for name, where in inside.items() if name != "(all)"}
        for name, held in per_region.items():
            assert rows[name, after]["alerts"] == np.sum(held > 0), (name, after)
        # the region of each alert, matched to its patch by a point well inside the polygon (2 m from any edge)
        for polygon, region in zip(geometries, props["region"]):
            utm = shape(rasterio.warp.transform_geom("EPSG:4326", "EPSG:32630", mapping(from_wkb(polygon))))
            point = utm.buffer(-2).representative_point()
            label = patches[int((transform.f - point.y) // 10), int((point.x - transform.c) // 10)]
            assert label > 0
            held = np.array([per_region[name][label - 1] for name in REGIONS])
            assert region == (list(REGIONS)[int(np.argmax(held))] if held.max() else None)


def test_min_area_leaves_out_small_alerts(run, inputs, tmp_path):
    out = copy_of(run, tmp_path)
    summary, lines = run_monitor(out, inputs, min_area_m2=2000)
    steps = status(lines)
    assert {step for step, state in steps.items() if state != "skipped"} == {"alerts 2016-2019", "alerts 2019-2022"}
    assert "its inputs changed (min_area_m2)" in " ".join(lines)
    for before, after in PAIRS:
        _, _, geometries, fields = read_vector(out / f"alerts_{before}_{after}.gpkg")
        assert len(geometries) == rows_by(summary)["(all)", after]["alerts"] > 0
        assert (fields[1] >= 2000).all()
        _, _, all_geometries, all_fields = read_vector(run["out"] / f"alerts_{before}_{after}.gpkg")
        assert len(geometries) == np.sum(all_fields[1] >= 2000) < len(all_geometries)


# --- resuming ------------------------------------------------------------------------------------------------------

def test_a_rerun_skips_every_step(run, inputs, tmp_path):
    out = copy_of(run, tmp_path)
    summary, lines = run_monitor(out, inputs)
    assert set(status(lines).values()) == {"skipped"} and len(lines) == 14
    assert summary["rows"] == run["summary"]["rows"] and summary["checksums"] == run["summary"]["checksums"]


def test_composites_on_a_dask_cluster_are_the_same_files(run, inputs, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        summary, _ = run_monitor(tmp_path / "dask", inputs, years=[2016], client=client)
    year = "2016"
    assert summary["checksums"][f"{year}/composite.tif"] == run["summary"]["checksums"][f"{year}/composite.tif"]
    assert summary["checksums"][f"{year}/map.tif"] == run["summary"]["checksums"][f"{year}/map.tif"]


def test_a_compact_forest_file_maps_the_same_bytes(run, inputs, tmp_path):
    from smallmines_classic.models.compact import convert_to_compact

    compact = convert_to_compact(inputs["model"], tmp_path / "rf_compact.safetensors")
    summary, _ = run_monitor(tmp_path / "compact", {**inputs, "model": compact}, years=[2016])
    assert summary["checksums"]["2016/map.tif"] == run["summary"]["checksums"]["2016/map.tif"]


def test_sentinel1_from_a_second_source_gives_the_same_composite(run, inputs, tmp_path):
    """``s1_source`` (``--s1-stac``): Sentinel-2 and the DEM from one items file, Sentinel-1 from another."""
    collection = json.loads(Path(inputs["items"]).read_text())
    folder = Path(shutil.copytree(Path(inputs["items"]).parent, tmp_path / "items"))   # relative hrefs stay right
    s2_file, s1_file = folder / "without_s1.json", folder / "s1_only.json"
    for path, keep in ((s2_file, lambda c: c != "sentinel-1-rtc"), (s1_file, lambda c: c == "sentinel-1-rtc")):
        path.write_text(json.dumps({**collection, "features": [f for f in collection["features"]
                                                                if keep(f["collection"])]}))
    summary, _ = run_monitor(tmp_path / "s1", {**inputs, "items": s2_file}, years=[2016], s1_source=s1_file)
    assert summary["checksums"]["2016/composite.tif"] == run["summary"]["checksums"]["2016/composite.tif"]
    with pytest.warns(RuntimeWarning, match="no sentinel-1-rtc item"):
        without, _ = run_monitor(tmp_path / "none", {**inputs, "items": s2_file}, years=[2016])
    assert without["checksums"]["2016/composite.tif"] != run["summary"]["checksums"]["2016/composite.tif"]


def test_a_tampered_output_is_redone_and_nothing_after_it(run, inputs, tmp_path):
    out = copy_of(run, tmp_path)
    shutil.copy(out / "2016" / "map.tif", out / "2019" / "map.tif")          # a valid map, but not this one
    with open(out / "2022" / "composite_obs.tif", "r+b") as handle:         # truncated
        handle.truncate(os.path.getsize(out / "2022" / "composite_obs.tif") // 2)
    alerts = out / "alerts_2019_2022.geojson"                                 # edited: one year changed
    alerts.write_text(alerts.read_text().replace('"year_to": 2022', '"year_to": 2021', 1))
    summary, lines = run_monitor(out, inputs)
    steps = status(lines)
    assert {step for step, state in steps.items() if state != "skipped"} == {
        "map 2019", "composite 2022", "alerts 2019-2022"}
    assert all(steps[step] == "redone" for step in ("map 2019", "composite 2022", "alerts 2019-2022"))
    said = "\n".join(lines)
    assert "map 2019: redone" in said
    assert "2019/map.tif does not match its record (edited, truncated or replaced)" in said
    assert "2022/composite_obs.tif does not match its record" in said
    assert same_files(summary, run["summary"]) and summary["rows"] == run["summary"]["rows"]


def test_a_changed_model_redoes_the_maps_and_what_follows(run, inputs, twin, tmp_path):
    out = copy_of(run, tmp_path)
    other = RandomForestSegmenter(bands="rgb+", n_estimators=8, max_pixels=20_000, random_state=1).fit(twin.images,
                                                                                                     twin.masks)
    summary, lines = run_monitor(out, {**inputs, "model": other.save(tmp_path / "other.skops")})
    steps = status(lines)
    assert all(steps[f"composite {year}"] == "skipped" for year in YEARS) and steps["regions"] == "skipped"
    assert all(steps[f"map {year}"] == "redone" for year in YEARS)
    assert "map 2016: redone" in lines[2] and "its inputs changed (model)" in lines[2]
    assert all(steps[f"change {a}-{b}"] == "redone" for a, b in PAIRS)
    assert summary["model"]["sha256"] == sha256(tmp_path / "other.skops") != run["summary"]["model"]["sha256"]
    assert summary["rows"] != run["summary"]["rows"]


def test_changed_items_redo_their_year_and_same_bytes_stop_there(run, inputs, tmp_path):
    out = copy_of(run, tmp_path)
    collection = json.loads(inputs["items"].read_text())
    collection["features"] = [f for f in collection["features"] if f["id"] != "S2_20220115"]   # one 2022 image less
    for feature in collection["features"]:
        for asset in feature["assets"].values():
            asset["href"] = str(inputs["items"].parent / asset["href"])
    copied = shutil.copy(inputs["items"].parent / "S2_20160105" / "B04.tif", tmp_path / "B04.tif")   # the same bytes
    next(f for f in collection["features"] if f["id"] == "S2_20160105")["assets"]["B04"]["href"] = str(copied)
    items = tmp_path / "items.json"
    items.write_text(json.dumps(collection))
    summary, lines = run_monitor(out, {**inputs, "items": items})
    steps = status(lines)
    assert steps["composite 2016"] == "redone" and "its inputs changed (items)" in lines[1]
    assert steps["map 2016"] == "skipped"                       # the composite came out the same, byte for byte
    assert steps["composite 2019"] == "skipped" and steps["map 2019"] == "skipped"
    assert steps["composite 2022"] == "redone" and steps["map 2022"] == "redone"
    assert summary["items"]["2022"]["s2"] == 3 and summary["checksums"]["2016/map.tif"] == run["summary"]["checksums"][
        "2016/map.tif"]
    assert summary["checksums"]["2022/composite.tif"] != run["summary"]["checksums"]["2022/composite.tif"]


def run_until(command, first_words, signum):
    """Start the command, send ``signum`` once a line starts with ``first_words``; return the process, ended."""
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith(first_words):
            proc.send_signal(signum)
            break
    proc.wait(timeout=120)
    return proc


def test_resume_after_sigkill_and_sigterm_gives_the_same_outputs(run, inputs, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "smallmines_classic.cli", "-q", "monitor", "--regions", str(inputs["regions"]),
               "--field", "NAME", "--years", *map(str, YEARS), "--model", str(inputs["model"]), "--items",
               str(inputs["items"]), "--out", str(out)]
    killed = run_until(command, "areas 2016", signal.SIGKILL)     # 2016 is done: composite 2019 is being written
    assert killed.returncode == -signal.SIGKILL, killed.stderr.read()
    assert not (out / "monitor.json").exists() and not (out / "steps" / "composite_2019.json").exists()
    # no half file: every output there is a complete raster (temporaries may remain, for the next run to sweep)
    for path in out.rglob("*.tif"):
        if ".part" not in str(path.relative_to(out)):
            with rasterio.open(path) as src:
                src.read()
    stopped = run_until(command, "composite 2019", signal.SIGTERM)   # the map of 2019 is being written
    assert stopped.returncode == 143 and "interrupted by SIGTERM; temporary files removed" in stopped.stderr.read()
    assert not [p for p in out.rglob("*") if ".part" in p.name]     # the killed run's swept, its own removed
    rerun = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    steps = status(rerun.stdout.split("\n\n")[0].splitlines())   # the step lines, before the summary and table
    assert [steps[s] for s in ("regions", "composite 2016", "map 2016", "areas 2016", "composite 2019")] == [
        "skipped"] * 5
    assert steps["areas 2022"] == "done"
    summary = json.loads((out / "monitor.json").read_text())
    assert summary["rows"] == run["summary"]["rows"]
    assert same_files(summary, run["summary"])
    assert not [p for p in out.rglob("*") if ".part" in p.name]


# --- error-adjusted areas ------------------------------------------------------------------------------------------

def domain_estimate(strata, inside, sizes):
    """Stratified estimate (pixels) of the area where ``inside`` is true, and its 95 % half-width, by hand."""
    total, variance = 0.0, 0.0
    for h, size in enumerate(sizes):
        y = inside[strata == h].astype(float)
        total += size * y.mean()
        variance += size ** 2 * y.var(ddof=1) / len(y)
    return total, 1.959963984540054 * np.sqrt(variance)


def test_a_labelled_sample_adds_error_adjusted_areas(run, inputs, twin_root, maps, tmp_path):
    out = copy_of(run, tmp_path)
    points, _, crs = stratified_sample(out / "2019" / "map.tif", 300, min_per_class=120, seed=1)
    mask, transform = maps[2019]["mask"], maps[2019]["transform"]
    truth = crop(twin_mosaic(twin_root, TILES, YEARS[2019], kind="MASK")[0][0], transform, mask.shape)
    rows_, cols_ = ((transform.f - points["y"]) // 10).astype(int), ((points["x"] - transform.c) // 10).astype(int)
    points["reference"] = truth[rows_, cols_]            # labelled from the truth: a perfect labeller
    labelled = write_points(points, tmp_path / "labelled.csv", crs)
    summary, lines = run_monitor(out, inputs, assess={2019: labelled})
    steps = status(lines)
    assert steps.pop("assess 2019") == "done" and set(steps.values()) == {"skipped"}
    rows = rows_by(summary)
    strata, mined = np.asarray(points["map_class"]), np.asarray(points["reference"]) == 1
    sizes = [np.sum(mask == 0), np.sum(mask == 1)]
    area, half = domain_estimate(strata, mined, sizes)
    assert rows["(all)", 2019]["area_basis"] == "map+sample"
    assert rows["(all)", 2019]["adjusted_ha"] == pytest.approx(area * 0.01, abs=1e-4)
    assert rows["(all)", 2019]["adjusted_ha_ci"] == pytest.approx(half * 0.01, abs=1e-4)
    truth_ha = np.sum((truth == 1) & (mask != MAP_NODATA)) * 0.01
    assert abs(rows["(all)", 2019]["adjusted_ha"] - truth_ha) <= rows["(all)", 2019]["adjusted_ha_ci"]
    supported = 0
    for name, rect in REGIONS.items():
        inside = contains_xy(box(*rect), np.asarray(points["x"]), np.asarray(points["y"]))
        if np.bincount(strata[inside], minlength=2).min() < MIN_REGION_POINTS:
            assert rows[name, 2019]["adjusted_ha"] is None and rows[name, 2019]["area_basis"] == "map"
            continue
        supported += 1
        area, half = domain_estimate(strata, mined & inside, sizes)
        assert rows[name, 2019]["adjusted_ha"] == pytest.approx(area * 0.01, abs=1e-4), name
        assert rows[name, 2019]["adjusted_ha_ci"] == pytest.approx(half * 0.01, abs=1e-4), name
        assert rows[name, 2019]["area_basis"] == "map+sample"
    assert supported >= 1 and rows["Reserve", 2019]["adjusted_ha"] is None    # the small reserve holds too few points
    assert all(row["adjusted_ha"] is None for row in summary["rows"] if row["year"] != 2019)
    assert summary["assess"]["2019"]["points_n"] == 300


# --- refusals ------------------------------------------------------------------------------------------------------

def write_regions(path, names, crs="EPSG:32630", rects=None):
    rects = rects or list(REGIONS.values())[:len(names)]
    write_vector(path, geometry=to_wkb([box(*r) for r in rects]).astype(object),
                 field_data=[np.array(names, dtype=object)], fields=["NAME"], crs=crs, driver="GPKG",
                 geometry_type="Polygon")
    return path


@pytest.mark.parametrize("names, crs, message", [
    (["West", "West"], "EPSG:32630", "the name 'West' .* is used twice"),
    (["West", "(all)"], "EPSG:32630", r"the name '\(all\)' .* is used for the whole box"),
    (["West", None], "EPSG:32630", "feature 2 has no 'NAME'"),
    (["West"], None, "declare no CRS"),
])
def test_bad_regions_are_refused_before_any_work(inputs, tmp_path, names, crs, message):
    regions = write_regions(tmp_path / "bad.gpkg", names, crs)
    with pytest.raises(ValueError, match=message):
        run_monitor(tmp_path / "out", {**inputs, "regions": regions})
    assert not (tmp_path / "out").exists()


def test_refusals_of_the_command(run, inputs, tmp_path, capsys):
    base = ["-q", "monitor", "--regions", str(inputs["regions"]), "--field", "NAME", "--model", str(inputs["model"]),
            "--items", str(inputs["items"])]
    cases = [
        (["--years", "2016", "2018", "--out", str(tmp_path / "a")], "no sentinel-2-l2a item .* in 2018"),
        (["--years", "2016", "--field", "DISTRICT", "--out", str(tmp_path / "a")], "no field 'DISTRICT'"),
        (["--years", "2016", "--assess", f"2019={tmp_path / 'p.csv'}", "--out", str(tmp_path / "a")],
         "2019, which is not one of the years"),
        (["--years", "2016", "--out", str(inputs["folder"])], "holds other files and no monitoring run"),
        (["--years", "2016", "--regions", str(run["out"] / "regions.geojson"), "--field", "name", "--out",
          str(run["out"])], "is the input"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("smallmines monitor: error: ") and len(err.splitlines()) == 1, err
        assert __import__("re").search(message, err), err
    assert not (tmp_path / "a").exists()
    with pytest.raises(SystemExit) as stop:
        main([*base, "--years", "2016", "--assess", "nineteen=points.csv", "--out", str(tmp_path / "a")])
    assert stop.value.code == 2 and "expected YEAR=LABELLED_POINTS" in capsys.readouterr().err


def test_a_second_run_on_the_same_folder_is_refused(run, inputs, tmp_path):
    import fcntl

    out = copy_of(run, tmp_path)
    with open(out / ".monitor.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(RuntimeError, match="another smallmines monitor run is writing"):
            run_monitor(out, inputs)


def test_regions_beyond_the_box_are_named(run, inputs, tmp_path):
    """A box over the east half: the west counts only its strip inside; the east, wholly inside, as before."""
    lons, lats = rasterio.warp.transform("EPSG:32630", "EPSG:4326", [LEFT + 1270, LEFT + 2550], [TOP - 2550, TOP - 10])
    with pytest.warns(RuntimeWarning, match=r"the regions \['West', 'Reserve'\] reach beyond the box"):
        summary, _ = run_monitor(tmp_path / "east", inputs, years=[2016],
                                 bbox=[min(lons), min(lats), max(lons), max(lats)])
    rows, before = rows_by(summary), rows_by(run["summary"])
    assert rows["East", 2016]["mined_ha"] == before["East", 2016]["mined_ha"] > 0   # the same pixels, the same map
    assert rows["West", 2016]["mined_ha"] < before["West", 2016]["mined_ha"]


# --- identities ----------------------------------------------------------------------------------------------------

def test_what_identifies_an_input(inputs, tmp_path):
    from smallmines_classic.monitoring.regions import Regions
    from smallmines_classic.monitoring.steps import href_identity

    signed = "https://example.blob.core.windows.net/s2/B04.tif?st=2026-01-01&se=2026-01-02&sig=abc"
    assert href_identity(signed) == href_identity(signed.replace("sig=abc", "sig=xyz")) == {
        "href": "https://example.blob.core.windows.net/s2/B04.tif"}
    local = tmp_path / "B04.tif"
    local.write_bytes(b"1234")
    first = href_identity(str(local))
    assert first["bytes"] == 4 and href_identity(f"file://{local}") == first
    os.utime(local, ns=(first["mtime_ns"] + 10**9, first["mtime_ns"] + 10**9))
    assert href_identity(str(local)) != first
    assert href_identity(str(tmp_path / "gone.tif")) == {"href": str(tmp_path / "gone.tif"), "missing": True}
    # regions by content: the same polygons and names elsewhere, with other fields beside, are the same regions
    meta, _, geometries, fields = read_vector(inputs["regions"])
    other = tmp_path / "districts.gpkg"
    write_vector(other, geometry=geometries, field_data=[*fields, np.arange(3)], fields=[*meta["fields"], "code"],
                 crs=meta["crs"], driver="GPKG", geometry_type="Polygon")
    assert Regions(other, "NAME").identity == Regions(inputs["regions"], "NAME").identity
    write_vector(other, geometry=geometries, field_data=[np.array(["West", "East", "Forest"], dtype=object)],
                 fields=meta["fields"], crs=meta["crs"], driver="GPKG", geometry_type="Polygon")
    assert Regions(other, "NAME").identity != Regions(inputs["regions"], "NAME").identity


def test_items_from_a_stac_api_per_year(inputs, monkeypatch, tmp_path):
    """Without --items each year is searched apart; what the search returns is what the composite reads. The box is
    checked once and each year's items are selected once, for the composite too."""
    import importlib

    from smallmines_classic.io import stac
    from smallmines_classic.monitoring.regions import Regions

    searched, calls = [], {"check_bbox": 0, "select_items": 0}

    def search(bbox, year, months, url):
        searched.append((year, months, url))
        return stac.read_item_collection(inputs["items"])

    def counted(name):
        function = getattr(stac, name)   # the original, before any patch

        def call(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(stac, "search_stac", search)
    patches = {name: counted(name) for name in calls}
    for module in ("monitoring.monitor", "monitoring.checks", "io.composite", "io.stac"):   # wherever it is looked up
        module = importlib.import_module(f"smallmines_classic.{module}")
        for name, patch in patches.items():
            if hasattr(module, name):
                monkeypatch.setattr(module, name, patch)
    url = "https://stac.example.test/api/v1"
    bbox = Regions(inputs["regions"], "NAME").bbox()
    summary, _ = run_monitor(tmp_path / "out", inputs, years=[2016, 2022], items=None, stac_url=url, bbox=bbox)
    assert calls == {"check_bbox": 1, "select_items": 2}
    assert searched == [(2016, [1], url), (2022, [1], url)]
    assert summary["items"]["2022"]["source"] == url and summary["items"]["2022"]["s2"] == 4
    assert summary["command"][summary["command"].index("--stac") + 1] == url


# --- the report of a real run --------------------------------------------------------------------------------------

def test_the_report_of_a_monitor_run_shows_its_table_offline(run, tmp_path, headless_chromium):
    pytest.importorskip("folium", reason="the report needs folium (the scale extra)")
    from smallmines_classic import write_report

    report = write_report(run["out"], tmp_path / "report.html", progress=False)
    html = report.read_text(encoding="utf-8")
    assert not re.search(r"""src=["']?(https?:)?//""", html)   # every resource embedded
    with headless_chromium() as browser:
        page = browser.new_page()
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.resolve().as_uri())
        shown = [row.inner_text().split("\t") for row in page.locator("#areas tbody tr").all()]
        assert page.locator(".folium-map img.leaflet-image-layer").count() == 2   # the shown year: composite, map
    assert {url.split(":")[0] for url in requests} <= {"file", "data", "blob", "about"}
    rows = run["summary"]["rows"]
    assert len(shown) == len(rows)
    assert {(cells[0], int(cells[1]), cells[2]) for cells in shown} == \
        {(row["region"], row["year"], f"{row['mined_ha']:,.2f}") for row in rows}
