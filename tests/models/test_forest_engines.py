"""Forest inference engines: numba's probabilities are scikit-learn's bit for bit; auto's choice; files, scenes, Dask;
the threads each engine runs on."""

import copy
import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import rasterio

from smallmines_classic import RandomForestSegmenter, mosaic_tiles, predict_scene
from smallmines_classic.cli import main
from smallmines_classic.errors import DeviceError, InputError, MissingExtraError
from smallmines_classic.mapping.scene import map_window, model_band_indexes
from smallmines_classic.models import _forest_engines
from smallmines_classic.models.features import pixel_features
from tests.conftest import rewrite_zip

numba = pytest.importorskip("numba", reason="the numba engine needs numba (a core dependency)")


def forest_with_jobs(model, n_jobs):
    """The model's scikit-learn forest (shared trees) set to predict with ``n_jobs`` threads."""
    forest = copy.copy(model.forest_)
    forest.n_jobs = n_jobs
    return forest


def sklearn_proba(model, X):
    """The reference: scikit-learn's predict_proba at n_jobs=1 on the model's features, as float32."""
    features = pixel_features(X, model.bands, model.derived)  # X holds the 13 SmallMinesDS bands
    return forest_with_jobs(model, 1).predict_proba(features)[:, 1].astype(np.float32).reshape(X.shape[0], *X.shape[2:])


def assert_numba_is_scikit_learn(model, X):
    """The numba engine's float64 probabilities, and the model's float32 ones, equal scikit-learn's at n_jobs=1."""
    features = pixel_features(X, model.bands, model.derived)
    engine = _forest_engines.build_engine("numba", "cpu", model.forest_, model.n_jobs)
    np.testing.assert_array_equal(engine(features), forest_with_jobs(model, 1).predict_proba(features)[:, 1])
    np.testing.assert_array_equal(with_engine(model, "numba").predict_proba(X), sklearn_proba(model, X))


def with_engine(model, engine, **params):
    """A copy of a fitted model (sharing its forest, without its built engine) with other parameters."""
    return copy.copy(model).set_params(engine=engine, **params)


