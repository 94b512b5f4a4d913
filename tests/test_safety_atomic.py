"""Stops, kills and full disks leave nothing behind; cache entries are checked before use."""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from smallmines_classic import _atomic, load_smallminesds, predict_scene
from smallmines_classic._atomic import DiskFullError, atomic_dir, atomic_path, sweep_stale
from smallmines_classic.cli import main
from smallmines_classic.mapping.analysis import change_map

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def temporaries(folder):
    """Every file or folder under ``folder`` named like a temporary of :mod:`_atomic`."""
    return [p for p in Path(folder).rglob("*") if ".part" in p.name]


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def write_rgb_scene(path, side, value=1000.0):
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="float32", crs="EPSG:32630",
                   transform=from_origin(590_000, 640_000, 10, 10), tiled=True, blockxsize=128, blockysize=128)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((3, side, side), value, np.float32))
        dst.descriptions = ("B04", "B03", "B02")
    return path


class ConstantModel:
    """A fitted-segmenter stand-in: mining probability 0.7 everywhere, after ``delay`` seconds a window."""

    band_names_ = ("B04", "B03", "B02")
    threshold = 0.5

    def __init__(self, delay=0.0):
        self.delay = delay

    def predict_proba(self, X, band_names=None):
        time.sleep(self.delay)
        return np.full((X.shape[0], *X.shape[2:]), 0.7, np.float32)


# A `smallmines predict` whose model is slow, so that a signal lands in the middle of the write.
SLOW_PREDICT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from smallmines_classic import cli
    from smallmines_classic.models import persistence

    class Slow:
        band_names_ = ("B04", "B03", "B02")
        threshold = 0.5
        def predict_proba(self, X, band_names=None):
            time.sleep(0.2)
            return np.full((X.shape[0], *X.shape[2:]), 0.7, np.float32)

    persistence.load_model = lambda path: Slow()
    sys.exit(cli.main(["-q", "predict", "model", sys.argv[1], "-o", *sys.argv[2:]]))
