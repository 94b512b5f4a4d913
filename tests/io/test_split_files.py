"""Official split CSVs: a named error with file and line, the year of each file, repeated rows."""

import pytest

from smallmines_classic import DatasetError, load_smallminesds, read_split_csv
from tests.io.test_dataset import tiny_copy

HEADER = b"patch_name,class_percentage,bin,split\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty; expected the header patch_name,class_percentage,bin,split"),
        (b"MASK_0001_2016.tif,1,0-10%,train\n", r"line 1: header .* is missing column\(s\) \['patch_name', 'split'\]"),
        (b"patch_name,split,split\nMASK_0001_2016.tif,train,train\n", "line 1: header .* repeats a column"),
        (HEADER, "has a header but no rows"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train\nMASK_0002_2016.tif,1\n",
         r"line 3: 2 field\(s\) where the header .* has 4"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train,extra\n", r"line 2: 5 field\(s\)"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,validation\n",
         "line 2: split 'validation' is neither 'train' nor 'test'"),
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train\n\nMASK_0002_2016.tif,1,0-10%,tr\xe9in\n",
         "line 4: not UTF-8 text .*0xe9"),
        (b"\xff\xfep\x00a\x00", "line 1: not UTF-8 text"),  # UTF-16
        (HEADER + b"MASK_0001_2016.tif,1,0-10%,train\nMASK_GH_0001_2016.tif,1,0-10%,test\n",
         "line 3: MASK_GH_0001_2016.tif is 'test' here but 'train' on line 2"),
        (HEADER + b"IMG_GH_01_2016.tif,1,0-10%,train\n",
         "line 2: 'IMG_GH_01_2016.tif' is not a SmallMinesDS patch name"),
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
    with pytest.raises(DatasetError, match=r"train_test_splits_2016.csv, line 4: MASK_0002_2022.tif is a patch of "
                                           "2022; this file splits 2016"):
        load_smallminesds(root, split="train", progress=False)


def test_split_csv_repeated_rows_count_once_with_a_warning_and_bom_is_accepted(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n")
                     + b"MASK_0001_2016.tif,1,0-10%,train\r\nMASK_0002_2016.tif,0,0-10%,Test\r\n"
                     + b"MASK_GH_0001_2016.tif,1,0-10%,train\r\n")
    with pytest.warns(UserWarning, match=r"s.csv: 1 row\(s\) repeat .*line\(s\) 4"):
        assert read_split_csv(path) == {(1, 2016): "train", (2, 2016): "test"}
