"""Model files: what is written, what is refused, and that opening a file never runs code from it."""

import copy
import json
import os
import pickle
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io

from smallmines_classic import ModelFileError, RandomForestSegmenter
from smallmines_classic.cli import main
from smallmines_classic.errors import DeviceError, ModelFileNotFoundError, OutputError
from smallmines_classic.models.persistence import (
    FORMAT,
    FORMAT_VERSION,
    FULL_FORMAT_VERSION,
    RECORD_MEMBER,
    convert_legacy_model,
    from_json_data,
    load_model,
    package_version,
    save_model,
    to_json_data,
)


class Exploit:
    """Unpickling this runs a shell command that creates ``marker``: what a hostile model file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class MarksOnLoad:
    """Creates its ``path`` when an object is rebuilt from its state (as skops does for trusted types)."""

    def __init__(self, path):
        self.path = str(path)

    def __setstate__(self, state):
        Path(state["path"]).touch()
        self.__dict__.update(state)


@pytest.fixture(scope="module")
def forest(twin):
    model = RandomForestSegmenter(bands="rgb", n_estimators=4, max_pixels=4000, random_state=0)
    return model.fit(twin.images[:6], twin.masks[:6])


@pytest.fixture(scope="module")
def forest_file(forest, tmp_path_factory):
    return forest.save(tmp_path_factory.mktemp("model") / "rf.skops")


def _format_1_file(path, model):
    """A model file as smallmines wrote them before (format 1: a joblib pickle of a record)."""
    joblib.dump({"format": FORMAT, "format_version": 1, "package_version": package_version(),
                 "class": type(model).__name__, "model": model}, path)
    return path


def _pickles(marker, tmp_path):
    """Hostile files in every pickle dress: protocols 0, 2, 5, joblib plain and compressed, a torch-style zip."""
    payload = Exploit(marker)
    yield "protocol 0", pickle.dumps(payload, protocol=0)
    yield "protocol 2", pickle.dumps(payload, protocol=2)
    yield "protocol 5", pickle.dumps(payload, protocol=5)
    for compress in (0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3)):
        joblib.dump(payload, tmp_path / "dump", compress=compress)
        yield f"joblib {compress}", (tmp_path / "dump").read_bytes()
    with zipfile.ZipFile(tmp_path / "zipped", "w") as archive:  # how torch.save lays out a pickle
        archive.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
    yield "zip holding a pickle", (tmp_path / "zipped").read_bytes()


def test_forest_file_is_a_skops_zip_with_a_json_record(forest, forest_file):
    assert forest_file.read_bytes()[:4] == b"PK\x03\x04"
    with zipfile.ZipFile(forest_file) as archive:
        record = json.loads(archive.read(RECORD_MEMBER))
        assert not any(name.endswith((".pkl", ".pickle")) for name in archive.namelist())
    assert record["format"] == FORMAT and record["format_version"] == FULL_FORMAT_VERSION == 2  # as 0.2 and 0.3 read
    assert record["class"] == "RandomForestSegmenter" and record["band_names"] == ["B04", "B03", "B02"]
    assert record["package_version"] == package_version() and "scikit-learn" in record["versions"]


def test_forest_round_trip_restores_any_plain_fitted_attribute(forest, twin, tmp_path):
    model = copy.copy(forest)
    model.band_stats_ = {"B04": {"mean": 0.25, "quantiles": [0.1, 0.9]}, "n": 3, "flags": (True, None, "x")}
    loaded = RandomForestSegmenter.load(model.save(tmp_path / "rf.skops"))
    np.testing.assert_array_equal(loaded.predict_proba(twin.images[6:9]), model.predict_proba(twin.images[6:9]))
    assert loaded.get_params() == model.get_params()
    assert loaded.band_stats_ == model.band_stats_ and isinstance(loaded.band_stats_["flags"], tuple)
    assert loaded.band_names_ == model.band_names_ and loaded.n_training_pixels_ == model.n_training_pixels_


def test_a_cuml_forest_is_saved_as_scikit_learn_or_refused(forest, twin, tmp_path):
    class ConvertibleForest:  # the conversion cuML 25.06+ offers
        def as_sklearn(self):
            return forest.forest_

    on_gpu = copy.copy(forest)
    on_gpu.forest_, on_gpu.device_ = ConvertibleForest(), "gpu"
    loaded = RandomForestSegmenter.load(on_gpu.save(tmp_path / "gpu.skops"))
    assert loaded.device_ == "cpu" and on_gpu.device_ == "gpu"  # the fitted model itself is left as it was
    np.testing.assert_array_equal(loaded.predict_proba(twin.images[:2]), forest.predict_proba(twin.images[:2]))
    on_gpu.forest_ = object()  # an older cuML forest
    with pytest.raises(DeviceError, match="cannot convert its forest"):
        on_gpu.save(tmp_path / "old_cuml.skops")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu.skops"]


def test_only_our_models_and_plain_data_are_written(forest, tmp_path):
    with pytest.raises(TypeError, match="sklearn.ensemble._forest.RandomForestClassifier"):
        save_model(tmp_path / "x.skops", forest.forest_)
    model = copy.copy(forest)
    model.band_stats_ = MarksOnLoad(tmp_path / "never")
    with pytest.raises(TypeError, match="MarksOnLoad"):
        model.save(tmp_path / "rf.skops")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left


@pytest.mark.parametrize("name", ["model.joblib", "model.skops", "model.safetensors", "scene.tif", "model"])
def test_a_crafted_pickle_runs_nothing_under_any_name(name, tmp_path):
    marker = tmp_path / "pwned"
    for dress, data in _pickles(marker, tmp_path):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match="model file"):
            load_model(path)
        assert not marker.exists(), dress
    assert main(["-q", "predict", str(path), "scene.tif", "-o", str(tmp_path / "map.tif")]) == 1
    assert main(["-q", "evaluate", str(path), "--data", str(tmp_path)]) == 1
    assert main(["-q", "convert-model", str(path), "-o", str(tmp_path / "new.skops")]) == 1
    assert not marker.exists() and not (tmp_path / "map.tif").exists() and not (tmp_path / "new.skops").exists()
    pickle.loads(pickle.dumps(Exploit(marker)))  # the payload is live: unpickling it does create the marker
    assert marker.exists()


def test_a_skops_file_holding_an_untrusted_type_is_refused_unopened(forest, forest_file, tmp_path):
    marker = tmp_path / "pwned"
    model = copy.copy(forest)
    model.band_stats_ = MarksOnLoad(marker)
    path = tmp_path / "rf.skops"
    skops.io.dump(model, path)
    with zipfile.ZipFile(forest_file) as genuine, zipfile.ZipFile(path, "a") as archive:
        archive.writestr(RECORD_MEMBER, genuine.read(RECORD_MEMBER))
    with pytest.raises(ModelFileError, match="does not trust.*MarksOnLoad"):
        load_model(path)
    assert not marker.exists()
    skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))  # trusting it would run its code
    assert marker.exists()


def test_a_folder_or_device_is_no_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_model(tmp_path)
    with pytest.raises(ModelFileNotFoundError, match="does not exist") as info:
        load_model(tmp_path / "missing.skops")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ModelFileError)


def test_a_zip_or_safetensors_without_our_record_is_refused(forest, tmp_path):
    plain = tmp_path / "plain.skops"
    skops.io.dump(forest, plain)  # a valid skops file, but none of ours
    with pytest.raises(ModelFileError, match="not a smallmines model file"):
        load_model(plain)
    header = json.dumps({"__metadata__": {"other": "x"}}).encode()
    (tmp_path / "other.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(ModelFileError, match="not a smallmines model file"):
        load_model(tmp_path / "other.safetensors")


def test_truncated_and_header_only_files_raise_model_file_error(forest_file, tmp_path):
    data = forest_file.read_bytes()
    for cut in (0, 4, 9, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 22, len(data) - 1):
        path = tmp_path / f"cut{cut}.skops"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=path.name):
            RandomForestSegmenter.load(path)
    with zipfile.ZipFile(forest_file) as genuine:
        for kept in ([RECORD_MEMBER], [RECORD_MEMBER, "schema.json"]):  # the record (and schema), no arrays
            path = tmp_path / f"header_only_{len(kept)}.skops"
            with zipfile.ZipFile(path, "w") as archive:
                for member in kept:
                    archive.writestr(member, genuine.read(member))
            with pytest.raises(ModelFileError, match="damaged"):
                load_model(path)
    record = json.dumps({"__metadata__": {"smallmines": "{"},
                         "w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})
    for header, tail in ((record, b""), (record, b"\0" * 8), (record, b"\0" * 16), ('{"w": {"dtype": "F32"}}', b"")):
        path = tmp_path / "header_only.safetensors"
        path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + tail)
        with pytest.raises(ModelFileError, match="truncated|damaged"):
            load_model(path)


def test_other_formats_and_classes_are_refused_other_releases_read(forest_file, tmp_path):
    with zipfile.ZipFile(forest_file) as genuine:
        record = json.loads(genuine.read(RECORD_MEMBER))
        members = {name: genuine.read(name) for name in genuine.namelist() if name != RECORD_MEMBER}
    newer = FORMAT_VERSION + 1
    for change, message in (({"format_version": newer}, f"file format {newer}"), ({"format": "x"}, "not a smallmines"),
                            ({"class": "UNetSegmenter"}, "says it holds a UNet"), ({"package_version": "7.1.0"}, None)):
        path = tmp_path / "changed.skops"
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
            archive.writestr(RECORD_MEMBER, json.dumps({**record, **change}))
        if message is None:  # another release, the same file format: read
            assert type(load_model(path)) is RandomForestSegmenter
            continue
        with pytest.raises(ModelFileError, match=message):
            load_model(path)


def test_a_format_1_file_is_refused_with_how_to_convert_it(forest, twin, tmp_path, capsys):
    old, new = _format_1_file(tmp_path / "rf.joblib", forest), tmp_path / "rf.skops"
    with pytest.raises(ModelFileError, match=r"convert-model .*rf\.joblib -o NEW\.skops --trust"):
        RandomForestSegmenter.load(old)
    assert main(["-q", "convert-model", str(old), "-o", str(new)]) == 1
    assert "--trust" in capsys.readouterr().err and not new.exists()
    assert main(["-q", "convert-model", str(old), "-o", str(old), "--trust"]) == 1
    assert "is the input" in capsys.readouterr().err
    (tmp_path / "link.joblib").symlink_to(old)
    with pytest.raises(OutputError, match="is the input"):
        convert_legacy_model(old, tmp_path / "link.joblib", trust=True)
    assert main(["-q", "convert-model", str(old), str(new), "--trust"]) == 0  # 0.2.0's positional NEW, for a release
    captured = capsys.readouterr()
    assert "format 2" in captured.out
    assert captured.err == (f"smallmines convert-model: warning: the output as a positional argument ({new}) is "
                            f"deprecated and will stop working in the next release; give it as -o/--out {new}\n")
    loaded = RandomForestSegmenter.load(new)
    np.testing.assert_array_equal(loaded.predict_proba(twin.images[:2]), forest.predict_proba(twin.images[:2]))
    with pytest.raises(ModelFileError, match="only those .format 1. need converting"):
        convert_legacy_model(new, tmp_path / "again.skops", trust=True)
    joblib.dump(forest.forest_, tmp_path / "bare.joblib")  # a trusted pickle that holds no smallmines model
    with pytest.raises(ModelFileError, match="not a fitted smallmines model"):
        convert_legacy_model(tmp_path / "bare.joblib", tmp_path / "bare.skops", trust=True)


@pytest.mark.parametrize("value", [
    None, True, 3, 2.5, float("nan"), "rgb", ["a", ("b", 1)], ("B02", "B03"), Path("fit.ckpt"),
    {"mean": np.array([1.5, 2.25], np.float32), "n": np.int64(7), "__type__": "tuple"},
    np.arange(6, dtype=np.uint8).reshape(2, 3), np.float32(0.1),
])
def test_plain_data_survives_json_exactly(value):
    back = from_json_data(json.loads(json.dumps(to_json_data(value, "x"))))
    assert type(back) is type(value) and repr(back) == repr(value)
    if isinstance(value, dict):
        assert back["mean"].dtype == np.float32 and type(back["n"]) is np.int64


@pytest.mark.parametrize("value, message", [
    (object(), "x is a object"), ({1: 2}, "keys that are not strings"), ([np.array(["a"])], r"x\[0\] is a numpy <U1"),
])
def test_non_plain_data_is_named(value, message):
    with pytest.raises(TypeError, match=message):
        to_json_data(value, "x")


@pytest.mark.parametrize("data", [{"__type__": "module", "value": "os"},
                                  {"__type__": "ndarray", "dtype": "O", "shape": [1], "data": [1]}])
def test_unknown_tags_and_object_arrays_are_not_decoded(data):
    with pytest.raises(ValueError):
        from_json_data(data)