""")


def start_slow_predict(tmp_path, out):
    scene = write_rgb_scene(tmp_path / "scene.tif", 256)
    script = tmp_path / "slow_predict.py"
    script.write_text(SLOW_PREDICT)
    proc = subprocess.Popen([sys.executable, str(script), str(scene), str(out), "--window", "32", "--overlap", "0"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: temporaries(out.parent) or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    return proc


# -- temporary names and the sweep -------------------------------------------------------------------

def test_temporaries_carry_the_pid_and_vanish(tmp_path):
    with atomic_path(tmp_path / "a.txt") as tmp:
        assert tmp.parent == tmp_path and f".{os.getpid()}." in tmp.name and tmp.suffix == ".txt"
        tmp.write_text("x")
    assert (tmp_path / "a.txt").read_text() == "x" and not temporaries(tmp_path)
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "new" / "deeper" / "c.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # the folders made for c.txt went too


def test_sweep_removes_only_temporaries_of_dead_writers_on_this_machine(tmp_path):
    dead, alive, host = dead_pid(), os.getppid(), _atomic._HOST
    other_host = f"{(int(host, 16) + 1) % 16**4:04x}"
    stale_file = tmp_path / f".map.{dead}.{host}01234567.part.tif"
    stale_dir = tmp_path / f".map.tif.{dead}.{host}76543210.part"
    live = tmp_path / f".map.{alive}.{host}01234567.part.tif"
    elsewhere = tmp_path / f".map.{dead}.{other_host}01234567.part.tif"  # a pid of another machine means nothing here
    lookalike = tmp_path / f".map.{dead}.part.tif"  # not our pattern
    for path in (stale_file, live, elsewhere, lookalike):
        path.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "weighted_sums.tif").write_text("x")
    assert sorted(sweep_stale(tmp_path)) == sorted([stale_file, stale_dir])
    assert sorted(tmp_path.iterdir()) == sorted([live, elsewhere, lookalike])


def test_a_writer_sweeps_its_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(_atomic, "_swept", set())
    stale = tmp_path / f".old.{dead_pid()}.{_atomic._HOST}01234567.part.npy"
    stale.write_text("x")
    with atomic_path(tmp_path / "new.txt") as tmp:
        tmp.write_text("y")
    assert not stale.exists() and (tmp_path / "new.txt").is_file()


def test_atomic_dir_and_a_writer_that_finished_first(tmp_path):
    with atomic_dir(tmp_path / "entry") as tmp:
        (tmp / "data").write_text("mine")
    assert (tmp_path / "entry" / "data").read_text() == "mine"
    with atomic_dir(tmp_path / "entry", exist_ok=True) as tmp:  # same content by name: the first one is kept
        (tmp / "data").write_text("second")
    with pytest.raises(OSError), atomic_dir(tmp_path / "entry") as tmp:
        (tmp / "data").write_text("third")
    assert [p.name for p in tmp_path.iterdir()] == ["entry"] and (tmp_path / "entry" / "data").read_text() == "mine"


# -- free space ---------------------------------------------------------------------------------------

@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be made")
def test_a_write_that_fails_for_another_reason_names_the_target_not_a_full_disk():
    with pytest.raises(OSError) as info, atomic_path(Path("/proc/model.skops")) as tmp:
        tmp.write_bytes(b"x")
    assert not isinstance(info.value, DiskFullError) and info.value.errno == errno.ENOENT
    assert "cannot write /proc/model.skops" in str(info.value) and ".part" not in str(info.value)


def test_a_folder_given_as_a_file_output_is_refused_before_any_work(tmp_path):
    (tmp_path / "out.tif").mkdir()
    for writer in (atomic_path, _atomic.scratch_dir):
        with pytest.raises(IsADirectoryError, match="out.tif: it is a folder"), writer(tmp_path / "out.tif"):
            pytest.fail("the body must not run")
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"] and not list((tmp_path / "out.tif").iterdir())


def test_free_space_is_checked_before_writing(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(DiskFullError, match=f"{free + 2**40:,} bytes needed") as info, \
            atomic_path(tmp_path / "big.bin", size=free + 2**40):
        pytest.fail("the body must not run")
    assert info.value.errno == errno.ENOSPC and info.value.path == tmp_path / "big.bin"
    assert not list(tmp_path.iterdir())


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs, when this test may mount one (root on Linux)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def usage(disk):
    return shutil.disk_usage(disk).used, sorted(disk.rglob("*"))


def test_full_disk_mid_write_removes_the_partial_file(tiny_disk):
    before = usage(tiny_disk)
    with pytest.raises(DiskFullError, match="big.bin"), atomic_path(tiny_disk / "new" / "big.bin") as tmp:
        tmp.write_bytes(bytes(3 * 2**20))
    assert usage(tiny_disk) == before


def test_cache_on_a_full_disk_is_refused_and_leaves_nothing(twin_root, tiny_disk):
    before = usage(tiny_disk)
    with pytest.raises(DiskFullError, match=r"bytes needed, [\d,]+ free"):
        load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=tiny_disk / "cache", progress=False)
    assert usage(tiny_disk) == before


def test_cache_on_a_disk_that_fills_during_the_write_fails_cleanly(twin_root, tiny_disk):
    # The free-space check is skipped, so the write meets the full disk itself: no SIGBUS, a named error.
    code = textwrap.dedent(f"""
        from smallmines_classic import _atomic, load_smallminesds
        _atomic.check_free_space = lambda path, nbytes: None
        try:
            load_smallminesds({str(twin_root)!r}, years=[2016], bands="rgb", cache_dir={str(tiny_disk)!r}, progress=False)
        except _atomic.DiskFullError as error:
            print(error)
    """)
    before = usage(tiny_disk)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no space left on the device to write" in done.stdout and str(tiny_disk) in done.stdout
    assert usage(tiny_disk) == before


def test_predict_and_change_on_a_full_disk(tmp_path, tiny_disk, monkeypatch, capsys):
    scene = write_rgb_scene(tmp_path / "scene.tif", 1100)  # maps of 1.2 MB, more than the disk
    before = usage(tiny_disk)
    with pytest.raises(DiskFullError, match=f"{1100 * 1100 * 10:,} bytes needed"):
        predict_scene(ConstantModel(), scene, tiny_disk / "map.tif", progress=False)
    assert usage(tiny_disk) == before
    maps = [predict_scene(ConstantModel(), scene, tmp_path / f"{year}.tif", progress=False) for year in (2016, 2022)]
    with pytest.raises(DiskFullError, match="change.tif"):
        change_map(*maps, tiny_disk / "change.tif")
    # Without the check, GDAL itself meets the full disk: still a named error, nothing left.
    monkeypatch.setattr(_atomic, "check_free_space", lambda path, nbytes: None)
    with pytest.raises(DiskFullError, match="no space left on the device to write .*map.tif"):
        predict_scene(ConstantModel(), scene, tiny_disk / "map.tif", progress=False)
    assert usage(tiny_disk) == before
    capsys.readouterr()


def test_cli_full_disk_is_one_line_and_exit_1(tmp_path, tiny_disk, monkeypatch, capsys):
    scene = write_rgb_scene(tmp_path / "scene.tif", 600)
    monkeypatch.setattr("smallmines_classic.models.persistence.load_model", lambda path: ConstantModel())
    assert main(["-q", "predict", "model", str(scene), "-o", str(tiny_disk / "map.tif")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("smallmines predict: error: no space left on the device")
    assert not list(tiny_disk.iterdir())


# -- cache entries --------------------------------------------------------------------------------------

def entry(cache):
    [folder] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    return folder


def test_cache_entry_records_key_shapes_and_dtypes(twin_root, tmp_path):
    data = load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=tmp_path, progress=False)
    meta = json.loads((entry(tmp_path) / "meta.json").read_text())
    assert meta["key"] == entry(tmp_path).name
    assert meta["images"] == {"shape": [len(data), 3, 128, 128], "dtype": "<f4"}
    assert meta["masks"] == {"shape": [len(data), 128, 128], "dtype": "|u1"}


@pytest.mark.parametrize("damage", ["wrong shape", "foreign key", "planted file", "truncated images", "no meta"])
def test_mismatched_or_planted_cache_entries_are_rebuilt(twin_root, tmp_path, damage):
    fresh = load_smallminesds(twin_root, years=[2016], bands="rgb", progress=False)
    load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=tmp_path, progress=False)
    folder = entry(tmp_path)
    if damage == "wrong shape":
        np.save(folder / "images.npy", np.zeros((2, 3, 128, 128), np.float32))
    elif damage == "foreign key":
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps({**meta, "key": "0" * 20}))
    elif damage == "planted file":
        shutil.rmtree(folder)
        folder.write_bytes(b"not a cache entry")
    elif damage == "truncated images":
        with open(folder / "images.npy", "r+b") as handle:
            handle.truncate(1000)
    else:
        (folder / "meta.json").unlink()
    with pytest.warns(UserWarning, match="unusable.*rebuilding"):
        rebuilt = load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(rebuilt.images, fresh.images)
    np.testing.assert_array_equal(rebuilt.masks, fresh.masks)
    assert entry(tmp_path) == folder and not temporaries(tmp_path)


# -- signals ----------------------------------------------------------------------------------------------

def test_sigterm_mid_predict_exits_143_and_leaves_nothing(tmp_path):
    out = tmp_path / "out" / "map.tif"
    proc = start_slow_predict(tmp_path, out)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert stderr.strip().splitlines() == ["smallmines predict: interrupted by SIGTERM; temporary files removed"]
    assert not out.parent.exists()  # the folder made for the output went with its temporaries


def test_sigint_mid_predict_exits_130(tmp_path):
    out = tmp_path / "out" / "map.tif"
    proc = start_slow_predict(tmp_path, out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted by SIGINT" in stderr
    assert not out.parent.exists()


def test_sigkill_mid_predict_then_the_next_run_sweeps(tmp_path, monkeypatch):
    monkeypatch.setattr(_atomic, "_swept", set())
    out = tmp_path / "out" / "map.tif"
    proc = start_slow_predict(tmp_path, out)
    proc.kill()
    proc.wait(timeout=60)
    [stale] = temporaries(out.parent)
    assert f".{proc.pid}." in stale.name and not out.exists()
    predict_scene(ConstantModel(), tmp_path / "scene.tif", out, progress=False)
    assert list(out.parent.iterdir()) == [out]


def start_synth(tmp_path):
    """A `smallmines synth` of 400 tiles, caught once its workers have written a few."""
    out = tmp_path / "twin"
    proc = subprocess.Popen([sys.executable, "-m", "smallmines_classic.cli", "-q", "synth", "-o", str(out), "--tiles",
                             "400", "--years", "2016", "--jobs", "2"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(list(tmp_path.glob(".twin.*.part/2016/IMAGE/IMG_*"))) >= 4 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    import psutil

    workers = psutil.Process(proc.pid).children()
    assert len(workers) >= 2
    return proc, out, workers


def files(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.slow
def test_sigkill_of_synth_ends_its_workers(tmp_path):
    import psutil

    proc, out, workers = start_synth(tmp_path)
    proc.kill()
    proc.wait(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive
    written = files(tmp_path)
    time.sleep(1.0)
    assert files(tmp_path) == written  # nothing written after the parent died
    [stale] = temporaries(tmp_path)[:1]  # the twin's temporary folder, named after the killed process
    assert stale.name.startswith(f".twin.{proc.pid}.") and not out.exists()
    assert sweep_stale(tmp_path) == [stale]
    assert not temporaries(tmp_path)


@pytest.mark.slow
def test_sigterm_of_synth_stops_workers_and_exits_143(tmp_path):
    import psutil

    proc, out, workers = start_synth(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert stderr.strip().splitlines() == ["smallmines synth: interrupted by SIGTERM; temporary files removed"]
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive and not out.exists() and not temporaries(tmp_path)


# A `smallmines train --cache` whose patch reader is slow, so that a signal lands in the middle of the cache write.
SLOW_TRAIN = textwrap.dedent("""
    import sys, time
    from smallmines_classic import cli
    from smallmines_classic.io import dataset

    read_patch = dataset.read_patch
    dataset.read_patch = lambda *args: (time.sleep(0.1), read_patch(*args))[1]
    sys.exit(cli.main(["-q", "train", sys.argv[1], "-o", sys.argv[2], "--cache", sys.argv[3], "--trees", "1",
                       "--jobs", "1"]))
