"""Small writers and checks shared by tests in several folders."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from smallmines_classic import MAP_NODATA
from smallmines_classic._writes import atomic_paths

TRANSFORM = from_origin(600000, 700000, 10, 10)
CHANGE_DESCRIPTION = "0 never mined, 1 new, 2 persistent, 3 no longer mined"


def write_raster(path, bands, *, dtype="uint8", nodata=MAP_NODATA, description=None, crs="EPSG:32630",
                 transform=TRANSFORM):
    bands = np.asarray(bands)
    bands = bands[None] if bands.ndim == 2 else bands
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(bands.astype(dtype))
        if description:
            dst.set_band_description(1, description)
    return path


# -- maps in degrees (EPSG:4326), as Earth Engine exports them ----------------------------------

#: Earth Engine's pixel in EPSG:4326 for ``scale: 10``: 10 m of the equator, in degrees.
EE_PIXEL = 8.983152841195215e-05
#: A north-up grid in EPSG:4326 over the Offin river, Ghana (its top-left corner at 2 W, 6.5 N).
EE_TRANSFORM = from_origin(-2.0, 6.5, EE_PIXEL, EE_PIXEL)
_WGS84_A, _WGS84_F = 6378137.0, 1 / 298.257223563


def cell_m2(south, north, width):
    """Exact area in m2 of the WGS 84 cell between two parallels and two meridians ``width`` degrees apart.

    The closed form of the area between parallels on the ellipsoid (the authalic-latitude integral), written out
    here so that tests check the package's geodesic areas against an independent computation.
    """
    e2 = _WGS84_F * (2 - _WGS84_F)
    e, b2 = np.sqrt(e2), (_WGS84_A * (1 - _WGS84_F)) ** 2

    def q(lat):
        s = np.sin(np.radians(lat))
        return s / (1 - e2 * s * s) + np.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return b2 * np.radians(width) / 2 * np.abs(q(np.asarray(north, float)) - q(np.asarray(south, float)))


def ee_pixel_m2(height, transform=EE_TRANSFORM):
    """Exact area in m2 of one pixel in each of the ``height`` rows of a north-up grid in degrees."""
    top = transform.f + np.arange(height) * transform.e
    return cell_m2(top + transform.e, top, abs(transform.a))


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(capsys, command):
    err = capsys.readouterr().err
    assert err.startswith(f"smallmines {command}: error: ") and err.count("\n") == 1, err
    return err


def _zarr_group(folder):
    """A raster with no band (a group of subdatasets, as GDAL opens some JSON and Zarr files)."""
    root = folder / "group.zarr"
    root.mkdir()
    (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    for name in ("a", "b"):  # two arrays: GDAL opens the group as their subdatasets
        (root / name).mkdir()
        (root / name / ".zarray").write_text(json.dumps({"zarr_format": 2, "shape": [4, 4], "chunks": [4, 4],
                                                         "dtype": "|u1", "compressor": None, "fill_value": 0,
                                                         "order": "C", "filters": None}))
        (root / name / "0.0").write_bytes(bytes(16))
    return root



# -- processes, temporaries and outputs (tests of writes, locks and signals) --------------------

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def temporaries(folder):
    """Every file or folder under ``folder`` named like a temporary of :mod:`smallmines_classic._writes`."""
    return [p for p in Path(folder).rglob("*") if ".part" in p.name]


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def write_rgb_scene(path, side, value=1000.0):
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="float32", crs="EPSG:32630",
                   transform=from_origin(590_000, 640_000, 10, 10), tiled=True, blockxsize=128, blockysize=128)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((3, side, side), value, np.float32))
        dst.descriptions = ("B04", "B03", "B02")
    return path


class ConstantModel:
    """A fitted-segmenter stand-in: mining probability 0.7 everywhere, after ``delay`` seconds a window."""

    band_names_ = ("B04", "B03", "B02")
    threshold = 0.5

    def __init__(self, delay=0.0):
        self.delay = delay

    def predict_proba(self, X, band_names=None):
        time.sleep(self.delay)
        return np.full((X.shape[0], *X.shape[2:]), 0.7, np.float32)


def write_pair(folder, text):
    """Commit scene.tif and scene_obs.tif holding ``text`` as one pair."""
    with atomic_paths([folder / "scene.tif", folder / "scene_obs.tif"]) as (scene, obs):
        scene.write_text(text)
        obs.write_text(text)
