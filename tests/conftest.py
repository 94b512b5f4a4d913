import zipfile

import numpy as np
import pytest

from smallmines_classic import load_smallminesds, make_synthetic_smallminesds

TWIN_TILES = 16


@pytest.fixture(scope="session")
def twin_root(tmp_path_factory):
    """A small synthetic twin, written once per test session; tests must not modify it."""
    return make_synthetic_smallminesds(tmp_path_factory.mktemp("twin") / "SmallMinesDS", TWIN_TILES, seed=3, progress=False)


@pytest.fixture(scope="session")
def twin(twin_root):
    return load_smallminesds(twin_root, progress=False)


@pytest.fixture(scope="session")
def tile_split(twin):
    """``((X, y), (X_test, y_test))``: the twin's patches, with tiles 2, 7, 11 and 14 (both years) held out."""
    test = np.isin(twin.tile_ids, [2, 7, 11, 14])
    return (twin.images[~test], twin.masks[~test]), (twin.images[test], twin.masks[test])


def rewrite_zip(source, target, member, edit):
    """Copy the zip ``source`` to ``target`` with ``member``'s bytes replaced by ``edit(bytes)``: an older or odd file."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info, edit(data) if info.filename == member else data)
    return target


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
