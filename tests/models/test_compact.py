"""The compact forest file: scikit-learn's probabilities bit for bit, a quarter of the skops file at most, no pickle,
refused when damaged; convert-model writes it, load_model and the commands read it."""

import copy
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from smallmines_classic import ModelFileError, RandomForestSegmenter, mosaic_tiles, predict_scene
from smallmines_classic.cli import main
from smallmines_classic.errors import BandError, InputError
from smallmines_classic.models import CompactForest, compact_forest
from smallmines_classic.models._forest_engines import float32_at_most
from smallmines_classic.models.compact import convert_to_compact
from smallmines_classic.models.features import pixel_features
from smallmines_classic.models.persistence import FORMAT_VERSION, load_model

pytest.importorskip("numba", reason="a compact forest predicts with the numba engine (a core dependency)")


def reference_proba(model, features):
    """scikit-learn's predict_proba on one thread: the probabilities a compact forest must give bit for bit."""
    forest = copy.copy(model.forest_)
    forest.n_jobs = 1
    return forest.predict_proba(features)[:, 1]


@pytest.fixture(scope="module")
def full(tile_split):
    (X, y), _ = tile_split
    return RandomForestSegmenter(bands="rgb+", n_estimators=10, max_pixels=30_000, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def fractional(tile_split):
    """Leaves that hold fractions (not 0 or 1), derived features and a depth limit."""
    (X, y), _ = tile_split
    return RandomForestSegmenter(bands="rgb", derived=("ndvi", "mndwi", "slope"), n_estimators=8, max_depth=10,
                                 min_samples_leaf=40, max_pixels=20_000, random_state=1, n_jobs=2).fit(X, y)


@pytest.fixture(scope="module")
def files(full, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compact")
    skops = full.save(folder / "rf.skops")
    return skops, convert_to_compact(skops, folder / "rf_compact.safetensors")


def threshold_probes(model, rng, n_rows=4000):
    """Rows whose every feature sits on a threshold of the forest: the float32 just at or below it, or just above."""
    nodes = [(tree.tree_.feature, tree.tree_.threshold) for tree in model.forest_.estimators_]
    feature = np.concatenate([f for f, _ in nodes])
    threshold = np.concatenate([t for _, t in nodes])
    rows = np.empty((n_rows, model.forest_.n_features_in_), np.float32)
    for column in range(rows.shape[1]):
        at_most = float32_at_most(threshold[feature == column])
        candidates = np.concatenate([at_most, np.nextafter(at_most, np.float32(np.inf))])
        rows[:, column] = candidates[rng.integers(0, len(candidates), n_rows)]
    return rows


@pytest.mark.parametrize("name", ["full", "fractional"])
def test_every_decision_at_a_threshold_is_scikit_learn_s(name, request, tmp_path, rng):
    model = request.getfixturevalue(name)
    compact = load_model(compact_forest(model).save(tmp_path / "c.safetensors"))
    features = threshold_probes(model, rng)
    features[::7, 0] = np.nan  # where each tree sent missing values
    np.testing.assert_array_equal(compact._forest_proba(features), reference_proba(model, features))


@pytest.mark.parametrize("name", ["full", "fractional"])
def test_probabilities_and_masks_equal_the_full_model_s(name, request, tile_split, tmp_path):
    model = request.getfixturevalue(name)
    _, (Xt, yt) = tile_split
    path = model.save(tmp_path / "rf.skops")
    compact = load_model(convert_to_compact(path, tmp_path / "rf_compact.safetensors"))
    assert type(compact) is CompactForest and compact.n_estimators_ == model.n_estimators
    values = np.concatenate([tree.tree_.value[:, 0, 1] for tree in model.forest_.estimators_])
    if name == "fractional":
        assert ((values > 0) & (values < 1)).mean() > 0.5  # so the leaf values really are tested
    features = pixel_features(Xt, model.bands, model.derived)
    np.testing.assert_array_equal(compact._forest_proba(features), reference_proba(model, features))
    reference = copy.copy(model).set_params(engine="sklearn", n_jobs=1)
    np.testing.assert_array_equal(compact.predict_proba(Xt), reference.predict_proba(Xt))
    np.testing.assert_array_equal(compact.predict(Xt), reference.predict(Xt))
    assert compact.score(Xt, yt) == reference.score(Xt, yt)


def test_it_keeps_the_bands_recipe_statistics_and_parameters(full, files):
    compact = load_model(files[1])
    for name in ("band_names_", "feature_names_", "n_training_pixels_", "band_stats_"):
        assert getattr(compact, name) == getattr(full, name), name
    assert compact.forest_params_ == full.get_params()
    assert compact.get_params() == {name: full.get_params()[name] for name in
                                    ("bands", "derived", "threshold", "batch_size", "n_jobs", "verbose", "engine")}
    with pytest.raises(BandError, match="trained on"):
        compact.predict_proba(np.zeros((1, 3, 4, 4), np.float32), band_names=["B02", "B03", "B04"])


def test_a_quarter_of_the_skops_file_at_most_and_no_pickle(files):
    skops, compact = files
    assert compact.stat().st_size <= skops.stat().st_size / 4
    raw = compact.read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    record = json.loads(header.pop("__metadata__")["smallmines"])
    assert record["format_version"] == FORMAT_VERSION == 3 and record["class"] == "CompactForest"
    assert {name: entry["dtype"] for name, entry in header.items()} == {"leaf_values": "F64", "tree_start": "I64",
                                                                          "words": "U32"}
    assert b"\x80" not in raw[8:8 + len(json.dumps(header))]  # plain JSON, then plain arrays


def test_other_safetensors_readers_read_its_arrays(files):
    safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors is in the deep extra")
    arrays = safetensors_numpy.load_file(str(files[1]))
    packed = load_model(files[1]).packed_
    np.testing.assert_array_equal(arrays["words"], packed.words)
    np.testing.assert_array_equal(arrays["tree_start"], packed.tree_start)


def test_it_is_for_inference_only(full, tile_split):
    (X, y), (Xt, _) = tile_split
    compact = compact_forest(full)
    with pytest.raises(InputError, match="CompactForest is inference-only and cannot be fitted"):
        compact.fit(X, y)
    for engine in ("sklearn", "nvforest"):
        with pytest.raises(InputError, match=rf"engine must be one of \['auto', 'numba'\], got '{engine}'"):
            compact.set_params(engine=engine).predict_proba(Xt[:1])
    with pytest.raises(InputError, match="takes a fitted RandomForestSegmenter, got a CompactForest"):
        compact_forest(compact)


def test_n_jobs_sets_its_threads_and_a_pickled_copy_predicts_alike(full, tile_split):
    _, (Xt, _) = tile_split
    compact = compact_forest(full).set_params(n_jobs=2)
    expected = compact.predict_proba(Xt)
    assert compact._engine_cache[1].threads == 2
    received = pickle.loads(pickle.dumps(compact))  # what a Dask worker gets: no engine, the packed trees
    assert not hasattr(received, "_engine_cache")
    np.testing.assert_array_equal(received.set_params(n_jobs=1).predict_proba(Xt), expected)


def test_without_numba_it_says_what_to_do(files):
    code = (
        "import sys; sys.modules['numba'] = None\n"  # import numba now raises ImportError
        "from smallmines_classic.models import load_model\n"
        f"load_model({str(files[1])!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert ("MissingExtraError: a CompactForest is checked and predicts with numba, which does not import here: pip "
            "install numba, or use the full .skops model file") in done.stderr


def test_the_kinds_are_told_apart(files):
    skops, compact = files
    with pytest.raises(ModelFileError, match="holds a CompactForest, not a RandomForestSegmenter"):
        RandomForestSegmenter.load(compact)
    with pytest.raises(ModelFileError, match="holds a RandomForestSegmenter, not a CompactForest"):
        CompactForest.load(skops)
    assert type(CompactForest.load(compact)) is CompactForest


def _edited(source, target, edit):
    """A copy of a compact forest file with its ``words`` array changed by ``edit`` (in place)."""
    raw = bytearray(source.read_bytes())
    start = 8 + int.from_bytes(raw[:8], "little")
    entry = json.loads(raw[8:start])["words"]
    begin, end = entry["data_offsets"]
    edit(np.frombuffer(raw, np.uint32, (end - begin) // 4, start + begin))
    target.write_bytes(raw)
    return target


@pytest.mark.parametrize("edit, message", [
    # the root's code (6 features: child << 5 | nan << 3 | feature): its child itself, far beyond, or feature 7
    (lambda words: words.__setitem__(1, words[1] & 0x1F), "point outside their tree"),
    (lambda words: words.__setitem__(1, words[1] | 0xFFFF0000), "point outside their tree"),
    (lambda words: words.__setitem__(1, words[1] | 0x7), "point outside their tree"),
    # the root made a leaf: one leaf more than there are leaf values
    (lambda words: words.__setitem__(slice(0, 2), [0x7FC00000, 3 << 3]), "point outside their tree|leaf values"),
    # the last node (a leaf) made an inner node: one leaf value too many
    (lambda words: words.__setitem__(-1, 0), "point outside their tree|leaf values"),
])
def test_damaged_nodes_are_refused_before_the_kernel_walks_them(files, tmp_path, edit, message):
    with pytest.raises(ModelFileError, match=f"damaged compact forest file: it holds nodes that {message}"):
        load_model(_edited(files[1], tmp_path / "bad.safetensors", edit))


def _with_record(source, target, edit):
    """A copy of a compact forest file whose record is ``edit(record)``."""
    raw = source.read_bytes()
    start = 8 + int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:start])
    header["__metadata__"]["smallmines"] = json.dumps(edit(json.loads(header["__metadata__"]["smallmines"])))
    text = json.dumps(header).encode()
    target.write_bytes(len(text).to_bytes(8, "little") + text + raw[start:])
    return target


@pytest.mark.parametrize("edit", [
    lambda record: {key: value for key, value in record.items() if key != "forest"},
    lambda record: {**record, "forest": {"n_features": 6, "shift": 9}},
    lambda record: {**record, "attributes": {"__type__": "dict", "items": {"_engine_cache": 1}}},
    lambda record: {**record, "params": {"__type__": "dict", "items": {"trees": 1}}},
    lambda record: {**record, "attributes": {"__type__": "dict", "items": {
        **record["attributes"]["items"], "feature_names_": 5}}},
])
def test_a_damaged_record_is_refused(files, tmp_path, edit):
    assert type(load_model(_with_record(files[1], tmp_path / "same.safetensors", lambda r: r))) is CompactForest
    with pytest.raises(ModelFileError, match="damaged compact forest file"):
        load_model(_with_record(files[1], tmp_path / "bad.safetensors", edit))


def test_a_truncated_file_is_refused(files, tmp_path):
    bad = tmp_path / "short.safetensors"
    bad.write_bytes(files[1].read_bytes()[:-5])
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        load_model(bad)


def test_convert_model_writes_it_and_predict_maps_byte_identically(files, twin_root, tmp_path, capsys):
    skops, _ = files
    compact = tmp_path / "rf_compact.safetensors"
    assert main(["-q", "convert-model", str(skops), "-o", str(compact)]) == 0
    assert f"wrote the compact forest file {compact}" in capsys.readouterr().out
    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    for model in (skops, compact):
        assert main(["-q", "predict", str(model), str(scene), "-o", str(tmp_path / f"{model.stem}.tif"),
                     "--probability", "--window", "96", "--overlap", "16"]) == 0
    reference = predict_scene(copy.copy(load_model(skops)).set_params(engine="sklearn", n_jobs=1), scene,
                              tmp_path / "reference.tif", window_size=96, overlap=16, probability=True, progress=False)
    with rasterio.open(tmp_path / "rf_compact.tif") as ours, rasterio.open(reference) as theirs:
        np.testing.assert_array_equal(ours.read(), theirs.read())
    assert main(["-q", "predict", str(compact), str(scene), "-o", str(tmp_path / "x.tif"), "--engine", "sklearn"]) == 1
    assert "the full .skops model file has the other engines" in capsys.readouterr().err
    assert main(["-q", "convert-model", str(compact), "-o", str(tmp_path / "again.safetensors")]) == 1
    assert "holds a CompactForest, not a RandomForestSegmenter" in capsys.readouterr().err
