"""Local STAC items made from the synthetic twin, whose composite gives back the twin's values.

``smallmines composite`` and ``smallmines monitor`` need Sentinel-2 L2A,
Sentinel-1 RTC and DEM items; the twin holds finished 13-band stacks and the
masks that are their truth. :func:`write_twin_items` turns a rectangle of twin
tiles into per-band Cloud-Optimized GeoTIFF assets and one ItemCollection, for
any number of years, so a monitoring run works offline on a landscape whose
mining is known. Per year and scene:

- **Sentinel-2**: four January items. The first holds the twin's ten optical
  bands as they are; the second 1.1 times them (for a year from 2022, with
  processing baseline 05.09 and the 1000 offset added, which the recipe takes
  off again), the third 0.9 times them, the fourth is all cloud (SCL 9). Three
  valid observations whose middle one is the twin's value: the recipe's median
  is the twin's value, bit for bit. A February item of a flat 9000 lies outside
  the default months and must be ignored. Where ``clouds`` is set, every item
  is cloud (SCL 9), so the composite has no Sentinel-2 data there.
- **Sentinel-1**: one item whose linear backscatter is ``10 ** (dB / 10)`` of
  the twin's VV and VH. The recipe filters it again (3 x 3 circular mean)
  before dB, so the composite's VV / VH are the twin's, smoothed once more.
- **DEM**: one ``cop-dem-glo-30`` item holding the first year's DEM on the
  twin's 10 m grid (the real GLO-30 is 30 m in degrees), read back unchanged.

Every asset is on the twin's 10 m grid (EPSG:32630), so a composite whose
grid lies inside the rectangle reads the optical bands and the DEM unchanged.
"""

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from .._writes import atomic_path
from ..bands import BAND_NAMES, BAND_SETS, S2_OFFSET
from ..errors import DatasetError, InputError
from .dataset import find_patches

__all__ = ["twin_mosaic", "write_twin_items"]

_S2 = list(BAND_SETS["s2"])
#: Scene classification: 4 vegetation (kept), 9 cloud high probability (dropped).
_SCL_CLEAR, _SCL_CLOUD = 4, 9
#: The Sentinel-2 items of a year: (month, day, gain on the twin's values or None for a flat 9000, SCL class
#: everywhere or None). Baselines follow the real history (04.00 from 25 January 2022), so a 2022 item of the 28th
#: carries the offset.
_S2_ITEMS = ((1, 5, 1.0, None), (1, 28, 1.1, None), (1, 15, 0.9, None), (1, 20, None, _SCL_CLOUD), (2, 3, None, None))
_FLAT = 9000.0


def twin_mosaic(root, tile_ids, source, kind="IMAGE"):
    """The twin's tiles as one array on their common grid.

    Parameters
    ----------
    root : str or Path
        A SmallMinesDS folder (the twin).
    tile_ids : sequence of int
        Tiles that fill a rectangle of the fishnet.
    source : int or dict
        The twin year to take every tile from, or ``{tile: twin year}``: a
        year made of other years' tiles, whose truth is theirs.
    kind : {"IMAGE", "MASK"}

    Returns
    -------
    array : ndarray (bands, height, width)
    transform : affine.Affine
    crs : rasterio.crs.CRS
    """
    per_tile = dict.fromkeys(tile_ids, source) if isinstance(source, int) else {int(t): int(y)
                                                                                for t, y in source.items()}
    paths = {(tile, year): (image, mask)
             for tile, year, image, mask in find_patches(root, sorted(set(per_tile.values())))}
    missing = [(tile, year) for tile, year in per_tile.items() if (tile, year) not in paths]
    if missing:
        raise DatasetError(f"the twin at {root} lacks the tiles (tile, year) {missing[:5]}")
    tiles = {}
    for tile, year in per_tile.items():
        with rasterio.open(paths[tile, year][0 if kind == "IMAGE" else 1]) as src:
            tiles[tile] = (src.read(), src.transform, src.crs)
    size = next(iter(tiles.values()))[0].shape[1]
    res = next(iter(tiles.values()))[1].a
    lefts = sorted({t.c for _, t, _ in tiles.values()})
    tops = sorted({t.f for _, t, _ in tiles.values()}, reverse=True)
    if len(lefts) * len(tops) != len(tiles):
        raise InputError(f"tiles {sorted(tiles)} do not fill a rectangle of the fishnet")
    first = next(iter(tiles.values()))[0]
    mosaic = np.empty((first.shape[0], size * len(tops), size * len(lefts)), first.dtype)
    for array, transform, _ in tiles.values():
        row, col = tops.index(transform.f) * size, lefts.index(transform.c) * size
        mosaic[:, row:row + size, col:col + size] = array
    crs = next(iter(tiles.values()))[2]
    return mosaic, from_origin(lefts[0], tops[0], res, res), crs


