"""The composite refuses what would destroy or mislead, names what is wrong, and commits scene and _obs.tif together."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import rasterio

pytest.importorskip("odc.stac")
pytest.importorskip("pystac_client")

from smallmines_classic import CompositeError, DiskFullError, SceneError, _writes, build_composite, composite_plan  # noqa: E402
from smallmines_classic.cli import main  # noqa: E402
from smallmines_classic.io import composite as comp  # noqa: E402
from tests.helpers import ENV, temporaries  # noqa: E402
from tests.io.test_composite import S2_ORIGIN, _write, grid_bbox, items_file  # noqa: E402, F401 (items_file: a fixture)

BBOX = [str(v) for v in grid_bbox()]


@pytest.fixture
def items(items_file, tmp_path):
    """A private copy of the local items (tests here try to overwrite them), with absolute hrefs."""
    root = tmp_path / "stac"
    shutil.copytree(items_file.parent, root)
    collection = json.loads((root / "items.json").read_text())
    for feature in collection["features"]:
        for asset in feature["assets"].values():
            asset["href"] = str(root / asset["href"])
    (root / "items.json").write_text(json.dumps(collection))
    return root / "items.json"


def composite_cli(items, out, *extra):
    return main(["-q", "composite", "--bbox", *BBOX, "--year", "2022", "--items", str(items), "--out", str(out),
                 *extra])


def one_line(capsys):
    """The one line the last command printed on stderr."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def contents(*paths):
    return [Path(path).read_bytes() for path in paths]


# -- inputs are never outputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["items JSON", "asset", "hard link to an asset", "obs is a link to an asset"])
def test_an_input_as_output_is_refused(items, tmp_path, target, capsys):
    asset = items.parent / "s2_a" / "B02.tif"
    out = {"items JSON": items, "asset": asset, "hard link to an asset": tmp_path / "scene.tif",
           "obs is a link to an asset": tmp_path / "scene.tif"}[target]
    if target == "hard link to an asset":
        os.link(asset, out)
    if target == "obs is a link to an asset":
        (tmp_path / "scene_obs.tif").symlink_to(asset)
    before = contents(items, asset)
    assert composite_cli(items, out) == 1
    line = one_line(capsys)
    assert line.startswith("smallmines composite: error: the output ") and "writing it would destroy the input" in line
    assert contents(items, asset) == before


def test_a_device_as_output_is_refused(items, tmp_path, capsys):
    (tmp_path / "full.tif").symlink_to("/dev/full" if Path("/dev/full").exists() else os.devnull)
    assert composite_cli(items, tmp_path / "full.tif") == 1
    line = one_line(capsys)
    assert line == (f"smallmines composite: error: cannot write {tmp_path / 'full.tif'}: it is a character device, "
                    "not a regular file, and would be replaced by one; give a file name")
    assert (tmp_path / "full.tif").is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["full.tif", "stac"]


def test_a_read_only_folder_is_named(items, read_only_folder, capsys):
    assert composite_cli(items, read_only_folder / "scene.tif") == 1
    line = one_line(capsys)
    assert line.startswith(f"smallmines composite: error: cannot write {read_only_folder / 'scene.tif'}: ")
    assert ".part" not in line


# -- no silent wrong result ---------------------------------------------------------------------------------

def clouded_items(items, tmp_path):
    """Items whose Sentinel-2 SCL is cloud (9) everywhere: not one valid observation."""
    collection = json.loads(items.read_text())
    cloud = tmp_path / "cloud_scl.tif"
    _write(cloud, np.full((6, 6), 9, np.uint8), "EPSG:32630", rasterio.transform.from_origin(*S2_ORIGIN, 20, 20), 0)
    for feature in collection["features"]:
        if feature["collection"] == "sentinel-2-l2a":
            feature["assets"]["SCL"]["href"] = str(cloud)
    path = tmp_path / "clouded.json"
    path.write_text(json.dumps(collection))
    return path


def test_no_valid_observation_is_an_error_and_keeps_the_old_pair(items, tmp_path, capsys):
    out = tmp_path / "out" / "scene.tif"
    build_composite(grid_bbox(), 2022, out, items=items, progress=False)
    before = contents(out, tmp_path / "out" / "scene_obs.tif")
    with pytest.raises(CompositeError, match=r"no pixel of the box \[.*\] has a valid sentinel-2-l2a observation in "
                                             r"2022, months \[1\]: each of the 4 items is cloud.*nothing was written"):
        build_composite(grid_bbox(), 2022, out, items=clouded_items(items, tmp_path), progress=False)
    assert contents(out, tmp_path / "out" / "scene_obs.tif") == before and not temporaries(tmp_path / "out")
    assert composite_cli(clouded_items(items, tmp_path), tmp_path / "new" / "scene.tif") == 1
    line = one_line(capsys)
    assert "no pixel of the box" in line and not (tmp_path / "new").exists()


