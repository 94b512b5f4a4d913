"""The synthetic twin of SmallMinesDS: the real layout, plausible content, no download.

The twin is one contiguous landscape on a 128-px fishnet in EPSG:32630 (10 m
pixels), so neighbouring tiles mosaic into a scene. Its ingredients:

* terrain: smooth hills plus valleys carved along meandering drainage lines;
  the DEM is a surface model (forest canopy adds height, pits remove it);
* land cover: forest and farmland, rivers, and the confounders a pixel
  classifier on RGB mistakes for mines: bare soil, settlements with bright
  roofs, sand banks along rivers, small clouds (labelled background);
* mines: clusters of irregular pits and turbid ponds seeded along the drainage
  lines; bright in the visible and SWIR, low NDVI, low in the DEM. Each tile's
  mining share follows the real per-year distribution, and the later year
  mostly grows from the earlier sites;
* Sentinel-2 on the 0..10000 reflectance scale near the published band
  statistics; Sentinel-1 VV / VH in dB with speckle smoothed by a 3x3 mean.

Every tile draws from its own seed sequence ``(seed, tile_id)``, so the same
seed gives the same bytes whatever the number of workers.
"""

from pathlib import Path

import numpy as np
import rasterio
from joblib import Parallel, delayed
from rasterio.transform import from_origin
from scipy import ndimage
from tqdm.auto import tqdm

from ._atomic import atomic_path
from .bands import BAND_NAMES
from .dataset import TILE_SIZE, YEARS
from .splits import histogram_split, write_split_csv

__all__ = ["make_synthetic_smallminesds", "tile_transform", "CRS_EPSG", "ORIGIN"]

CRS_EPSG = 32630
#: Top-left corner of tile 1 (UTM 30N, near Tarkwa, south-western Ghana).
ORIGIN = (590_000.0, 640_000.0)
PIXEL_SIZE = 10.0

# Per-tile mining shares, fitted to the official split CSVs (the real tiles):
# P(mined in 2016, mined in 2022) and lognormal (median %, sigma) laws.
_P_BOTH, _P_NEW, _P_LOST = 0.44, 0.21, 0.02
_SHARE_2016 = (5.7, 1.5)  # share of a mined tile
_GROWTH = (1.33, 0.9)  # 2022 share / 2016 share of a tile mined in both years
_NEW_SITE = (1.74, 1.4)  # 2022 share of a tile first mined in 2022

# Surface reflectance x 10000 for B02 B03 B04 B05 B06 B07 B08 B8A B11 B12,
# then VV and VH in dB. Mines overlap the confounders in RGB; they differ in
# NIR / SWIR, backscatter and height.
_COVER = {
    "forest": [1380, 1600, 1480, 2150, 3150, 3600, 3900, 4000, 2950, 1950, -7.0, -13.0],
    "farmland": [1500, 1780, 1850, 2400, 3000, 3300, 3500, 3650, 3300, 2350, -8.5, -15.0],
    "water": [1300, 1450, 1250, 1150, 1000, 950, 900, 850, 450, 300, -21.0, -27.0],
    "pit": [1760, 2050, 2450, 2650, 2800, 2900, 3000, 3050, 4050, 3500, -10.5, -17.5],
    "pond": [1700, 2000, 2250, 2050, 1750, 1600, 1500, 1400, 1100, 800, -18.0, -25.0],
    "soil": [1780, 2080, 2420, 2700, 3000, 3150, 3250, 3300, 3800, 3150, -10.0, -16.5],
    "settlement": [1850, 2100, 2500, 2600, 2700, 2800, 2850, 2900, 3750, 3300, -4.0, -11.5],
    "sand": [1820, 2120, 2500, 2700, 2850, 2950, 3100, 3150, 3700, 3000, -11.5, -18.5],
}
_CODE = {name: code for code, name in enumerate(_COVER)}
_SPECTRA = np.array(list(_COVER.values()), dtype=np.float32)
_CLOUD = np.array([5200, 5400, 5600, 5700, 5800, 5850, 5900, 5900, 4700, 3800], dtype=np.float32)
_YEAR_GAIN = {2016: 1.0, 2022: 1.03}  # haze differs between the two dry seasons


