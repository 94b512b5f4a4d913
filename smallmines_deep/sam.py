"""SAM-2 (the ``sam2`` package): mask decoder and prompt encoder fine-tuned for mining.

Two prompt modes, so users know which number is which:

* **automatic** (``predict``, ``predict_proba``, ``score``, scene mapping):
  no ground truth is used. The decoder gets SAM's "no point" prompt alone
  and answers with the mining mask; fine-tuning trains it for exactly this.
* **mask prompts** (``predict_proba_from_mask_prompts``,
  ``score_from_mask_prompts``): the paper's evaluation, with point prompts
  sampled from the reference masks. It needs the answer to ask the question,
  so it measures the decoder, not a map a user could make.

Fine-tuning alternates the two per batch: the paper's mask-derived point
prompts (positive points on mining, negative on background) and the
prompt-free mode.
"""

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from smallmines_classic.errors import BandError, InputError
from smallmines_classic.metrics import segmentation_scores
from smallmines_classic.models.base import check_masks

from .base import DeepSegmenter, check_weights_file, weights_download_error

__all__ = ["SAM2Segmenter", "SAM2_CONFIGS"]

SAM2_CONFIGS = {
    "hiera_tiny": ("configs/sam2.1/sam2.1_hiera_t.yaml", "facebook/sam2.1-hiera-tiny"),
    "hiera_small": ("configs/sam2.1/sam2.1_hiera_s.yaml", "facebook/sam2.1-hiera-small"),
    "hiera_base_plus": ("configs/sam2.1/sam2.1_hiera_b+.yaml", "facebook/sam2.1-hiera-base-plus"),
    "hiera_large": ("configs/sam2.1/sam2.1_hiera_l.yaml", "facebook/sam2.1-hiera-large"),
}
"""SAM-2.1 configurations: name -> (sam2 config file, Hugging Face model id)."""
_NO_POINT = -1  # SAM's label for "not a point": its learned no-prompt embedding


