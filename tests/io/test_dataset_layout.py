"""The dataset folder: year folders found, empty ones refused, off-pattern files skipped, one CRS."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from smallmines_classic import DatasetError, find_patches, load_smallminesds, read_split_csv
from tests.conftest import TWIN_TILES
from tests.io.test_dataset import rewrite, tiny_copy


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
    assert len(load_smallminesds(tmp_path, progress=False)) == TWIN_TILES  # the year folders one level down
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no year folders under"):
        load_smallminesds(tmp_path / "empty", progress=False)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(DatasetError, match="a_file is not a folder"):
        find_patches(tmp_path / "a_file")


def test_cli_defaults_to_the_year_folders_found_and_warns_in_one_line(tmp_path, twin_root):
    root = tmp_path / "only2022"
    shutil.copytree(twin_root, root, ignore=shutil.ignore_patterns("2016", "*2016.csv"))
    (root / "2022/MASK/MASK_GH_0001_2022 (1).tif").write_bytes(b"x")
    paths = [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    run = subprocess.run([sys.executable, "-m", "smallmines_classic.cli", "-q", "train", str(root), "-o",
                          str(tmp_path / "rf.skops"), "--trees", "2", "--max-pixels", "5000"], capture_output=True,
                         text=True, env=env)
    assert run.returncode == 0, run.stderr
    n_train = sum(side == "train" for side in read_split_csv(root / "train_test_splits_2022.csv").values())
    assert f"of {n_train} patches" in run.stdout
    assert run.stderr == (f"smallmines train: warning: 1 file(s) in {root / '2022/MASK'} not named "
                          "MASK_GH_<tile>_2022.tif were skipped, e.g. MASK_GH_0001_2022 (1).tif\n")


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
    with pytest.raises(DatasetError,
                       match=r"year folder .*2022 holds no patches \(expected IMAGE/IMG_GH_<tile>_2022.tif"):
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
    with pytest.raises(DatasetError, match=r"IMG_GH_0003_2016.tif has CRS EPSG:32631 but .*IMG_GH_0001_2016.tif has "
                       r"CRS EPSG:32630: the patches of one load must share a CRS"):
        load_smallminesds(root, progress=False)
    with pytest.raises(DatasetError, match="must share a CRS"):
        load_smallminesds(root, cache_dir=tmp_path / "cache", progress=False)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
