"""``smallmines download`` / ``download_smallminesds``, offline: the real ``snapshot_download`` resolves a Hugging
Face cache laid out as the hub writes it, holding an archive of the twin in the download's nested layout; and
``load_smallminesds`` reads every form the download takes."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from smallmines_classic import DatasetError, DownloadError, OutputError, download_smallminesds, load_smallminesds

pytest.importorskip("huggingface_hub")

REVISION = "0123456789abcdef0123456789abcdef01234567"
REPO = Path(__file__).resolve().parents[2]


def _zip_twin(twin_root, archive, top="SmallMinesDS"):
    """The twin's patches as the hub's archive holds them: ``<top>/<year>/IMAGE|MASK/...``, no split files."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as handle:
        for path in sorted(twin_root.rglob("*.tif")):
            handle.write(path, f"{top}/{path.relative_to(twin_root).as_posix()}")
    return archive


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, twin_root):
    """A Hugging Face cache holding the dataset repository at REVISION, as ``snapshot_download`` leaves it."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    repo = cache / "datasets--ellaampy--SmallMinesDS"
    snapshot = repo / "snapshots" / REVISION
    (snapshot / "data_splits").mkdir(parents=True)
    _zip_twin(twin_root, snapshot / "SmallMinesDS.zip")
    for split_file in twin_root.glob("train_test_splits_*.csv"):
        shutil.copy(split_file, snapshot / "data_splits" / split_file.name)
    (snapshot / "README.md").write_text("---\nlicense: cc-by-sa-4.0\n---\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    return cache


def _cli(args, **env):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **env}
    return subprocess.run([sys.executable, "-m", "smallmines_classic.cli", "-q", "download", *args],
                          capture_output=True, text=True, env=environment, timeout=300)


def _assert_same(ds, reference):
    assert ds.tile_ids.tolist() == reference.tile_ids.tolist() and ds.years.tolist() == reference.years.tolist()
    np.testing.assert_array_equal(ds.images, reference.images)
    np.testing.assert_array_equal(ds.masks, reference.masks)


def test_cli_downloads_offline_from_the_hub_cache_and_unpacks(tmp_path, hub_cache, twin, twin_root):
    dest = tmp_path / "data" / "SmallMinesDS"
    run = _cli(["-o", str(dest), "--hub-cache", str(hub_cache)], HF_HUB_OFFLINE="1")
    assert run.returncode == 0, run.stderr
    assert f"downloaded ellaampy/SmallMinesDS to {dest}" in run.stdout
    assert sorted(path.name for path in dest.iterdir()) == ["2016", "2022", "train_test_splits_2016.csv",
                                                            "train_test_splits_2022.csv"]
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["SmallMinesDS"]  # no temporary left beside
    _assert_same(load_smallminesds(dest, progress=False), twin)
    for year in (2016, 2022):
        name = f"train_test_splits_{year}.csv"
        assert (dest / name).read_bytes() == (twin_root / name).read_bytes()


def test_api_downloads_offline_into_an_empty_folder_and_refuses_a_full_one(tmp_path, hub_cache, twin, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    dest = tmp_path / "empty"
    dest.mkdir()
    assert download_smallminesds(dest, cache_dir=hub_cache, progress=False) == dest
    _assert_same(load_smallminesds(dest, progress=False), twin)
    with pytest.raises(OutputError, match="is not empty"):
        download_smallminesds(dest, cache_dir=hub_cache, progress=False)
    with pytest.raises(DownloadError, match="cannot download the dataset ellaampy/SmallMinesDS"):
        download_smallminesds(tmp_path / "other", cache_dir=tmp_path / "empty-cache", progress=False)
    assert not (tmp_path / "other").exists()


def test_network_failure_names_the_repository_and_what_to_do(tmp_path):
    dest = tmp_path / "SmallMinesDS"
    run = _cli(["-o", str(dest), "--hub-cache", str(tmp_path / "hub")], HF_HUB_OFFLINE="0",
               HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5")
    assert run.returncode == 1
    assert run.stderr.startswith("smallmines download: error: cannot download the dataset ellaampy/SmallMinesDS "
                                 "from the Hugging Face Hub")
    assert "run the same command again: it resumes" in run.stderr
    assert "https://huggingface.co/datasets/ellaampy/SmallMinesDS by hand" in run.stderr
    assert not dest.exists()


def test_loads_the_outer_folder_the_archive_and_a_hub_snapshot(tmp_path, hub_cache, twin_root):
    reference = load_smallminesds(twin_root, split="train", progress=False)
    snapshot = hub_cache / "datasets--ellaampy--SmallMinesDS" / "snapshots" / REVISION
    outer = tmp_path / "SmallMinesDS"
    with zipfile.ZipFile(snapshot / "SmallMinesDS.zip") as handle:
        handle.extractall(outer)  # as a double click unpacks it: SmallMinesDS/SmallMinesDS/<year>
    for split_file in twin_root.glob("train_test_splits_*.csv"):
        shutil.copy(split_file, outer / split_file.name)
    for given in (outer, outer / "SmallMinesDS", snapshot / "SmallMinesDS.zip", snapshot):
        _assert_same(load_smallminesds(given, split="train", progress=False), reference)
    cached = load_smallminesds(snapshot / "SmallMinesDS.zip", cache_dir=tmp_path / "cache", progress=False)
    _assert_same(load_smallminesds(snapshot, cache_dir=tmp_path / "cache", progress=False), cached)
    assert len(list((tmp_path / "cache").iterdir())) == 1  # the archive and the snapshot are the same files


def test_year_folders_further_down_are_named(tmp_path, twin_root):
    deep = tmp_path / "downloads" / "SmallMinesDS" / "SmallMinesDS"
    shutil.copytree(twin_root, deep)
    with pytest.raises(DatasetError, match=f"the year folders are further down: {deep}; pass the one to load"):
        load_smallminesds(tmp_path, progress=False)
    for name in ("a", "b"):
        shutil.copytree(twin_root, tmp_path / "two" / name)
    with pytest.raises(DatasetError, match="several folders hold year folders: .*two/a, .*two/b; pass the one"):
        load_smallminesds(tmp_path / "two", progress=False)
    archive = _zip_twin(twin_root, tmp_path / "deep.zip", top="a/b/c")
    with pytest.raises(DatasetError, match=r"the archive .*deep.zip .*further down: .*deep.zip/a/b/c"):
        load_smallminesds(archive, progress=False)
