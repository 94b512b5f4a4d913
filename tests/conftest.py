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


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
