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
by window, so memory is bounded by the window, whatever the box.

pystac, pystac-client, planetary-computer and odc-stac are optional (the
``stac`` extra) and imported only when a composite is built.
"""

import calendar
import contextlib
import math
import os
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
from ..bands import BAND_NAMES, BAND_SETS, S2_OFFSET
from .raster import OBS_DESCRIPTION, cog_output, scene_windows

__all__ = ["CompositeError", "PLANETARY_COMPUTER", "S2_COLLECTION", "S1_COLLECTION", "DEM_COLLECTION",
           "SCL_DROPPED", "S2_OFFSET", "s2_valid", "harmonise", "nan_median", "circular_mean", "to_db", "s2_composite",
           "composite_grid", "read_item_collection", "search_stac", "build_composite"]

PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
S2_COLLECTION, S1_COLLECTION, DEM_COLLECTION = "sentinel-2-l2a", "sentinel-1-rtc", "cop-dem-glo-30"
S2_ASSETS = BAND_SETS["s2"]                  # the asset keys are the band names: B02 ... B12
S1_ASSETS = ("vv", "vh")
DEM_ASSET = "data"
#: SCL classes whose observations are dropped: no data, saturated / defective, cloud shadow, clouds, cirrus.
SCL_DROPPED = (0, 1, 3, 8, 9, 10)
OFFSET_BASELINE = 4.0
RESOLUTION = 10
GDAL_CACHE_BYTES = 256 * 2 ** 20


class CompositeError(ValueError):
    """The items cannot make a composite: none in the box, no Sentinel-2 item, unreadable pixels."""


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
    client = client_module.Client.open(stac_url, modifier=modifier)
    last = max(months)
    period = f"{year}-{min(months):02d}-01T00:00:00Z/{year}-{last:02d}-{calendar.monthrange(year, last)[1]:02d}T23:59:59Z"
    found = list(client.search(collections=[S2_COLLECTION, S1_COLLECTION], bbox=list(bbox), datetime=period).items())
    found += list(client.search(collections=[DEM_COLLECTION], bbox=list(bbox)).items())
    return found


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
                                     f"{href} does not exist")


# --- lazy loading and the windowed writer ----------------------------------------------------

def _load(items, assets, geobox, resampling, groupby="id"):
    """(time, band, y, x) float32 pixels of ``assets`` on ``geobox``, lazily: one Dask task per band and time.

    NaN where there is no data. Called per window, so each Dask graph stays
    the size of one window, whatever the box.
    """
    odc_stac = require("odc.stac", "stac")
    dask_array = require("dask.array", "stac")
    height, width = geobox.shape
    data = odc_stac.load(items, bands=list(assets), geobox=geobox, groupby=groupby, resampling=resampling,
                         dtype="float32", nodata=np.nan, chunks={"x": width, "y": height})
    return dask_array.stack([data[asset].data for asset in assets], axis=1)


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


@contextlib.contextmanager
def _s1_medians(items, s1_geobox, path, chunk_size, progress):
    """First pass: the per-pixel median of linear VV and VH to a scratch raster, open for reading.

    Each window of the composite then reads its one-pixel ring from this
    file, so no Sentinel-1 pixel is read from the items twice.
    """
    height, width = s1_geobox.shape
    profile = dict(driver="GTiff", width=width, height=height, count=len(S1_ASSETS), dtype="float32",
                   crs=s1_geobox.crs.to_wkt(), transform=s1_geobox.transform, tiled=True, blockxsize=512,
                   blockysize=512, BIGTIFF="IF_SAFER")
    with rasterio.open(path, "w+", **profile) as scratch:
        for core, _ in tqdm(list(scene_windows(height, width, chunk_size, 0)), desc="Sentinel-1 medians",
                            unit="window", disable=not progress):
            (linear,) = _read([_load(items, S1_ASSETS, s1_geobox[_slices(core)], "bilinear")], items)
            linear = np.where(np.isfinite(linear) & (linear > 0), linear, np.nan)
            scratch.write(np.stack([nan_median(band) for band in linear.swapaxes(0, 1)]), window=core)
        yield scratch


def _slices(window):
    return slice(window.row_off, window.row_off + window.height), slice(window.col_off, window.col_off + window.width)


def _dem_group(item, parsed, index):
    """odc-stac group key that mosaics every DEM tile into one plane."""
    return 0


def _read(arrays, items):
    """Compute Dask blocks; a read failure becomes a CompositeError that names the items concerned."""
    dask = require("dask", "stac")
    try:
        with warnings.catch_warnings():
            # rasterio's warp into in-memory arrays warns before it sets their transform: noise, not a problem
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return dask.compute(*arrays, scheduler="threads")
    except (RasterioError, OSError, RuntimeError) as error:
        named = [item.id for item in items if any(asset.href in str(error) for asset in item.assets.values())]
        raise CompositeError(f"could not read the pixels of {'items ' + str(named) if named else 'an item'}: {error}") from None


def build_composite(bbox, year, out, *, months=(1,), items=None, stac_url=PLANETARY_COMPUTER, chunk_size=512,
                    progress=True):
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
        ``<stem>_obs.tif``: one uint8 band, the number of valid Sentinel-2
        observations (items) per pixel. Both appear only when complete.
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
        Side in pixels of the Dask chunks and of the windows computed and
        written at a time; memory grows with its square times the number of
        observations.
    progress : bool
        Show a progress bar over the windows.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    CompositeError
        No item in the box, no Sentinel-2 item in the months of the year, an
        item without its assets or processing baseline, or pixels that
        cannot be read. Nothing is written then.

    Notes
    -----
    See the module docstring for the recipe. A missing Sentinel-1 or DEM
    source only warns: its bands are NaN (a model that reads them maps no
    data there). The 3 x 3 circular filter uses Sentinel-1 pixels one pixel
    beyond the box, so its edge matches the inside.
    """
    bbox = _check_bbox(bbox)
    months, year, out = _check_months(months), int(year), Path(out)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive number of pixels, got {chunk_size}")
    if items is None:
        found = search_stac(bbox, year, months, stac_url)
        source = stac_url
    elif isinstance(items, (str, Path)):
        found, source = read_item_collection(items), str(items)
    else:
        found, source = _absolute_hrefs(items, Path.cwd()), "the given items"
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
    crs, transform, width, height = composite_grid(bbox)
    geobox = geobox_module.GeoBox((height, width), transform, crs)
    s2_groups = {}   # offset -> items; loaded apart so each item gets its own baseline's offset
    for item in sorted(s2, key=_s2_offset):
        s2_groups.setdefault(_s2_offset(item), []).append(item)

    obs_path = out.with_name(f"{out.stem}_obs{out.suffix or '.tif'}")
    profile = dict(driver="GTiff", width=width, height=height, crs=crs, transform=transform, tiled=True,
                   blockxsize=512, blockysize=512, compress="deflate", BIGTIFF="IF_SAFER")
    with contextlib.ExitStack() as stack:
        # Remote COGs (signed blob URLs): no directory listing on open, retries on transient HTTP errors.
        # odc-stac captures these options when the lazy arrays are made and restores them in each read.
        # GDAL's block cache (5 % of RAM by default) would fill with every block written: cap it, unless set.
        cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_BYTES}
        stack.enter_context(rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_MAX_RETRY=5,
                                         GDAL_HTTP_RETRY_DELAY=1, **cache))
        work, tmp = stack.enter_context(cog_output(out))
        _, obs_tmp = stack.enter_context(cog_output(obs_path))
        s1_medians = None
        if s1:
            # Sentinel-1 one pixel wider on every side, so the 3x3 filter sees real neighbours at the edge.
            s1_geobox = geobox_module.GeoBox((height + 2, width + 2), transform * Affine.translation(-1, -1), crs)
            s1_medians = stack.enter_context(_s1_medians(s1, s1_geobox, work / "s1_median.tif", chunk_size, progress))
        dst = stack.enter_context(rasterio.open(tmp, "w", **profile, count=len(BAND_NAMES), dtype="float32", nodata=np.nan))
        obs_dst = stack.enter_context(rasterio.open(obs_tmp, "w", **profile, count=1, dtype="uint8"))
        for core, _ in tqdm(list(scene_windows(height, width, chunk_size, 0)), desc=f"compositing {out.name}",
                            unit="window", disable=not progress):
            window_geobox = geobox[_slices(core)]
            lazy = [_load(group, (*S2_ASSETS, "SCL"), window_geobox, {"*": "bilinear", "SCL": "nearest"})
                    for group in s2_groups.values()]
            if dem:
                lazy.append(_load(dem, (DEM_ASSET,), window_geobox, "bilinear", groupby=_dem_group)[0, 0])
            blocks = _read(lazy, [*s2, *dem])
            composite = np.full((len(BAND_NAMES), core.height, core.width), np.nan, dtype=np.float32)
            composite[:len(S2_ASSETS)], obs = s2_composite(zip(s2_groups, blocks))
            if s1_medians is not None:   # the window and its one-pixel ring, in the padded grid
                ring = s1_medians.read(window=Window(core.col_off, core.row_off, core.width + 2, core.height + 2))
                composite[len(S2_ASSETS):len(S2_ASSETS) + len(S1_ASSETS)] = [to_db(circular_mean(median))[1:-1, 1:-1]
                                                                            for median in ring]
            if dem:
                composite[-1] = blocks[-1]
            dst.write(composite, window=core)
            obs_dst.write(obs, 1, window=core)
        for index, name in enumerate(BAND_NAMES, start=1):
            dst.set_band_description(index, name)
        obs_dst.set_band_description(1, OBS_DESCRIPTION)
        dst.update_tags(year=year, months=",".join(map(str, months)), s2_items=len(s2), s1_items=len(s1),
                        dem_items=len(dem), recipe="SmallMinesDS: S2 SCL-masked, offset-harmonised median; "
                        "S1 median, 3x3 circular mean, dB; DEM bilinear")
    return out
