"""Earth Search and the Planetary Computer as they really are: their items, on local COGs, make the same composite.

The items reproduce the structure of the real documents, trimmed to one
small box and to what is read:

- Earth Search v1 ``sentinel-2-l2a`` (item ``S2A_39QTA_20230628_0_L2A`` as
  recorded in geopython/eodm, tests/data/test_data.py): assets ``blue`` ...
  ``swir22``, ``scl`` (and ``*-jp2`` twins on s3, thumbnails and metadata that
  are never read) with ``proj:shape``, ``proj:transform`` and ``raster:bands``
  (uint16, nodata 0, ``bits_per_sample`` 15, scale 0.0001, offset -0.1; SCL
  uint8 nodata 0); properties ``proj:epsg``, ``grid:code``,
  ``s2:processing_baseline``, ``earthsearch:boa_offset_applied``.
- Planetary Computer ``sentinel-2-l2a`` (as odc-stac's tests/data
  S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json): assets
  ``B02`` ... ``B12``, ``SCL`` with ``gsd``, ``proj:shape``, ``proj:transform``,
  no ``raster:bands``; numbers carry the 1000 offset from baseline 04.00 on.
- Planetary Computer ``sentinel-1-rtc`` (microsoft/planetary-computer-tasks,
  datasets/sentinel-1-rtc/collection/template.json, ``item_assets``): ``vv``,
  ``vh`` float32 linear gamma0, ``raster:bands`` nodata -32768.
"""

import json
import math
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

pytest.importorskip("odc.stac")
pytest.importorskip("pystac_client")

from smallmines_classic import build_composite  # noqa: E402
from smallmines_classic.cli import main  # noqa: E402
from smallmines_classic.errors import InputError  # noqa: E402
from smallmines_classic.io import catalogs  # noqa: E402
from smallmines_classic.io.stac import item_query, select_items  # noqa: E402

from .test_composite import LEFT, SIDE, TOP, UTM, _FakeClient, grid_bbox  # noqa: E402

ORIGIN = (LEFT - 20, TOP + 20)      # every raster reaches 2 pixels (20 m) beyond the 8 x 8 grid
TEN_M, TWENTY_M = SIDE + 4, (SIDE + 4) // 2
BANDS_20M = {"B05", "B06", "B07", "B8A", "B11", "B12"}
ES_KEYS = {band: key for key, band in catalogs.EARTH_SEARCH_S2_ASSETS.items()}
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
#: Acquisitions of January 2022: (day, processing baseline, SCL class over the grid's top rows).
ACQUISITIONS = (("05", "03.01", 9), ("15", "03.01", 4), ("28", "04.00", 8), ("30", "05.09", 4))


def reflectance(index, band):
    """The pre-2022-scale numbers of acquisition ``index`` in ``band``: what every catalog must give back."""
    rng = np.random.default_rng(100 * index + sorted(catalogs.S2_ASSETS).index(band))
    side = TWENTY_M if band in BANDS_20M else TEN_M
    return rng.integers(300, 6000, (side, side)).astype(np.uint16)


def scl(index):
    classes = np.full((TWENTY_M, TWENTY_M), 4, np.uint8)
    classes[:2] = ACQUISITIONS[index][2]        # grid rows 0-1 lie under the top two 20 m rows beyond the ring
    return classes


def _cog(path, array, nodata, step=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    transform = from_origin(*ORIGIN, step, step)
    with rasterio.open(path, "w", driver="COG", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=array.dtype, crs=UTM, transform=transform, nodata=nodata) as dst:
        dst.write(array, 1)
    return {"href": str(path), "type": COG, "proj:shape": list(array.shape), "proj:transform": list(transform)[:6],
            "roles": ["data"]}


def _footprint():
    from .test_composite import _footprint as footprint

    return footprint(UTM, from_origin(*ORIGIN, 20, 20), (TWENTY_M, TWENTY_M))


def _feature(item_id, collection, when, assets, **properties):
    bbox, geometry = _footprint()
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection, "bbox": bbox,
            "geometry": geometry, "links": [], "assets": assets,
            "properties": {"datetime": when, "proj:epsg": 32630, **properties}}


