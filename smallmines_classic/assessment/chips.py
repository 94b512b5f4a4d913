"""Picture chips of a scene around a sample point, for the labelling page (PNG, made on request).

A chip is a small window of the scene in its own grid, centred on the pixel
that holds the point, stretched per chip (2-98 % of its valid values, band by
band), enlarged with nearest-neighbour pixels, the point's pixel outlined and a
scale bar drawn. Pixels without data are drawn in :data:`NODATA_RGB`.
"""

import io
import math
from pathlib import Path

import numpy as np
import rasterio
import rasterio.transform
import rasterio.warp
from rasterio.windows import Window

from ..errors import SceneError
from ..mapping.scene import read_scene, scene_band_names

__all__ = ["CHIP_KINDS", "ChipScene", "stretch"]

CHIP_KINDS = {
    "true": ("true colour (B04 B03 B02)", ("B04", "B03", "B02")),
    "swir": ("SWIR false colour (B12 B8A B04)", ("B12", "B8A", "B04")),
    "vv": ("Sentinel-1 VV", ("VV",)),
}
"""The chips of the labelling page: kind -> (title, bands as red, green, blue; one band is drawn in grey)."""
#: A chip is 2 * CHIP_HALF + 1 scene pixels wide, the point's pixel in the middle.
CHIP_HALF = 32
#: Each scene pixel becomes CHIP_ZOOM x CHIP_ZOOM screen pixels.
CHIP_ZOOM = 4
#: Colour of pixels without data (dark purple: no band combination gives it).
NODATA_RGB = (70, 0, 70)
_STRETCH_PERCENTILES = (2, 98)
_METRES_PER_DEGREE = 111_320  # of latitude, and of longitude at the equator


def stretch(chip):
    """Bands (b, h, w) with NaN as no data -> uint8 image (h, w, 3), each band stretched over its own 2-98 %."""
    chip = np.asarray(chip, dtype=np.float32)
    out = np.empty(chip.shape, np.uint8)
    for i, band in enumerate(chip):
        valid = band[np.isfinite(band)]
        if valid.size == 0:
            out[i] = 0
            continue
        low, high = np.percentile(valid, _STRETCH_PERCENTILES)
        scaled = (band - low) / (high - low) if high > low else np.full(band.shape, 0.5)  # a flat band: mid grey
        out[i] = np.clip(np.nan_to_num(scaled) * 255, 0, 255).round()
    rgb = np.repeat(out, 3, axis=0) if len(out) == 1 else out
    rgb = np.moveaxis(rgb, 0, -1).copy()
    rgb[~np.isfinite(chip).all(axis=0)] = NODATA_RGB
    return rgb


def _scale_bar_metres(chip_metres):
    """The longest of 1, 2, 5 x 10^k metres that fits in a third of the chip."""
    longest = chip_metres / 3
    power = 10 ** math.floor(math.log10(longest))
    return max(step * power for step in (1, 2, 5) if step * power <= longest)


class ChipScene:
    """One scene shown on the labelling page: its bands by name, its label and chips around points.

    Parameters
    ----------
    path : str or Path
        A GeoTIFF or VRT with SmallMinesDS bands, named by their band
        descriptions or (13 bands) in the dataset's order, as
        :func:`~smallmines_classic.predict_scene` reads scenes (other bands,
        such as an export's NDVI, are not shown); any CRS.

    Attributes
    ----------
    label : str
        The scene's ``year`` tag, or else its file name without suffix.
    band_names : tuple of str
    missing : dict
        Chip kind -> bands that kind needs and the scene lacks (empty when it can be drawn).
    """

    def __init__(self, path):
        self.path = str(path)
        with rasterio.open(path) as src:
            if src.crs is None:
                raise SceneError(f"{path} has no CRS: the points cannot be placed on it")
            self.band_names = scene_band_names(src)
            self.label = src.tags().get("year") or Path(path).stem
            self.crs, self.transform, self.height, self.width = src.crs, src.transform, src.height, src.width
        self.missing = {kind: [b for b in bands if b not in self.band_names] for kind, (_, bands) in CHIP_KINDS.items()}

    def locate(self, lon, lat):
        """Rows and columns (int arrays) of the pixels holding WGS 84 points, and whether each lies in the scene."""
        x, y = rasterio.warp.transform("EPSG:4326", self.crs, np.atleast_1d(lon), np.atleast_1d(lat))
        rows, cols = (np.asarray(v, np.int64) for v in rasterio.transform.rowcol(self.transform, x, y))
        inside = (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
        return rows, cols, inside

    def read(self, row, col, kind):
        """The chip's bands (b, 2h+1, 2h+1) float32 around pixel (row, col); NaN outside the scene and at nodata."""
        indexes = [self.band_names.index(b) + 1 for b in CHIP_KINDS[kind][1]]
        side = 2 * CHIP_HALF + 1
        chip = np.full((len(indexes), side, side), np.nan, np.float32)
        top, left = row - CHIP_HALF, col - CHIP_HALF
        r0, c0 = max(top, 0), max(left, 0)
        r1, c1 = min(top + side, self.height), min(left + side, self.width)
        if r1 > r0 and c1 > c0:
            with rasterio.open(self.path) as src:  # one handle per request: handles are not shared between threads
                data = read_scene(src, indexes, Window(c0, r0, c1 - c0, r1 - r0))
            chip[:, r0 - top:r1 - top, c0 - left:c1 - left] = data
        return chip

    def pixel_metres(self, lat):
        """Side of one pixel in metres (at latitude ``lat`` for a scene in degrees)."""
        size = abs(self.transform.a)
        if self.crs.is_geographic:
            return size * _METRES_PER_DEGREE * math.cos(math.radians(lat))
        return size * self.crs.linear_units_factor[1]

    def png(self, row, col, kind, lat):
        """The chip as PNG bytes: stretched, enlarged, the point's pixel outlined, a scale bar at the bottom left."""
        if self.missing[kind]:
            raise SceneError(f"{self.path} has no band {', '.join(self.missing[kind])} "
                             f"for the {CHIP_KINDS[kind][0]} chip")
        from PIL import Image, ImageDraw  # only when a page asks for pictures: imports stay light

        rgb = stretch(self.read(row, col, kind))
        side = rgb.shape[0] * CHIP_ZOOM
        image = Image.fromarray(rgb).resize((side, side), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(image)
        a, b = CHIP_HALF * CHIP_ZOOM, (CHIP_HALF + 1) * CHIP_ZOOM - 1  # the point's pixel, in screen pixels
        draw.rectangle((a - 3, a - 3, b + 3, b + 3), outline=(0, 0, 0), width=1)
        draw.rectangle((a - 2, a - 2, b + 2, b + 2), outline=(255, 255, 0), width=1)
        metres = self.pixel_metres(lat)
        bar = _scale_bar_metres(rgb.shape[1] * metres)
        length = round(bar / metres * CHIP_ZOOM)
        x0, y0 = 8, side - 12
        text = f"{bar:g} m" if bar < 1000 else f"{bar / 1000:g} km"
        draw.rectangle((x0 - 3, y0 - 16, x0 + max(length, 40) + 3, y0 + 7), fill=(0, 0, 0))
        draw.rectangle((x0, y0, x0 + length, y0 + 4), fill=(255, 255, 255))
        draw.text((x0, y0 - 15), text, fill=(255, 255, 255))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
