from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from smallmines_classic import histogram_split, read_split_csv, spatially_disjoint_split
from smallmines_classic.io.splits import share_bin, write_split_csv

OFFICIAL = Path(__file__).resolve().parents[3] / "shared" / "smallminesds"


def official(year):
    path = OFFICIAL / f"train_test_splits_{year}.csv"
    if not path.is_file():
        pytest.skip(f"official split files not present at {OFFICIAL}")
    return read_split_csv(path)


def test_official_csvs_give_the_published_counts():
    assert Counter(official(2016).values()) == {"train": 1492, "test": 643}
    assert Counter(official(2022).values()) == {"train": 1491, "test": 644}


def test_official_split_is_not_spatially_disjoint_but_ours_is():
    both = {**official(2016), **official(2022)}
    tiles = {t for t, _ in both}
    assert sum(both[t, 2016] != both[t, 2022] for t in tiles) == 903
    shares = {key: float(t % 37) for key, t in zip(both, (k[0] for k in both))}
    disjoint = spatially_disjoint_split(shares, random_state=0)
    assert all(disjoint[t, 2016] == disjoint[t, 2022] for t in tiles)
    assert 0.28 < Counter(disjoint.values())["test"] / len(disjoint) < 0.32


def test_histogram_split_is_30_percent_per_bin_and_seeded(rng):
    shares = {(t, y): float(rng.choice([0.0, rng.uniform(0, 100)])) for t in range(1, 501) for y in (2016, 2022)}
    split = histogram_split(shares, random_state=1)
    assert split == histogram_split(shares, random_state=1)
    for year in (2016, 2022):
        for label in {share_bin(s) for (t, y), s in shares.items() if y == year}:
            members = [k for k, s in shares.items() if k[1] == year and share_bin(s) == label]
            n_test = sum(split[k] == "test" for k in members)
            assert n_test == int(np.ceil(0.3 * len(members)))


def test_csv_round_trip_and_both_spellings(tmp_path):
    shares = {(7, 2016): 12.345, (8, 2016): 0.0}
    write_split_csv(tmp_path / "s.csv", shares, {(7, 2016): "test", (8, 2016): "train"})
    text = (tmp_path / "s.csv").read_text().splitlines()
    assert text[0] == "patch_name,class_percentage,bin,split"
    assert text[1] == "MASK_0007_2016.tif,12.35,10-20%,test"
    (tmp_path / "gh.csv").write_text("patch_name,class_percentage,bin,split\nMASK_GH_0007_2016.tif,1,0-10%,train\n")
    assert read_split_csv(tmp_path / "s.csv") == {(7, 2016): "test", (8, 2016): "train"}
    assert read_split_csv(tmp_path / "gh.csv") == {(7, 2016): "train"}


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,split\nMASK_0001_2016.tif,train\n", "missing column"),
        ("patch_name,split\nfoo.tif,train\n", "line 2: 'foo.tif' is not a SmallMinesDS patch name"),
        ("patch_name,split\nMASK_0001_2016.tif,val\n", "line 2: split 'val'"),
    ],
)
def test_bad_split_csv_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        read_split_csv(path)
    assert str(path) in str(info.value)


def test_bin_edges():
    assert [share_bin(v) for v in (0, 9.99, 10, 55, 100)] == ["0-10%", "0-10%", "10-20%", "50-60%", "90-100%"]