@pytest.fixture(scope="module")
def full_depth(tile_split):
    (X, y), _ = tile_split
    return RandomForestSegmenter(bands="rgb+", n_estimators=12, max_pixels=40_000, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def derived(tile_split):
    (X, y), _ = tile_split
    return RandomForestSegmenter(bands="rgb", derived=("ndvi", "mndwi", "slope"), n_estimators=6, max_depth=8,
                                 max_pixels=20_000, random_state=1).fit(X, y)


# -- identical probabilities -------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("max_depth", [None, 3, 16])
def test_numba_equals_scikit_learn_bit_for_bit(tile_split, max_depth, n_jobs):
    (X, y), (Xt, _) = tile_split
    model = RandomForestSegmenter(bands="rgb+", n_estimators=7, max_depth=max_depth, max_pixels=20_000, random_state=2,
                                  n_jobs=n_jobs, engine="numba").fit(X, y)
    assert model.engine_used() == ("numba", "cpu")
    assert_numba_is_scikit_learn(model, Xt)
    if max_depth is None:
        assert max(e.tree_.max_depth for e in model.forest_.estimators_) > 16  # really full-depth trees


def test_trees_are_added_in_scikit_learn_s_order(tile_split):
    """With fractional leaf values the order of the sum shows in the float64 probabilities; ours is scikit-learn's."""
    (X, y), (Xt, _) = tile_split
    model = RandomForestSegmenter(bands="rgb+", n_estimators=40, min_samples_leaf=150, max_pixels=20_000,
                                  random_state=3, n_jobs=1).fit(X, y)
    features = pixel_features(Xt, model.bands)
    expected = model.forest_.predict_proba(features)[:, 1]
    reversed_order = np.zeros(len(features))
    for tree in model.forest_.estimators_[::-1]:
        reversed_order += tree.predict_proba(features)[:, 1]
    assert (reversed_order / 40 != expected).any()  # so the order is really tested
    for n_jobs in (1, 2):
        engine = _forest_engines.build_engine("numba", "cpu", model.forest_, n_jobs)
        np.testing.assert_array_equal(engine(features), expected)


def test_numba_equals_scikit_learn_on_derived_features(derived, tile_split):
    _, (Xt, _) = tile_split
    assert_numba_is_scikit_learn(derived, Xt)


def test_one_pixel_many_pixels_and_chunk_edges(full_depth, tile_split, monkeypatch):
    _, (Xt, _) = tile_split
    assert_numba_is_scikit_learn(full_depth, Xt[:1, :, 5:6, 7:8])
    # chunks of 1001 pixels over 2 threads: every chunk ends in a partial group of 8 pixels
    monkeypatch.setattr(_forest_engines, "CHUNK_PIXELS", 1001)
    assert_numba_is_scikit_learn(with_engine(full_depth, "numba", n_jobs=2), Xt)


def test_all_equal_and_extreme_inputs(full_depth):
    for value in (0.0, 1234.5, -1e30, 3e38):
        assert_numba_is_scikit_learn(full_depth, np.full((2, 13, 9, 9), value, np.float32))


def test_nan_goes_where_scikit_learn_sends_it_and_infinity_is_refused_alike(full_depth, tile_split):
    _, (Xt, _) = tile_split
    X = Xt[:3].copy()
    rng = np.random.default_rng(0)
    for band in range(13):
        X[:, band][rng.random(X[:, band].shape) < 0.05] = np.nan
    X[2] = np.nan
    assert_numba_is_scikit_learn(full_depth, X)
    assert not np.isnan(with_engine(full_depth, "numba").predict_proba(X)).any()
    X[1, 2, 5, 5] = -np.inf
    for engine in ("sklearn", "numba"):
        with pytest.raises(ValueError, match="Input X contains infinity"):  # scikit-learn raises its own
            with_engine(full_depth, engine).predict_proba(X)


def test_float32_at_most_keeps_every_comparison():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1e3, 2000), rng.normal(0, 1e-3, 2000)]).astype(np.float32)
    midpoints = (x[:-1].astype(np.float64) + x[1:]) / 2     # scikit-learn's thresholds lie between float32 values
    thresholds = np.concatenate([midpoints, x.astype(np.float64), np.nextafter(x.astype(np.float64), np.inf)])
    narrowed = _forest_engines.float32_at_most(thresholds)
    assert narrowed.dtype == np.float32 and (narrowed.astype(np.float64) <= thresholds).all()
    probe = x[rng.integers(0, len(x), 500)]
    np.testing.assert_array_equal(probe[:, None] <= thresholds[None], probe[:, None] <= narrowed[None])


def test_scikit_learn_with_threads_equals_ours_up_to_rounding(full_depth, tile_split):
    """scikit-learn with n_jobs > 1 adds the trees in the order its threads finish; ours always in tree order."""
    _, (Xt, _) = tile_split
    features = pixel_features(Xt, full_depth.bands)
    threaded = forest_with_jobs(full_depth, 2).predict_proba(features)[:, 1]
    ours = with_engine(full_depth, "numba").predict_proba(Xt).reshape(-1)
    np.testing.assert_allclose(threaded, ours, rtol=0, atol=1e-6)


# -- choosing an engine -----------------------------------------------------------------------------------------

def test_auto_takes_numba_on_the_cpu_and_scikit_learn_without_it(full_depth, monkeypatch):
    assert full_depth.engine_used() == ("numba", "cpu")
    assert with_engine(full_depth, "sklearn").engine_used() == ("sklearn", "cpu")
    monkeypatch.setattr(_forest_engines, "numba_available", lambda: False)
    assert with_engine(full_depth, "auto").engine_used() == ("sklearn", "cpu")
    with pytest.raises(MissingExtraError, match=r"engine='numba' needs numba: pip install numba"):
        _forest_engines.build_engine("numba", "cpu", full_depth.forest_)


