"""A ``smallmines monitor`` output folder made from synthetic rasters, for the report's tests and benchmark.

It follows the monitor contract (docs/monitoring.md, "A report anyone can open"):
per year a 13-band composite (COG, band descriptions B02..DEM, NaN
nodata), its observation count and a mining map (band 1 0/1/255, band 2
probability %); change maps between consecutive years (written by
``change_map``); new-mining polygons (GeoJSON in WGS 84 and GeoPackage);
regions; ``monitor.csv`` and ``monitor.json`` with the region x year rows,
counted from the maps by the package's own ``mined_area`` and
``region_areas``. The folder is made window by window, so a 5000 x 5000 px
one fits in memory.

Mining is a smooth random field above a threshold that falls year by year
(so most mining persists and new mining appears at the edges of old),
minus a second field that reclaims some sites (no longer mined). One year
has a "cloud" where the composite is NaN and the map nodata.
"""

import csv
import json
from pathlib import Path

import numpy as np
import pyogrio.raw
import rasterio
import rasterio.features
import rasterio.warp
import shapely
import shapely.geometry
from rasterio.transform import from_origin
from rasterio.windows import Window

import smallmines_classic as sm
from smallmines_classic.bands import BAND_NAMES
from smallmines_classic.io.raster import cog_output

UTM, LEFT, TOP, PIXEL = "EPSG:32630", 600_000, 590_000, 10
REGION_NAMES = ("Amansie West", 'Obuasi <img src=x onerror="window.pwned=1"> & Co')
#: Mining field thresholds for the first, second, ... year (falling: mining grows).
_THRESHOLDS = (2.2, 1.9, 1.6, 1.4, 1.2)
#: Surface reflectance of vegetation and of mined ground, bands B02..B12; then VV, VH (dB) and DEM (m).
_VEGETATION = (300, 550, 350, 900, 2200, 2700, 2900, 3000, 1600, 700, -8, -14, 180)
_MINED = (1100, 1300, 1500, 1700, 1800, 1900, 2000, 2100, 2600, 2400, -11, -19, 165)


def _waves(seed, count=6):
    rng = np.random.default_rng(seed)
    wavelengths = rng.uniform(15, 120, count)
    angles = rng.uniform(0, np.pi, count)
    return (np.cos(angles) * 2 * np.pi / wavelengths, np.sin(angles) * 2 * np.pi / wavelengths,
            rng.uniform(0, 2 * np.pi, count))


def _field(waves, rows, cols):
    a, b, phase = waves
    return sum(np.sin(a[k] * rows + b[k] * cols + phase[k]) for k in range(len(a)))


def _classes(window, year_index, seed, size):
    """Mining (bool) and nodata (bool) of one window in the year_index-th year."""
    rows, cols = np.ogrid[window.row_off:window.row_off + window.height, window.col_off:window.col_off + window.width]
    mined = _field(_waves(seed), rows, cols) > _THRESHOLDS[year_index]
    mined &= ~(_field(_waves(seed + 1), rows, cols) > 3.4 - 0.4 * year_index)   # reclaimed sites
    cloud = (rows - size * 0.3) ** 2 + (cols - size * 0.7) ** 2 < (size * 0.12) ** 2
    return mined, cloud & (year_index == 1)


def _profile(size, count, dtype, nodata):
    return dict(driver="GTiff", width=size, height=size, count=count, dtype=dtype, crs=UTM, nodata=nodata,
                transform=from_origin(LEFT, TOP, PIXEL, PIXEL), tiled=True, blockxsize=512, blockysize=512,
                compress="deflate", BIGTIFF="IF_SAFER")


