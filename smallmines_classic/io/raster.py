"""Raster plumbing shared by every reader and writer of scenes: windows, map profiles, COG output, GDAL's cache.

Map files are single- or two-band uint8 GeoTIFFs: band 1 the classes (255
nodata), the optional band 2 the mining probability in percent.
"""

import contextlib

import rasterio
import rasterio.shutil
from rasterio.windows import Window

from .._writes import atomic_paths, check_file_target, scratch_dir
from ..errors import InputError

__all__ = ["MAP_NODATA", "OBS_DESCRIPTION", "GDAL_CACHE_MB", "bounded_gdal_cache", "scene_windows", "map_profile",
           "cog_output", "cog_outputs"]

MAP_NODATA = 255
"""The no-data value of the maps the package writes (mask, probability and change maps)."""
#: Band description of a composite's ``_obs.tif``: counts of valid observations, not a map (readers of maps refuse it).
OBS_DESCRIPTION = "valid Sentinel-2 observations"
#: GDAL's block cache while mapping a scene, in MB: without a bound it grows with the scene (5% of RAM by default).
GDAL_CACHE_MB = 64


def bounded_gdal_cache():
    """A ``rasterio.Env`` whose GDAL block cache holds at most :data:`GDAL_CACHE_MB`, whatever the scene size."""
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)


def scene_windows(height, width, size, overlap):
    """Pairs (core, padded): cores tile the scene; each padded window adds ``overlap`` px of context.

    Raises InputError at once (not when first iterated) for a ``size`` below 1
    or a negative ``overlap``.
    """
    if int(size) != size or size < 1 or int(overlap) != overlap or overlap < 0:
        raise InputError(f"the window size must be a whole number of pixels >= 1 and the overlap >= 0, "
                         f"got {size} and {overlap}")

    def pair(row, col):
        core = Window(col, row, min(size, width - col), min(size, height - row))
        top, left = max(row - overlap, 0), max(col - overlap, 0)
        bottom, right = min(row + core.height + overlap, height), min(col + core.width + overlap, width)
        return core, Window(left, top, right - left, bottom - top)

    return (pair(row, col) for row in range(0, height, size) for col in range(0, width, size))


def map_profile(src, count):
    """Profile of a uint8 map on ``src``'s grid: tiled, deflate, 255 nodata."""
    return dict(driver="GTiff", width=src.width, height=src.height, count=count, dtype="uint8", crs=src.crs,
                transform=src.transform, nodata=MAP_NODATA, tiled=True, blockxsize=512, blockysize=512,
                compress="deflate")


@contextlib.contextmanager
def cog_output(dst, size=None):
    """Yield a scratch folder beside ``dst`` and a GeoTIFF path in it; on success that GeoTIFF becomes ``dst`` as a COG.

    ``dst`` appears only once complete (the COG copy goes through
    :func:`~smallmines_classic._writes.atomic_paths`); scratch files made in
    the folder vanish with it, also on an error or a stop. ``size``, the
    bytes the scratch files and the map need, is checked against the free
    space before anything is written.
    """
    with cog_outputs([dst], size) as (work, (tmp_gtiff,)):
        yield work, tmp_gtiff


@contextlib.contextmanager
def cog_outputs(dsts, size=None):
    """:func:`cog_output` for files that belong together (a scene and its ``_obs.tif``), committed as one pair.

    Yields the scratch folder and one GeoTIFF path in it per target. Every
    target is checked (not a folder, device, FIFO or socket) before
    anything is written. On success, all the COG copies are made before any
    target is replaced, and the targets are then replaced together, as
    :func:`~smallmines_classic._writes.atomic_paths` says: where the first
    target exists, the others beside it come from the same run.
    """
    for dst in dsts:
        check_file_target(dst)
    with scratch_dir(dsts[0], size) as work:
        gtiffs = [work / f"map{index or ''}.tif" for index in range(len(dsts))]
        yield work, gtiffs
        with atomic_paths(dsts) as temps:
            for gtiff, tmp in zip(gtiffs, temps):
                rasterio.shutil.copy(gtiff, tmp, driver="COG", compress="DEFLATE", overview_resampling="nearest")
