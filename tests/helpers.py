"""Small writers and checks shared by tests in several folders."""

import hashlib
import json

import numpy as np
import rasterio
from rasterio.transform import from_origin

from smallmines_classic import MAP_NODATA

TRANSFORM = from_origin(600000, 700000, 10, 10)
CHANGE_DESCRIPTION = "0 never mined, 1 new, 2 persistent, 3 no longer mined"


def write_raster(path, bands, *, dtype="uint8", nodata=MAP_NODATA, description=None, crs="EPSG:32630"):
    bands = np.asarray(bands)
    bands = bands[None] if bands.ndim == 2 else bands
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=dtype, crs=crs, transform=TRANSFORM, nodata=nodata) as dst:
        dst.write(bands.astype(dtype))
        if description:
            dst.set_band_description(1, description)
    return path


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
        (root / name / ".zarray").write_text(json.dumps({"zarr_format": 2, "shape": [4, 4], "chunks": [4, 4], "dtype": "|u1",
                                                         "compressor": None, "fill_value": 0, "order": "C", "filters": None}))
        (root / name / "0.0").write_bytes(bytes(16))
    return root