def _write_year(folder, year_index, size, seed, block):
    """The year's composite, observation count and map, window by window."""
    folder.mkdir(parents=True, exist_ok=True)
    vegetation, mined_ground = (np.array(v, np.float32)[:, None, None] for v in (_VEGETATION, _MINED))
    with cog_output(folder / "composite.tif") as (_, tmp_c), cog_output(folder / "composite_obs.tif") as (_, tmp_o), \
            cog_output(folder / "map.tif") as (_, tmp_m), \
            rasterio.open(tmp_c, "w", **_profile(size, 13, "float32", np.nan)) as composite, \
            rasterio.open(tmp_o, "w", **_profile(size, 1, "uint8", None)) as obs, \
            rasterio.open(tmp_m, "w", **_profile(size, 2, "uint8", sm.MAP_NODATA)) as mining:
        for row in range(0, size, block):
            window = Window(0, row, size, min(block, size - row))
            mined, cloud = _classes(window, year_index, seed, size)
            rng = np.random.default_rng([seed, year_index, row])
            texture = (1 + 0.08 * _field(_waves(seed + 2), *np.ogrid[row:row + window.height, 0:size]) / 3)
            image = np.where(mined, mined_ground, vegetation * texture.astype(np.float32))
            image += 40 * rng.standard_normal(image.shape, dtype=np.float32) * (np.arange(13) < 10)[:, None, None]
            image = (np.round(image * 2) / 2).astype(np.float32)      # medians of integers: halves
            image[:, cloud] = np.nan
            composite.write(image, window=window)
            obs.write(np.where(cloud, 0, 3).astype(np.uint8), 1, window=window)
            classes = np.where(cloud, sm.MAP_NODATA, mined).astype(np.uint8)
            probability = np.where(cloud, sm.MAP_NODATA, np.where(mined, 90, 10)).astype(np.uint8)
            mining.write(np.stack([classes, probability]), window=window)
        for index, name in enumerate(BAND_NAMES, start=1):
            composite.set_band_description(index, name)
        mining.set_band_description(1, "mining: 0 no, 1 yes, 255 nodata")


