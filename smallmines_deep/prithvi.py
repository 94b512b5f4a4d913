"""Prithvi-EO-2.0 (TerraTorch backbone registry) with a UperNet decoder."""

from smallmines_classic.errors import BandError, InputError

from .base import DeepSegmenter, check_weights_file, weights_download_error

__all__ = ["PrithviSegmenter", "PRITHVI_BANDS", "PRITHVI_VARIANTS"]

PRITHVI_BANDS = {"B02": "BLUE", "B03": "GREEN", "B04": "RED", "B8A": "NIR_NARROW", "B11": "SWIR_1", "B12": "SWIR_2"}
"""SmallMinesDS band -> Prithvi's HLS band name. Mapping by name makes the paper scripts' band-order mistake
impossible."""

PRITHVI_VARIANTS = {
    "tiny": ("prithvi_eo_v2_tiny_tl", 12),
    "100": ("prithvi_eo_v2_100_tl", 12),
    "300": ("prithvi_eo_v2_300", 24),
    "300_tl": ("prithvi_eo_v2_300_tl", 24),
    "600": ("prithvi_eo_v2_600", 32),
    "600_tl": ("prithvi_eo_v2_600_tl", 32),
}
"""Prithvi-EO-2.0 variants: name -> (TerraTorch backbone, transformer depth)."""

# The authors' RGB+ statistics (reflectance x 10000), used unless normalization is given.
_PAPER_STATS = {"B02": (1473.81, 223.44), "B03": (1703.35, 285.54), "B04": (1696.68, 413.82),
                "B8A": (3832.40, 389.61), "B11": (3156.11, 451.50), "B12": (2226.07, 468.27)}


class PrithviSegmenter(DeepSegmenter):
    """Prithvi-EO-2.0 encoder with a UperNet decoder, fine-tuned as in the paper.

    Defaults follow the paper: RGB+ bands, 300M variant, frozen backbone,
    AdamW at lr 1e-3 with weight decay 0.05, class-weighted binary
    cross-entropy, flips, batch size 4, and the authors' per-band statistics.

    Parameters
    ----------
    variant : {"tiny", "100", "300", "300_tl", "600", "600_tl"}, default "300"
    bands : str or sequence of str, default "rgb+"
        Any of Prithvi's six HLS bands (B02, B03, B04, B8A, B11, B12), in any order.
    decoder : str, default "UperNetDecoder"
        A TerraTorch decoder name.
    decoder_channels : int, default 256
    freeze_backbone : bool, default True
    weights : None, "hub" or path, default None
        None: random initialisation (explicit: tests, training from scratch);
        ``"hub"``: download the backbone from Hugging Face; a path: a local
        Prithvi checkpoint file.
    epochs, batch_size, lr, weight_decay, lr_step_epochs, augment, early_stopping, normalization,
    threshold, device, compile, training_checkpoint, random_state, verbose
        As :class:`UNetSegmenter`.
    """

    def __init__(self, variant="300", bands="rgb+", decoder="UperNetDecoder", decoder_channels=256,
                 freeze_backbone=True, weights=None, epochs=100, batch_size=4, lr=1e-3, weight_decay=0.05,
                 lr_step_epochs=10, augment=True, early_stopping=None, normalization=None, threshold=0.5,
                 device="auto", compile=False, training_checkpoint=None, random_state=None, verbose=False):
        self._store_params(locals())

    def _default_normalization(self, band_names):
        if all(band in _PAPER_STATS for band in band_names):
            return [_PAPER_STATS[b][0] for b in band_names], [_PAPER_STATS[b][1] for b in band_names]
        return None

    def _build_network(self, n_bands, pretrained):
        from terratorch.models import EncoderDecoderFactory
        from terratorch.models.backbones.prithvi_vit import pretrained_weights

        if self.variant not in PRITHVI_VARIANTS:
            raise InputError(f"unknown Prithvi variant {self.variant!r}; valid are {list(PRITHVI_VARIANTS)}")
        unsupported = [band for band in self.band_names_ if band not in PRITHVI_BANDS]
        if unsupported:
            raise BandError(f"Prithvi takes the HLS bands {list(PRITHVI_BANDS)}; {unsupported} are not among them")
        backbone, depth = PRITHVI_VARIANTS[self.variant]
        weights = self.weights if pretrained else None
        check_weights_file(weights, "hub", "Prithvi weights file")
        backbone_kwargs = {"backbone_pretrained": weights is not None}
        if weights not in (None, "hub"):
            backbone_kwargs["backbone_ckpt_path"] = str(weights)
        try:
            network = EncoderDecoderFactory().build_model(
                task="segmentation", backbone=backbone, backbone_bands=[PRITHVI_BANDS[b] for b in self.band_names_],
                necks=[{"name": "SelectIndices", "indices": [depth // 4 * k - 1 for k in (1, 2, 3, 4)]},
                       {"name": "ReshapeTokensToImage"}, {"name": "LearnedInterpolateToPyramidal"}],
                decoder=self.decoder, decoder_channels=self.decoder_channels, num_classes=1, **backbone_kwargs)
        except Exception as error:  # hub downloads fail with many error types when offline
            if weights != "hub":
                raise
            hub = pretrained_weights.get(backbone, {})
            raise weights_download_error(
                error, f"the {backbone} weights",
                f"download {hub.get('hf_hub_filename', 'the checkpoint')} "
                f"from https://huggingface.co/{hub.get('hf_hub_id', '')}",
                "weights") from error
        if self.freeze_backbone:
            network.encoder.requires_grad_(False)
        return network

    def _forward(self, network, x):
        logits = network(x).output
        return logits[:, None] if logits.ndim == 3 else logits