def tile_transform(tile_id, n_columns):
    """Affine transform of a twin tile on the fishnet (tile ids count row by row from 1)."""
    row, col = divmod(tile_id - 1, n_columns)
    x0, y0 = ORIGIN
    size = TILE_SIZE * PIXEL_SIZE
    return from_origin(x0 + col * size, y0 - row * size, PIXEL_SIZE, PIXEL_SIZE)


class _Landscape:
    """Smooth fields and drainage lines defined on global pixel coordinates."""

    def __init__(self, seed, extent):
        rng = np.random.default_rng([seed, 0])
        self.extent = extent
        self.waves = {name: self._waves(rng, wavelength) for name, wavelength in
                      (("hills", 900), ("relief", 250), ("farmland", 300), ("texture", 60))}
        # Meandering drainage lines: some run west-east, some north-south.
        spacing = 260
        self.rivers = []
        for axis in (0, 1):
            for offset in np.arange(rng.uniform(0, spacing), extent + spacing, spacing):
                self.rivers.append((axis, offset, rng.uniform(20, 60, 2), rng.uniform(500, 1500, 2), rng.uniform(0, 2 * np.pi, 2)))

    @staticmethod
    def _waves(rng, wavelength, n=10):
        angle = rng.uniform(0, np.pi, n)
        k = 2 * np.pi / (wavelength * rng.uniform(0.6, 1.6, n))
        return np.stack([k * np.cos(angle), k * np.sin(angle), rng.uniform(0, 2 * np.pi, n)], axis=1)

    def field(self, name, gy, gx):
        """A smooth field in about [-1, 1] at global pixel coordinates."""
        kx, ky, phase = self.waves[name].T
        total = np.cos(gx[..., None] * kx + gy[..., None] * ky + phase).sum(-1)
        return total / np.sqrt(len(phase) / 2)

    def river_distance(self, gy, gx):
        """Distance in pixels to the nearest drainage line."""
        best = np.full(np.broadcast_shapes(gy.shape, gx.shape), np.inf, dtype=np.float32)
        for axis, offset, amplitude, length, phase in self.rivers:
            along, across = (gx, gy) if axis == 0 else (gy, gx)
            reach = amplitude.sum() + 100  # beyond this, the line cannot matter to these pixels
            if across.min() > offset + reach or across.max() < offset - reach:
                continue
            arg = 2 * np.pi * along[..., None] / length + phase
            centre = offset + (amplitude * np.sin(arg)).sum(-1)
            slope = (amplitude * 2 * np.pi / length * np.cos(arg)).sum(-1)
            best = np.minimum(best, np.abs(across - centre) / np.sqrt(1 + slope**2))
        return best


def _lognormal(rng, median, sigma):
    return float(np.clip(median * np.exp(sigma * rng.standard_normal()), 0.05, 92.0))


def _draw_shares(rng):
    """Target mining share in percent for (2016, 2022) of one tile."""
    u = rng.uniform()
    if u < _P_BOTH:
        first = _lognormal(rng, *_SHARE_2016)
        return first, float(np.clip(first * _lognormal(rng, *_GROWTH), 0.05, 92.0))
    if u < _P_BOTH + _P_NEW:
        return 0.0, _lognormal(rng, *_NEW_SITE)
    if u < _P_BOTH + _P_NEW + _P_LOST:
        return _lognormal(rng, *_SHARE_2016), 0.0
    return 0.0, 0.0


def _blob(shape, centre, radius, roughness):
    """An irregular disc: distance / radius perturbed by a rough field."""
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    dist = np.hypot(yy - centre[0], xx - centre[1]) / radius
    return dist + roughness < 1.0


def _grow_sites(rng, sites, target, weight, roughness, near_existing):
    """Add pit sites (centre, radius) until the union covers ``target`` % of the tile."""
    size = weight.shape[0]
    mask = _sites_mask(sites, weight.shape, roughness)
    probability = weight.ravel() / weight.sum()
    for _ in range(400):
        share = mask.mean() * 100
        if share >= target:
            break
        if sites and rng.uniform() < near_existing:
            centre, radius = sites[rng.integers(len(sites))]
            centre = tuple(np.clip(np.add(centre, rng.normal(0, radius * 1.2, 2)), 0, size - 1))
        else:
            centre = divmod(int(rng.choice(size * size, p=probability)), size)
        remaining = (target - share) / 100 * size * size
        radius = float(np.clip(np.sqrt(remaining / np.pi) * rng.uniform(0.4, 0.9), 3.0, 45.0))
        sites.append((centre, radius))
        mask |= _blob(weight.shape, centre, radius, roughness)
    return mask