def _write_cog(path, array, transform, crs, nodata):
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", driver="COG", width=array.shape[1], height=array.shape[0],
                                                 count=1, dtype=array.dtype, crs=crs, transform=transform,
                                                 nodata=nodata, compress="DEFLATE") as dst:
        dst.write(array, 1)
    return path


def _item(item_id, collection, when, assets, bounds, **properties):
    west, south, east, north = bounds
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
            "bbox": [west, south, east, north], "geometry": {"type": "Polygon", "coordinates": [ring]}, "links": [],
            "properties": {"datetime": when, **properties},
            "assets": {key: {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                             "roles": ["data"]} for key, href in assets.items()}}


def _s2_items(out, year, image, clouds, transform, crs, bounds):
    features = []
    cloud = np.zeros(image.shape[1:], bool) if clouds is None else np.asarray(clouds, bool)
    for month, day, gain, scl_class in _S2_ITEMS:
        item_id = f"S2_{year}{month:02d}{day:02d}"
        offset = S2_OFFSET if (year, month, day) >= (2022, 1, 25) else 0
        scl = np.where(cloud, _SCL_CLOUD, scl_class or _SCL_CLEAR).astype(np.uint8)
        assets = {"SCL": _write_cog(out / item_id / "SCL.tif", scl, transform, crs, 0)}
        for band, values in zip(_S2, image[:len(_S2)]):
            pixels = np.full_like(values, _FLAT) if gain is None else values * np.float32(gain) + np.float32(offset)
            assets[band] = _write_cog(out / item_id / f"{band}.tif", pixels.astype(np.float32), transform, crs, 0)
        features.append(_item(item_id, "sentinel-2-l2a", f"{year}-{month:02d}-{day:02d}T10:30:00Z",
                              {k: str(p.relative_to(out)) for k, p in assets.items()}, bounds,
                              **{"s2:processing_baseline": "05.09" if offset else "02.14"}))
    return features


def write_twin_items(root, out, tile_ids, years, *, clouds=None):
    """Write Sentinel-2 / Sentinel-1 / DEM assets and an ItemCollection ``out/items.json`` from twin tiles.

    Parameters
    ----------
    root : str or Path
        A SmallMinesDS folder (the synthetic twin).
    out : str or Path
        Folder for the assets and ``items.json`` (asset hrefs relative to it).
    tile_ids : sequence of int
        Tiles that fill a rectangle of the fishnet.
    years : dict
        ``{year of the items: source}``, the source as in :func:`twin_mosaic`:
        a twin year, or ``{tile: twin year}`` for a year made of other years'
        tiles. Items from 25 January 2022 on carry processing baseline 05.09
        and the 1000 offset.
    clouds : dict or None
        ``{year: boolean (height, width) array on the mosaic}``: pixels under
        cloud in every Sentinel-2 item of that year (no valid observation).

    Returns
    -------
    Path
        ``out/items.json``.
    """
    out = Path(out)
    features = []
    dem_done = False
    for year, source in years.items():
        image, transform, crs = twin_mosaic(root, tile_ids, source)
        bounds = transform_bounds(crs, "EPSG:4326", *rasterio.transform.array_bounds(*image.shape[1:], transform))
        features += _s2_items(out, int(year), image, (clouds or {}).get(year), transform, crs, bounds)
        s1 = {key: _write_cog(out / f"S1_{year}" / f"{key}.tif", (10 ** (image[BAND_NAMES.index(key.upper())] / 10))
                              .astype(np.float32), transform, crs, np.nan) for key in ("vv", "vh")}
        features.append(_item(f"S1_{year}", "sentinel-1-rtc", f"{year}-01-10T18:00:00Z",
                              {k: str(p.relative_to(out)) for k, p in s1.items()}, bounds))
        if not dem_done:
            dem = _write_cog(out / "DEM" / "data.tif", image[BAND_NAMES.index("DEM")], transform, crs, None)
            features.append(_item("DEM", "cop-dem-glo-30", "2021-04-22T00:00:00Z", {"data": str(dem.relative_to(out))},
                                  bounds))
            dem_done = True
    path = out / "items.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path
