import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the deep extra")
pytest.importorskip("segmentation_models_pytorch", reason="needs the deep extra")

from smallmines_classic import ModelFileError, mosaic_tiles, predict_scene, segmentation_scores  # noqa: E402
from smallmines_classic.errors import BandError, ModelFileNotFoundError  # noqa: E402
from smallmines_deep import CheckpointMismatchError, SmallMinesDataset, UNetSegmenter  # noqa: E402
from smallmines_deep import trainer as trainer_module  # noqa: E402

pytestmark = pytest.mark.deep
SMALL = dict(encoder="resnet18", device="cpu", random_state=0)


@pytest.fixture(scope="module")
def patches(twin):
    """Four 64 x 64 crops with mining, from the twin."""
    chosen = [i for i in range(len(twin)) if twin.masks[i, :64, :64].mean() > 0.05][:4]
    return np.ascontiguousarray(twin.images[chosen, :, :64, :64]), np.ascontiguousarray(twin.masks[chosen, :64, :64])


@pytest.fixture(scope="module")
def memorised(patches):
    X, y = patches[0][:2], patches[1][:2]
    # Validating on the training patches keeps the epoch that memorised them best.
    return UNetSegmenter(epochs=100, batch_size=2, lr=3e-3, lr_step_epochs=100, augment=False,
                         **SMALL).fit(X, y, eval_set=(X, y))


def test_fit_drives_the_loss_down_and_memorises(memorised, patches):
    X, y = patches[0][:2], patches[1][:2]
    losses = [h["loss"] for h in memorised.history_]
    assert len(losses) == 100 and losses[-1] < 0.3 * losses[0]
    assert memorised.score(X, y) > 0.9


def test_shapes_dtypes_and_padding(memorised, patches):
    X, _ = patches
    proba = memorised.predict_proba(X)
    assert proba.shape == (4, 64, 64) and proba.dtype == np.float32 and 0 <= proba.min() and proba.max() <= 1
    assert memorised.predict(X).dtype == np.uint8
    odd = memorised.predict_proba(X[:, :, :50, :37])  # not a multiple of 32: padded, then cropped
    assert odd.shape == (4, 50, 37)
    assert memorised.band_names_ == ("B04", "B03", "B02") and memorised.mean_.shape == (3,)
    np.testing.assert_allclose(memorised.mean_,
                               X[:2, [2, 1, 0]].mean(axis=(0, 2, 3)), rtol=1e-5)  # the training patches
    # the domain guard's statistics: every training pixel (2 x 64 x 64 < the sample size) of the bands read
    assert list(memorised.band_stats_["bands"]) == ["B04", "B03", "B02"]
    assert memorised.band_stats_["bands"]["B03"][2] == pytest.approx(float(np.median(X[:2, 1])), rel=1e-6)


def test_save_load_gives_identical_predictions(memorised, patches, tmp_path):
    X, _ = patches
    path = memorised.save(tmp_path / "unet.safetensors")
    loaded = UNetSegmenter.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), memorised.predict_proba(X))
    with pytest.raises(ModelFileError, match="holds a UNetSegmenter"):
        __import__("smallmines_classic").RandomForestSegmenter.load(path)


def test_band_mismatch_is_refused(memorised, patches):
    X, _ = patches
    with pytest.raises(BandError, match=r"trained on bands \['B04', 'B03', 'B02'\] expected"):
        memorised.predict(X[:, 7:10], band_names=["B8A", "B11", "B12"])


def test_interrupted_fit_resumes_to_the_same_model(patches, tmp_path, monkeypatch):
    X, y = patches
    settings = dict(epochs=4, batch_size=2, **SMALL)
    straight = UNetSegmenter(**settings).fit(X, y)

    calls, real = [], trainer_module.weighted_bce

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 5:  # the first batch of epoch 3 (2 batches per epoch)
            raise KeyboardInterrupt
        return real(*args)

    checkpoint = tmp_path / "fit.ckpt"
    monkeypatch.setattr(trainer_module, "weighted_bce", interrupted)
    with pytest.raises(KeyboardInterrupt):
        UNetSegmenter(training_checkpoint=str(checkpoint), **settings).fit(X, y)
    monkeypatch.setattr(trainer_module, "weighted_bce", real)
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1
    resumed = UNetSegmenter(training_checkpoint=str(checkpoint), **settings).fit(X, y)
    assert [h["loss"] for h in resumed.history_] == pytest.approx([h["loss"] for h in straight.history_])
    np.testing.assert_allclose(resumed.predict_proba(X), straight.predict_proba(X), atol=1e-6)
    with pytest.raises(CheckpointMismatchError, match="not for"):
        UNetSegmenter(training_checkpoint=str(checkpoint), **{**settings, "bands": "rgb+"}).fit(X, y)


