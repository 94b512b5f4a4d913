"""Stop signals and workers (:mod:`smallmines_classic._signals`): a stopped or killed run leaves nothing behind."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from smallmines_classic import _writes, load_smallminesds, predict_scene
from smallmines_classic._writes import sweep_stale
from tests.helpers import ENV, ConstantModel, temporaries, wait_for, write_rgb_scene

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
    monkeypatch.setattr(_writes, "_swept", set())
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

    read_patch = dataset._read_patch
    dataset._read_patch = lambda *args, **kwargs: (time.sleep(0.1), read_patch(*args, **kwargs))[1]
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
