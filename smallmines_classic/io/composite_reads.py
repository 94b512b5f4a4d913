"""Pixels of one window read straight from items on grids aligned with the output: no warp, the same numbers.

Items on the output's CRS (Sentinel-2, and Sentinel-1 on the padded grid)
whose 10 m bands share its pixel grid and whose 20 m bands put each pixel
on 2 x 2 output pixels are read here with one rasterio read of each
asset's window; the 20 m bands are brought to 10 m by the closed form of
GDAL's bilinear and nearest kernels for a factor of two. The pixels equal
those of odc-stac's GDAL warp, bit for bit: the bilinear weights are
products of 1/4 and 3/4, so every sum of weighted 16-bit numbers is exact
(at most 20 significant bits: float32 holds it), whatever its order, and
the one division left (by the weights of the valid neighbours, at edges
and next to no data) is GDAL's own, in float64. As GDAL, an output pixel
is no data where the source pixel under its centre is. Items on any other
grid, or 20 m bands of wider numbers, are left to odc-stac (None here).
The 10 m bands are pasted, as odc-stac does. A DEM tile that covers a
window is warped with odc-stac's own call (:func:`read_warped`).
"""

import contextlib
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.warp import Resampling, reproject

from .._backend import require

__all__ = ["OpenAssets", "read_aligned", "read_warped"]

#: GDAL's bilinear gives up below this sum of weights (gdalwarpkernel.cpp).
_LEAST_WEIGHT = 0.00001
#: Source types whose bilinear sums are exact in float32 in any order (Sentinel-2 L2A is uint16).
_EXACT_DTYPES = ("uint8", "int8", "uint16", "int16")


def _factor(src, geobox):
    """2 or 1 where each source pixel covers that many output pixels a side on a shared grid, else None."""
    if src.crs is None or src.crs != geobox.crs or src.count != 1:
        return None
    source, target = src.transform, geobox.transform
    if source.b or source.d or target.b or target.d:
        return None
    offsets = ((target.c - source.c) / target.a, (target.f - source.f) / target.e)
    if any(offset != math.floor(offset) for offset in offsets):
        return None
    for factor in (1, 2):
        if (source.a, source.e) == (factor * target.a, factor * target.e):
            return factor, tuple(int(offset) for offset in offsets)
    return None


def _read_rows_cols(src, rows, cols):
    """Source pixels ``rows`` x ``cols`` (ranges that may leave the raster) as float32, NaN outside and at no data."""
    out = np.full((len(rows), len(cols)), np.nan, np.float32)
    row0, row1 = max(rows.start, 0), min(rows.stop, src.height)
    col0, col1 = max(cols.start, 0), min(cols.stop, src.width)
    if row0 < row1 and col0 < col1:
        window = rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)
        pixels = src.read(1, window=window, out_dtype="float32")
        if src.nodata is not None:
            pixels[pixels == src.nodata] = np.nan
        out[row0 - rows.start:row1 - rows.start, col0 - cols.start:col1 - cols.start] = pixels
    return out


def _bilinear_taps(first, size):
    """Output pixels ``first`` ... ``first + size - 1`` of a 2x grid: the lower source pixel, the upper one's weight."""
    index = np.arange(first, first + size)
    return (index - 1) // 2, np.where(index % 2, 0.25, 0.75)


