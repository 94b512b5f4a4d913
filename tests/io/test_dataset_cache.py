"""The dataset cache: an entry records what it holds, and one that does not match is rebuilt, never used."""

import json
import shutil

import numpy as np
import pytest

from smallmines_classic import load_smallminesds
from tests.helpers import temporaries


def entry(cache):
    [folder] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    return folder


def test_cache_entry_records_key_shapes_and_dtypes(twin_root, tmp_path):
    data = load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=tmp_path, progress=False)
    meta = json.loads((entry(tmp_path) / "meta.json").read_text())
    assert meta["key"] == entry(tmp_path).name
    assert meta["images"] == {"shape": [len(data), 3, 128, 128], "dtype": "<f4"}
    assert meta["masks"] == {"shape": [len(data), 128, 128], "dtype": "|u1"}


@pytest.mark.parametrize("damage", ["wrong shape", "foreign key", "planted file", "truncated images", "no meta"])
def test_mismatched_or_planted_cache_entries_are_rebuilt(twin_root, tmp_path, damage):
    fresh = load_smallminesds(twin_root, years=[2016], bands="rgb", progress=False)
    load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=tmp_path, progress=False)
    folder = entry(tmp_path)
    if damage == "wrong shape":
        np.save(folder / "images.npy", np.zeros((2, 3, 128, 128), np.float32))
    elif damage == "foreign key":
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps({**meta, "key": "0" * 20}))
    elif damage == "planted file":
        shutil.rmtree(folder)
        folder.write_bytes(b"not a cache entry")
    elif damage == "truncated images":
        with open(folder / "images.npy", "r+b") as handle:
            handle.truncate(1000)
    else:
        (folder / "meta.json").unlink()
    with pytest.warns(UserWarning, match="unusable.*rebuilding"):
        rebuilt = load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(rebuilt.images, fresh.images)
    np.testing.assert_array_equal(rebuilt.masks, fresh.masks)
    assert entry(tmp_path) == folder and not temporaries(tmp_path)
