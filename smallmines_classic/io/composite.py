"""SmallMinesDS-faithful 13-band composites for any bounding box and year, from STAC items.

The recipe is the dataset's (Ofori-Ampofo et al. 2025, section II):

- **Sentinel-2 L2A** (``sentinel-2-l2a``): an observation is dropped where its
  scene classification (SCL) is 0 no data, 1 saturated or defective, 3 cloud
  shadow, 8 cloud medium, 9 cloud high or 10 thin cirrus, or where a band
  holds no data. Items of processing baseline 04.00 or later have the 1000
  offset subtracted (floor 0), so every year is on the pre-2022 scale of the
  training data. Each band is the per-pixel median of the valid observations
  in the chosen months. Bands are brought to the 10 m grid bilinearly (the
  10 m bands land on it unchanged when their grid is aligned), SCL with
  nearest neighbour.
- **Sentinel-1 RTC** (``sentinel-1-rtc``): per-pixel median of the linear
  gamma0 backscatter, then a 3 x 3 circular mean filter, then 10 log10 (dB).
- **Copernicus DEM GLO-30** (``cop-dem-glo-30``): bilinear to the 10 m grid.

Every item is one observation, as every image is in Earth Engine's median
over a collection, with which the dataset was made: where neighbouring tiles
of one pass overlap, the pass counts in each. Pixels are read with odc-stac,
lazily and in Dask chunks, and the composite is computed and written window
by window, so memory is bounded by the window, whatever the box. One
function reduces a window, whether this process runs it or, with a Dask
``client``, a worker does (:func:`build_composite`).

pystac, pystac-client, planetary-computer and odc-stac are optional (the
``stac`` extra) and imported only when a composite is built.
"""

import calendar
import contextlib
import itertools
import logging
import math
import os
import typing
import warnings
from datetime import timezone
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from scipy import ndimage
from tqdm.auto import tqdm

from .._backend import require
from .._guards import check_output_not_input
from .._locks import commit_lock
from .._writes import check_file_target, check_free_space
from ..bands import BAND_NAMES, BAND_SETS, S2_OFFSET
from ..errors import CompositeError
from .raster import OBS_DESCRIPTION, cog_outputs, scene_windows

__all__ = ["CompositeError", "CompositePlan", "PLANETARY_COMPUTER", "S2_COLLECTION", "S1_COLLECTION", "DEM_COLLECTION",
           "SCL_DROPPED", "S2_OFFSET", "RECIPE", "s2_valid", "harmonise", "nan_median", "circular_mean", "to_db",
           "s2_composite", "composite_grid", "composite_plan", "read_item_collection", "search_stac", "build_composite",
           "observations_path", "open_composite"]

PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
S2_COLLECTION, S1_COLLECTION, DEM_COLLECTION = "sentinel-2-l2a", "sentinel-1-rtc", "cop-dem-glo-30"
S2_ASSETS = BAND_SETS["s2"]                  # the asset keys are the band names: B02 ... B12
S1_ASSETS = ("vv", "vh")
DEM_ASSET = "data"
#: SCL classes whose observations are dropped: no data, saturated / defective, cloud shadow, clouds, cirrus.
SCL_DROPPED = (0, 1, 3, 8, 9, 10)
OFFSET_BASELINE = 4.0
RESOLUTION = 10
#: Side of the tiles of every raster written, in pixels.
BLOCK = 512
GDAL_CACHE_BYTES = 256 * 2 ** 20
#: The recipe in one line, as the composite's ``recipe`` tag says it.
RECIPE = "SmallMinesDS: S2 SCL-masked, offset-harmonised median; S1 median, 3x3 circular mean, dB; DEM bilinear"


# --- the recipe on numpy blocks (time first) --------------------------------------------------

def s2_valid(bands, scl):
    """Which Sentinel-2 observations count: SCL class kept and every band holding data.

    ``bands`` is (T, B, Y, X) digital numbers (0 and NaN are no data),
    ``scl`` (T, Y, X). Returns a (T, Y, X) boolean array.
    """
    kept = np.isfinite(scl) & ~np.isin(scl, SCL_DROPPED)
    return kept & (np.isfinite(bands) & (bands != 0)).all(axis=1)