def _write_regions(folder, size, names):
    """The west and east halves of the box as regions (WGS 84 GeoJSON); returns their polygons in degrees by name."""
    west, south, east, north = rasterio.warp.transform_bounds(UTM, "EPSG:4326", LEFT, TOP - PIXEL * size,
                                                              LEFT + PIXEL * size, TOP)
    middle = (west + east) / 2
    polygons = {names[0]: shapely.box(west - 0.01, south - 0.01, middle, north + 0.01),
                names[1]: shapely.box(middle, south - 0.01, east + 0.01, north + 0.01)}
    features = [{"type": "Feature", "properties": {"name": name}, "geometry": shapely.geometry.mapping(polygon)}
                for name, polygon in polygons.items()]
    (folder / "regions.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return polygons


def _write_alerts(folder, change, years, polygons, min_area_m2):
    """New-mining polygons (class 1 of the change map) of at least ``min_area_m2``, as GeoJSON and GeoPackage."""
    with rasterio.open(change) as src:
        new = (src.read(1) == 1).astype(np.uint8)
        shapes = [shapely.geometry.shape(g) for g, _ in rasterio.features.shapes(new, mask=new.astype(bool),
                                                                                  transform=src.transform)]
    shapes = [s for s in shapes if s.area >= min_area_m2]
    features = []
    for index, shape in enumerate(shapes, start=1):
        lonlat = shapely.geometry.shape(rasterio.warp.transform_geom(UTM, "EPSG:4326", shapely.geometry.mapping(shape)))
        region = next((name for name, polygon in polygons.items() if polygon.contains(lonlat.centroid)), None)
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(lonlat),
                         "properties": {"id": index, "area_m2": shape.area, "area_ha": shape.area / 1e4,
                                        "region": region, "year_from": years[0], "year_to": years[1]}})
    stem = folder / f"alerts_{years[0]}_{years[1]}"
    stem.with_suffix(".geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    geometries = np.array([shapely.to_wkb(shapely.geometry.shape(f["geometry"])) for f in features], dtype=object)
    fields = ["id", "area_m2", "area_ha", "region", "year_from", "year_to"]
    pyogrio.raw.write(stem.with_suffix(".gpkg"), geometry=geometries, crs="EPSG:4326", driver="GPKG",
                      geometry_type="Polygon", layer="alerts", fields=fields,
                      field_data=[np.array([f["properties"][k] for f in features],
                                           dtype=object if k == "region" else None) for k in fields])
    return features


def _change_by_region(change, polygons):
    """Hectares of new, persistent and no longer mined per region (pixel centres inside), and for the whole box."""
    with rasterio.open(change) as src:
        classes = src.read(1)
        pixel_ha = abs(src.transform.a * src.transform.e) / 1e4
        out = {"(all)": classes}
        for name, polygon in polygons.items():
            utm = rasterio.warp.transform_geom("EPSG:4326", UTM, shapely.geometry.mapping(polygon))
            inside = rasterio.features.geometry_mask([utm], classes.shape, src.transform, invert=True)
            out[name] = np.where(inside, classes, sm.MAP_NODATA)
    return {name: {key: float(np.count_nonzero(values == code) * pixel_ha)
                   for key, code in (("new_ha", 1), ("persistent_ha", 2), ("no_longer_ha", 3))}
            for name, values in out.items()}


def write_monitor_folder(folder, size=128, years=(2016, 2019, 2022), seed=0, assessed_year=-1, names=REGION_NAMES,
                         min_area_m2=300.0, block=512):
    """Write a monitor folder of ``size`` x ``size`` px (10 m) for ``years``; returns its path.

    ``assessed_year`` (an index into ``years``, or None) gets an error-adjusted area in its ``(all)`` row (a made-up
    figure near the map's: this folder tests the report, not the estimator).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    years = list(years)
    polygons = _write_regions(folder, size, names)
    rows, files = [], {}
    for index, year in enumerate(years):
        _write_year(folder / str(year), index, size, seed, block)
        files[str(year)] = {"composite": f"{year}/composite.tif", "map": f"{year}/map.tif"}
        year_map = folder / str(year) / "map.tif"
        change = alerts = None
        if index:
            key = f"{years[index - 1]}-{year}"
            files[key] = {"change": f"change_{years[index - 1]}_{year}.tif",
                          "alerts": f"alerts_{years[index - 1]}_{year}.geojson"}
            sm.change_map(folder / str(years[index - 1]) / "map.tif", year_map, folder / files[key]["change"])
            change = _change_by_region(folder / files[key]["change"], polygons)
            alerts = _write_alerts(folder, folder / files[key]["change"], (years[index - 1], year), polygons,
                                   min_area_m2)
        areas = {"(all)": sm.mined_area(year_map), **sm.region_areas(year_map, folder / "regions.geojson", "name")}
        for name, area in areas.items():
            row = {"region": name, "year": year, "mined_ha": area["ha"], "nodata_ha": area["nodata"]["ha"],
                   "area_basis": "map", "adjusted_ha": None, "adjusted_ha_ci": None,
                   "new_ha": None, "persistent_ha": None, "no_longer_ha": None, "alerts": None}
            if change is not None:
                row.update(change[name], alerts=sum(1 for a in alerts if name in ("(all)", a["properties"]["region"])))
            if assessed_year is not None and year == years[assessed_year] and name == "(all)":
                row.update(area_basis="sample", adjusted_ha=round(area["ha"] * 1.12, 2),
                           adjusted_ha_ci=round(area["ha"] * 0.15 + 1, 2))
            rows.append(row)
    bbox = list(rasterio.warp.transform_bounds(UTM, "EPSG:4326", LEFT, TOP - PIXEL * size, LEFT + PIXEL * size, TOP))
    record = {
        "format": "smallmines-monitor", "format_version": 1, "created": "2026-12-01T12:00:00Z",
        "smallmines_version": "0.2.0",
        "command": ["smallmines", "monitor", "--regions", "districts.gpkg", "--field", "NAME", "--years",
                    *map(str, years), "--model", "rf.skops", "--out", str(folder.name)],
        "model": {"path": "rf.skops", "class": "RandomForestSegmenter", "band_names": ["B02", "B03", "B04", "B8A",
                                                                                         "B11", "B12"],
                  "sha256": "0" * 64},
        "recipe": ("SmallMinesDS: S2 SCL-masked, offset-harmonised median; S1 median, 3x3 circular mean, dB; "
                   "DEM bilinear"),
        "months": [1], "bbox": bbox, "crs": UTM, "pixel_size_m": PIXEL,
        "regions": {"path": "districts.gpkg", "field": "NAME", "names": list(names)},
        "years": years,
        "items": {str(y): {"source": "items.json", "s2": 3, "s1": 2, "dem": 1} for y in years},
        "versions": {"smallmines": "0.2.0", "numpy": np.__version__, "rasterio": rasterio.__version__},
        "files": files, "rows": rows}
    with open(folder / "monitor.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "monitor.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return folder
