"""Pictures of a monitor folder for a report: rasters downsampled onto one Web-Mercator grid, vectors simplified.

A report must stay small whatever the scene (a country must not make a
1 GB HTML file), so every raster is drawn on one grid whose pixel count
stays within a budget: the preview resolution is the scene's pixel size
times the smallest whole factor that fits the budget. The grid is in Web
Mercator, the projection Leaflet shows, so a picture lies on the map as an
image overlay without distortion. Each preview pixel of a mining map is the
share of mined pixels among the valid 10 m pixels under it (GDAL's warper,
nodata left out); a true-colour pixel averages the composite's coarsest
overview that is still as fine as the preview. Memory follows the preview,
not the scene: a raster is read whole only when it is at most a few times
the preview's size, else GDAL's warper reads it window by window.
"""

import io
import math
from dataclasses import dataclass

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
from rasterio.enums import Resampling
from rasterio.transform import array_bounds

from .._backend import require
from ..bands import band_indices
from ..errors import InputError, MonitorFolderError, SceneError
from ..io.raster import bounded_gdal_cache
from ..mapping.scene import scene_band_names

__all__ = ["PreviewGrid", "preview_grid", "warp_preview", "true_colour", "stretch_limits", "colour_picture",
           "mining_picture", "webp", "simplified_features", "WEB_MERCATOR", "MINING_RGB", "NODATA_RGB"]

WEB_MERCATOR = "EPSG:3857"
#: WebP's largest picture side.
_MAX_SIDE = 16383
#: A raster with at most this many times the preview's pixels is read whole (memory: 4 x the preview per band).
_READ_WHOLE = 4
#: Mining map colours (RGB): mining, and no data (mining unknown).
MINING_RGB = (220, 20, 60)
NODATA_RGB = (128, 128, 128)


@dataclass(frozen=True)
class PreviewGrid:
    """The Web-Mercator grid every picture of a report is drawn on.

    Attributes
    ----------
    transform : Affine
    width, height : int
    footprint : ndarray of bool, shape (height, width)
        Preview pixels inside the scene (the grid's corners lie outside it).
    resolution_m : float
        Ground metres per preview pixel at the grid's centre.
    factor : int
        Scene pixels per preview pixel, along each side.
    """

    transform: object
    width: int
    height: int
    footprint: np.ndarray
    resolution_m: float
    factor: int

    @property
    def bounds(self):
        """``[[south, west], [north, east]]`` in degrees, as Leaflet wants them."""
        west, south, east, north = rasterio.warp.transform_bounds(
            WEB_MERCATOR, "EPSG:4326", *array_bounds(self.height, self.width, self.transform))
        return [[south, west], [north, east]]


def _ring(bounds, steps=32):
    """The outline of ``bounds`` with ``steps`` points per side, so that it bends as it should when reprojected."""
    west, south, east, north = bounds

    def along(start, end):
        return start + (end - start) * np.linspace(0, 1, steps, endpoint=False)

    xs = np.concatenate([along(west, east), np.full(steps, east), along(east, west), np.full(steps, west)])
    ys = np.concatenate([np.full(steps, south), along(south, north), np.full(steps, north), along(north, south)])
    return xs, ys


def preview_grid(path, max_pixels):
    """The preview grid of the raster at ``path``: Web Mercator, at most ``max_pixels`` pixels.

    Parameters
    ----------
    path : str or Path
        A georeferenced raster (the scene's grid: every layer is warped onto the result).
    max_pixels : int
        Pixel budget of one picture (width x height).

    Returns
    -------
    PreviewGrid
    """
    if int(max_pixels) != max_pixels or max_pixels < 1:
        raise InputError(f"the preview pixel budget must be a whole number >= 1, got {max_pixels}")
    with rasterio.open(path) as src:
        if src.crs is None:
            raise SceneError(f"{path} has no CRS: it cannot be placed on a map")
        transform, width, height = rasterio.warp.calculate_default_transform(
            src.crs, WEB_MERCATOR, src.width, src.height, *src.bounds)
        xs, ys = rasterio.warp.transform(src.crs, WEB_MERCATOR, *_ring(src.bounds))
    factor = max(1, math.ceil(math.sqrt(width * height / max_pixels)), math.ceil(max(width, height) / _MAX_SIDE))
    while math.ceil(width / factor) * math.ceil(height / factor) > max_pixels:
        factor += 1
    out_width, out_height = math.ceil(width / factor), math.ceil(height / factor)
    # Same extent as the full-resolution grid, fewer and larger pixels.
    transform = transform * transform.scale(width / out_width, height / out_height)
    footprint = rasterio.features.geometry_mask([{"type": "Polygon", "coordinates": [list(zip(xs, ys))]}],
                                                (out_height, out_width), transform, invert=True)
    west, south, east, north = array_bounds(out_height, out_width, transform)
    _, latitude = rasterio.warp.transform(WEB_MERCATOR, "EPSG:4326", [(west + east) / 2], [(south + north) / 2])
    resolution = transform.a * math.cos(math.radians(latitude[0]))  # Mercator stretches ground lengths by 1/cos(lat)
    return PreviewGrid(transform, out_width, out_height, footprint, resolution, factor)


def _overview_level(path, factor):
    """The coarsest overview of ``path`` still at least as fine as ``factor`` (its index), or None for none."""
    with rasterio.open(path) as src:
        fine_enough = [d for d in src.overviews(1) if d <= factor]
    return len(fine_enough) - 1 if fine_enough else None


