"""Estimators and what they are made of: the shared face, pixel features, undersampling, the forest, model files."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "domain": ["DomainError", "DomainWarning"],
    "base": ["SegmenterMixin"],
    "compact": ["CompactForest", "compact_forest", "convert_to_compact"],
    "features": ["DERIVED_FEATURES", "feature_names", "pixel_features", "required_bands"],
    "forest": ["PAPER_PRESETS", "RandomForestSegmenter"],
    "persistence": ["ModelFileError", "load_model", "save_model"],
    "sampling": ["undersample_indices"],
})
