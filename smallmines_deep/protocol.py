"""The paper's deep models as Table I runs them, registered under the ``smallmines.protocol`` entry points.

Each builder takes the run's settings (a dict; missing keys take the paper's
values) and returns rows of ``(model label, band-set label, estimator)``.
``smallmines_classic.workflows.reproduce_table1`` finds them by name, so the
classic package never imports this one.
"""

from .prithvi import PrithviSegmenter
from .sam import SAM2Segmenter
from .unet import UNetSegmenter

__all__ = ["unet", "prithvi", "sam2"]


def _common(settings):
    return {key: settings[key] for key in ("epochs", "device", "random_state", "verbose")
            if settings.get(key) is not None}


def unet(settings):
    weights = settings.get("unet_weights", "imagenet")
    label = "U-Net (ImageNet)" if weights is not None else "U-Net (scratch)"
    model = UNetSegmenter(bands="rgb", encoder=settings.get("unet_encoder", "resnet50"), encoder_weights=weights,
                          **_common(settings))
    return [(label, "rgb", model)]


def prithvi(settings):
    variant = settings.get("prithvi_variant", "300")
    label = f"Prithvi-EO-2.0 {variant}M" if variant.isdigit() else f"Prithvi-EO-2.0 {variant}"
    model = PrithviSegmenter(variant=variant, weights=settings.get("prithvi_weights", "hub"),
                             decoder_channels=settings.get("prithvi_decoder_channels", 256), **_common(settings))
    return [(label, "rgb+", model)]


def sam2(settings):
    model = SAM2Segmenter(config=settings.get("sam_config", "hiera_small"),
                          checkpoint=settings.get("sam_checkpoint", "hub"),
                          image_size=settings.get("sam_image_size", 1024), **_common(settings))
    return [("SAM-2", "rgb", model)]