def _sites_mask(sites, shape, roughness):
    mask = np.zeros(shape, bool)
    for centre, radius in sites:
        mask |= _blob(shape, centre, radius, roughness)
    return mask


def _patches(rng, shape, count, radius_range, weight=None):
    """Union of ``count`` irregular blobs, centres drawn from ``weight`` (uniform if None)."""
    roughness = _rough(rng, shape)
    mask = np.zeros(shape, bool)
    p = None if weight is None else (weight / weight.sum()).ravel()
    for _ in range(count):
        centre = divmod(int(rng.choice(shape[0] * shape[1], p=p)), shape[1])
        mask |= _blob(shape, centre, rng.uniform(*radius_range), roughness)
    return mask


def _rough(rng, shape, sigma=5.0, strength=0.3):
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return strength * noise / noise.std()


def _render(rng, cover, gain, mine_brightness, cloud, dem):
    """Image bands from a land-cover map; returns a (13, H, W) float32 array."""
    values = _SPECTRA[cover]  # (H, W, 12)
    # Within-class variability: smooth, band-wise departures (moisture, mineralogy, haze) and pixel noise.
    variation = ndimage.gaussian_filter(rng.standard_normal((*cover.shape, 11)), (6, 6, 0))
    variation = 0.06 * variation[..., :1] / variation[..., 0].std() + 0.035 * variation[..., 1:] / variation[..., 1:].std()
    optical = values[..., :10] * mine_brightness[..., None] * gain * (1 + variation)
    optical *= 1 + 0.06 * rng.standard_normal(optical.shape[:2])[..., None] + 0.06 * rng.standard_normal(optical.shape)
    optical = optical * (1 - cloud[..., None]) + _CLOUD * cloud[..., None]
    # Sensor point spread and the 20 m bands' resampling mix neighbouring covers.
    optical = ndimage.uniform_filter(optical, size=(3, 3, 1), mode="nearest")
    linear = 10 ** (values[..., 10:] / 10) * rng.gamma(4.0, 0.25, values[..., 10:].shape)
    radar = 10 * np.log10(ndimage.uniform_filter(linear, size=(3, 3, 1), mode="nearest"))
    stack = np.concatenate([optical, radar, dem[..., None]], axis=-1)
    return np.ascontiguousarray(np.moveaxis(stack, -1, 0), dtype=np.float32)


def _make_tile(seed, tile_id, n_columns, extent, years):
    """Images, masks and mining shares of one tile for each year."""
    rng = np.random.default_rng([seed, tile_id])
    land = _Landscape(seed, extent)
    row, col = divmod(tile_id - 1, n_columns)
    gy, gx = np.mgrid[row * TILE_SIZE:(row + 1) * TILE_SIZE, col * TILE_SIZE:(col + 1) * TILE_SIZE].astype(np.float32)
    shape = gy.shape

    river = land.river_distance(gy, gx)
    terrain = 200 + 60 * land.field("hills", gy, gx) + 12 * land.field("relief", gy, gx) - 25 * np.exp(-((river / 30) ** 2))
    water = river < 2.5
    farmland = land.field("farmland", gy, gx) > 0.6
    texture_field = land.field("texture", gy, gx)
    sand = (river >= 2.5) & (river < 6) & (texture_field > 0.3)
    texture = 1 + 0.04 * texture_field

    roughness = _rough(rng, shape)
    ponds = _rough(rng, shape, sigma=4.0, strength=1.0) > 0.55
    near_river = np.exp(-river / 12.0) + 1e-6
    soil = _patches(rng, shape, rng.poisson(1.2), (3, 12))
    settlement = _patches(rng, shape, rng.poisson(0.4), (4, 9))
    targets = dict(zip(YEARS, _draw_shares(rng)))

    sites = []
    out = {}
    for year in sorted(years):
        target = targets.get(year, targets[YEARS[-1]])
        # Later years keep the earlier sites (some revegetate when the share falls) and grow from them.
        while sites and _sites_mask(sites, shape, roughness).mean() * 100 > target:
            sites.pop(int(rng.integers(len(sites))))
        mine = _grow_sites(rng, sites, target, near_river, roughness, near_existing=0.6) if target > 0 else np.zeros(shape, bool)
        mine &= ~water

        cover = np.where(farmland, _CODE["farmland"], _CODE["forest"])
        for name, where in (("soil", soil), ("settlement", settlement), ("sand", sand), ("water", water)):
            cover[where] = _CODE[name]
        cover[mine] = _CODE["pit"]
        cover[mine & ponds] = _CODE["pond"]

        cloud = np.zeros(shape, np.float32)
        if rng.uniform() < 0.12:
            cloud = ndimage.gaussian_filter(_patches(rng, shape, rng.integers(1, 4), (4, 14)).astype(np.float32), 2.0)
        mask = (mine & (cloud < 0.5)).astype(np.uint8)

        canopy = (cover == _CODE["forest"]) * 12.0 + (cover == _CODE["farmland"]) * 2.0
        dem = terrain + canopy - 4.0 * mine - 3.0 * (mine & ponds) + rng.normal(0, 0.8, shape)
        brightness = texture * np.where(mine, rng.uniform(0.9, 1.1), 1.0)
        image = _render(rng, cover, _YEAR_GAIN.get(year, 1.0), brightness.astype(np.float32), cloud, dem.astype(np.float32))
        out[year] = (image, mask)
    return out


