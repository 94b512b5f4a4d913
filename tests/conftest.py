import contextlib
import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import pytest

from smallmines_classic import MAP_NODATA, load_smallminesds, make_synthetic_smallminesds, stratified_sample
from smallmines_classic.assessment import write_points
from tests.helpers import write_raster

TWIN_TILES = 16


@pytest.fixture(scope="session")
def twin_root(tmp_path_factory):
    """A small synthetic twin, written once per test session; tests must not modify it."""
    return make_synthetic_smallminesds(tmp_path_factory.mktemp("twin") / "SmallMinesDS", TWIN_TILES, seed=3,
                                       progress=False)


@pytest.fixture(scope="session")
def twin(twin_root):
    return load_smallminesds(twin_root, progress=False)


@pytest.fixture(scope="session")
def tile_split(twin):
    """``((X, y), (X_test, y_test))``: the twin's patches, with tiles 2, 7, 11 and 14 (both years) held out."""
    test = np.isin(twin.tile_ids, [2, 7, 11, 14])
    return (twin.images[~test], twin.masks[~test]), (twin.images[test], twin.masks[test])


def rewrite_zip(source, target, member, edit):
    """Copy the zip ``source`` to ``target``, ``member``'s bytes replaced by ``edit(bytes)``: an older or odd file."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info, edit(data) if info.filename == member else data)
    return target


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# Debian's Chromium, headless, as the browser tests drive it: no background traffic, a fresh profile, and no name
# resolves (a request that leaves the machine fails loudly instead of reaching the network).
BROWSER_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


@contextlib.contextmanager
def _chromium_context(**options):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = ("playwright is not installed (the dev extra)" if importlib.util.find_spec("playwright") is None
               else "no chromium on this machine (Debian: apt-get install chromium)" if chromium is None else None)
    if missing:
        if os.environ.get("SMALLMINES_REQUIRE_BROWSER"):  # CI installs both: a browser test must run there
            pytest.fail(f"SMALLMINES_REQUIRE_BROWSER is set but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(profile, executable_path=chromium, headless=True,
                                                                args=BROWSER_FLAGS, **options)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def headless_chromium():
    """``headless_chromium(**options)``: a context manager giving a Playwright browser context of Debian's Chromium.

    Skips without Chromium or playwright, unless ``SMALLMINES_REQUIRE_BROWSER`` is set (CI), where it fails.
    """
    return _chromium_context


@pytest.fixture
def mask(rng):
    classes = (rng.random((60, 80)) < 0.2).astype(np.uint8)
    classes[:6] = MAP_NODATA
    return classes


@pytest.fixture
def labelled(tmp_path, mask):
    """A map, its sample as CSV rows labelled by a perfect labeller, and a writer of variants of those rows."""
    path = write_raster(tmp_path / "map.tif", mask)
    points, _, crs = stratified_sample(path, 40, min_per_class=15, seed=2)
    points["reference"] = points["map_class"]
    write_points(points, tmp_path / "labels.csv", crs)
    with open(tmp_path / "labels.csv", newline="") as handle:
        rows = list(csv.reader(handle))

    def variant(name, edit):
        table = [list(row) for row in rows]
        edit(table)
        with open(tmp_path / name, "w", newline="") as handle:
            csv.writer(handle).writerows(table)
        return tmp_path / name

    return path, tmp_path / "labels.csv", rows, variant


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder no one may write into: a read-only tmpfs for root (Linux), else a folder without write permission."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if not sys.platform.startswith("linux") or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs",
                                                               str(folder)], capture_output=True).returncode:
        pytest.skip("root, and cannot mount a read-only tmpfs here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)
