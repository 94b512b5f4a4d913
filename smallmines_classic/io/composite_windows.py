"""One window of a composite: the items' pixels read and reduced, here or on a Dask worker.

Items on grids aligned with the output are read directly, and a DEM tile
that covers a window warped directly (:mod:`.composite_reads`: the same
pixels, faster); odc-stac reads the others.

Each window is one task (:func:`composite_windows`): locally in order, or on
a Dask cluster through the bounded runner (:func:`smallmines_classic._dask.run_bounded`),
so memory is bounded by a few windows whatever the box. odc-stac and Dask
are optional (the ``stac`` extra) and imported only when a window is read.
"""

import contextlib
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from tqdm.auto import tqdm

from .._backend import require
from .._dask import run_bounded
from ..errors import CompositeError
from .composite_reads import read_aligned, read_warped
from .recipe import nan_median, s2_composite
from .stac import DEM_ASSET, S1_ASSETS, S2_ASSETS, error_reason

__all__ = ["GDAL_CACHE_BYTES", "gdal_env", "s1_median_window", "s2_dem_window", "composite_windows"]

GDAL_CACHE_BYTES = 256 * 2 ** 20


def gdal_env():
    """GDAL's settings while items are read and the composite written.

    Remote COGs (signed blob URLs): no directory listing on open, retries on
    transient HTTP errors. odc-stac captures these options when the lazy
    arrays are made and restores them in each read. GDAL's block cache (5 %
    of RAM by default) would fill with every block written: it is capped,
    unless ``GDAL_CACHEMAX`` is set. GDAL's warps (the 20 m bands, the DEM)
    and the deflate of the final COG copy run on every core, unless
    ``GDAL_NUM_THREADS`` is set: each pixel and each tile comes out the
    same, so the file's bytes do not change.
    """
    cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_BYTES}
    threads = {} if "GDAL_NUM_THREADS" in os.environ else {"GDAL_NUM_THREADS": "ALL_CPUS"}
    return rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_MAX_RETRY=5, GDAL_HTTP_RETRY_DELAY=1,
                        **cache, **threads)


_ODC_LOG = logging.NullHandler()


def _load(items, assets, geobox, resampling, groupby="id"):
    """(time, band, y, x) float32 pixels of ``assets`` on ``geobox``, lazily: one Dask task per band and time.

    NaN where there is no data. Called per window, so each Dask graph stays
    the size of one window, whatever the box.
    """
    odc_stac = require("odc.stac", "maps")
    dask_array = require("dask.array", "maps")
    # odc-stac logs each failed read and has no handler of its own: without one, Python prints the log on stderr
    # beside the error raised here. A NullHandler stops that; logs still reach the handlers a user configured.
    logging.getLogger("odc").addHandler(_ODC_LOG)
    height, width = geobox.shape
    data = odc_stac.load(items, bands=list(assets), geobox=geobox, groupby=groupby, resampling=resampling,
                         dtype="float32", nodata=np.nan, chunks={"x": width, "y": height})
    return dask_array.stack([data[asset].data for asset in assets], axis=1)


def _compute(lazy, scheduler="threads"):
    dask = require("dask", "maps")
    # rasterio's warp into in-memory arrays warns before it sets their transform: noise, not a problem. The filter
    # holds until every read has ended: when one fails, dask returns while the window's other reads still run, so
    # they run in a pool of this call's own, joined before the filter goes.
    with warnings.catch_warnings(), ThreadPoolExecutor(os.cpu_count()) as pool:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return dask.compute(*lazy, scheduler=scheduler, **({"pool": pool} if scheduler == "threads" else {}))


def _read(loads):
    """The pixels of each load, ``(items, assets, geobox, resampling[, groupby])``, as numpy arrays.

    A failure to read is put down to the asset that fails when read alone,
    and raised as a :class:`CompositeError` naming the item, the asset and
    its file or URL; a failure no single asset repeats (a transient network
    error) names the items.
    """
    lazy = [_load(*load) for load in loads]
    try:
        return _compute(lazy)
    except Exception as error:
        failure = error
    # Raised outside the except block, so that it carries no context: on a Dask worker, a context of GDAL's
    # errors would not pickle, and the client would get a bare Exception instead of the CompositeError.
    unreadable = _unreadable_asset(loads)
    if unreadable is not None:
        raise unreadable
    if not isinstance(failure, (RasterioError, OSError, RuntimeError)):
        raise failure   # not the data: a bug
    items = sorted({item.id for load in loads for item in load[0]})
    raise CompositeError(f"could not read the pixels of the items {items}: {error_reason(failure)}")


