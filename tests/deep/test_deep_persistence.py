"""Deep model files (safetensors + JSON header) and training checkpoints: nothing is unpickled."""

import copy
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the deep extra")
pytest.importorskip("segmentation_models_pytorch", reason="needs the deep extra")
safetensors_torch = pytest.importorskip("safetensors.torch", reason="needs the deep extra")

from smallmines_classic import ModelFileError, RandomForestSegmenter  # noqa: E402
from smallmines_classic.cli import main  # noqa: E402
from smallmines_classic.errors import InputError  # noqa: E402
from smallmines_classic.models.persistence import FORMAT, FORMAT_VERSION, load_model, package_version  # noqa: E402
from smallmines_deep import UNetSegmenter  # noqa: E402

pytestmark = pytest.mark.deep


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def unet(twin):
    X, y = np.ascontiguousarray(twin.images[:2, :, :32, :32]), np.ascontiguousarray(twin.masks[:2, :32, :32])
    model = UNetSegmenter(encoder="resnet18", bands=("B04", "B03", "B02"), epochs=1, batch_size=2, device="cpu",
                          random_state=0,
                          normalization={"mean": np.array([0.1, 0.1, 0.1], np.float32), "std": [0.05] * 3})
    model.fit(X, y).set_params(training_checkpoint=Path("fit.ckpt"))  # a Path parameter must come back a Path
    model.band_stats_ = {"B04": {"p01": 0.01, "p99": 0.3}, "n_pixels": 2048, "clipped": None}
    return model


@pytest.fixture(scope="module")
def unet_file(unet, tmp_path_factory):
    return unet.save(tmp_path_factory.mktemp("unet") / "unet.safetensors")


def _header(path):
    raw = Path(path).read_bytes()
    length = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _rewrite(path, out, change):
    """``path`` with its smallmines header changed by ``change(header)``: a crafted file."""
    header, data = _header(path)
    header["__metadata__"]["smallmines"] = json.dumps(change(json.loads(header["__metadata__"]["smallmines"])))
    raw = json.dumps(header).encode()
    Path(out).write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    return out


def test_the_file_is_safetensors_with_a_json_header(unet, unet_file):
    header, _ = _header(unet_file)
    record = json.loads(header["__metadata__"]["smallmines"])
    assert record["format"] == FORMAT and record["format_version"] == 2 and record["class"] == "UNetSegmenter"
    assert record["band_names"] == ["B04", "B03", "B02"] and "torch" in record["versions"]
    assert set(record["params"]["items"]) == set(unet.get_params())
    assert {"band_names_", "mean_", "std_", "history_", "band_stats_"} <= set(record["attributes"]["items"])
    tensors = safetensors_torch.load_file(str(unet_file))
    assert tensors.keys() == unet.network_.state_dict().keys()


def test_round_trip_is_identical(unet, unet_file, twin):
    loaded = UNetSegmenter.load(unet_file)
    X = twin.images[4:6, :, :64, :64]
    np.testing.assert_array_equal(loaded.predict_proba(X), unet.predict_proba(X))
    # repr tells tuple from list, Path from str and an array's dtype
    assert repr(loaded.get_params()) == repr(unet.get_params())
    assert loaded.normalization["mean"].dtype == np.float32 and loaded.training_checkpoint == Path("fit.ckpt")
    assert loaded.band_names_ == ("B04", "B03", "B02") and loaded.history_ == unet.history_
    assert loaded.band_stats_ == unet.band_stats_ and loaded.mean_.dtype == np.float32
    np.testing.assert_array_equal(loaded.std_, unet.std_)
    with pytest.raises(ModelFileError, match="holds a UNetSegmenter, not a RandomForestSegmenter"):
        RandomForestSegmenter.load(unet_file)


def test_channels_last_weights_as_cuda_training_leaves_them_are_saved(unet, tmp_path):
    model = copy.copy(unet)
    model.network_ = copy.deepcopy(unet.network_).to(memory_format=torch.channels_last)
    assert not all(value.is_contiguous() for value in model.network_.state_dict().values())
    loaded = UNetSegmenter.load(model.save(tmp_path / "channels_last.safetensors"))
    expected = unet.network_.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in loaded.network_.state_dict().items())


def test_a_file_of_another_release_loads_a_newer_format_is_refused(unet, unet_file, twin, tmp_path):
    """The file format has its own version (no deep file of 0.2.0 is kept: the smallest U-Net is 12 MB)."""
    old = _rewrite(unet_file, tmp_path / "old.safetensors", lambda r: {**r, "package_version": "0.2.0"})
    X = twin.images[4:5, :, :32, :32]
    np.testing.assert_array_equal(UNetSegmenter.load(old).predict_proba(X), unet.predict_proba(X))
    future = _rewrite(unet_file, tmp_path / "future.safetensors", lambda r: {**r, "format_version": FORMAT_VERSION + 1})
    with pytest.raises(ModelFileError, match=rf"future\.safetensors was written by .* in model file format "
                                             rf"{FORMAT_VERSION + 1}; .*reads formats up to {FORMAT_VERSION}: upgrade"):
        UNetSegmenter.load(future)


