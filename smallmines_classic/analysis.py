"""Mined area of a map and change between two maps, read block by block."""

import tempfile
from pathlib import Path

import numpy as np
import rasterio

from .scene import MAP_NODATA, write_cog

__all__ = ["CHANGE_CLASSES", "mined_area", "change_map"]

#: Classes of a change map (band 1); 255 is nodata.
CHANGE_CLASSES = {0: "never mined", 1: "new", 2: "persistent", 3: "no longer mined"}


def _pixel_area_m2(src):
    if not src.crs or not src.crs.is_projected:
        raise ValueError(f"{src.name} has CRS {src.crs}: areas need a projected CRS in metres (reproject it, e.g. to UTM)")
    return abs(src.transform.a * src.transform.e - src.transform.b * src.transform.d) * src.crs.linear_units_factor[1] ** 2


def _areas(pixels, pixel_m2):
    m2 = pixels * pixel_m2
    return {"pixels": int(pixels), "m2": m2, "ha": m2 / 1e4, "km2": m2 / 1e6}


def mined_area(path):
    """Mined area of a mask map (band 1 == 1), in pixels, m2, ha and km2.

    Raises ValueError for a map in a geographic (unprojected) CRS.
    """
    with rasterio.open(path) as src:
        pixel_m2 = _pixel_area_m2(src)
        pixels = sum(int(np.count_nonzero(src.read(1, window=w) == 1)) for _, w in src.block_windows(1))
    return _areas(pixels, pixel_m2)


def _check_same_grid(a, b):
    if a.crs != b.crs:
        raise ValueError(f"{a.name} (CRS {a.crs}) and {b.name} (CRS {b.crs}) differ in CRS: reproject one onto the other's grid")
    if a.transform != b.transform or a.shape != b.shape:
        raise ValueError(f"{a.name} ({a.shape}, {tuple(a.transform)[:6]}) and {b.name} ({b.shape}, {tuple(b.transform)[:6]}) "
                         "are on different grids: resample one onto the other's grid")


def change_map(old, new, dst):
    """Change between two mask maps on the same grid, and the area of each class.

    Classes (band 1 of ``dst``): 0 never mined, 1 new, 2 persistent, 3 no
    longer mined, 255 nodata (nodata in either map).

    Returns
    -------
    dict
        Class name -> areas (pixels, m2, ha, km2).
    """
    counts = np.zeros(4, np.int64)
    with rasterio.open(old) as before, rasterio.open(new) as after:
        _check_same_grid(before, after)
        pixel_m2 = _pixel_area_m2(before)
        profile = dict(driver="GTiff", width=before.width, height=before.height, count=1, dtype="uint8", crs=before.crs,
                       transform=before.transform, nodata=MAP_NODATA, tiled=True, blockxsize=512, blockysize=512)
        with tempfile.TemporaryDirectory(dir=Path(dst).parent if Path(dst).parent.exists() else None) as work:
            tmp = Path(work) / "change.tif"
            with rasterio.open(tmp, "w", **profile) as out:
                for _, window in before.block_windows(1):
                    a, b = before.read(1, window=window), after.read(1, window=window)
                    classes = np.select([(a == 0) & (b == 1), (a == 1) & (b == 1), (a == 1) & (b == 0), (a == 0) & (b == 0)],
                                        [1, 2, 3, 0], MAP_NODATA).astype(np.uint8)
                    counts += np.bincount(classes[classes != MAP_NODATA], minlength=4)[:4]
                    out.write(classes, 1, window=window)
                out.set_band_description(1, "0 never mined, 1 new, 2 persistent, 3 no longer mined")
            write_cog(tmp, dst)
    return {name: _areas(counts[code], pixel_m2) for code, name in CHANGE_CLASSES.items()}