def _write_tile(root, seed, tile_id, n_columns, extent, years):
    transform = tile_transform(tile_id, n_columns)
    profile = dict(driver="GTiff", height=TILE_SIZE, width=TILE_SIZE, crs=f"EPSG:{CRS_EPSG}", transform=transform,
                   tiled=True, blockxsize=TILE_SIZE, blockysize=TILE_SIZE, compress="deflate", zlevel=1)
    shares = {}
    for year, (image, mask) in _make_tile(seed, tile_id, n_columns, extent, years).items():
        name = f"GH_{tile_id:04d}_{year}.tif"
        with atomic_path(Path(root, str(year), "IMAGE", f"IMG_{name}")) as tmp:
            with rasterio.open(tmp, "w", count=len(BAND_NAMES), dtype="float32", predictor=3, **profile) as dst:
                dst.write(image)
                dst.descriptions = BAND_NAMES
        with atomic_path(Path(root, str(year), "MASK", f"MASK_{name}")) as tmp:
            with rasterio.open(tmp, "w", count=1, dtype="uint8", predictor=2, **profile) as dst:
                dst.write(mask, 1)
        shares[tile_id, year] = float(mask.mean() * 100)
    return shares


def make_synthetic_smallminesds(root, n_tiles=200, years=YEARS, seed=0, n_jobs=None, progress=True):
    """Write a synthetic twin of SmallMinesDS in exactly the download's layout.

    Parameters
    ----------
    root : str or Path
        Output folder; created if needed.
    n_tiles : int
        Tiles per year (the real dataset has 2135). They fill a square-ish
        fishnet row by row, so tile ``t`` and ``t + 1`` are neighbours.
    years : sequence of int
    seed : int
        Same seed, same bytes.
    n_jobs : int or None
        Worker processes (joblib); None means 2.
    progress : bool

    Returns
    -------
    Path
        ``root``, holding ``<year>/IMAGE``, ``<year>/MASK`` and the split CSVs
        (drawn with the paper's method, :func:`histogram_split`).
    """
    if n_tiles < 1 or n_tiles > 9999:
        raise ValueError(f"n_tiles must be between 1 and 9999, got {n_tiles}")
    root = Path(root)
    years = sorted(int(y) for y in years)
    n_columns = int(np.ceil(np.sqrt(n_tiles)))
    extent = n_columns * TILE_SIZE
    jobs = Parallel(n_jobs=n_jobs or 2, return_as="generator")(
        delayed(_write_tile)(root, seed, tile, n_columns, extent, years) for tile in range(1, n_tiles + 1)
    )
    shares = {}
    for tile_shares in tqdm(jobs, total=n_tiles, desc="writing synthetic twin", unit="tile", disable=not progress):
        shares.update(tile_shares)
    split = histogram_split(shares, random_state=seed)
    for year in years:
        year_shares = {key: share for key, share in shares.items() if key[1] == year}
        write_split_csv(root / f"train_test_splits_{year}.csv", year_shares, split)
    return root
