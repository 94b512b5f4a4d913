"""Bad inputs that used to pass silently or end in a traceback: each gives a named error or a warning."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from smallmines_classic import (
    MAP_NODATA,
    DatasetError,
    change_map,
    find_patches,
    load_smallminesds,
    make_synthetic_smallminesds,
    mined_area,
    mined_polygons,
    mosaic_tiles,
    predict_scene,
    read_split_csv,
)
from smallmines_classic.cli import main
from tests.conftest import TWIN_TILES
from tests.test_dataset import rewrite, tiny_copy

HEADER = b"patch_name,class_percentage,bin,split\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty; expected the header patch_name,class_percentage,bin,split"),
        (b"MASK_0001_2016.tif,1,0-10%,train\n", r"line 1: header .* is missing column\(s\) \['patch_name', 'split'\]"),
        (b"patch_name,split,split\nMASK_0001_2016.tif,train,train\n", "line 1: header .* repeats a column"),
        (HEADER, "has a header but no rows"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train\nMASK_0002_2016.tif,1\n", r"line 3: 2 field\(s\) where the header .* has 4"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train,extra\n", r"line 2: 5 field\(s\)"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,validation\n", "line 2: split 'validation' is neither 'train' nor 'test'"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train\n\nMASK_0002_2016.tif,1,0-10%,tr\xe9in\n",
         "line 4: not UTF-8 text .*0xe9"),
        (b"\xff\xfep\x00a\x00", "line 1: not UTF-8 text"),  # UTF-16
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train\nMASK_GH_0001_2016.tif,1,0-10%,test\n",
         "line 3: MASK_GH_0001_2016.tif is 'test' here but 'train' on line 2"),
        (HEADER + b"IMG_GH_01_2016.tif,1,0-10%,train\n", "line 2: 'IMG_GH_01_2016.tif' is not a SmallMinesDS patch name"),
    ],
)
def test_bad_split_csv_is_a_dataset_error_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "train_test_splits_2016.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        read_split_csv(path)
    assert str(info.value).startswith(str(path))


def test_official_split_files_hold_their_own_year_only(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path, tiles=(1, 2), years=(2016, 2022))
    for year in (2016, 2022):
        (root / f"train_test_splits_{year}.csv").write_bytes(
            HEADER + f"MASK_0001_{year}.tif,1,0-10%,train\nMASK_0002_{year}.tif,1,0-10%,test\n".encode())
    assert len(load_smallminesds(root, split="train", progress=False)) == 2
    with open(root / "train_test_splits_2016.csv", "ab") as handle:
        handle.write(b"MASK_0002_2022.tif,1,0-10%,train\n")
    with pytest.raises(DatasetError, match=r"train_test_splits_2016.csv, line 4: MASK_0002_2022.tif is a patch of 2022; "
                                           "this file splits 2016"):
        load_smallminesds(root, split="train", progress=False)


def test_split_csv_repeated_rows_count_once_with_a_warning_and_bom_is_accepted(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n")
                     + b"MASK_0001_2016.tif,1,0-10%,train\r\nMASK_0002_2016.tif,0,0-10%,Test\r\n"
                     + b"MASK_GH_0001_2016.tif,1,0-10%,train\r\n")
    with pytest.warns(UserWarning, match=r"s.csv: 1 row\(s\) repeat .*line\(s\) 4"):
        assert read_split_csv(path) == {(1, 2016): "train", (2, 2016): "test"}


def test_load_defaults_to_the_year_folders_found(tmp_path, twin_root):
    root = tmp_path / "only2022"
    shutil.copytree(twin_root, root)
    shutil.rmtree(root / "2016")
    (root / "train_test_splits_2016.csv").unlink()
    expected = read_split_csv(root / "train_test_splits_2022.csv")
    train = load_smallminesds(root, split="train", progress=False)
    assert set(train.years.tolist()) == {2022}
    assert sorted(train.tile_ids.tolist()) == sorted(t for (t, _), side in expected.items() if side == "train")
    assert [p[:2] for p in find_patches(root)] == [(t, 2022) for t in range(1, TWIN_TILES + 1)]
    with pytest.raises(DatasetError, match="year folder .*2016 does not exist"):
        find_patches(root, years=[2016, 2022])
    with pytest.raises(DatasetError, match="no year folders under"):
        load_smallminesds(tmp_path, progress=False)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(FileNotFoundError, match="a_file is not a folder"):
        find_patches(tmp_path / "a_file")


def test_cli_defaults_to_the_year_folders_found_and_warns_in_one_line(tmp_path, twin_root):
    root = tmp_path / "only2022"
    shutil.copytree(twin_root, root, ignore=shutil.ignore_patterns("2016", "*2016.csv"))
    (root / "2022/MASK/MASK_GH_0001_2022 (1).tif").write_bytes(b"x")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "smallmines_classic.cli", "-q", "train", str(root), str(tmp_path / "rf.skops"),
                          "--trees", "2", "--max-pixels", "5000"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    n_train = sum(side == "train" for side in read_split_csv(root / "train_test_splits_2022.csv").values())
    assert f"of {n_train} patches" in run.stdout
    assert run.stderr == (f"smallmines train: warning: 1 file(s) in {root / '2022/MASK'} not named MASK_GH_<tile>_2022.tif "
                            "were skipped, e.g. MASK_GH_0001_2022 (1).tif\n")


def test_deep_dataset_defaults_to_the_year_folders_found(tmp_path, twin_root):
    data = pytest.importorskip("smallmines_deep.data")
    root = tmp_path / "only2016"
    shutil.copytree(twin_root, root, ignore=shutil.ignore_patterns("2022", "*2022.csv"))
    dataset = data.SmallMinesDataset(root)
    assert len(dataset) == TWIN_TILES and {year for _, year, _, _ in dataset.patches} == {2016}


def test_empty_year_folder_is_an_error(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path)
    (root / "2022/IMAGE").mkdir(parents=True)
    (root / "2022/MASK").mkdir()
    with pytest.raises(DatasetError, match=r"year folder .*2022 holds no patches \(expected IMAGE/IMG_GH_<tile>_2022.tif"):
        load_smallminesds(root, progress=False)
    (root / "2022/IMAGE/scene.tif").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"holds no patches .*1 file\(s\) in .*IMAGE not named .* e.g. scene.tif"):
        find_patches(root)


def test_files_off_the_naming_pattern_are_skipped_with_a_warning(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path, tiles=(1, 2, 3))
    image = root / "2016/IMAGE"
    for name in ("IMG_GH_0002_2016 (copy).tif", "IMG_GH_0003_2022.tif", "img_gh_0004_2016.tif", "notes.txt"):
        (image / name).write_bytes(b"x")
    (root / "2016/MASK/MASK_GH_0001_2016.tif.bak").write_bytes(b"x")
    (image / ".DS_Store").write_bytes(b"x")  # hidden files and GDAL sidecars are not data: no warning
    (image / "IMG_GH_0001_2016.tif.aux.xml").write_text("<PAMDataset/>")
    with pytest.warns(UserWarning) as caught:
        data = load_smallminesds(root, progress=False)
    assert data.tile_ids.tolist() == [1, 2, 3]
    image_note, mask_note = sorted((str(w.message) for w in caught), key=lambda m: "MASK not named" in m)
    assert len(caught) == 2
    assert image_note.startswith(f"4 file(s) in {image} not named IMG_GH_<tile>_2016.tif were skipped, e.g. "
                                 "IMG_GH_0002_2016 (copy).tif, IMG_GH_0003_2022.tif, img_gh_0004_2016.tif")
    assert mask_note == f"1 file(s) in {root / '2016/MASK'} not named MASK_GH_<tile>_2016.tif were skipped, " \
        "e.g. MASK_GH_0001_2016.tif.bak"


def test_patches_in_different_crss_are_refused_naming_both(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path, tiles=(1, 2, 3))
    odd = root / "2016/IMAGE/IMG_GH_0003_2016.tif"
    with rasterio.open(odd) as src:
        image = src.read()
    rewrite(odd, image, crs="EPSG:32631")
    with pytest.raises(DatasetError, match=r"IMG_GH_0003_2016.tif has CRS EPSG:32631 but .*IMG_GH_0001_2016.tif has CRS "
                       r"EPSG:32630: the patches of one load must share a CRS"):
        load_smallminesds(root, progress=False)
    with pytest.raises(DatasetError, match="must share a CRS"):
        load_smallminesds(root, cache_dir=tmp_path / "cache", progress=False)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def write_map(path, band, transform, *, crs="EPSG:32630", nodata=MAP_NODATA, description=None):
    band = np.atleast_3d(band.T).T if band.ndim == 2 else band
    with rasterio.open(path, "w", driver="GTiff", width=band.shape[2], height=band.shape[1], count=band.shape[0],
                       dtype=band.dtype.name, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(band)
        if description:
            dst.set_band_description(1, description)
    return path


@pytest.fixture
def maps(tmp_path, twin):
    mask = np.zeros((64, 64), np.uint8)
    mask[:10, :20] = 1
    mask[60:] = MAP_NODATA
    later = mask.copy()
    later[20:30, :30] = 1
    later[:5, :5] = 0
    return {name: write_map(tmp_path / f"{name}.tif", band, twin.transforms[0]) for name, band in (("old", mask), ("new", later))}


def digests(*paths):
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]


def test_change_and_polygons_refuse_to_overwrite_an_input_by_path_or_link(maps, tmp_path):
    before = digests(maps["old"], maps["new"])
    os.link(maps["old"], tmp_path / "hard.tif")
    os.symlink(maps["new"], tmp_path / "soft.tif")
    for out in (maps["old"], maps["new"], tmp_path / "hard.tif", tmp_path / "soft.tif",
                tmp_path / "sub" / ".." / "old.tif"):
        with pytest.raises(ValueError, match=r"the output .* is the input .*: writing it would destroy the input"):
            change_map(maps["old"], maps["new"], out)
    os.symlink(maps["old"], tmp_path / "old.geojson")
    with pytest.raises(ValueError, match="is the input"):
        mined_polygons(maps["old"], tmp_path / "old.geojson")
    assert digests(maps["old"], maps["new"]) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.tif", "new.tif", "old.geojson", "old.tif", "soft.tif"]


class _OneBandModel:
    """Enough of a fitted segmenter for predict_scene; fails if it is ever asked to predict."""
    band_names_ = ("B04",)
    threshold = 0.5

    def predict_proba(self, X, band_names=None):
        raise AssertionError("nothing should be predicted")


def test_predict_and_mosaic_refuse_to_overwrite_the_scene_or_a_tile_behind_it(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path, tiles=(1, 2))
    tile = root / "2016/IMAGE/IMG_GH_0002_2016.tif"
    before = digests(tile)
    scene = mosaic_tiles(root, 2016, tmp_path / "scene.vrt")
    for out in (scene, tile):
        with pytest.raises(ValueError, match="is the input"):
            predict_scene(_OneBandModel(), scene, out, progress=False)
    with pytest.raises(ValueError, match=f"the output {tile} is the input"):
        mosaic_tiles(root, 2016, tile)
    assert digests(tile) == before


def test_cli_refuses_an_output_that_is_an_input_in_one_line(maps, tmp_path, twin_root, capsys):
    model = tmp_path / "rf.skops"
    model.write_bytes(b"not read: the check comes first")
    before = digests(maps["old"], model)
    os.symlink(maps["new"], tmp_path / "new.gpkg")
    for argv in (["change", maps["old"], maps["new"], maps["old"]],
                 ["polygons", maps["new"], tmp_path / "new.gpkg"],
                 ["predict", model, maps["old"], model],
                 ["evaluate", model, "--data", twin_root, "--table", model],
                 ["evaluate", model, "--data", twin_root, "--table", twin_root / "train_test_splits_2016.csv"],
                 ["train", twin_root, twin_root]):
        assert main(["-q", *map(str, argv)]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f"smallmines {argv[0]}: error: the output ") and "is the input" in err
        assert err.count("\n") == 1, err
    assert digests(maps["old"], model) == before


def test_files_that_are_not_mask_maps_are_refused(maps, tmp_path, twin_root, twin, capsys):
    image = twin_root / "2016/IMAGE/IMG_GH_0001_2016.tif"
    grey = write_map(tmp_path / "grey.tif", np.arange(64 * 64).reshape(64, 64).astype(np.uint8), twin.transforms[0], nodata=None)
    zero_nodata = write_map(tmp_path / "zero.tif", np.ones((64, 64), np.uint8), twin.transforms[0], nodata=0)
    wide = write_map(tmp_path / "wide.tif", np.ones((64, 64), np.uint16), twin.transforms[0])
    change_map(maps["old"], maps["new"], tmp_path / "change.tif")
    bare_change = write_map(tmp_path / "bare.tif", rasterio.open(tmp_path / "change.tif").read(1), twin.transforms[0])
    cases = [
        (image, r"IMG_GH_0001_2016.tif is not a mask map \(band 1 uint8: 0 background, 1 mining, 255 nodata.*\): "
                r"it has 13 band\(s\) of float32"),
        (grey, r"grey.tif is not a mask map .*: band 1 holds value\(s\) \[2, 3, 4, .*\] and declares no nodata"),
        (zero_nodata, r"zero.tif is not a mask map .*: its nodata value is 0.0"),
        (wide, r"wide.tif is not a mask map .*: it has 1 band\(s\) of uint16"),
        (tmp_path / "change.tif", r"change.tif is a change map \(0 never mined, 1 new, 2 persistent, 3 no longer mined\), "
                                  "not a mask map"),
        (bare_change, r"bare.tif is not a mask map .*: band 1 holds value\(s\) \[2, 3\] \(a change map's classes\?\)"),
        (tmp_path / "absent.tif", "cannot read map .*absent.tif"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            mined_area(path)
        with pytest.raises(ValueError, match=message):
            change_map(maps["old"], path, tmp_path / "out.tif")
        with pytest.raises(ValueError, match=message):
            mined_polygons(path, tmp_path / "out.geojson")
    assert not (tmp_path / "out.tif").exists() and not (tmp_path / "out.geojson").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or p.is_dir()]  # no temporaries left
    assert main(["change", str(maps["old"]), str(image), str(tmp_path / "out.tif")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smallmines change: error: ") and "is not a mask map" in err and err.count("\n") == 1
    # A dataset mask (no nodata declared, values 0 / 1) is a map.
    mask = twin_root / "2016/MASK/MASK_GH_0001_2016.tif"
    assert mined_area(mask)["pixels"] == int(rasterio.open(mask).read(1).sum())


def test_synth_refuses_a_non_empty_folder_unless_overwrite(tmp_path, capsys):
    root = tmp_path / "twin"
    make_synthetic_smallminesds(root, 4, years=[2016, 2022], seed=1, n_jobs=1, progress=False)
    (root / "notes.txt").write_text("mine")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match=f"{root} is not empty: a twin written there would mix"):
        make_synthetic_smallminesds(root, 2, seed=2, n_jobs=1, progress=False)
    assert main(["-q", "synth", str(root), "--tiles", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smallmines synth: error: ") and "--overwrite" in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert main(["-q", "synth", str(root), "--tiles", "2", "--years", "2022", "--overwrite"]) == 0
    fresh = tmp_path / "fresh"
    make_synthetic_smallminesds(fresh, 2, years=[2022], seed=0, n_jobs=1, progress=False)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted([Path("notes.txt")] + [p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()])
    for rel in files:
        if rel.name != "notes.txt":  # the twin now there is the new one alone, byte for byte
            assert (root / rel).read_bytes() == (fresh / rel).read_bytes(), rel
    assert (root / "notes.txt").read_text() == "mine" and not (root / "2016").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        make_synthetic_smallminesds(tmp_path / "file", 2, progress=False)
