"""The composite's output does not change when its code is made faster: the same pixels, the same bytes.

tests/data/composite_record.json holds what the code before the speed-up
(issue 28 item 4) wrote for the benchmark's items (benchmarks/composite.py,
``write_items``: 6 Sentinel-2 items with 20 m bands, clouds and two
baselines, 3 Sentinel-1 items, a geographic DEM) over a 150 x 150 px box, in
windows of 64 px (partial windows at the edges): the SHA-256 of the decoded
pixels of the scene and of its ``_obs.tif``, and of the two files. The files'
bytes depend on GDAL's compression library, so they are compared where GDAL
is the version that recorded them; the pixels everywhere.

Re-record (only on purpose, with the code the record is to hold):
``python -m tests.io.test_composite_bytes``.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

pytest.importorskip("odc.stac")

from benchmarks.composite import write_items  # noqa: E402
from smallmines_classic.io.composite import build_composite, composite_grid, observations_path  # noqa: E402
from smallmines_classic.io.composite_reads import OpenAssets, read_aligned, read_warped  # noqa: E402
from smallmines_classic.io.composite_windows import gdal_env  # noqa: E402
from smallmines_classic.io.stac import DEM_ASSET, S1_ASSETS, S2_ASSETS, read_item_collection  # noqa: E402

RECORD = Path(__file__).parents[1] / "data" / "composite_record.json"
SIDE, CHUNK = 150, 64


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def composite_digests(folder):
    """Build the composite of the benchmark's items in ``folder``: the digests of its pixels and files."""
    items, bbox = write_items(Path(folder) / "items", SIDE, 6, 3)
    out = Path(folder) / "scene.tif"
    build_composite(list(bbox), 2022, out, items=items, chunk_size=CHUNK, progress=False)
    digests = {"gdal": rasterio.__gdal_version__}
    for name, path in (("scene", out), ("obs", observations_path(out))):
        with rasterio.open(path) as src:
            pixels = src.read()
        digests[f"{name}_pixels"] = _sha256(pixels.tobytes())
        digests[f"{name}_file"] = _sha256(path.read_bytes())
    return digests


def test_the_composite_is_the_one_the_code_before_wrote(tmp_path):
    recorded, made = json.loads(RECORD.read_text()), composite_digests(tmp_path)
    assert made["scene_pixels"] == recorded["scene_pixels"] and made["obs_pixels"] == recorded["obs_pixels"]
    if made["gdal"] != recorded["gdal"]:
        pytest.skip(f"the files' bytes were recorded with GDAL {recorded['gdal']}, this is {made['gdal']}")
    assert made["scene_file"] == recorded["scene_file"] and made["obs_file"] == recorded["obs_file"]


def _odc_pixels(items, assets, geobox, resampling):
    """The pixels odc-stac's load gives (GDAL's warp for the 20 m bands): what the direct reads must equal."""
    odc_stac = pytest.importorskip("odc.stac")
    data = odc_stac.load(items, bands=list(assets), geobox=geobox, groupby="id", resampling=resampling,
                         dtype="float32", nodata=np.nan)
    order = np.argsort([item.datetime for item in items], kind="stable")   # odc-stac's time steps run by date
    return np.stack([data[asset].values for asset in assets], axis=1)[np.argsort(order)]


def _with_gaps(root, rng):
    """Put no data in one pixel in ten of every Sentinel-2 (0) and Sentinel-1 (NaN) file under ``root``."""
    for path in sorted(root.glob("s[12]_*/*.tif")):
        with rasterio.open(path, "r+") as dst:
            pixels = dst.read(1)
            pixels[rng.random(pixels.shape) < 0.1] = dst.nodata
            dst.write(pixels, 1)


@pytest.mark.parametrize("gaps", [False, True])
def test_direct_reads_are_odc_stacs_pixels_bit_for_bit(tmp_path, gaps):
    # Windows inside the items, across their edges (the output grid is wider than the items) and one pixel wide,
    # with and without no data: the 2x bilinear and nearest of GDAL's warp, the 10 m bands as pasted, the DEM.
    items_path, bbox = write_items(tmp_path / "items", SIDE, 6, 3)
    rng = np.random.default_rng(5)
    if gaps:
        _with_gaps(tmp_path / "items", rng)
    items = list(read_item_collection(items_path))
    s2 = [item for item in items if item.collection_id == "sentinel-2-l2a"]
    s1 = [item for item in items if item.collection_id == "sentinel-1-rtc"]
    dem = [item for item in items if item.collection_id == "cop-dem-glo-30"]
    geobox_module = pytest.importorskip("odc.geo.geobox")
    crs, transform, width, height = composite_grid(bbox)
    geobox = geobox_module.GeoBox((height, width), transform, crs)
    windows = [(0, height, 0, width), (0, 1, 3, 4), (height - 7, height, 40, 111)]
    windows += [tuple(sorted(rng.integers(0, height + 1, 2))) + tuple(sorted(rng.integers(0, width + 1, 2)))
                for _ in range(4)]
    files = OpenAssets()
    try:
        for row0, row1, col0, col1 in windows:
            window = geobox[row0:max(row1, row0 + 1), col0:max(col1, col0 + 1)]
            for group, assets, resampling in ((s2, (*S2_ASSETS, "SCL"), {"*": "bilinear", "SCL": "nearest"}),
                                              (s1, S1_ASSETS, "bilinear")):
                direct = read_aligned(group, assets, window, gdal_env, files)
                assert direct is not None   # these grids are aligned: read directly
                reference = _odc_pixels(group, assets, window, resampling)
                assert direct.dtype == reference.dtype == np.float32
                assert np.array_equal(direct.view(np.uint32), reference.view(np.uint32)), window
            warped = read_warped(dem, DEM_ASSET, window, gdal_env, files)   # the DEM tile covers every window
            assert warped is not None
            assert np.array_equal(warped.view(np.uint32), _odc_pixels(dem, (DEM_ASSET,), window, "bilinear").view(
                np.uint32)), window
            assert read_warped(dem * 2, DEM_ASSET, window, gdal_env, files) is None   # a mosaic: odc-stac's
    finally:
        files.close()
    if gaps:
        assert np.isnan(direct).any()


def test_a_grid_not_aligned_with_the_output_is_left_to_odc_stac(tmp_path):
    items_path, bbox = write_items(tmp_path / "items", SIDE, 1, 0)
    band = tmp_path / "items" / "s2_0" / "B05.tif"
    with rasterio.open(band) as src:
        profile, pixels = src.profile, src.read()
    profile["transform"] = src.transform * Affine.translation(0.25, 0)   # 5 m off the 10 m grid
    with rasterio.open(band, "w", **profile) as dst:
        dst.write(pixels)
    (item,) = [item for item in read_item_collection(items_path) if item.collection_id == "sentinel-2-l2a"]
    crs, transform, width, height = composite_grid(bbox)
    geobox = pytest.importorskip("odc.geo.geobox").GeoBox((height, width), transform, crs)
    assert read_aligned([item], ("B05",), geobox, gdal_env, OpenAssets()) is None
    assert read_aligned([item], ("B02",), geobox, gdal_env, OpenAssets()) is not None


if __name__ == "__main__":   # re-record
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        RECORD.write_text(json.dumps(composite_digests(folder), indent=1) + "\n")
    print(RECORD.read_text())
