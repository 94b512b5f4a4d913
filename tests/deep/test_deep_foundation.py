import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the deep extra")
pytest.importorskip("terratorch", reason="needs the deep extra")
pytest.importorskip("sam2", reason="needs the deep extra")

from smallmines_classic import mosaic_tiles, predict_scene  # noqa: E402
from smallmines_classic.errors import BandError, DownloadError  # noqa: E402
from smallmines_deep import PrithviSegmenter, SAM2Segmenter  # noqa: E402

pytestmark = pytest.mark.deep
TINY_PRITHVI = dict(variant="tiny", decoder_channels=32, batch_size=2, device="cpu", random_state=0)
SMALL_SAM = dict(config="hiera_small", image_size=256, batch_size=2, lr=1e-4, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def patches(twin):
    chosen = [i for i in range(len(twin)) if twin.masks[i].mean() > 0.05][:4]
    return twin.images[chosen], twin.masks[chosen]


@pytest.fixture
def offline(monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def prithvi(patches):
    X, y = patches
    return PrithviSegmenter(epochs=4, **TINY_PRITHVI).fit(X, y)


@pytest.fixture(scope="module")
def sam(patches):
    X, y = patches
    return SAM2Segmenter(epochs=4, **SMALL_SAM).fit(X, y)


@pytest.mark.parametrize("name", ["prithvi", "sam"])
def test_fitting_lowers_the_loss_and_predicts_classic_shapes(name, request, patches):
    model = request.getfixturevalue(name)
    X, _ = patches
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    proba = model.predict_proba(X)  # SAM-2: automatic, prompt-free mode: no mask given
    assert proba.shape == (4, 128, 128) and proba.dtype == np.float32
    assert model.predict(X).dtype == np.uint8


@pytest.mark.parametrize("name, cls", [("prithvi", PrithviSegmenter), ("sam", SAM2Segmenter)])
def test_save_load_round_trip(name, cls, request, patches, tmp_path):
    model = request.getfixturevalue(name)
    X, _ = patches
    loaded = cls.load(model.save(tmp_path / f"{name}.safetensors"))
    np.testing.assert_array_equal(loaded.predict_proba(X[:2]), model.predict_proba(X[:2]))
    assert repr(loaded.get_params()) == repr(model.get_params()) and loaded.history_ == model.history_


def test_prithvi_maps_bands_by_name_and_freezes_the_backbone(prithvi, patches):
    assert prithvi.band_names_ == ("B02", "B03", "B04", "B8A", "B11", "B12")
    np.testing.assert_allclose(prithvi.mean_,
                               [1473.81, 1703.35, 1696.68, 3832.40, 3156.11, 2226.07])  # the authors' statistics
    fresh = PrithviSegmenter(**TINY_PRITHVI)
    fresh.band_names_ = prithvi.band_names_
    torch.manual_seed(0)
    untrained = fresh._build_network(6, pretrained=False)
    for (name, before), after in zip(untrained.encoder.state_dict().items(),
                                     prithvi.network_.encoder.state_dict().values()):
        torch.testing.assert_close(before, after, msg=name)  # frozen: the encoder did not move
    assert not any(p.requires_grad for p in prithvi.network_.encoder.parameters())
    X, y = patches
    with pytest.raises(BandError, match=r"HLS bands .*\['B08'\] are not among them"):
        PrithviSegmenter(bands=["B02", "B03", "B08"], epochs=1, **TINY_PRITHVI).fit(X, y)


def test_prithvi_forward_backward_on_six_bands():
    model = PrithviSegmenter(**TINY_PRITHVI)
    model.band_names_ = ("B02", "B03", "B04", "B8A", "B11", "B12")
    network = model._build_network(6, pretrained=False)
    logits = model._forward(network, torch.randn(2, 6, 128, 128))
    assert logits.shape == (2, 1, 128, 128)
    logits.mean().backward()
    trained = [p for module in (network.decoder, network.head) for p in module.parameters()]
    assert trained and all(p.grad is not None for p in trained)


def test_sam_mask_prompt_mode_is_separate_and_needs_masks(sam, patches):
    X, y = patches
    prompted = sam.predict_proba_from_mask_prompts(X, y)
    assert prompted.shape == y.shape
    assert not np.array_equal(prompted, sam.predict_proba(X))  # the prompts change the answer
    assert 0 <= sam.score_from_mask_prompts(X, y) <= 1
    with pytest.raises(ValueError, match="masks must have shape"):
        sam.predict_proba_from_mask_prompts(X, y[:, :5])


def test_sam_forward_backward_on_three_bands():
    model = SAM2Segmenter(**SMALL_SAM)
    model.band_names_ = ("B04", "B03", "B02")
    network = model._build_network(3, pretrained=False)
    x = torch.randn(2, 3, 128, 128)
    y = (torch.rand(2, 1, 128, 128) > 0.7).float()
    logits = model._decode(network, x, *model._mask_prompts(y))
    assert logits.shape == (2, 1, 128, 128)
    logits.mean().backward()
    assert network.sam_mask_decoder.output_upscaling[0].weight.grad is not None
    assert network.image_encoder.trunk.patch_embed.proj.weight.grad is None  # the image encoder stays frozen


def test_missing_weights_errors(patches, tmp_path, offline):
    X, y = patches
    with pytest.raises(DownloadError, match=r"Prithvi.*huggingface.co/ibm-nasa-geospatial.*pass weights="):
        PrithviSegmenter(weights="hub", epochs=1, **TINY_PRITHVI).fit(X, y)
    with pytest.raises(RuntimeError, match=r"sam2.1_hiera_small.pt from "
                                           r"https://huggingface.co/facebook/sam2.1-hiera-small.*pass checkpoint="):
        SAM2Segmenter(checkpoint="hub", epochs=1, **SMALL_SAM).fit(X, y)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PrithviSegmenter(weights=str(tmp_path / "none.pt"), epochs=1, **TINY_PRITHVI).fit(X, y)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SAM2Segmenter(checkpoint=str(tmp_path / "none.pt"), epochs=1, **SMALL_SAM).fit(X, y)


def test_sam_local_checkpoint_loads(sam, patches, tmp_path):
    X, y = patches
    path = tmp_path / "sam2_local.pt"
    torch.save({"model": sam.network_.state_dict()}, path)  # the layout of the official checkpoints
    local = SAM2Segmenter(checkpoint=str(path), epochs=1, lr=0.0, weight_decay=0.0,
                          **{k: v for k, v in SMALL_SAM.items() if k != "lr"})
    local.fit(X, y)
    torch.testing.assert_close(local.network_.image_encoder.state_dict(), sam.network_.image_encoder.state_dict())


def test_prithvi_plugs_into_predict_scene(prithvi, twin_root, tmp_path):
    import rasterio

    scene = mosaic_tiles(twin_root, 2022, tmp_path / "scene.vrt")
    out = predict_scene(prithvi, scene, tmp_path / "map.tif", window_size=256, overlap=32, progress=False)
    with rasterio.open(out) as m:
        assert m.shape == (512, 512) and set(np.unique(m.read(1))) <= {0, 1}


def test_a_trailing_single_sample_batch_is_skipped(patches):
    X, y = patches
    model = PrithviSegmenter(epochs=1, **{**TINY_PRITHVI, "batch_size": 3}).fit(X, y)  # 4 = 3 + 1
    assert len(model.history_) == 1