def harmonise(bands, baseline_offset):
    """Subtract the processing-baseline offset, floored at 0 (the pre-2022 scale)."""
    return np.maximum(bands - baseline_offset, 0) if baseline_offset else bands


def nan_median(stack):
    """Per-pixel median over the first axis of finite values and NaN; NaN where nothing is valid.

    Equal to ``np.nanmedian(stack, axis=0)`` (with an even count, the mean
    of the two middle values), but through one sort instead of masked
    arrays: several times faster, and no larger than two copies of ``stack``.
    """
    count = np.isfinite(stack).sum(axis=0)
    ordered = np.sort(stack, axis=0)                       # NaN sorts last
    middle = lambda index: np.take_along_axis(ordered, index[None], axis=0)[0].astype(np.float64)  # noqa: E731
    median = (middle(np.maximum(count - 1, 0) // 2) + middle(count // 2)) / 2
    return np.where(count > 0, median, np.nan).astype(np.float32)


#: The circle of radius 1 pixel in a 3 x 3 box: the centre and its four edge neighbours.
CIRCLE_3X3 = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.float64)


def circular_mean(image):
    """3 x 3 circular mean filter that skips missing pixels.

    The footprint is Earth Engine's circle kernel of radius 1 pixel: the
    centre and its four edge neighbours (the corners lie at sqrt(2) > 1).
    Each output is the mean of the valid (finite) pixels in the footprint, so
    a gap or the edge of the array shrinks the footprint instead of spreading
    NaN; it is NaN only where the whole footprint is missing.
    """
    valid = np.isfinite(image)
    sums = ndimage.correlate(np.where(valid, image, 0).astype(np.float64), CIRCLE_3X3, mode="constant")
    counts = ndimage.correlate(valid.astype(np.float64), CIRCLE_3X3, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan).astype(np.float32)


def to_db(linear):
    """10 log10 of linear backscatter; NaN where it is missing or not positive."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(linear > 0, 10 * np.log10(np.where(linear > 0, linear, 1)), np.nan).astype(np.float32)


def s2_composite(blocks):
    """Median of the valid Sentinel-2 observations and their count.

    ``blocks`` yields ``(offset, block)``: ``block`` is (T, 11, Y, X), the ten
    bands then SCL, of items sharing one baseline offset. Returns the (10, Y,
    X) float32 medians (NaN where nothing is valid) and the (Y, X) uint8 count.
    One band at a time, so the working memory is a few times one band's stack.
    """
    blocks = [(offset, block, s2_valid(block[:, :-1], block[:, -1])) for offset, block in blocks]
    medians = np.empty((len(S2_ASSETS), *blocks[0][1].shape[2:]), np.float32)
    for band in range(len(S2_ASSETS)):
        medians[band] = nan_median(np.concatenate([np.where(valid, harmonise(block[:, band], offset), np.nan)
                                                   for offset, block, valid in blocks]))
    count = sum(valid.sum(axis=0) for _, _, valid in blocks)
    return medians, np.minimum(count, 255).astype(np.uint8)


# --- the output grid -------------------------------------------------------------------------

def _check_bbox(bbox):
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"bbox must be four numbers W S E N in degrees, got {bbox!r}") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError(f"bbox {bbox!r} is not W S E N in degrees with W < E and S < N")
    return west, south, east, north


def composite_grid(bbox):
    """The output grid of a box: UTM zone of its centre, 10 m pixels on multiples of 10 m.

    Parameters
    ----------
    bbox : sequence of 4 float
        West, south, east, north in degrees (EPSG:4326).

    Returns
    -------
    crs : rasterio.crs.CRS
        EPSG:326zz north of the equator, EPSG:327zz south of it.
    transform : affine.Affine
    width, height : int
        The box's UTM bounds, snapped outward to multiples of 10 m.
    """
    west, south, east, north = _check_bbox(bbox)
    lon, lat = (west + east) / 2, (south + north) / 2
    zone = min(int((lon + 180) // 6) + 1, 60)
    crs = CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, west, south, east, north, densify_pts=21)
    snap = lambda value, rounding: rounding(round(value, 6) / RESOLUTION) * RESOLUTION  # noqa: E731 (6 dp: no float dust)
    left, bottom, right, top = snap(left, math.floor), snap(bottom, math.floor), snap(right, math.ceil), snap(top, math.ceil)
    transform = Affine(RESOLUTION, 0, left, 0, -RESOLUTION, top)
    return crs, transform, (right - left) // RESOLUTION, (top - bottom) // RESOLUTION


# --- items -----------------------------------------------------------------------------------

def _check_months(months):
    months = sorted({int(m) for m in months})
    if not months or not all(1 <= m <= 12 for m in months):
        raise ValueError(f"months must be numbers 1..12, got {months!r}")
    return months


def _item_time(item):
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise CompositeError(f"STAC item {item.id!r} has no datetime")
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _item_bounds(item):
    if item.bbox:
        box = item.bbox   # 2D [W, S, E, N] or 3D [W, S, low, E, N, high]
        return (box[0], box[1], box[2], box[3]) if len(box) == 4 else (box[0], box[1], box[3], box[4])
    if item.geometry:
        points = np.array(list(_coordinates(item.geometry["coordinates"])), dtype=float).reshape(-1, 2)
        return (*points.min(axis=0), *points.max(axis=0))
    return None


def _coordinates(nested):
    """Flatten GeoJSON coordinates into (lon, lat) pairs."""
    if nested and isinstance(nested[0], (int, float)):
        yield nested[:2]
        return
    for part in nested:
        yield from _coordinates(part)


def _intersects(bounds, bbox):
    return bounds is None or (bounds[0] <= bbox[2] and bounds[2] >= bbox[0] and bounds[1] <= bbox[3] and bounds[3] >= bbox[1])


def _select(items, bbox, year, months):
    """The items of the three collections in the box; Sentinel-1/2 only in the chosen months of ``year``."""
    chosen = {S2_COLLECTION: [], S1_COLLECTION: [], DEM_COLLECTION: []}
    for item in items:
        if item.collection_id not in chosen or not _intersects(_item_bounds(item), bbox):
            continue
        if item.collection_id != DEM_COLLECTION:   # the DEM is one timeless surface
            when = _item_time(item)
            if when.year != year or when.month not in months:
                continue
        chosen[item.collection_id].append(item)
    return chosen


def _is_local(href):
    """True for a local file path (absolute, relative or file://), False for URLs and GDAL virtual paths."""
    if href.startswith("/vsi"):
        return False
    return urlparse(href).scheme in ("", "file") or (len(href) > 1 and href[1] == ":")   # C:\... too


def read_item_collection(path):
    """Items of a local STAC ItemCollection JSON, with relative asset hrefs resolved against its folder.

    Asset hrefs may be local paths (absolute, relative or ``file://``) or
    URLs. The file is only read.
    """
    pystac = require("pystac", "stac")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"STAC ItemCollection {path} does not exist")
    try:
        collection = pystac.ItemCollection.from_file(str(path))
    except Exception as error:  # pystac raises JSON, key and STAC validation errors alike
        raise CompositeError(f"{path} is not a readable STAC ItemCollection ({type(error).__name__}: {error})") from None
    return _absolute_hrefs(collection, path.parent)


def _absolute_hrefs(items, folder):
    """Copies of ``items`` whose local asset hrefs (paths or ``file://``) are absolute paths; relative ones from ``folder``."""
    items = [item.clone() for item in items]
    for item in items:
        for asset in item.assets.values():
            if _is_local(asset.href):
                local = Path(urlparse(asset.href).path if asset.href.startswith("file:") else asset.href)
                asset.href = str(local if local.is_absolute() else (Path(folder) / local).resolve())
    return items


def search_stac(bbox, year, months, stac_url=PLANETARY_COMPUTER):
    """Items of the three collections from a STAC API (the Planetary Computer's are signed).

    Sentinel-1 and -2 are searched from the first day of the first chosen
    month to the last day of the last one (and then kept only in the chosen
    months); the DEM without a date.
    """
    client_module = require("pystac_client", "stac")
    modifier = None
    if urlparse(stac_url).hostname == urlparse(PLANETARY_COMPUTER).hostname:
        modifier = require("planetary_computer", "stac").sign_inplace
    last = max(months)
    period = f"{year}-{min(months):02d}-01T00:00:00Z/{year}-{last:02d}-{calendar.monthrange(year, last)[1]:02d}T23:59:59Z"
    with _stac_errors(stac_url):
        client = client_module.Client.open(stac_url, modifier=modifier)
        found = list(client.search(collections=[S2_COLLECTION, S1_COLLECTION], bbox=list(bbox), datetime=period).items())
        found += list(client.search(collections=[DEM_COLLECTION], bbox=list(bbox)).items())
    return found


@contextlib.contextmanager
def _stac_errors(stac_url):
    """A STAC API that cannot be reached, or answers with an error, as a CompositeError naming it and the way round."""
    api_error = require("pystac_client.exceptions", "stac").APIError
    request_error = require("requests", "stac").RequestException
    try:
        yield
    except (api_error, request_error, OSError) as error:   # pystac-client wraps a failed connection in APIError
        status = getattr(error, "status_code", None)
        what = f"answered with HTTP status {status}" if status else "cannot be reached"
        raise CompositeError(f"the STAC API at {stac_url} {what} ({_reason(error)}); check the network and the URL, or "
                             "give the items as a local STAC ItemCollection (--items FILE, or items= in Python)") from None


def _s2_offset(item):
    baseline = item.properties.get("s2:processing_baseline")
    try:
        return S2_OFFSET if float(baseline) >= OFFSET_BASELINE else 0
    except (TypeError, ValueError):
        raise CompositeError(f"Sentinel-2 item {item.id!r} has no usable s2:processing_baseline "
                             f"(got {baseline!r}); it decides whether the {S2_OFFSET} offset is removed") from None


def _check_assets(items, keys, collection):
    for item in items:
        missing = [key for key in keys if key not in item.assets]
        if missing:
            raise CompositeError(f"{collection} item {item.id!r} lacks the assets {missing} (has {sorted(item.assets)})")
        for key in keys:
            href = item.assets[key].href
            if _is_local(href) and not Path(href).is_file():
                raise CompositeError(f"{collection} item {item.id!r}: the pixels of asset {key!r} cannot be read, "
                                     f"{href} {'is not a file' if Path(href).exists() else 'does not exist'}")


# --- reading pixels ----------------------------------------------------------------------------

def _gdal_env():
    """GDAL's settings while items are read and the composite written.

    Remote COGs (signed blob URLs): no directory listing on open, retries on
    transient HTTP errors. odc-stac captures these options when the lazy
    arrays are made and restores them in each read. GDAL's block cache (5 %
    of RAM by default) would fill with every block written: it is capped,
    unless ``GDAL_CACHEMAX`` is set.
    """
    cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_BYTES}
    return rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_MAX_RETRY=5, GDAL_HTTP_RETRY_DELAY=1, **cache)


