"""Declared image no-data: read as NaN, counted in one warning, an all-no-data patch named; forests and deep
models never take it as data."""

import numpy as np
import pytest
import rasterio

from smallmines_classic import DatasetError, load_smallminesds
from smallmines_classic.errors import SmallminesWarning
from tests.io.test_dataset import rewrite, tiny_copy

VV = 10


def _declare(path, edit, nodata=-9999):
    """Rewrite the image at ``path`` with ``edit(image)`` applied and ``nodata`` declared; return the new image."""
    with rasterio.open(path) as src:
        image = src.read()
    edit(image)
    rewrite(path, image, nodata=nodata)
    return image


def _vv_strip(image):
    image[VV, 3, :64] = -9999


def test_declared_nodata_becomes_nan_and_is_counted_in_one_warning(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path)
    written = _declare(root / "2016/IMAGE/IMG_GH_0001_2016.tif", _vv_strip)
    with pytest.warns(SmallminesWarning) as caught:
        ds = load_smallminesds(root, progress=False)
    assert [str(w.message) for w in caught] == ["64 image pixel(s) in 1 patch(es) are declared no-data and were read "
                                                "as NaN (VV: 64)"]
    declared = written == -9999
    assert declared.sum() == 64
    assert np.isnan(ds.images[0][declared]).all()
    np.testing.assert_array_equal(ds.images[0][~declared], written[~declared].astype(np.float32))
    assert np.isfinite(ds.images[1]).all()


def test_an_all_nodata_patch_is_named_and_fill_fills_it(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path)
    _declare(root / "2016/IMAGE/IMG_GH_0002_2016.tif", lambda image: image.fill(-9999))
    with pytest.warns(SmallminesWarning, match=r"1 patch\(es\) hold no data at all: .*IMG_GH_0002_2016.tif"):
        ds = load_smallminesds(root, progress=False)
    assert np.isnan(ds.images[1]).all()
    written = _declare(root / "2016/IMAGE/IMG_GH_0001_2016.tif", _vv_strip)
    with pytest.warns(SmallminesWarning, match="were filled"):
        filled = load_smallminesds(root, nan_policy="fill", progress=False)
    assert filled.images[0, VV, 3, 0] == pytest.approx(np.median(written[VV][written[VV] != -9999]))
    assert (filled.images[1] == 0).all()  # a band with no data at all: 0


def test_undeclared_nan_still_raises_beside_declared_nodata(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path)

    def both(image):
        _vv_strip(image)
        image[4, 10, 10] = np.nan

    _declare(root / "2016/IMAGE/IMG_GH_0001_2016.tif", both)
    with pytest.raises(DatasetError, match="IMG_GH_0001_2016.tif: 1 NaN / inf pixel.* that no nodata value declares"):
        load_smallminesds(root, progress=False)


def test_deep_dataset_refuses_nodata_unless_filled(tmp_path, twin_root):
    data = pytest.importorskip("smallmines_deep.data")
    root = tiny_copy(twin_root, tmp_path)
    _declare(root / "2016/IMAGE/IMG_GH_0001_2016.tif", _vv_strip)
    with pytest.raises(DatasetError, match=r"IMG_GH_0001_2016.tif: 64 pixel\(s\) .*nan_policy='fill'"):
        data.SmallMinesDataset(root)[0]
    assert data.SmallMinesDataset(root, nan_policy="fill")[0]["image"].isfinite().all()
    assert data.SmallMinesDataset(root)[1]["image"].isfinite().all()