def test_auto_never_picks_nvforest_on_the_cpu(full_depth, monkeypatch):
    monkeypatch.setattr(_forest_engines, "_nvforest_gpu_problem", lambda: "no CUDA GPU is visible")
    for device in ("cpu", "auto", "gpu"):
        assert _forest_engines.select_engine("auto", device, "cpu") == ("numba", "cpu")
    assert _forest_engines.select_engine("nvforest", "auto", "cpu") == ("nvforest", "cpu")
    with pytest.raises(DeviceError, match=r"engine='nvforest' with device='gpu' needs nvforest, cupy and a CUDA GPU, "
                                           r"but no CUDA GPU is visible; install with pip install 'smallmines\[gpu\]'"):
        _forest_engines.select_engine("nvforest", "gpu", "cpu")
    monkeypatch.setattr(_forest_engines, "_nvforest_gpu_problem", lambda: None)
    assert _forest_engines.select_engine("auto", "cpu", "cpu") == ("numba", "cpu")  # device="cpu": never the GPU
    assert _forest_engines.select_engine("auto", "auto", "cpu") == ("nvforest", "gpu")
    assert _forest_engines.select_engine("auto", "gpu", "gpu") == ("nvforest", "gpu")


def test_unknown_engine_is_refused_before_fitting_and_predicting(tile_split, full_depth):
    (X, y), (Xt, _) = tile_split
    with pytest.raises(InputError, match=r"engine must be one of \['auto', 'sklearn', 'numba', 'nvforest'\], "
                                         r"got 'fast'"):
        RandomForestSegmenter(n_estimators=2, engine="fast").fit(X, y)
    with pytest.raises(ValueError, match="engine must be one of"):
        with_engine(full_depth, "fast").predict_proba(Xt[:1])


def test_the_engine_is_built_once_and_rebuilt_when_a_parameter_changes(full_depth, tile_split, monkeypatch):
    _, (Xt, _) = tile_split
    built = []
    real = _forest_engines.build_engine
    monkeypatch.setattr(_forest_engines, "build_engine", lambda *a, **k: built.append(a[0]) or real(*a, **k))
    model = with_engine(full_depth, "numba", batch_size=1)
    model.predict_proba(Xt)
    model.predict_proba(Xt[:2])
    assert built == ["numba"]  # batches and calls share one build
    model.set_params(engine="sklearn").predict_proba(Xt[:1])
    model.set_params(n_jobs=2).predict_proba(Xt[:1])
    assert built == ["numba", "sklearn", "sklearn"]


def test_numba_is_not_imported_with_the_package():
    code = "import sys, smallmines_classic, smallmines_classic.cli; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_kernels_compile_without_a_writable_cache():
    """A function numba cannot cache (no source file here, as for a read-only install without a cache folder)
    still compiles."""
    from smallmines_classic.models._forest_kernels import _jit

    namespace = {}
    exec("def twice(x):\n    return 2 * x\n", namespace)
    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(namespace["twice"])
    assert _jit()(namespace["twice"])(21) == 42


# -- model files, pickles, scenes and Dask ------------------------------------------------------------------------

def test_a_saved_model_keeps_the_parameter_not_the_engine(full_depth, tile_split, tmp_path):
    _, (Xt, _) = tile_split
    model = with_engine(full_depth, "numba")
    model.predict_proba(Xt[:1])  # an engine is built
    path = model.save(tmp_path / "rf.skops")
    with zipfile.ZipFile(path) as archive:
        schema = archive.read("schema.json")
    assert b"_engine_cache" not in schema and b"Numba" not in schema
    loaded = RandomForestSegmenter.load(path)
    assert loaded.engine == "numba" and not hasattr(loaded, "_engine_cache")
    np.testing.assert_array_equal(loaded.predict_proba(Xt), sklearn_proba(full_depth, Xt))
    assert hasattr(model, "_engine_cache") and pickle.loads(pickle.dumps(model)).get_params() == model.get_params()


def test_a_file_written_before_engines_loads_with_auto(full_depth, tile_split, tmp_path):
    _, (Xt, _) = tile_split
    new = full_depth.save(tmp_path / "new.skops")

    def without_engine(data):
        schema = json.loads(data)
        del schema["content"]["content"]["engine"]
        return json.dumps(schema).encode()

    old = rewrite_zip(new, tmp_path / "old.skops", "schema.json", without_engine)
    loaded = RandomForestSegmenter.load(old)
    assert loaded.engine == "auto" and loaded.get_params()["engine"] == "auto"
    np.testing.assert_array_equal(loaded.predict_proba(Xt), sklearn_proba(full_depth, Xt))