_ODC_LOG = logging.NullHandler()


def _load(items, assets, geobox, resampling, groupby="id"):
    """(time, band, y, x) float32 pixels of ``assets`` on ``geobox``, lazily: one Dask task per band and time.

    NaN where there is no data. Called per window, so each Dask graph stays
    the size of one window, whatever the box.
    """
    odc_stac = require("odc.stac", "stac")
    dask_array = require("dask.array", "stac")
    # odc-stac logs each failed read and has no handler of its own: without one, Python prints the log on stderr
    # beside the error raised here. A NullHandler stops that; logs still reach the handlers a user configured.
    logging.getLogger("odc").addHandler(_ODC_LOG)
    height, width = geobox.shape
    data = odc_stac.load(items, bands=list(assets), geobox=geobox, groupby=groupby, resampling=resampling,
                         dtype="float32", nodata=np.nan, chunks={"x": width, "y": height})
    return dask_array.stack([data[asset].data for asset in assets], axis=1)


def _compute(lazy, scheduler="threads"):
    dask = require("dask", "stac")
    with warnings.catch_warnings():
        # rasterio's warp into in-memory arrays warns before it sets their transform: noise, not a problem
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return dask.compute(*lazy, scheduler=scheduler)


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
    raise CompositeError(f"could not read the pixels of the items {items}: {_reason(failure)}")


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
    return _reason(error)