def warp_preview(path, indexes, grid, overviews=False):
    """Bands ``indexes`` (1-based) of the raster at ``path`` on ``grid``: float32, averaged, NaN where no data.

    The raster's declared nodata pixels are left out of each average; a
    preview pixel with none but nodata under it, or outside the raster, is
    NaN. With ``overviews``, the average is of the raster's coarsest overview
    that is still as fine as the grid (fewer pixels to read; a COG's
    overviews are subsamples), else of every pixel.
    """
    level = _overview_level(path, grid.factor) if overviews else None
    options = {} if level is None else {"OVERVIEW_LEVEL": level}
    out = np.full((len(indexes), grid.height, grid.width), np.nan, dtype=np.float32)
    # GDAL's block cache would otherwise keep every block read, up to 5 % of RAM, whatever the preview's size.
    with bounded_gdal_cache(), rasterio.open(path, **options) as src:
        # A raster a few times the preview's size is read whole: each block is then decompressed once, where
        # GDAL's warper, reading band by band, decompresses a pixel-interleaved block once per band (8x slower
        # on a 13-band composite). A larger one is warped from the file, window by window.
        small = src.width * src.height <= _READ_WHOLE * grid.width * grid.height
        rasterio.warp.reproject(src.read(indexes) if small else rasterio.band(src, indexes), out,
                                src_transform=src.transform, src_crs=src.crs, src_nodata=src.nodata,
                                dst_transform=grid.transform, dst_crs=WEB_MERCATOR, dst_nodata=np.nan,
                                resampling=Resampling.average)
    return out


def true_colour(path, grid):
    """The red, green and blue bands (B04, B03, B02, found by name) of a composite on ``grid``: (3, H, W) float32.

    Read from the composite's overviews where they are as fine as the grid: a picture, not a measurement.
    """
    with rasterio.open(path) as src:
        names = scene_band_names(src)
    return warp_preview(path, [i + 1 for i in band_indices("rgb", names)], grid, overviews=True)


def stretch_limits(images, low=2, high=98, sample=1_000_000, seed=0):
    """Per-band ``low`` and ``high`` percentiles of the valid pixels of several (3, H, W) images together.

    One stretch for every year keeps the years comparable: a brighter year
    looks brighter. At most ``sample`` pixels of each image are used.
    """
    rng = np.random.default_rng(seed)
    pooled = []
    for image in images:
        pixels = image.reshape(image.shape[0], -1)
        pixels = pixels[:, np.isfinite(pixels).all(axis=0)]
        if pixels.shape[1] > sample:
            pixels = pixels[:, rng.choice(pixels.shape[1], sample, replace=False)]
        pooled.append(pixels.astype(np.float32))
    pooled = np.concatenate(pooled, axis=1)
    if pooled.shape[1] == 0:  # no valid pixel in any year: any stretch will do
        return np.zeros(len(pooled)), np.ones(len(pooled))
    return np.percentile(pooled, low, axis=1), np.percentile(pooled, high, axis=1)


def _rgba(shape):
    return np.zeros((*shape, 4), dtype=np.uint8)


def colour_picture(image, limits):
    """(H, W, 4) uint8 RGBA of a (3, H, W) image stretched linearly between ``limits``; transparent where no data."""
    low, high = (np.asarray(v, dtype=np.float32)[:, None, None] for v in limits)
    valid = np.isfinite(image).all(axis=0)
    scaled = np.clip((np.nan_to_num(image) - low) / np.maximum(high - low, 1e-6), 0, 1)
    out = _rgba(valid.shape)
    out[..., :3] = np.rint(scaled.transpose(1, 2, 0) * 255)
    out[..., 3] = np.where(valid, 255, 0)
    return out


def mining_picture(share, footprint):
    """(H, W, 4) uint8 RGBA of a map preview: mining in red, more opaque as more of the pixel is mined; no data grey.

    Parameters
    ----------
    share : ndarray of float, shape (H, W)
        Share of each preview pixel's valid map pixels that are mined, NaN where none is valid.
    footprint : ndarray of bool
        Preview pixels inside the map; NaN outside it is left transparent, not drawn as no data.
    """
    out = _rgba(share.shape)
    mined = np.isfinite(share) & (share > 0)
    out[mined, :3] = MINING_RGB
    # Any mining at all stays visible (alpha >= 90); a fully mined pixel is nearly opaque.
    out[mined, 3] = np.rint(90 + 150 * np.clip(share[mined], 0, 1))
    nodata = ~np.isfinite(share) & footprint
    out[nodata, :3] = NODATA_RGB
    out[nodata, 3] = 150
    return out


def webp(rgba, lossless=False, quality=80):
    """WebP bytes of an (H, W, 4) uint8 picture (lossy with ``quality`` unless ``lossless``)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "WEBP", lossless=lossless, quality=quality, method=4)
    return buffer.getvalue()


def simplified_features(features, tolerance_deg, source, digits=5):
    """GeoJSON features with geometries simplified by ``tolerance_deg`` degrees and coordinates rounded to ``digits``.

    Only the drawing is simplified (topology kept, no polygon vanishes); the
    features' properties, such as their areas, are the file's. A geometry
    that is not GeoJSON raises MonitorFolderError naming ``source`` and the feature.
    """
    shapely = require("shapely", "maps")
    geometry = require("shapely.geometry", "maps")
    out = []
    for index, feature in enumerate(features):
        try:
            shape = geometry.shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, shapely.errors.GEOSException) as error:
            raise MonitorFolderError(f"{source}: feature {index} has no valid GeoJSON geometry "
                                     f"({type(error).__name__}: {error})") from None
        shape = shapely.simplify(shape, tolerance_deg, preserve_topology=True)
        shape = shapely.transform(shape, lambda xy: np.round(xy, digits))
        out.append({**feature, "geometry": geometry.mapping(shape)})
    return out
