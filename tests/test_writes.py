"""Atomic writes (:mod:`smallmines_classic._writes`): stops, kills and full disks leave nothing behind."""

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smallmines_classic import _writes, load_smallminesds, predict_scene
from smallmines_classic._writes import atomic_dir, atomic_path, sweep_stale
from smallmines_classic.cli import main
from smallmines_classic.errors import DiskFullError, OutputError
from smallmines_classic.mapping.analysis import change_map
from tests.helpers import ENV, ConstantModel, dead_pid, temporaries, write_pair, write_rgb_scene

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
    dead, alive, host = dead_pid(), os.getppid(), _writes._HOST
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
    monkeypatch.setattr(_writes, "_swept", set())
    stale = tmp_path / f".old.{dead_pid()}.{_writes._HOST}01234567.part.npy"
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
    for writer in (atomic_path, _writes.scratch_dir):
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
        from smallmines_classic import _writes, load_smallminesds
        _writes.check_free_space = lambda path, nbytes: None
        try:
            load_smallminesds({str(twin_root)!r}, years=[2016], bands="rgb", cache_dir={str(tiny_disk)!r},
                              progress=False)
        except _writes.DiskFullError as error:
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
    monkeypatch.setattr(_writes, "check_free_space", lambda path, nbytes: None)
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
    from smallmines_classic.tables import write_table

    def scratch(path):
        with _writes.scratch_dir(path):
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
                with pytest.raises(OutputError, match=re.escape(f"cannot write {path}: it is {kind}")):
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


def test_a_read_only_folder_is_named_not_the_temporary(read_only_folder, tmp_path):
    from smallmines_classic.tables import write_table

    scene = write_rgb_scene(tmp_path / "scene.tif", 40)

    def predict(path):
        return predict_scene(ConstantModel(), scene, path, progress=False)

    for target, write in ((read_only_folder / "table.csv", lambda path: write_table(path, [])),
                          (read_only_folder / "map.tif", predict), (read_only_folder / "new" / "map.tif", predict)):
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

    monkeypatch.setattr(_writes.os, "replace", check(os.replace))
    monkeypatch.setattr(_writes.os, "unlink", check(os.unlink))
    write_pair(tmp_path, "new")
    monkeypatch.undo()
    assert seen == [(None, "old"), (None, "new"), ("new", "new")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif", "scene_obs.tif"]


def test_a_failure_before_the_commit_keeps_the_old_pair(tmp_path):
    write_pair(tmp_path, "old")
    pair = [tmp_path / "scene.tif", tmp_path / "scene_obs.tif"]
    with pytest.raises(RuntimeError), _writes.atomic_paths(pair) as temps:
        temps[1].write_text("new")
        raise RuntimeError("stopped after the obs was written")
    assert [(tmp_path / n).read_text() for n in ("scene.tif", "scene_obs.tif")] == ["old", "old"]
    assert not temporaries(tmp_path)
    with pytest.raises(ValueError, match="must share a folder"), \
            _writes.atomic_paths([tmp_path / "scene.tif", tmp_path / "sub" / "scene_obs.tif"]):
        pytest.fail("the body must not run")