def _reason(error):
    """The innermost cause of ``error`` that says something ("Read failed. See previous exception" says little)."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for cause in reversed(chain):
        if str(cause).strip():
            return str(cause).strip()
    return type(chain[-1]).__name__


# --- one window: the reduction run here or on a Dask worker ------------------------------------

def _slices(window):
    return slice(window.row_off, window.row_off + window.height), slice(window.col_off, window.col_off + window.width)


def _dem_group(item, parsed, index):
    """odc-stac group key that mosaics every DEM tile into one plane."""
    return 0


def _s1_median_window(sources, core):
    """The per-pixel medians of linear VV and VH in the window ``core`` of the (padded) Sentinel-1 grid."""
    items, geobox = sources
    with _gdal_env():
        (linear,) = _read([(items, S1_ASSETS, geobox[_slices(core)], "bilinear")])
    linear = np.where(np.isfinite(linear) & (linear > 0), linear, np.nan)
    return core, np.stack([nan_median(band) for band in linear.swapaxes(0, 1)])


def _s2_dem_window(sources, core):
    """Sentinel-2 medians and their count, and the DEM, in the window ``core`` of the output grid.

    Returns ``(core, medians, count, dem)``; ``dem`` is None without DEM items.
    """
    s2_groups, dem, geobox = sources
    window_geobox = geobox[_slices(core)]
    loads = [(group, (*S2_ASSETS, "SCL"), window_geobox, {"*": "bilinear", "SCL": "nearest"})
             for group in s2_groups.values()]
    if dem:
        loads.append((dem, (DEM_ASSET,), window_geobox, "bilinear", _dem_group))
    with _gdal_env():
        blocks = _read(loads)
    medians, count = s2_composite(zip(s2_groups, blocks))
    return core, medians, count, blocks[-1][0, 0] if dem else None


def _windows(task, sources, cores, client, desc, progress):
    """Yield ``task(sources, core)`` for every window: here, in order, or on a Dask cluster, as they complete.

    On a cluster, ``sources`` is sent once to every worker, and at most two
    tasks per worker thread are in flight, so neither the workers nor this
    process hold more than a few windows whatever the box. Use it in
    ``contextlib.closing``: closing it cancels the tasks still pending.
    """
    with tqdm(total=len(cores), desc=desc, unit="window", disable=not progress) as bar:
        if client is None:
            for core in cores:
                yield task(sources, core)
                bar.update()
            return
        distributed = require("dask.distributed", "scale")
        [shared] = client.scatter([sources], broadcast=True, hash=False)
        waiting, pending = iter(cores), set()
        finished = distributed.as_completed(with_results=True)

        def submit(count):
            for core in itertools.islice(waiting, count):
                future = client.submit(task, shared, core, pure=False)
                pending.add(future)
                finished.add(future)

        try:
            submit(max(2, 2 * sum(client.nthreads().values())))
            for future, result in finished:
                pending.discard(future)
                yield result
                bar.update()
                submit(1)
        finally:
            client.cancel([*pending, shared])


# --- the job's size ------------------------------------------------------------------------------

#: Bytes per pixel of the 13 float32 bands and the uint8 count, uncompressed.
PIXEL_BYTES = 4 * len(BAND_NAMES) + 1
#: Share that a COG's overviews add (each level a quarter of the one above).
OVERVIEW_SHARE = 1 / 3
#: Room for a GeoTIFF's headers and tile index.
HEADER_BYTES = 2 ** 16


class CompositePlan(typing.NamedTuple):
    """The output grid of a box and the disk space a composite of it needs, from uncompressed sizes.

    ``output_bytes``: the scene and its ``_obs.tif`` as COGs with overviews.
    ``scratch_bytes``: while it runs, beside the output: the GeoTIFFs the
    windows are written to, the Sentinel-1 medians (8 bytes a pixel) and
    GDAL's overview file during the final copy. Every raster counts whole
    tiles of :data:`BLOCK` pixels. Compression (deflate) usually makes the
    files much smaller, so these are estimates from above.
    """

    crs: CRS
    transform: Affine
    width: int
    height: int
    output_bytes: int
    scratch_bytes: int

    @property
    def disk_bytes(self):
        return self.output_bytes + self.scratch_bytes

    def describe(self):
        """One line: the grid's size in pixels and the disk space the job needs at most."""
        return (f"{self.width} x {self.height} px of {RESOLUTION} m ({self.width * self.height:,} px, EPSG:{self.crs.to_epsg()}); "
                f"up to {_size(self.disk_bytes)} on disk: output {_size(self.output_bytes)}, scratch "
                f"{_size(self.scratch_bytes)}")