def _unreadable_asset(loads):
    """A CompositeError for the first asset of ``loads`` that cannot be read on its own, or None."""
    for items, assets, geobox, resampling, *_ in loads:
        for item in items:
            for asset in assets:
                alone = _load([item], (asset,), geobox, resampling)
                try:
                    _compute([alone], scheduler="sync")
                except Exception as error:  # any failure of one file's read is that file's
                    href = item.assets[asset].href
                    return CompositeError(f"{item.collection_id} item {item.id!r}: the pixels of asset {asset!r} "
                                          f"cannot be read from {href}: {_why_unreadable(href, error)}")
    return None


def _why_unreadable(href, error):
    """What is wrong with the raster at ``href``, whose read raised ``error``."""
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(href) as src:
            if src.crs is None:
                return f"it is a {src.driver} raster without a coordinate reference system, not a georeferenced COG"
    return error_reason(error)


# --- one window: the reduction run here or on a Dask worker ------------------------------------

def _slices(window):
    return slice(window.row_off, window.row_off + window.height), slice(window.col_off, window.col_off + window.width)


def _dem_group(item, parsed, index):
    """odc-stac group key that mosaics every DEM tile into one plane."""
    return 0


def s1_median_window(sources, core):
    """The per-pixel medians of linear VV and VH in the window ``core`` of the (padded) Sentinel-1 grid."""
    items, geobox, files = sources
    window_geobox = geobox[_slices(core)]
    linear = read_aligned(items, S1_ASSETS, window_geobox, gdal_env, files)
    if linear is None:
        with gdal_env():
            (linear,) = _read([(items, S1_ASSETS, window_geobox, "bilinear")])
    # Only positive backscatter is an observation: NaN and no-data markers (the Planetary Computer's -32768) are not.
    linear = np.where(np.isfinite(linear) & (linear > 0), linear, np.nan)
    return core, np.stack([nan_median(band) for band in linear.swapaxes(0, 1)])


def s2_dem_window(sources, core):
    """Sentinel-2 medians and their count, and the DEM, in the window ``core`` of the output grid.

    Returns ``(core, medians, count, dem)``; ``dem`` is None without DEM items.
    """
    s2_groups, dem, geobox, files = sources
    window_geobox = geobox[_slices(core)]
    assets = (*S2_ASSETS, "SCL")
    with gdal_env():
        # Items on grids aligned with the output, and a DEM tile covering the window, are read directly (the same
        # pixels as odc-stac's, faster); odc-stac reads the others.
        aligned = [read_aligned(group, assets, window_geobox, gdal_env, files) for group in s2_groups.values()]
        dem_block = read_warped(dem, DEM_ASSET, window_geobox, gdal_env, files) if dem else None
        loads = [(group, assets, window_geobox, {"*": "bilinear", "SCL": "nearest"})
                 for group, block in zip(s2_groups.values(), aligned) if block is None]
        if dem and dem_block is None:
            loads.append((dem, (DEM_ASSET,), window_geobox, "bilinear", _dem_group))
        read = iter(_read(loads) if loads else ())
    blocks = [next(read) if block is None else block for block in aligned]
    medians, count = s2_composite(zip(s2_groups, blocks))
    if dem and dem_block is None:
        dem_block = next(read)
    return core, medians, count, None if dem_block is None else dem_block[0, 0]


def composite_windows(task, sources, cores, client, desc, progress):
    """Yield ``task(sources, core)`` for every window: here, in order, or on a Dask cluster, as they complete.

    On a cluster, ``sources`` is sent once to every worker, and at most two
    tasks per worker thread are in flight (:func:`~smallmines_classic._dask.run_bounded`),
    so neither the workers nor this process hold more than a few windows
    whatever the box. Use it in ``contextlib.closing``: closing it cancels
    the tasks still pending.
    """
    with tqdm(total=len(cores), desc=desc, unit="window", disable=not progress) as bar:
        results = (task(sources, core) for core in cores) if client is None else \
            run_bounded(client, task, sources, cores)
        with contextlib.closing(results):
            for result in results:
                yield result
                bar.update()
