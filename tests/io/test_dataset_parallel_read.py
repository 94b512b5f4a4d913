"""The parallel loader (threads reading batches straight into the output) gives the plain rasterio loop's arrays."""

import shutil

import numpy as np
import pytest
import rasterio

from smallmines_classic import band_indices, find_patches, load_smallminesds, resolve_bands


def _plain_loop(root, bands):
    """One rasterio.open per file, in order: the reference."""
    indexes = [i + 1 for i in band_indices(resolve_bands(bands))]
    images, masks = [], []
    for _, _, image_path, mask_path in find_patches(root):
        with rasterio.open(image_path) as src:
            images.append(src.read(indexes).astype(np.float32))
        with rasterio.open(mask_path) as src:
            masks.append(src.read(1))
    return np.stack(images), np.stack(masks)


@pytest.mark.parametrize("bands, n_jobs", [("all", None), ("rgb+", 3), (["VV", "B02"], 1)])
def test_parallel_load_equals_the_plain_loop(twin_root, tmp_path, bands, n_jobs):
    images, masks = _plain_loop(twin_root, bands)
    for cache_dir in (None, tmp_path / "cache"):
        ds = load_smallminesds(twin_root, bands=bands, n_jobs=n_jobs, cache_dir=cache_dir, progress=False)
        np.testing.assert_array_equal(ds.images, images)
        np.testing.assert_array_equal(ds.masks, masks)
        assert [(int(t), int(y)) for t, y in zip(ds.tile_ids, ds.years)] == [p[:2] for p in find_patches(twin_root)]


def test_a_nodata_value_in_a_gdal_sidecar_is_honoured(twin_root, tmp_path):
    # Without sidecars the loader tells GDAL not to look for any (faster opens); with one, GDAL must read it.
    root = tmp_path / "twin"
    shutil.copytree(twin_root, root)
    image_path = find_patches(root)[0][2]
    with rasterio.open(image_path) as src:
        value = float(src.read(1)[0, 0])
        count = int(np.count_nonzero(src.read(1) == np.float32(value)))
    image_path.with_name(image_path.name + ".aux.xml").write_text(
        f'<PAMDataset><PAMRasterBand band="1"><NoDataValue>{value!r}</NoDataValue></PAMRasterBand></PAMDataset>')
    with pytest.warns(UserWarning, match=f"{count} image pixel"):
        ds = load_smallminesds(root, progress=False)
    assert np.count_nonzero(np.isnan(ds.images[0, 0])) == count
    assert not np.isnan(ds.images[1:]).any()