def _size(nbytes):
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def _tiled_pixels(width, height):
    return math.ceil(width / BLOCK) * BLOCK * math.ceil(height / BLOCK) * BLOCK


def composite_plan(bbox):
    """The grid of :func:`composite_grid` and the bytes a composite of ``bbox`` needs on disk, from above.

    Computed from the box alone, before any item is read, from uncompressed
    sizes (see :class:`CompositePlan`).

    Returns
    -------
    CompositePlan
    """
    crs, transform, width, height = composite_grid(bbox)
    composite = _tiled_pixels(width, height) * PIXEL_BYTES
    overviews = math.ceil(composite * OVERVIEW_SHARE)
    s1_medians = _tiled_pixels(width + 2, height + 2) * 4 * len(S1_ASSETS)
    return CompositePlan(crs, transform, width, height, output_bytes=composite + overviews + 2 * HEADER_BYTES,
                         scratch_bytes=composite + s1_medians + overviews + 3 * HEADER_BYTES)


# --- the composite -------------------------------------------------------------------------------

def observations_path(scene):
    """The observation count beside a composite: ``<stem>_obs.tif`` (``scene_obs.tif`` for ``scene.tif``)."""
    scene = Path(scene)
    return scene.with_name(f"{scene.stem}_obs{scene.suffix or '.tif'}")