def test_eval_set_keeps_the_best_epoch(patches):
    X, y = patches
    model = UNetSegmenter(epochs=5, batch_size=2, **SMALL).fit(X[:2], y[:2], eval_set=(X[2:], y[2:]))
    best = max(h["val_iou"] for h in model.history_)
    assert segmentation_scores(y[2:], model.predict(X[2:]))["iou"] == pytest.approx(best, abs=1e-9)


def test_offline_imagenet_weights_say_how_to_pass_a_file(patches, monkeypatch):
    X, y = patches
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import time, so the env var would come too late
    with pytest.raises(RuntimeError, match=r"ImageNet weights of encoder 'resnet18'.*resnet18_imagenet.pth"
                                           r".*pass encoder_weights='/path/to/that/file'"):
        UNetSegmenter(encoder_weights="imagenet", epochs=1, **{k: v for k, v in SMALL.items()}).fit(X, y)


def test_local_encoder_weights(patches, tmp_path):
    import segmentation_models_pytorch as smp

    X, y = patches
    torch.manual_seed(5)
    source = smp.Unet("resnet18", encoder_weights=None, in_channels=3, classes=1).encoder
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in source.state_dict().items()}}, path)
    model = UNetSegmenter(encoder_weights=str(path), epochs=1, lr=0.0, weight_decay=0.0, augment=False, **SMALL)
    model.fit(X, y)
    torch.testing.assert_close(model.network_.encoder.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    six = UNetSegmenter(bands="rgb+", encoder_weights=str(path), epochs=1, lr=0.0, weight_decay=0.0, **SMALL).fit(X, y)
    first = six.network_.encoder.conv1.weight
    assert first.shape[1] == 6
    torch.testing.assert_close(first[:, :3], source.conv1.weight * 0.5)
    with pytest.raises(ModelFileNotFoundError, match="does not exist"):
        UNetSegmenter(encoder_weights=str(tmp_path / "none.pth"), epochs=1, **SMALL).fit(X, y)


def test_predict_scene_accepts_the_unet(memorised, twin_root, tmp_path):
    import rasterio

    scene = mosaic_tiles(twin_root, 2016, tmp_path / "scene.vrt")
    out = predict_scene(memorised, scene, tmp_path / "map.tif", window_size=200, overlap=20, progress=False)
    with rasterio.open(out) as m, rasterio.open(scene) as s:
        assert m.shape == s.shape and m.transform == s.transform
        assert set(np.unique(m.read(1))) <= {0, 1}
    # the command line takes a saved deep model as it takes a forest
    from smallmines_classic.cli import main

    model_path = memorised.save(tmp_path / "unet.safetensors")
    assert main(["-q", "predict", str(model_path), str(scene), "-o", str(tmp_path / "cli_map.tif"), "--window",
                 "200"]) == 0
    assert main(["-q", "evaluate", str(model_path), "--data", str(twin_root)]) == 0
    with rasterio.open(tmp_path / "cli_map.tif") as m:
        assert m.shape == (512, 512)


def test_torch_dataset_reads_through_the_data_layer(twin_root, twin):
    data = SmallMinesDataset(twin_root, split="test", bands="rgb+")
    item = data[0]
    assert item["image"].shape == (6, 128, 128) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (128, 128) and item["mask"].dtype == torch.int64
    i = int(np.flatnonzero((twin.tile_ids == item["tile_id"]) & (twin.years == item["year"]))[0])
    np.testing.assert_array_equal(item["image"].numpy(), twin.images[i, [0, 1, 2, 7, 8, 9]])
    loader = torch.utils.data.DataLoader(data, batch_size=3)
    assert next(iter(loader))["image"].shape == (3, 6, 128, 128)


# torch hidden as if not installed: a finder refuses it (a None in sys.modules would break scipy's import instead).
WITHOUT_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, NoTorch())
try:
    import smallmines_deep
except ImportError as error:
    print(type(error).__name__, error)
"""


def test_deep_import_without_torch_names_the_extra():
    out = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingExtraError ") and "pip install 'smallmines[deep]'" in out


@pytest.mark.parametrize("cls", ["UNetSegmenter", "PrithviSegmenter", "SAM2Segmenter"])
def test_estimator_conventions(cls, patches):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    import smallmines_deep

    model = getattr(smallmines_deep, cls)(lr=0.5, bands=["red", "green", "blue"])
    assert model.get_params()["bands"] == ["red", "green", "blue"] and model.lr == 0.5
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.set_params(epochs=3).epochs == 3
    with pytest.raises(NotFittedError):
        model.predict(patches[0])
