"""smallmines_deep: deep segmenters behind the smallmines estimator API.

``UNetSegmenter`` (segmentation-models-pytorch), ``PrithviSegmenter``
(TerraTorch) and ``SAM2Segmenter`` (sam2) take the same (N, C, H, W) arrays,
named bands and ``fit`` / ``predict`` / ``predict_proba`` / ``score`` / ``save``
/ ``load`` calls as ``smallmines_classic.RandomForestSegmenter``, and plug into
``smallmines_classic.predict_scene``. Needs the ``deep`` extra:
``pip install 'smallmines[deep]'``.
"""

from smallmines_classic._backend import install_hint
from smallmines_classic.errors import MissingExtraError

try:
    import torch  # noqa: F401
except ImportError as error:
    raise MissingExtraError(f"smallmines_deep needs PyTorch ({error}); {install_hint('deep')}") from error

from .base import DeepSegmenter
from .data import SmallMinesDataset
from .prithvi import PRITHVI_BANDS, PRITHVI_VARIANTS, PrithviSegmenter
from .sam import SAM2_CONFIGS, SAM2Segmenter
from .trainer import CheckpointMismatchError, TrainConfig
from .unet import UNetSegmenter

__all__ = [
    "CheckpointMismatchError",
    "DeepSegmenter",
    "PRITHVI_BANDS",
    "PRITHVI_VARIANTS",
    "PrithviSegmenter",
    "SAM2_CONFIGS",
    "SAM2Segmenter",
    "SmallMinesDataset",
    "TrainConfig",
    "UNetSegmenter",
]