def test_a_header_naming_a_class_not_ours_is_refused(unet_file, tmp_path):
    for name in ("RandomForestSegmenter", "os.system", "Popen", "DeepSegmenter"):
        path = _rewrite(unet_file, tmp_path / "other.safetensors", lambda r: {**r, "class": name})
        with pytest.raises(ModelFileError, match="none of the smallmines deep models"):
            load_model(path)


def test_a_damaged_description_or_wrong_weights_are_refused(unet_file, tmp_path):
    changes = {
        "params": lambda r: {**r, "params": {"__type__": "dict", "items": {"not_a_parameter": 1}}},
        "attributes": lambda r: {k: v for k, v in r.items() if k != "attributes"},
        "bands": lambda r: {**r, "attributes": {"__type__": "dict", "items": {"band_names_": ["B99"]}}},
        "tag": lambda r: {**r, "params": {"__type__": "module", "value": "os"}},
        "dunder": lambda r: {**r, "attributes": {"__type__": "dict", "items": {
            **r["attributes"]["items"], "__dict__": {"__type__": "dict", "items": {}}}}},
        "statistics": lambda r: {**r, "attributes": {"__type__": "dict", "items": {
            **r["attributes"]["items"],
            "mean_": {"__type__": "ndarray", "dtype": "<f4", "shape": [2], "data": [0, 1]}}}},
        "weights": lambda r: {**r, "params": {**r["params"], "items": {**r["params"]["items"], "encoder": "resnet34"}}},
    }
    for what, change in changes.items():
        with pytest.raises(ModelFileError, match="damaged or foreign|do not fit"):
            load_model(_rewrite(unet_file, tmp_path / f"{what}.safetensors", change))


def test_truncated_and_header_only_files_raise_model_file_error(unet_file, tmp_path):
    data = unet_file.read_bytes()
    length = int.from_bytes(data[:8], "little")
    for cut in (3, 8, 9, 500, 8 + length, 8 + length + 1000, len(data) // 2, len(data) - 1):
        path = tmp_path / "cut.safetensors"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="cut.safetensors"):
            UNetSegmenter.load(path)


def test_sam2_image_size_never_reaches_hydra_unchecked():
    pytest.importorskip("sam2")
    from smallmines_deep import SAM2Segmenter

    model = SAM2Segmenter(image_size="64 ++model._target_=os.system")
    model.band_names_ = ("B04", "B03", "B02")
    with pytest.raises(InputError, match="image_size must be a positive integer"):
        model._build_network(3, pretrained=False)


def test_legacy_deep_pickle_is_refused_then_converted(unet, twin, tmp_path):
    import joblib

    old = tmp_path / "unet.joblib"
    joblib.dump({"format": FORMAT, "format_version": 1, "package_version": package_version(),
                 "class": "UNetSegmenter", "model": unet}, old)
    with pytest.raises(ModelFileError, match="convert-model"):
        UNetSegmenter.load(old)
    assert main(["-q", "convert-model", str(old), "-o", str(tmp_path / "unet.safetensors"), "--trust"]) == 0
    loaded = UNetSegmenter.load(tmp_path / "unet.safetensors")
    X = twin.images[4:5, :, :32, :32]
    np.testing.assert_array_equal(loaded.predict_proba(X), unet.predict_proba(X))


def test_checkpoints_are_read_weights_only(twin, tmp_path):
    X, y = np.ascontiguousarray(twin.images[:2, :, :32, :32]), np.ascontiguousarray(twin.masks[:2, :32, :32])
    checkpoint, marker = tmp_path / "fit.ckpt", tmp_path / "pwned"
    settings = dict(encoder="resnet18", epochs=1, batch_size=2, device="cpu", random_state=0,
                    training_checkpoint=checkpoint)
    UNetSegmenter(**settings).fit(X, y)
    state = torch.load(checkpoint, weights_only=True)  # what training writes loads without unpickling code
    assert state["epoch"] == 0 and len(state["history"]) == 1
    UNetSegmenter(**{**settings, "epochs": 2}).fit(X, y)  # and resumes from it
    torch.save({"model": Exploit(marker)}, checkpoint)
    with pytest.raises(ModelFileError, match="not a readable training checkpoint"):
        UNetSegmenter(**{**settings, "epochs": 3}).fit(X, y)
    checkpoint.write_bytes(pickle.dumps(Exploit(marker), protocol=2))
    with pytest.raises(ModelFileError, match="not a readable training checkpoint"):
        UNetSegmenter(**{**settings, "epochs": 3}).fit(X, y)
    assert not marker.exists()
    with pytest.raises(RuntimeError, match="magic number"):
        torch.load(checkpoint, weights_only=False)  # the payload is live: the old way ran it, then failed
    assert marker.exists()


def test_deep_files_are_read_through_the_registered_format_only(unet_file, monkeypatch):
    from smallmines_classic.models import persistence

    assert persistence._registered_formats()["safetensors"].value == "smallmines_deep.persistence"
    monkeypatch.setattr(persistence, "_registered_formats", dict)  # as without the deep extra installed
    with pytest.raises(ModelFileError, match=r"install the deep extra: in a clone of the repository pip install -e "
                                             r"'\.\[deep\]', otherwise pip install 'smallmines\[deep\]'"):
        load_model(unet_file)