class SAM2Segmenter(DeepSegmenter):
    """SAM-2 with its image encoder frozen and its mask decoder and prompt encoder fine-tuned.

    Defaults follow the paper: hiera-small, RGB, AdamW at lr 1e-5 with weight
    decay 4e-5, point prompts sampled from the masks. See the module
    docstring for the two prompt modes.

    Parameters
    ----------
    config : {"hiera_tiny", "hiera_small", "hiera_base_plus", "hiera_large"}, default "hiera_small"
    checkpoint : None, "hub" or path, default None
        SAM-2 weights: None for random initialisation (explicit: tests,
        training from scratch), ``"hub"`` to download them from Hugging Face,
        or a local ``.pt`` file.
    bands : default "rgb"
        Three bands (SAM-2 takes three channels).
    image_size : int, default 1024
        Side the patches are resized to for SAM-2 (its native size is 1024).
    points : int, default 3
        Positive and negative points per image for the mask prompts.
    epochs, batch_size, lr, weight_decay, lr_step_epochs, augment, early_stopping, normalization,
    threshold, device, compile, training_checkpoint, random_state, verbose
        As :class:`UNetSegmenter`.
    """

    size_multiple = 1  # patches are resized to image_size anyway

    def __init__(self, config="hiera_small", checkpoint=None, bands="rgb", image_size=1024, points=3, epochs=100,
                 batch_size=4, lr=1e-5, weight_decay=4e-5, lr_step_epochs=10, augment=True, early_stopping=None,
                 normalization=None, threshold=0.5, device="auto", compile=False, training_checkpoint=None,
                 random_state=None, verbose=False):
        self._store_params(locals())

    def _build_network(self, n_bands, pretrained):
        from sam2.build_sam import build_sam2

        if self.config not in SAM2_CONFIGS:
            raise InputError(f"unknown SAM-2 config {self.config!r}; valid are {list(SAM2_CONFIGS)}")
        if n_bands != 3:
            raise BandError(f"SAM-2 takes 3 bands, got {n_bands}: {list(self.band_names_)}")
        # It reaches a Hydra override string, which must never carry anything but a number.
        if (not isinstance(self.image_size, numbers.Integral) or isinstance(self.image_size, bool)
                or self.image_size < 1):
            raise InputError(f"image_size must be a positive integer, got {self.image_size!r}")
        config_file, hub_id = SAM2_CONFIGS[self.config]
        weights = self.checkpoint if pretrained else None
        check_weights_file(weights, "hub", "SAM-2 checkpoint")
        if weights == "hub":
            from huggingface_hub import hf_hub_download

            filename = f"{hub_id.split('/')[1].replace('-', '_')}.pt"
            try:
                weights = hf_hub_download(hub_id, filename)
            except Exception as error:  # hub downloads fail with many error types when offline
                raise weights_download_error(error, f"the SAM-2 {self.config} checkpoint",
                                             f"download {filename} from https://huggingface.co/{hub_id}",
                                             "checkpoint") from error
        network = build_sam2(config_file, weights, device="cpu", mode="eval", apply_postprocessing=False,
                             hydra_overrides_extra=[f"++model.image_size={self.image_size}"])
        network.requires_grad_(False)
        network.sam_mask_decoder.requires_grad_(True)
        network.sam_prompt_encoder.requires_grad_(True)
        return network

    # -- forward passes ----------------------------------------------------
    def _embed(self, network, x):
        """Image embeddings and high-resolution features of a (B, 3, H, W) batch resized to image_size."""
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        _, features, _, sizes = network._prepare_backbone_features(network.forward_image(x))
        if network.directly_add_no_mem_embed:
            features[-1] = features[-1] + network.no_mem_embed
        maps = [f.permute(1, 2, 0).reshape(x.shape[0], -1, *s) for f, s in zip(features, sizes)]
        return maps[-1], maps[:-1]

    def _decode(self, network, x, coords, labels):
        """Mining logits at the input's size for point prompts in input pixel coordinates."""
        embedding, high_res = self._embed(network, x)
        scale = torch.tensor([self.image_size / x.shape[-1], self.image_size / x.shape[-2]], device=x.device)
        sparse, dense = network.sam_prompt_encoder(points=(coords * scale, labels), boxes=None, masks=None)
        low_res, _, _, _ = network.sam_mask_decoder(
            image_embeddings=embedding, image_pe=network.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False, repeat_image=False,
            high_res_features=high_res)
        return F.interpolate(low_res.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)

    def _forward(self, network, x):
        coords = torch.zeros(x.shape[0], 1, 2, device=x.device)
        labels = torch.full((x.shape[0], 1), _NO_POINT, dtype=torch.int32, device=x.device)
        return self._decode(network, x, coords, labels)

    def _mask_prompts(self, y, generator=None):
        """``points`` positive (mining) and negative (background) points per mask, as (x, y) pixel coordinates.

        A mask without one of the classes gets "no point" padding instead.
        """
        batch, width = y.shape[0], y.shape[-1]
        coords = torch.zeros(batch, 2 * self.points, 2)
        labels = torch.full((batch, 2 * self.points), _NO_POINT, dtype=torch.int32)
        flat = y.reshape(batch, -1).cpu() > 0.5
        for i in range(batch):
            for k, wanted in enumerate((True, False)):
                candidates = torch.nonzero(flat[i] == wanted).squeeze(1)
                if len(candidates) == 0:
                    continue
                chosen = candidates[torch.randint(len(candidates), (self.points,), generator=generator)]
                slots = slice(k * self.points, (k + 1) * self.points)
                coords[i, slots, 0] = (chosen % width).float() + 0.5
                coords[i, slots, 1] = (chosen // width).float() + 0.5
                labels[i, slots] = int(wanted)
        return coords.to(y.device), labels.to(y.device)

    def _train_forward(self, network, x, y):
        # Half the batches get the paper's mask prompts, half the prompt-free mode prediction uses;
        # torch's global generator, seeded by fit, makes the draw repeatable.
        if torch.rand(1).item() < 0.5:
            return self._decode(network, x, *self._mask_prompts(y))
        return self._forward(network, x)

    # -- the paper's evaluation mode ----------------------------------------
    def predict_proba_from_mask_prompts(self, X, masks, band_names=None, random_state=0):
        """Mining probability with point prompts sampled from reference ``masks`` (the paper's evaluation mode).

        This uses the ground truth to prompt: report it as the paper did, not
        as a map accuracy. Returns (N, H, W) float32.
        """
        selected = self._select_bands(X, band_names)
        masks = check_masks(masks, selected, name="masks")
        generator = torch.Generator().manual_seed(random_state)

        def prompted(network, x, rows):
            y = torch.from_numpy(masks[rows]).float()[:, None].to(x.device)
            return self._decode(network, x, *self._mask_prompts(y, generator))

        return self._batched_proba(selected, prompted)

    def score_from_mask_prompts(self, X, y, band_names=None):
        """Mining IoU in the paper's evaluation mode (prompts from the reference masks)."""
        predicted = (self.predict_proba_from_mask_prompts(X, y, band_names) > self.threshold).astype(np.uint8)
        return segmentation_scores(check_masks(y, X), predicted)["iou"]