def test_loading_and_predicting_without_numba_falls_back_to_scikit_learn(full_depth, tile_split, tmp_path):
    _, (Xt, _) = tile_split
    path = with_engine(full_depth, "auto").save(tmp_path / "rf.skops")
    np.save(tmp_path / "X.npy", Xt[:2])
    code = (
        "import sys; sys.modules['numba'] = None\n"  # import numba now raises ImportError
        "import numpy as np\n"
        "from smallmines_classic import RandomForestSegmenter\n"
        f"model = RandomForestSegmenter.load({str(path)!r})\n"
        f"np.save({str(tmp_path / 'proba.npy')!r}, model.predict_proba(np.load({str(tmp_path / 'X.npy')!r})))\n"
        "print(*model.engine_used())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["sklearn", "cpu"]
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), sklearn_proba(full_depth, Xt[:2]))


def test_scene_maps_are_identical_across_engines_and_build_once(full_depth, twin_root, tmp_path, monkeypatch):
    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    built = []
    real = _forest_engines.build_engine
    monkeypatch.setattr(_forest_engines, "build_engine", lambda *a, **k: built.append(a[0]) or real(*a, **k))
    maps = {}
    for engine in ("sklearn", "numba"):
        out = predict_scene(with_engine(full_depth, engine), scene, tmp_path / f"{engine}.tif", window_size=96,
                            overlap=16, probability=True, progress=False)
        with rasterio.open(out) as m:
            maps[engine] = m.read()
    assert built == ["sklearn", "numba"]  # one build per model and engine, not one per window
    np.testing.assert_array_equal(maps["sklearn"], maps["numba"])


def test_a_pickled_copy_builds_its_own_engine_once(full_depth, twin_root, tmp_path, monkeypatch):
    """What a Dask worker receives: the model without its engine; it builds one on its first window and keeps it."""
    scene = mosaic_tiles(twin_root, 2016, tmp_path / "scene.vrt")
    model = with_engine(full_depth, "numba")
    model.predict_proba(np.zeros((1, 13, 2, 2), np.float32))
    received = pickle.loads(pickle.dumps(model))
    assert not hasattr(received, "_engine_cache")
    built = []
    real = _forest_engines.build_engine
    monkeypatch.setattr(_forest_engines, "build_engine", lambda *a, **k: built.append(a[0]) or real(*a, **k))
    reference = with_engine(full_depth, "sklearn")
    with rasterio.open(scene) as source:
        indexes = model_band_indexes(received, source)
        for window in (rasterio.windows.Window(0, 0, 64, 64), rasterio.windows.Window(64, 64, 64, 64)):
            np.testing.assert_array_equal(map_window(received, source, indexes, window)[0],
                                          map_window(reference, source, indexes, window)[0])
    assert built == ["numba", "sklearn"]


def test_dask_workers_map_with_the_numba_engine(full_depth, twin_root, tmp_path):
    distributed = pytest.importorskip("dask.distributed", reason="needs the scale extra")
    from smallmines_classic.mapping.distributed import predict_scene_dask

    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    local = predict_scene(with_engine(full_depth, "sklearn"), scene, tmp_path / "local.tif", window_size=256,
                          overlap=16, probability=True, progress=False)
    cluster_options = dict(n_workers=1, threads_per_worker=2, dashboard_address=":0", processes=True)
    with distributed.LocalCluster(**cluster_options) as cluster, distributed.Client(cluster) as client:
        remote = predict_scene_dask(with_engine(full_depth, "numba"), scene, tmp_path / "dask.tif", client,
                                    block_size=128, overlap=16, probability=True, progress=False)
    with rasterio.open(local) as a, rasterio.open(remote) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
        assert np.abs(a.read(2).astype(int) - b.read(2).astype(int)).max() <= 1  # blending order, as test_distributed


# -- nvForest ------------------------------------------------------------------------------------------------------