def pc_s2(root):
    """Planetary Computer items: B02 ... B12, SCL; the offset in the numbers from baseline 04.00 on."""
    features = []
    for index, (day, baseline, _) in enumerate(ACQUISITIONS):
        offset = 1000 if float(baseline) >= 4 else 0
        assets = {band: {**_cog(root / f"pc{index}" / f"{band}.tif", reflectance(index, band) + np.uint16(offset), 0,
                                20 if band in BANDS_20M else 10), "gsd": 20 if band in BANDS_20M else 10}
                  for band in catalogs.S2_ASSETS}
        assets["SCL"] = {**_cog(root / f"pc{index}" / "SCL.tif", scl(index), 0, 20), "gsd": 20}
        features.append(_feature(f"S2A_MSIL2A_202201{day}T103421_R108_T30NWN", "sentinel-2-l2a",
                                 f"2022-01-{day}T10:34:21.024000Z", assets, **{"s2:processing_baseline": baseline,
                                                                              "s2:mgrs_tile": "30NWN"}))
    return features


def es_s2(root, collection="sentinel-2-l2a", applied=True):
    """Earth Search items: assets by colour with raster:bands; ``applied``: the offset is out of the numbers."""
    features = []
    for index, (day, baseline, _) in enumerate(ACQUISITIONS):
        offset = 1000 if float(baseline) >= 4 and not applied else 0
        folder = root / f"es{index}"
        assets = {}
        for band in catalogs.S2_ASSETS:
            step = 20 if band in BANDS_20M else 10
            assets[ES_KEYS[band]] = {**_cog(folder / f"{band}.tif", reflectance(index, band) + np.uint16(offset), 0,
                                            step), "gsd": step,
                                     "raster:bands": [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                                                       "spatial_resolution": step, "scale": 0.0001, "offset": -0.1}]}
            assets[f"{ES_KEYS[band]}-jp2"] = {"href": f"s3://sentinel-s2-l2a/tiles/30/N/WN/2022/1/{day}/0/{band}.jp2",
                                              "type": "image/jp2", "roles": ["data", "reflectance"]}
        assets["scl"] = {**_cog(folder / "SCL.tif", scl(index), 0, 20),
                         "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]}
        assets["thumbnail"] = {"href": "https://sentinel-cogs.s3.us-west-2.amazonaws.com/thumbnail.jpg",
                               "type": "image/jpeg", "roles": ["thumbnail"]}
        item_id = f"S2A_30NWN_202201{day}_0_L2A" if collection == "sentinel-2-l2a" else \
            f"S2A_T30NWN_202201{day}T103421_L2A"
        features.append(_feature(item_id, collection, f"2022-01-{day}T10:34:21.024000Z", assets,
                                 **{"s2:processing_baseline": baseline, "grid:code": "MGRS-30NWN",
                                    "earthsearch:boa_offset_applied": applied}))
    return features


def pc_s1(root, nodata_rows=0):
    """Two Sentinel-1 RTC items, float32 linear gamma0; -32768 (no data) in the top ``nodata_rows`` of both."""
    features = []
    for index, day in enumerate(("03", "15")):
        assets = {}
        for pol, scale in (("vv", 0.1), ("vh", 0.02)):
            linear = (scale * np.random.default_rng(7 + index).uniform(0.5, 1.5, (TEN_M, TEN_M))).astype(np.float32)
            linear[:nodata_rows] = catalogs.S1_NODATA
            assets[pol] = {**_cog(root / f"s1_{index}" / f"{pol}.tif", linear, catalogs.S1_NODATA),
                           "raster:bands": [{"nodata": -32768, "data_type": "float32", "spatial_resolution": 10}]}
        features.append(_feature(f"S1A_IW_GRDH_1SDV_202201{day}T182000_rtc", "sentinel-1-rtc",
                                 f"2022-01-{day}T18:20:00Z", assets, **{"sar:product_type": "GRD"}))
    return features


def es_s1_grd():
    """An Earth Search Sentinel-1 GRD item (requester-pays s3 assets): never read."""
    assets = {pol: {"href": f"s3://sentinel-s1-l1c/GRD/2022/1/10/IW/DV/S1A_IW_GRDH/measurement/{pol}.tiff",
                    "type": "image/tiff; application=geotiff", "roles": ["data"],
                    "raster:bands": [{"nodata": 0, "data_type": "uint16"}]} for pol in ("vv", "vh")}
    return _feature("S1A_IW_GRDH_1SDV_20220110T182000_20220110T182025_041000_04E000", "sentinel-1-grd",
                    "2022-01-10T18:20:00Z", assets, **{"sar:product_type": "GRD"})


def _items_file(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _compose(items, out, **kwargs):
    build_composite(grid_bbox(), 2022, out, items=items, progress=False, chunk_size=5, **kwargs)
    with rasterio.open(out) as src, rasterio.open(out.with_name(f"{out.stem}_obs.tif")) as obs:
        return src.read(), obs.read(1)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogs")
    return root, {"pc": pc_s2(root), "s1": pc_s1(root, nodata_rows=4)}


@pytest.fixture(scope="module")
def planetary(assets, tmp_path_factory):
    root, built = assets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # no DEM item
        return _compose(_items_file(root / "pc.json", built["pc"] + built["s1"]), root / "pc.tif")


def test_the_planetary_computer_set_gives_the_reflectance_back(planetary):
    """The 10 m bands land on the grid unchanged: B02 is the median of the clear acquisitions' numbers."""
    data, count = planetary
    clear = np.array([scl(index)[1, 1] not in (8, 9) for index in range(len(ACQUISITIONS))])
    stack = np.stack([reflectance(index, "B02")[2:-2, 2:-2] for index in range(len(ACQUISITIONS))]).astype(float)
    rows = slice(2, SIDE)                                   # below the top rows, every acquisition is clear
    np.testing.assert_array_equal(count[rows], len(ACQUISITIONS))
    np.testing.assert_allclose(data[0, rows], np.median(stack[:, rows], axis=0), rtol=0, atol=0)
    np.testing.assert_allclose(data[0, :2], np.median(stack[clear, :2], axis=0), rtol=0, atol=0)


@pytest.mark.parametrize("collection, applied", [("sentinel-2-l2a", True), ("sentinel-2-l2a", False),
                                                 ("sentinel-2-c1-l2a", False)])
def test_earth_search_composes_as_the_planetary_computer(assets, planetary, collection, applied, tmp_path):
    """Asset keys mapped, the offset taken off once whether Earth Search applied it or not: the same bytes."""
    root, built = assets
    items = _items_file(tmp_path / "es.json", es_s2(tmp_path, collection, applied) + built["s1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        data, count = _compose(items, tmp_path / "es.tif")
    np.testing.assert_array_equal(count, planetary[1])
    np.testing.assert_array_equal(data, planetary[0])


def test_a_reprocessed_acquisition_counts_once(assets, planetary, tmp_path):
    """An acquisition in sentinel-2-l2a and in its reprocessing sentinel-2-c1-l2a is one observation."""
    root, built = assets
    both = es_s2(tmp_path / "l2a", "sentinel-2-l2a", True) + es_s2(tmp_path / "c1", "sentinel-2-c1-l2a", False)
    found = [__import__("pystac").Item.from_dict(feature) for feature in both]
    chosen = select_items(found, item_query(grid_bbox(), 2022))
    assert len(chosen.s2) == len(ACQUISITIONS)
    assert {item.properties["earthsearch:boa_offset_applied"] for item in chosen.s2} == {False}   # the c1 ones
    assert all("B02" in item.assets and "SCL" in item.assets for item in chosen.s2)


def test_rtc_no_data_is_nan_never_minus_45_db(planetary):
    """-32768 in every RTC item's top rows: no backscatter there (NaN), and no value near -45 dB anywhere."""
    data = planetary[0]
    vv, vh = data[10], data[11]
    # grid row 0 is the raster's row 2: no data, and so is its whole circle (rows 1-3): NaN
    assert np.isnan(vv[0]).all() and np.isnan(vh[0]).all()
    assert np.isfinite(vv[1:]).all() and np.isfinite(vh[1:]).all()
    finite = np.concatenate([vv[np.isfinite(vv)], vh[np.isfinite(vh)]])
    assert finite.min() > 10 * math.log10(0.02 * 0.5) - 0.01      # the smallest backscatter written, in dB


def test_rtc_row_beside_no_data_averages_its_valid_neighbours(planetary):
    """Grid row 2 (raster row 4) has no data above it: its circle is itself and three valid neighbours."""
    vv = planetary[0][10]
    linear = [0.1 * np.random.default_rng(7 + index).uniform(0.5, 1.5, (TEN_M, TEN_M)).astype(np.float32)
              for index in range(2)]
    median = (linear[0].astype(float) + linear[1]) / 2
    for col in range(SIDE):
        r, c = 4, col + 2
        ring = [median[r, c], median[r + 1, c], median[r, c - 1], median[r, c + 1]]
        assert vv[2, col] == pytest.approx(10 * math.log10(sum(ring) / 4), abs=1e-4)


def test_earth_search_sentinel1_is_grd_so_vv_vh_are_nan_with_a_warning(tmp_path):
    items = _items_file(tmp_path / "es.json", es_s2(tmp_path) + [es_s1_grd()])
    with pytest.warns(RuntimeWarning, match="ground range detected .*--s1-stac planetary-computer"):
        data, count = _compose(items, tmp_path / "es.tif")
    assert np.isnan(data[10:12]).all() and np.isfinite(data[:10][:, count > 0]).all()


def test_s1_from_a_second_catalog(assets, planetary, tmp_path, capsys):
    """--s1-stac: Sentinel-2 from Earth Search, Sentinel-1 (RTC) from a second source; its GRD is left out."""
    root, built = assets
    es = _items_file(tmp_path / "es.json", es_s2(tmp_path) + [es_s1_grd()])
    s1 = _items_file(tmp_path / "pc_s1.json", built["s1"])
    out = tmp_path / "cli.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # no DEM
        code = main(["-q", "composite", "--bbox", *map(str, grid_bbox()), "--year", "2022", "--items", str(es),
                     "--s1-stac", str(s1), "--chunk-size", "5", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(), planetary[0])
        assert src.tags()["s1_items"] == "2"


def test_catalog_names():
    assert catalogs.catalog_url("earth-search") == "https://earth-search.aws.element84.com/v1"
    assert catalogs.catalog_url("planetary-computer") == catalogs.PLANETARY_COMPUTER
    assert catalogs.catalog_url("https://example.org/stac/") == "https://example.org/stac"
    with pytest.raises(InputError, match="earth-search"):
        catalogs.catalog_url("earthsearch")


def test_earth_search_is_searched_for_its_collections(monkeypatch):
    import pystac_client

    from smallmines_classic.io.stac import find_s1_items, search_stac

    monkeypatch.setattr(pystac_client, "Client", _FakeClient)
    _FakeClient.calls.clear()
    search_stac([-2.0, 6.0, -1.9, 6.1], 2022, [1], "earth-search")
    (_, url, modifier), dated, dem = _FakeClient.calls
    assert url == "https://earth-search.aws.element84.com/v1" and modifier is None
    assert dated[1]["collections"] == ["sentinel-2-l2a", "sentinel-2-c1-l2a", "sentinel-1-grd"]
    assert dem[1]["collections"] == ["cop-dem-glo-30"]
    _FakeClient.calls.clear()
    find_s1_items("planetary-computer", item_query([-2.0, 6.0, -1.9, 6.1], 2022, [1]))
    assert [call[1]["collections"] for call in _FakeClient.calls[1:]] == [["sentinel-1-rtc"]]
