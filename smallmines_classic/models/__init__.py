"""Estimators and what they are made of: the shared face, pixel features, undersampling, the forest, model files."""

from ._domain import DomainError, DomainWarning
from .base import SegmenterMixin
from .features import DERIVED_FEATURES, feature_names, pixel_features, required_bands
from .forest import PAPER_PRESETS, RandomForestSegmenter
from .persistence import ModelFileError, load_model, save_model
from .sampling import undersample_indices

__all__ = ["DERIVED_FEATURES", "DomainError", "DomainWarning", "ModelFileError", "PAPER_PRESETS", "RandomForestSegmenter",
           "SegmenterMixin", "feature_names", "load_model", "pixel_features", "required_bands", "save_model",
           "undersample_indices"]
