"""Bad inputs that used to pass silently or end in a traceback: each gives a named error or a warning."""

import shutil

import pytest
import rasterio

from smallmines_classic import DatasetError, find_patches, load_smallminesds, read_split_csv
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
