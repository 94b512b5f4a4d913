import numpy as np
import pytest
import rasterio

from smallmines_classic import RandomForestSegmenter, mosaic_tiles, predict_scene

distributed = pytest.importorskip("dask.distributed", reason="needs the scale extra")
from smallmines_classic.mapping.distributed import predict_scene_dask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB", dashboard_address=":0",
                                  processes=True) as cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_map_equals_the_local_map(twin, twin_root, client, tmp_path):
    model = RandomForestSegmenter(bands="rgb+", n_estimators=6, max_pixels=20_000,
                                  random_state=0).fit(twin.images, twin.masks)
    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    local = predict_scene(model, scene, tmp_path / "local.tif", window_size=160, overlap=24, probability=True,
                          progress=False)
    remote = predict_scene_dask(model, scene, tmp_path / "dask.tif", client, block_size=160, overlap=24,
                                probability=True, progress=False)
    with rasterio.open(local) as a, rasterio.open(remote) as b:
        assert a.transform == b.transform and a.crs == b.crs
        np.testing.assert_array_equal(a.read(1), b.read(1))
        # blending sums are added in arrival order: at most one percent of rounding
        assert np.abs(a.read(2).astype(int) - b.read(2).astype(int)).max() <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask.tif", "local.tif", "scene.vrt"]


def test_dask_refuses_wrong_bands_before_submitting(twin, twin_root, client, tmp_path):
    model = RandomForestSegmenter(bands="rgb", n_estimators=2, max_pixels=2000,
                                  random_state=0).fit(twin.images, twin.masks)
    masks = mosaic_tiles(twin_root, 2016, tmp_path / "masks.vrt", kind="MASK")
    with pytest.raises(ValueError, match="1 unnamed bands"):
        predict_scene_dask(model, masks, tmp_path / "x.tif", client, progress=False)


def test_dask_map_leaves_invalid_pixels_nodata(twin, client, tmp_path):
    from tests.mapping.test_scene import check_nan_map, nan_scene

    model = RandomForestSegmenter(bands="rgb+", n_estimators=6, max_pixels=20_000,
                                  random_state=0).fit(twin.images, twin.masks)
    src, image = nan_scene(tmp_path / "holes.tif", twin)
    out = predict_scene_dask(model, src, tmp_path / "dask.tif", client, block_size=32, overlap=24, probability=True,
                             progress=False)
    check_nan_map(model, image, out)


def test_dask_map_keeps_at_most_two_blocks_per_worker_thread_in_flight(twin, twin_root, client, tmp_path, monkeypatch):
    """Blocks are submitted as finished ones are taken, never all at once; the map is the local one."""
    from smallmines_classic.mapping import distributed as module

    model = RandomForestSegmenter(bands="rgb", n_estimators=2, max_pixels=2000, random_state=0).fit(twin.images,
                                                                                                   twin.masks)
    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    counts = {"submitted": 0, "taken": 0, "most": 0}
    submit, write_map = client.submit, module.write_map

    def counted_submit(*args, **kwargs):
        counts["submitted"] += 1
        counts["most"] = max(counts["most"], counts["submitted"] - counts["taken"])
        return submit(*args, **kwargs)

    def counted_write_map(source, dst, blocks, *args, **kwargs):
        def taken():
            for block in blocks:
                counts["taken"] += 1
                yield block
        return write_map(source, dst, taken(), *args, **kwargs)

    monkeypatch.setattr(client, "submit", counted_submit)
    monkeypatch.setattr(module, "write_map", counted_write_map)
    remote = predict_scene_dask(model, scene, tmp_path / "dask.tif", client, block_size=128, overlap=16, progress=False)
    local = predict_scene(model, scene, tmp_path / "local.tif", window_size=128, overlap=16, progress=False)
    with rasterio.open(scene) as src:
        blocks = -(-src.width // 128) * -(-src.height // 128)
    assert counts["submitted"] == counts["taken"] == blocks > 4
    assert counts["most"] == 2 * sum(client.nthreads().values()) == 4
    with rasterio.open(local) as a, rasterio.open(remote) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
