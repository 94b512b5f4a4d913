"""Composites on a Dask cluster: one window a task, the same bytes as the local run."""

import contextlib
import json
import operator

import numpy as np
import pytest
import rasterio

pytest.importorskip("odc.stac")
distributed = pytest.importorskip("dask.distributed", reason="needs the scale extra")

from smallmines_classic import CompositeError, build_composite  # noqa: E402
from smallmines_classic._dask import run_bounded  # noqa: E402
from smallmines_classic.cli import main  # noqa: E402
from smallmines_classic.io import composite as comp  # noqa: E402
from tests.io.test_composite import grid_bbox, items_file  # noqa: E402, F401 (items_file: a fixture)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                                  dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def local(items_file, tmp_path_factory):
    """The composite built here, in windows of 3 px (odd: they cut the 20 m pixels and the Sentinel-1 ring)."""
    return build_composite(grid_bbox(), 2022, tmp_path_factory.mktemp("local") / "scene.tif", items=items_file,
                           chunk_size=3, progress=False)


def assert_same_bytes(a, b):
    """Band by band, then the _obs.tif, then the whole files: byte for byte."""
    with rasterio.open(a) as one, rasterio.open(b) as two:
        assert str(one.profile) == str(two.profile)
        assert one.descriptions == two.descriptions and one.tags() == two.tags()
        for band in range(1, one.count + 1):
            assert one.read(band).tobytes() == two.read(band).tobytes(), one.descriptions[band - 1]
    with rasterio.open(comp.observations_path(a)) as one, rasterio.open(comp.observations_path(b)) as two:
        assert one.read(1).tobytes() == two.read(1).tobytes()
    for path_a, path_b in ((a, b), (comp.observations_path(a), comp.observations_path(b))):
        assert path_a.read_bytes() == path_b.read_bytes()


def test_dask_composite_is_the_local_one_byte_for_byte(items_file, local, client, tmp_path):
    with rasterio.open(local) as src:      # every source took part: Sentinel-2, the S1 medians and filter, the DEM
        assert np.isfinite(src.read()).any(axis=(1, 2)).all()
    out = build_composite(grid_bbox(), 2022, tmp_path / "scene.tif", items=items_file, chunk_size=3, progress=False,
                          client=client)
    assert_same_bytes(local, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif", "scene_obs.tif"]


def test_cli_composite_on_a_scheduler(items_file, local, cluster, tmp_path):
    out = tmp_path / "scene.tif"
    code = main(["-q", "composite", "--bbox", *map(str, grid_bbox()), "--year", "2022", "--items", str(items_file),
                 "--out", str(out), "--chunk-size", "3", "--client", cluster.scheduler_address])
    assert code == 0
    assert_same_bytes(local, out)


def test_a_workers_failure_names_the_item(items_file, client, tmp_path):
    collection = json.loads(items_file.read_text())
    truncated = tmp_path / "B03.tif"
    truncated.write_bytes((items_file.parent / "s2_c" / "B03.tif").read_bytes()[:-300])
    for feature in collection["features"]:
        for asset in feature["assets"].values():
            asset["href"] = str(items_file.parent / asset["href"])
        if feature["id"] == "s2_c":
            feature["assets"]["B03"]["href"] = str(truncated)
    (tmp_path / "items.json").write_text(json.dumps(collection))
    with pytest.raises(CompositeError, match=f"item 's2_c': the pixels of asset 'B03' cannot be read from {truncated}"):
        build_composite(grid_bbox(), 2022, tmp_path / "out" / "scene.tif", items=tmp_path / "items.json",
                        chunk_size=3, progress=False, client=client)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_named(items_file, tmp_path, monkeypatch, capsys):
    def refuse(address, **kwargs):
        raise OSError(f"Timed out trying to connect to {address} after 20 s")

    monkeypatch.setattr(distributed, "Client", refuse)
    code = main(["-q", "composite", "--bbox", *map(str, grid_bbox()), "--year", "2022", "--items", str(items_file),
                 "--out", str(tmp_path / "scene.tif"), "--client", "tcp://127.0.0.1:9"])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and line.startswith("smallmines composite: error: cannot connect to the Dask scheduler at "
                                         "tcp://127.0.0.1:9 (Timed out")
    assert list(tmp_path.iterdir()) == []


def test_at_most_two_tasks_per_worker_thread_are_in_flight(client, monkeypatch):
    counts = {"submitted": 0, "yielded": 0, "most": 0}
    submit = client.submit

    def counted(*args, **kwargs):
        counts["submitted"] += 1
        counts["most"] = max(counts["most"], counts["submitted"] - counts["yielded"])
        return submit(*args, **kwargs)

    monkeypatch.setattr(client, "submit", counted)
    results = []
    with contextlib.closing(run_bounded(client, operator.add, 100, range(20))) as windows:
        for result in windows:
            counts["yielded"] += 1
            results.append(result)
    assert sorted(results) == list(range(100, 120))
    assert counts["submitted"] == 20 and counts["most"] == 2 * sum(client.nthreads().values()) == 4