def test_nvforest_in_cpu_mode_equals_scikit_learn(full_depth, tile_split):
    pytest.importorskip("nvforest", reason="nvforest is not installed (the gpu extra)")
    _, (Xt, _) = tile_split
    X = Xt[:2].copy()
    X[0, 1, :3] = np.nan
    model = with_engine(full_depth, "nvforest", device="cpu")
    assert model.engine_used() == ("nvforest", "cpu")
    np.testing.assert_array_equal(model.predict_proba(X), sklearn_proba(full_depth, X))


@pytest.mark.gpu
def test_nvforest_on_the_gpu_equals_scikit_learn(full_depth, tile_split):
    problem = _forest_engines._nvforest_gpu_problem()
    if problem is not None:
        pytest.skip(f"nvforest on the GPU: {problem}")
    _, (Xt, _) = tile_split
    model = with_engine(full_depth, "auto", device="gpu")
    assert model.engine_used() == ("nvforest", "gpu")
    np.testing.assert_array_equal(model.predict_proba(Xt), sklearn_proba(full_depth, Xt))


# -- the command line ------------------------------------------------------------------------------------------------

def test_train_stores_the_engine_and_predict_overrides_it(twin_root, tmp_path, capsys):
    model_path = tmp_path / "rf.skops"
    assert main(["-q", "train", str(twin_root), "-o", str(model_path), "--trees", "3", "--max-pixels", "3000",
                 "--engine", "sklearn"]) == 0
    assert RandomForestSegmenter.load(model_path).engine == "sklearn"
    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    maps = {}
    for engine in ("sklearn", "numba"):
        assert main(["-q", "predict", str(model_path), str(scene), "-o", str(tmp_path / f"{engine}.tif"),
                     "--probability", "--engine", engine, "--jobs", "2"]) == 0
        with rasterio.open(tmp_path / f"{engine}.tif") as m:
            maps[engine] = m.read()
    np.testing.assert_array_equal(maps["sklearn"], maps["numba"])
    with pytest.raises(SystemExit):
        main(["predict", str(model_path), str(scene), "-o", str(tmp_path / "x.tif"), "--engine", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


# -- scikit-learn's threads (issue 27 item 6) --------------------------------------------------------------------------

@pytest.fixture
def parallel_calls(monkeypatch):
    """The ``n_jobs`` of every ``Parallel`` scikit-learn's forest starts, in order."""
    from sklearn.ensemble import _forest

    calls, real = [], _forest.Parallel

    def recording(*args, **kwargs):
        calls.append(kwargs.get("n_jobs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_forest, "Parallel", recording)
    return calls


def test_the_sklearn_engine_predicts_with_the_model_s_current_n_jobs(tile_split, parallel_calls, tmp_path):
    (X, y), (Xt, _) = tile_split
    model = RandomForestSegmenter(bands="rgb", n_estimators=4, max_pixels=4000, random_state=0, n_jobs=2).fit(X, y)
    parallel_calls.clear()
    expected = with_engine(model, "numba").predict_proba(Xt[:2])
    model.set_params(engine="sklearn", n_jobs=1)
    np.testing.assert_array_equal(model.predict_proba(Xt[:2]), expected)
    assert parallel_calls == [1]
    assert model.forest_.n_jobs == 2  # the fitted forest is not changed: a copy predicts
    loaded = RandomForestSegmenter.load(with_engine(model, "sklearn", n_jobs=None).save(tmp_path / "rf.skops"))
    loaded.predict_proba(Xt[:1])
    loaded.set_params(n_jobs=2).predict_proba(Xt[:1])
    assert parallel_calls == [1, 1, 2]


def test_predict_jobs_sets_the_sklearn_engine_s_threads(twin_root, tmp_path, parallel_calls):
    model_path = tmp_path / "rf.skops"
    assert main(["-q", "train", str(twin_root), "-o", str(model_path), "--trees", "3", "--max-pixels", "3000"]) == 0
    assert RandomForestSegmenter.load(model_path).n_jobs is None
    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    parallel_calls.clear()
    assert main(["-q", "predict", str(model_path), str(scene), "-o", str(tmp_path / "map.tif"), "--engine", "sklearn",
                 "--jobs", "2", "--window", "128", "--overlap", "0"]) == 0
    assert parallel_calls and set(parallel_calls) == {2}