# -- the job's size first -----------------------------------------------------------------------------------

def test_the_plan_counts_whole_tiles_of_every_file():
    plan = composite_plan(grid_bbox())
    tile = 512 * 512
    scene = tile * (13 * 4 + 1)                          # one tile of 13 float32 bands and the uint8 count
    overviews = -(-scene // 3)
    assert (plan.width, plan.height, plan.crs.to_epsg()) == (8, 8, 32630)
    assert plan.output_bytes == scene + overviews + 2 * 2**16
    assert plan.scratch_bytes == scene + tile * 8 + overviews + 3 * 2**16   # + the Sentinel-1 medians, 10 x 10 px
    assert plan.describe() == ("8 x 8 px of 10 m (64 px, EPSG:32630); up to 39.5 MB on disk: "
                               "output 18.7 MB, scratch 20.8 MB")


def test_cli_prints_the_jobs_size_unless_quiet(items, tmp_path, capsys):
    args = ["composite", "--bbox", *BBOX, "--year", "2022", "--items", str(items)]
    assert main([*args, "--out", str(tmp_path / "a.tif")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"smallmines composite: {composite_plan(grid_bbox()).describe()}" in err
    assert main(["-q", *args, "--out", str(tmp_path / "b.tif")]) == 0
    assert capsys.readouterr().err == ""


FIVE_DEGREES = [-3.0, 5.0, 2.0, 10.0]


def test_a_huge_box_is_refused_with_its_sizes_before_any_item_is_read(tmp_path, monkeypatch, capsys):
    plan = composite_plan(FIVE_DEGREES)
    assert plan.width > 55_000 and plan.height > 55_000 and plan.disk_bytes > 400e9
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(_writes.shutil, "disk_usage", lambda path: usage(10**12, 9 * 10**11, 50 * 10**9))
    missing = tmp_path / "never_read.json"          # reading it would raise FileNotFoundError
    with pytest.raises(DiskFullError) as info:
        build_composite(FIVE_DEGREES, 2022, tmp_path / "ghana.tif", items=missing, progress=False)
    assert str(info.value) == (
        f"no space left on the device to write {tmp_path / 'ghana.tif'}: {plan.disk_bytes:,} bytes needed (a composite "
        f"of {plan.width} x {plan.height} px: output {comp._size(plan.output_bytes)}, scratch "
        f"{comp._size(plan.scratch_bytes)} at most), 50,000,000,000 free; nothing was written")
    code = main(["composite", "--bbox", *map(str, FIVE_DEGREES), "--year", "2022", "--items", str(missing),
                 "--out", str(tmp_path / "ghana.tif")])
    info_line, error_line = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and info_line == f"smallmines composite: {plan.describe()}"
    assert error_line.startswith("smallmines composite: error: no space left on the device")
    assert list(tmp_path.iterdir()) == []


# -- unreachable STAC APIs ------------------------------------------------------------------------------------

def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_stac_api_is_named_with_the_way_round(tmp_path, capsys):
    url = f"http://127.0.0.1:{closed_port()}/api/stac/v1"
    code = main(["-q", "composite", "--bbox", *BBOX, "--year", "2022", "--stac", url, "--out", str(tmp_path / "s.tif")])
    line = one_line(capsys)
    assert code == 1
    assert line.startswith(f"smallmines composite: error: the STAC API at {url} cannot be reached (")
    assert "Connection refused" in line and "--items FILE" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failure, said", [
    ("APIError", "cannot be reached (no route to host)"),
    ("HTTP 503", "answered with HTTP status 503 (service unavailable)"),
    ("requests", "cannot be reached (signing service down)"),
])
def test_stac_client_failures_become_composite_errors(monkeypatch, failure, said):
    import pystac_client
    import requests
    from pystac_client.exceptions import APIError

    def fail(*args, **kwargs):
        if failure == "APIError":
            raise APIError("no route to host")
        if failure == "HTTP 503":
            error = APIError("service unavailable")
            error.status_code = 503
            raise error
        raise requests.ConnectionError("signing service down")

    monkeypatch.setattr(pystac_client.Client, "open", fail)
    with pytest.raises(CompositeError, match=re.escape(f"the STAC API at https://example.org/stac {said}; ") +
                       r".*\(--items FILE, or items= in Python\)"):
        comp.search_stac(grid_bbox(), 2022, [1], "https://example.org/stac")


# -- unreadable assets ---------------------------------------------------------------------------------------

def break_asset(items, how):
    asset = items.parent / "s2_c" / "B03.tif"
    if how == "truncated":
        asset.write_bytes(asset.read_bytes()[:-300])
    else:   # a PNG: readable by GDAL, but without a coordinate reference system
        with rasterio.open(asset, "w", driver="PNG", width=4, height=4, count=1, dtype="uint8") as png:
            png.write(np.ones((1, 4, 4), np.uint8))
    return asset


@pytest.mark.parametrize("how, why", [("truncated", r"TIFFFillTile:Read error .* got \d+ bytes, expected \d+"),
                                      ("png", "it is a PNG raster without a coordinate reference system")])
def test_a_corrupt_asset_is_named_with_its_item_and_file(items, tmp_path, how, why, capsys):
    asset = break_asset(items, how)
    with pytest.raises(CompositeError, match=f"sentinel-2-l2a item 's2_c': the pixels of asset 'B03' cannot be read "
                                             f"from {asset}: {why}"):
        build_composite(grid_bbox(), 2022, tmp_path / "out" / "scene.tif", items=items, progress=False)
    assert composite_cli(items, tmp_path / "out" / "scene.tif") == 1
    line = one_line(capsys)     # odc-stac's own log of the failure is not printed
    assert "item 's2_c'" in line and str(asset) in line
    assert not (tmp_path / "out").exists()


# -- the scene and its _obs.tif: together or not at all ---------------------------------------------------

# A `smallmines composite` that stops in its final COG copies: after the first, it says so and waits.
PAUSED_COMPOSITE = textwrap.dedent("""
    import sys, time
    import rasterio.shutil
    from smallmines_classic import cli

    copy, copies = rasterio.shutil.copy, []
    def paused_copy(*args, **kwargs):
        copies.append(args)
        if len(copies) == 2:
            print("second copy", flush=True)
            time.sleep(120)
        return copy(*args, **kwargs)

    rasterio.shutil.copy = paused_copy
    sys.exit(cli.main(["-q", "composite", *sys.argv[1:]]))
""")


def start_paused_composite(tmp_path, items, out):
    """A composite of fewer items than the first (another observation count), paused in its second COG copy."""
    collection = json.loads(items.read_text())
    collection["features"] = [f for f in collection["features"] if f["id"] != "s2_d"]
    fewer = tmp_path / "fewer.json"
    fewer.write_text(json.dumps(collection))
    script = tmp_path / "paused.py"
    script.write_text(PAUSED_COMPOSITE)
    proc = subprocess.Popen([sys.executable, str(script), "--bbox", *BBOX, "--year", "2022", "--items", str(fewer),
                             "--out", str(out)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "second copy\n", proc.communicate()
    return proc


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_a_stop_in_the_final_copies_keeps_the_old_pair(items, tmp_path, stop, monkeypatch):
    monkeypatch.setattr(_writes, "_swept", set())
    out, obs = tmp_path / "out" / "scene.tif", tmp_path / "out" / "scene_obs.tif"
    build_composite(grid_bbox(), 2022, out, items=items, progress=False)
    old = contents(out, obs)
    proc = start_paused_composite(tmp_path, items, out)
    proc.send_signal(stop)
    _, stderr = proc.communicate(timeout=60)
    assert contents(out, obs) == old
    if stop == signal.SIGTERM:
        assert proc.returncode == 143 and "interrupted by SIGTERM; temporary files removed" in stderr
        assert not temporaries(out.parent)
    else:
        assert temporaries(out.parent)                   # a kill cannot clean up: the next writer sweeps
        monkeypatch.setattr(_writes, "_swept", set())
        build_composite(grid_bbox(), 2022, out, items=items, progress=False)
        assert contents(out, obs) == old
        assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, obs.name])


def test_open_composite_gives_the_pair(items, tmp_path):
    out = build_composite(grid_bbox(), 2022, tmp_path / "scene.tif", items=items, progress=False)
    with comp.open_composite(out) as (scene, obs):
        assert scene.count == 13 and obs.count == 1 and obs.read(1)[5, 5] == 4
    (tmp_path / "scene.tif").unlink()
    (tmp_path / "lonely.tif").write_bytes(b"")
    with pytest.raises(SceneError, match="has no observation count lonely_obs.tif beside it"), \
            comp.open_composite(tmp_path / "lonely.tif"):
        pytest.fail("nothing to open")