""")


def start_slow_train(twin_root, tmp_path):
    script, cache, model = tmp_path / "slow_train.py", tmp_path / "cache", tmp_path / "out" / "rf.model"
    script.write_text(SLOW_TRAIN)
    proc = subprocess.Popen([sys.executable, str(script), str(twin_root), str(model), str(cache)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: temporaries(tmp_path) or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    return proc, cache, model


def test_sigterm_mid_cache_write_exits_143_and_leaves_nothing(twin_root, tmp_path):
    proc, cache, model = start_slow_train(twin_root, tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert stderr.strip().splitlines() == ["smallmines train: interrupted by SIGTERM; temporary files removed"]
    assert not cache.exists() and not model.exists()


def test_sigkill_mid_cache_write_then_the_next_load_sweeps(twin_root, tmp_path):
    proc, cache, _ = start_slow_train(twin_root, tmp_path)
    proc.kill()
    proc.wait(timeout=60)
    [stale] = [p for p in cache.iterdir()]
    assert f".{proc.pid}." in stale.name and (stale / "images.npy").is_file()
    load_smallminesds(twin_root, years=[2016], bands="rgb", cache_dir=cache, progress=False)
    assert not temporaries(cache) and len(list(cache.iterdir())) == 1


# -- targets that are not regular files, read-only folders, GDAL's leftovers ---------------------------

def non_regular_targets(folder):
    """A FIFO, a socket and a link to a character device (/dev/null), with a test of what each still is."""
    import socket
    import stat

    fifo, sock, device = folder / "pipe.tif", folder / "socket.tif", folder / "device.tif"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    device.symlink_to(os.devnull)
    kinds = {fifo: (stat.S_ISFIFO, "a FIFO (named pipe)"), sock: (stat.S_ISSOCK, "a socket"),
             device: (stat.S_ISCHR, "a character device")}
    return kinds, server


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and Unix sockets")
def test_devices_fifos_and_sockets_are_refused_by_every_writer_family(tmp_path):
    from smallmines_classic._atomic import scratch_dir
    from smallmines_classic.tables import write_table

    def scratch(path):
        with scratch_dir(path):
            pass

    kinds, server = non_regular_targets(tmp_path)
    scene = write_rgb_scene(tmp_path / "scene.tif", 40)
    writers = {"atomic_path (tables, points, models, figures)": lambda path: write_table(path, []),
               "cog_output (predict, change, composite)": lambda path: predict_scene(ConstantModel(), scene, path,
                                                                                     progress=False),
               "scratch_dir": scratch}
    try:
        for path, (still, kind) in kinds.items():
            for family, write in writers.items():
                with pytest.raises(ValueError, match=re.escape(f"cannot write {path}: it is {kind}")):
                    write(path)
                assert still(os.stat(path).st_mode), (family, path)
        assert os.path.exists(os.devnull) and not Path(os.devnull).is_file()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["scene.tif", *(p.name for p in kinds)])
    finally:
        server.close()


def test_cli_refuses_a_device_as_output_in_one_line(tmp_path, monkeypatch, capsys):
    scene = write_rgb_scene(tmp_path / "scene.tif", 40)
    (tmp_path / "full.tif").symlink_to("/dev/full" if Path("/dev/full").exists() else os.devnull)
    monkeypatch.setattr("smallmines_classic.models.persistence.load_model", lambda path: ConstantModel())
    assert main(["-q", "predict", "model", str(scene), "-o", str(tmp_path / "full.tif")]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"smallmines predict: error: cannot write {tmp_path / 'full.tif'}: it is a character device")
    assert (tmp_path / "full.tif").is_symlink() and not (tmp_path / "full.tif").is_file()


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder no one may write into: a read-only tmpfs for root (Linux), a folder without write permission otherwise."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if not sys.platform.startswith("linux") or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs",
                                                               str(folder)], capture_output=True).returncode:
        pytest.skip("root, and cannot mount a read-only tmpfs here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_read_only_folder_is_named_not_the_temporary(read_only_folder, tmp_path):
    from smallmines_classic.tables import write_table

    scene = write_rgb_scene(tmp_path / "scene.tif", 40)
    for target, write in ((read_only_folder / "table.csv", lambda path: write_table(path, [])),
                          (read_only_folder / "map.tif", lambda path: predict_scene(ConstantModel(), scene, path,
                                                                                    progress=False)),
                          (read_only_folder / "new" / "map.tif", lambda path: predict_scene(ConstantModel(), scene, path,
                                                                                            progress=False))):
        with pytest.raises(OSError) as info:   # PermissionError, or EROFS for a read-only file system
            write(target)
        assert str(info.value).startswith(f"cannot write {target}: ") and ".part" not in str(info.value)
    assert not list(read_only_folder.iterdir())


def test_gdal_leftovers_of_a_killed_writer_are_swept(tmp_path):
    """A COG copy killed while GDAL builds its overviews leaves `<temporary>.ovr.tmp`: the next writer removes it."""
    code = textwrap.dedent(f"""
        import os, signal, threading, time
        from pathlib import Path
        import numpy as np, rasterio
        from rasterio.transform import from_origin
        from smallmines_classic.io.raster import cog_output

        out = Path({str(tmp_path / "out" / "map.tif")!r})
        def kill_when_gdal_writes_overviews():
            while not list(out.parent.glob("*.ovr.tmp")):
                time.sleep(0.0005)
            os.kill(os.getpid(), signal.SIGKILL)
        with cog_output(out) as (work, tmp):
            with rasterio.open(tmp, "w", driver="GTiff", width=2048, height=2048, count=1, dtype="float32",
                               crs="EPSG:32630", transform=from_origin(0, 0, 10, 10), tiled=True) as dst:
                dst.write(np.random.default_rng(0).random((1, 2048, 2048), dtype=np.float32))
            threading.Thread(target=kill_when_gdal_writes_overviews, daemon=True).start()
    """)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    leftovers = temporaries(tmp_path / "out")
    assert any(p.name.endswith(".part.tif.ovr.tmp") for p in leftovers), leftovers
    assert sorted(sweep_stale(tmp_path / "out")) == sorted(p for p in leftovers if p.parent == tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


# -- files committed together ---------------------------------------------------------------------------

def write_pair(folder, text):
    """Commit scene.tif and scene_obs.tif holding ``text`` as one pair."""
    with _atomic.atomic_paths([folder / "scene.tif", folder / "scene_obs.tif"]) as (scene, obs):
        scene.write_text(text)
        obs.write_text(text)


def test_a_pair_is_never_seen_mixed(tmp_path, monkeypatch):
    """After every step of a commit, where the scene exists its obs holds the same run."""
    write_pair(tmp_path, "old")
    seen = []

    def check(step):
        def traced(*args):
            step(*args)
            scene, obs = tmp_path / "scene.tif", tmp_path / "scene_obs.tif"
            state = (scene.read_text() if scene.exists() else None, obs.read_text() if obs.exists() else None)
            seen.append(state)
            assert state[0] is None or state[0] == state[1], state
        return traced

    monkeypatch.setattr(_atomic.os, "replace", check(os.replace))
    monkeypatch.setattr(_atomic.os, "unlink", check(os.unlink))
    write_pair(tmp_path, "new")
    monkeypatch.undo()
    assert seen == [(None, "old"), (None, "new"), ("new", "new")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif", "scene_obs.tif"]


def test_a_failure_before_the_commit_keeps_the_old_pair(tmp_path):
    write_pair(tmp_path, "old")
    with pytest.raises(RuntimeError), _atomic.atomic_paths([tmp_path / "scene.tif", tmp_path / "scene_obs.tif"]) as temps:
        temps[1].write_text("new")
        raise RuntimeError("stopped after the obs was written")
    assert [(tmp_path / n).read_text() for n in ("scene.tif", "scene_obs.tif")] == ["old", "old"]
    assert not temporaries(tmp_path)
    with pytest.raises(ValueError, match="must share a folder"), \
            _atomic.atomic_paths([tmp_path / "scene.tif", tmp_path / "sub" / "scene_obs.tif"]):
        pytest.fail("the body must not run")


def test_a_commit_waits_for_the_folder_lock(tmp_path):
    """Two writers commit one after the other: while another process holds the lock, the pair is not touched."""
    import threading

    write_pair(tmp_path, "old")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from smallmines_classic._atomic import commit_lock
        with commit_lock({str(tmp_path)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
    """)], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    writer = threading.Thread(target=write_pair, args=(tmp_path, "new"))
    writer.start()
    writer.join(timeout=1.0)
    assert writer.is_alive()
    assert [(tmp_path / n).read_text() for n in ("scene.tif", "scene_obs.tif")] == ["old", "old"]
    holder.communicate("\n", timeout=30)
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert [(tmp_path / n).read_text() for n in ("scene.tif", "scene_obs.tif")] == ["new", "new"]