@contextlib.contextmanager
def open_composite(scene):
    """Open a composite and its observation count as one pair: ``(scene, obs)`` rasterio datasets.

    Both are opened under the shared commit lock of their folder, so they
    come from the same run even while another run replaces them (see
    :func:`build_composite`). Closed when the block ends.
    """
    scene = Path(scene)
    with contextlib.ExitStack() as stack:
        with commit_lock(scene.parent, shared=True):
            if not scene.is_file():
                raise FileNotFoundError(f"composite {scene} does not exist")
            if not observations_path(scene).is_file():
                raise FileNotFoundError(f"composite {scene} has no observation count {observations_path(scene).name} "
                                        "beside it; build it again")
            opened = [stack.enter_context(rasterio.open(path)) for path in (scene, observations_path(scene))]
        yield tuple(opened)


def _local_files(items):
    return [item.assets[key].href for item in items for key in item.assets if _is_local(item.assets[key].href)]


def _find_items(items, bbox, year, months, stac_url):
    """The items to choose from, and their source in words."""
    if items is None:
        return search_stac(bbox, year, months, stac_url), stac_url
    if isinstance(items, (str, Path)):
        return read_item_collection(items), str(items)
    return _absolute_hrefs(items, Path.cwd()), "the given items"


def build_composite(bbox, year, out, *, months=(1,), items=None, stac_url=PLANETARY_COMPUTER, chunk_size=512,
                    progress=True, client=None):
    """Build a SmallMinesDS-style 13-band composite for a box and a year.

    Parameters
    ----------
    bbox : sequence of 4 float
        West, south, east, north in degrees (EPSG:4326).
    year : int
    out : str or Path
        Output Cloud-Optimized GeoTIFF: 13 float32 bands in the SmallMinesDS
        order with band descriptions ``B02`` ... ``B12``, ``VV``, ``VH``,
        ``DEM``; NaN where a band has no valid observation. Beside it,
        ``<stem>_obs.tif`` (:func:`observations_path`): one uint8 band, the
        number of valid Sentinel-2 observations (items) per pixel. The two
        are committed as one pair (see Notes).
    months : sequence of int
        Months of ``year`` to composite (default January, as the dataset).
    items : str, Path, iterable of pystac.Item or None
        A local STAC ItemCollection JSON file, or items; None searches
        ``stac_url``. Items are recognised by their ``collection``
        (``sentinel-2-l2a``, ``sentinel-1-rtc``, ``cop-dem-glo-30``) and kept
        when they intersect ``bbox`` and (Sentinel-1/2) fall in the months.
    stac_url : str
        STAC API to search when ``items`` is None (default: the Planetary
        Computer's, whose items are signed with ``planetary-computer``).
    chunk_size : int
        Side in pixels of the windows read, reduced and written at a time
        (one Dask task each with a ``client``); memory grows with its square
        times the number of observations.
    progress : bool
        Show a progress bar over the windows.
    client : dask.distributed.Client or None
        Run the windows on this Dask cluster (needs the ``scale`` extra).
        Each window is one task: the worker reads its pixels with odc-stac,
        reduces them and returns the arrays; this process writes them as
        they arrive. The asset hrefs must be readable from every worker
        (URLs, or local paths on storage the workers share at the same
        path). The Sentinel-1 medians are computed on the workers too, one
        window a task, and written by this process to its scratch raster,
        from which it applies the 3 x 3 filter as it writes each window:
        workers never see this machine's disk. The result is the same, byte
        for byte, as without a client.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    CompositeError
        No item in the box, no Sentinel-2 item in the months of the year, an
        item without its assets or processing baseline, pixels that cannot
        be read (naming the item, the asset and its file), no valid
        Sentinel-2 observation in the whole box, or a STAC API that cannot
        be reached. Nothing is written then.
    DiskFullError
        The disk beside ``out`` cannot hold the output and scratch files
        (:func:`composite_plan`): checked before any item is read.
    ValueError
        ``out`` or its ``_obs.tif`` is one of the inputs (the items file or
        an asset's file, links too), a folder, a device, a FIFO or a socket.

    Notes
    -----
    See the module docstring for the recipe. A missing Sentinel-1 or DEM
    source only warns: its bands are NaN (a model that reads them maps no
    data there). The 3 x 3 circular filter uses Sentinel-1 pixels one pixel
    beyond the box, so its edge matches the inside.

    The scene and its ``_obs.tif`` are written to temporary files and
    committed together (:func:`smallmines_classic._writes.atomic_paths`):
    where the scene exists, the ``_obs.tif`` beside it is from the same run.
    A failure, stop or kill before the commit leaves an older pair as it
    was; two runs writing the same ``out`` commit one after the other.
    :func:`open_composite` opens the pair consistently even during a commit.
    """
    bbox = _check_bbox(bbox)
    months, year, out = _check_months(months), int(year), Path(out)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive number of pixels, got {chunk_size}")
    obs_path = observations_path(out)
    for target in (out, obs_path):
        check_file_target(target)
    plan = composite_plan(bbox)
    check_free_space(out, plan.disk_bytes, detail=f"a composite of {plan.width} x {plan.height} px: output "
                     f"{_size(plan.output_bytes)}, scratch {_size(plan.scratch_bytes)} at most")
    found, source = _find_items(items, bbox, year, months, stac_url)
    inputs = [items if isinstance(items, (str, Path)) else None, *_local_files(found)]
    for target in (out, obs_path):
        check_output_not_input(target, *inputs)
    chosen = _select(found, bbox, year, months)
    if not any(chosen.values()):
        raise CompositeError(f"no {S2_COLLECTION}, {S1_COLLECTION} or {DEM_COLLECTION} item of {source} "
                             f"intersects the box {list(bbox)}")
    s2, s1, dem = chosen[S2_COLLECTION], chosen[S1_COLLECTION], chosen[DEM_COLLECTION]
    if not s2:
        raise CompositeError(f"no {S2_COLLECTION} item of {source} covers the box {list(bbox)} in {year}, "
                             f"months {months}")
    for collection, present in ((S1_COLLECTION, s1), (DEM_COLLECTION, dem)):
        if not present:
            warnings.warn(f"no {collection} item of {source} for the box {list(bbox)}" +
                          ("" if collection == DEM_COLLECTION else f" in {year}, months {months}") +
                          f": its bands are NaN in {out.name}", RuntimeWarning, stacklevel=2)
    _check_assets(s2, (*S2_ASSETS, "SCL"), S2_COLLECTION)
    _check_assets(s1, S1_ASSETS, S1_COLLECTION)
    _check_assets(dem, (DEM_ASSET,), DEM_COLLECTION)

    geobox_module = require("odc.geo.geobox", "stac")
    crs, transform, width, height = plan.crs, plan.transform, plan.width, plan.height
    geobox = geobox_module.GeoBox((height, width), transform, crs)
    s2_groups = {}   # offset -> items; loaded apart so each item gets its own baseline's offset
    for item in sorted(s2, key=_s2_offset):
        s2_groups.setdefault(_s2_offset(item), []).append(item)
    cores = [core for core, _ in scene_windows(height, width, chunk_size, 0)]
    profile = dict(driver="GTiff", width=width, height=height, crs=crs, transform=transform, tiled=True,
                   blockxsize=BLOCK, blockysize=BLOCK, compress="deflate", BIGTIFF="IF_SAFER")
    with contextlib.ExitStack() as stack:
        stack.enter_context(_gdal_env())
        work, (tmp, obs_tmp) = stack.enter_context(cog_outputs([out, obs_path]))
        s1_medians = None
        if s1:
            # Sentinel-1 one pixel wider on every side, so the 3x3 filter sees real neighbours at the edge.
            s1_geobox = geobox_module.GeoBox((height + 2, width + 2), transform * Affine.translation(-1, -1), crs)
            s1_medians = stack.enter_context(_s1_medians(s1, s1_geobox, work / "s1_median.tif", chunk_size, progress,
                                                         client))
        dst = stack.enter_context(rasterio.open(tmp, "w", **profile, count=len(BAND_NAMES), dtype="float32", nodata=np.nan))
        obs_dst = stack.enter_context(rasterio.open(obs_tmp, "w", **profile, count=1, dtype="uint8"))
        observed = 0
        windows = _windows(_s2_dem_window, (s2_groups, dem, geobox), cores, client, f"compositing {out.name}", progress)
        for core, medians, count, dem_band in stack.enter_context(contextlib.closing(windows)):
            composite = np.full((len(BAND_NAMES), core.height, core.width), np.nan, dtype=np.float32)
            composite[:len(S2_ASSETS)] = medians
            if s1_medians is not None:   # the window and its one-pixel ring, in the padded grid
                ring = s1_medians.read(window=Window(core.col_off, core.row_off, core.width + 2, core.height + 2))
                composite[len(S2_ASSETS):len(S2_ASSETS) + len(S1_ASSETS)] = [to_db(circular_mean(median))[1:-1, 1:-1]
                                                                            for median in ring]
            if dem_band is not None:
                composite[-1] = dem_band
            dst.write(composite, window=core)
            obs_dst.write(count, 1, window=core)
            observed += int(np.count_nonzero(count))
        if not observed:
            raise CompositeError(f"no pixel of the box {list(bbox)} has a valid {S2_COLLECTION} observation in {year}, "
                                 f"months {months}: each of the {len(s2)} items is cloud, cloud shadow, cirrus, "
                                 f"defective or no data there (SCL classes {list(SCL_DROPPED)}); nothing was written. "
                                 "Add months (--months 1 2 3) or choose another year")
        for index, name in enumerate(BAND_NAMES, start=1):
            dst.set_band_description(index, name)
        obs_dst.set_band_description(1, OBS_DESCRIPTION)
        dst.update_tags(year=year, months=",".join(map(str, months)), s2_items=len(s2), s1_items=len(s1),
                        dem_items=len(dem), recipe=RECIPE)
    return out


@contextlib.contextmanager
def _s1_medians(items, s1_geobox, path, chunk_size, progress, client):
    """First pass: the per-pixel median of linear VV and VH to a scratch raster, open for reading.

    Each window of the composite then reads its one-pixel ring from this
    file, so no Sentinel-1 pixel is read from the items twice. With a
    ``client``, the medians are computed on the workers and written here.
    """
    height, width = s1_geobox.shape
    profile = dict(driver="GTiff", width=width, height=height, count=len(S1_ASSETS), dtype="float32",
                   crs=s1_geobox.crs.to_wkt(), transform=s1_geobox.transform, tiled=True, blockxsize=BLOCK,
                   blockysize=BLOCK, BIGTIFF="IF_SAFER")
    cores = [core for core, _ in scene_windows(height, width, chunk_size, 0)]
    with rasterio.open(path, "w+", **profile) as scratch:
        windows = _windows(_s1_median_window, (items, s1_geobox), cores, client, "Sentinel-1 medians", progress)
        with contextlib.closing(windows):
            for core, medians in windows:
                scratch.write(medians, window=core)
        yield scratch