def _upsample(src, offsets, shape, nearest):
    """The output window (``offsets`` from the source origin, in output pixels) from a 20 m source."""
    (col_off, row_off), (height, width) = offsets, shape
    if nearest:
        rows, cols = range(row_off // 2, (row_off + height - 1) // 2 + 1), range(col_off // 2,
                                                                              (col_off + width - 1) // 2 + 1)
        pixels = _read_rows_cols(src, rows, cols)
        return pixels[np.arange(row_off, row_off + height)[:, None] // 2 - rows.start,
                      np.arange(col_off, col_off + width)[None] // 2 - cols.start]
    row_low, row_weight = _bilinear_taps(row_off, height)
    col_low, col_weight = _bilinear_taps(col_off, width)
    rows, cols = range(row_low[0], row_low[-1] + 2), range(col_low[0], col_low[-1] + 2)
    pixels = _read_rows_cols(src, rows, cols)
    row_low, col_low = row_low - rows.start, col_low - cols.start
    # Rows then columns: where the four neighbours are valid, the weights sum to 1 and every sum is exact
    # (16-bit numbers times quarters: at most 20 significant bits, within float32), so this is GDAL's number;
    # elsewhere it is NaN, and those pixels are worked out as GDAL does below.
    row_weight, col_weight = row_weight.astype(np.float32), col_weight.astype(np.float32)
    along = (np.take(pixels, row_low, axis=0) * (1 - row_weight[:, None])
             + np.take(pixels, row_low + 1, axis=0) * row_weight[:, None])
    out = np.take(along, col_low, axis=1) * (1 - col_weight) + np.take(along, col_low + 1, axis=1) * col_weight
    at_gap = np.nonzero(np.isnan(out))
    if at_gap[0].size:
        centre = (at_gap[0] + row_off) // 2 - rows.start, (at_gap[1] + col_off) // 2 - cols.start
        out[at_gap] = _bilinear_at_gaps(pixels, (row_low[at_gap[0]], row_weight[at_gap[0]]),
                                        (col_low[at_gap[1]], col_weight[at_gap[1]]), centre)
    return out


def _bilinear_at_gaps(pixels, row_taps, col_taps, centre):
    """GDAL's bilinear where a neighbour is missing: the valid neighbours' weighted mean; NaN at a missing centre."""
    (row_low, row_weight), (col_low, col_weight) = row_taps, col_taps
    total, weights = np.zeros(row_low.shape), np.zeros(row_low.shape)
    for row, y_weight in ((row_low, 1 - row_weight), (row_low + 1, row_weight)):
        for col, x_weight in ((col_low, 1 - col_weight), (col_low + 1, col_weight)):
            value, weight = pixels[row, col].astype(np.float64), y_weight.astype(np.float64) * x_weight
            valid = np.isfinite(value)
            total += np.where(valid, value * weight, 0)
            weights += np.where(valid, weight, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(pixels[centre]) & (weights >= _LEAST_WEIGHT), total / weights, np.nan)


class OpenAssets:
    """Asset files kept open, by href, while one process reads the windows of a composite.

    Neighbouring windows share the tiles of an asset's file (a window
    with its one-pixel ring covers parts of up to four); kept open, a file
    keeps its decoded tiles in GDAL's block cache for the next window
    instead of inflating them again. At most :attr:`MOST` files are kept
    (the others are opened per read). Pickled, as for a Dask worker, it
    keeps nothing: each read opens its file. :meth:`close` closes them all.
    """

    #: Files kept open at most.
    MOST = 256

    def __init__(self, keep=True):
        self._keep, self._open, self._lock = keep, {}, threading.Lock()

    def __reduce__(self):
        return OpenAssets, (False,)

    @contextlib.contextmanager
    def open(self, href):
        """The rasterio dataset of ``href``, kept open after the block when there is room."""
        with self._lock:
            src = self._open.get(href)
            if src is None and self._keep and len(self._open) < self.MOST:
                src = self._open[href] = rasterio.open(href, sharing=False)
        if src is not None:
            yield src
            return
        with rasterio.open(href, sharing=False) as src:
            yield src

    def close(self):
        with self._lock:
            for src in self._open.values():
                src.close()
            self._open.clear()


@contextlib.contextmanager
def _probing():
    """Files opened to try a direct read warn of nothing: a broken one (a truncated GeoTIFF without its
    geotransform) fails the try, and odc-stac then reads it and reports what is wrong, once. Entered by the thread
    that starts the readers, around all of them (a warnings filter is process-wide)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


def _read_asset(src, geobox, nearest):
    """One asset's pixels on ``geobox`` as float32, or None where its grid is not aligned."""
    height, width = geobox.shape
    aligned = _factor(src, geobox)
    if aligned is None:
        return None
    factor, (col_off, row_off) = aligned
    if factor == 2 and src.dtypes[0] not in _EXACT_DTYPES:
        return None   # weighted sums are exact only for numbers of at most 16 bits
    if factor == 1:
        return _read_rows_cols(src, range(row_off, row_off + height), range(col_off, col_off + width))
    return _upsample(src, (col_off, row_off), (height, width), nearest)


def read_aligned(items, assets, geobox, env, files, nearest=("SCL",)):
    """(time, band, y, x) float32 pixels of ``assets`` on ``geobox``, or None where a grid is not aligned.

    As odc-stac's load with bilinear resampling (nearest for the assets
    named in ``nearest``), one item a time step, NaN at no data and outside
    the item. None (nothing returned) when an asset is not a one-band raster
    on the output grid or a 2x coarser grid aligned with it, or cannot be
    read: odc-stac then reads the items, and reports what is wrong. The
    assets are read on every core, each under GDAL's settings ``env()``,
    from ``files`` (:class:`OpenAssets`).
    """
    def read(pair):
        item, asset = pair
        try:
            with env(), files.open(item.assets[asset].href) as src:
                return _read_asset(src, geobox, asset in nearest)
        except (RasterioError, OSError):
            return None

    with _probing(), ThreadPoolExecutor(os.cpu_count()) as pool:
        pixels = list(pool.map(read, [(item, asset) for item in items for asset in assets]))
    if any(band is None for band in pixels):
        return None
    return np.stack(pixels).reshape(len(items), len(assets), *geobox.shape)


def read_warped(items, asset, geobox, env, files):
    """(1, 1, y, x) float32: ``asset`` of the one item in ``items`` warped bilinearly onto ``geobox``, or None.

    The very call odc-stac's load makes (GDAL's warp from the whole source
    band, NaN at no data) where it warps one item into the whole window,
    without the cost of its Dask graph, nor the import of odc-stac and Dask
    when every other read is direct. None (nothing read) for several items
    (a mosaic), an item that covers only part of the window, a source odc-stac
    would paste or read from an overview, or a file that cannot be read:
    odc-stac then reads them.
    """
    if len(items) != 1:
        return None
    overlap = require("odc.geo.overlap", "maps")
    source_geobox = require("odc.geo.geobox", "maps").GeoBox
    height, width = geobox.shape
    try:
        with _probing(), env(), files.open(items[0].assets[asset].href) as src:
            if src.count != 1 or src.crs is None:
                return None
            plan = overlap.compute_reproject_roi(source_geobox((src.height, src.width), src.transform, src.crs),
                                                 geobox, ttol=0.05)   # odc-stac's tolerance for bilinear
            if plan.paste_ok or plan.read_shrink != 1 or tuple(plan.roi_dst) != (slice(0, height), slice(0, width)):
                return None
            out = np.full((height, width), np.nan, np.float32)
            reproject(rasterio.band(src, 1), out, src_nodata=src.nodata, dst_crs=str(geobox.crs),
                      dst_transform=geobox.transform, dst_nodata=np.nan, resampling=Resampling.bilinear)
    except (RasterioError, OSError):
        return None
    return out[None, None]
