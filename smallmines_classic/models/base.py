"""The estimator face shared by every smallmines segmenter, classic or deep.

A segmenter takes X of shape (N, C, H, W) whose C bands are named (by
default the 13 SmallMinesDS bands, in file order), selects the bands it was
built for by name, and returns per-pixel mining probabilities of shape
(N, H, W). Subclasses implement ``fit`` and ``_predict_proba_selected``.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..bands import BAND_NAMES, band_indices, resolve_bands
from ..errors import BandError, InputError
from ..metrics import segmentation_scores
from .domain import check_domain, guard, sample_pixels
from .persistence import load_model, save_model

__all__ = ["SegmenterMixin", "check_images", "check_masks"]


def check_images(X, band_names=None, name="X"):
    """Validate an image stack and name its bands.

    Returns
    -------
    X : ndarray of shape (N, C, H, W)
    band_names : tuple of str
        ``band_names`` resolved, or the 13 SmallMinesDS bands when X has 13 bands.
    """
    if not hasattr(X, "ndim") or X.ndim != 4:
        raise InputError(f"{name} must be an array of shape (N, C, H, W), got {getattr(X, 'shape', type(X).__name__)}")
    if band_names is None:
        if X.shape[1] != len(BAND_NAMES):
            raise BandError(
                f"{name} has {X.shape[1]} bands: pass band_names=... to say which they are "
                f"(without it, X must hold the {len(BAND_NAMES)} SmallMinesDS bands {list(BAND_NAMES)})"
            )
        return X, BAND_NAMES
    band_names = resolve_bands(band_names)
    if len(band_names) != X.shape[1]:
        raise BandError(f"{name} has {X.shape[1]} bands but band_names names {len(band_names)}: {list(band_names)}")
    return X, band_names


def check_masks(y, X, name="y"):
    """Validate a mask stack against its images: shape (N, H, W), values {0, 1}; returns uint8."""
    y = np.asarray(y)
    expected = (X.shape[0], *X.shape[2:])
    if y.shape != expected:
        raise InputError(f"{name} must have shape {expected} to match X {X.shape}, got {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 1):
        raise InputError(f"{name} must hold 0 (background) or 1 (mining), found values {np.unique(y)[:10].tolist()}")
    return y.astype(np.uint8, copy=False)


class SegmenterMixin:
    """``predict`` / ``predict_proba`` / ``score`` / ``save`` / ``load`` for a band-aware segmenter.

    Subclasses store their band selection in ``self.bands`` and a
    ``self.threshold``, set ``self.band_names_`` in ``fit`` and implement
    ``_predict_proba_selected(X)`` for X holding exactly those bands. They
    also set ``self.band_stats_`` (:func:`smallmines_classic.models.domain.band_statistics`
    of the training pixels), which ``predict`` checks inputs against; models
    without it (saved before it existed) skip the check.
    """

    def _band_positions(self, X, band_names):
        """X validated, and the positions of the fitted bands in it; refuses input lacking them."""
        check_is_fitted(self, "band_names_")
        X, names = check_images(X, band_names)
        try:
            return X, band_indices(self.band_names_, names)
        except ValueError as error:
            raise BandError(f"{type(self).__name__} was trained on {error}") from None

    def _select_bands(self, X, band_names):
        """X reduced to the fitted bands, in the fitted order."""
        X, positions = self._band_positions(X, band_names)
        return X[:, positions] if positions != list(range(X.shape[1])) else X

    def predict_proba(self, X, band_names=None):
        """Mining probability of every pixel.

        Parameters
        ----------
        X : ndarray of shape (N, C, H, W)
        band_names : sequence of str, optional
            Names of the C bands; default: the 13 SmallMinesDS bands.

        Returns
        -------
        ndarray of shape (N, H, W), float32

        Notes
        -----
        No domain check here: scene mapping calls this once per window,
        having checked the scene as a whole. :meth:`predict` checks.
        """
        return self._predict_proba_selected(self._select_bands(X, band_names))

    def predict(self, X, band_names=None, strict=False):
        """Mining mask: ``predict_proba > threshold``, shape (N, H, W), uint8.

        Strictly greater, so a tie at 0.5 (half the trees each way) is
        background, as scikit-learn's ``predict`` (argmax, first class wins) has it.

        A sample of X's pixels is first compared with the training pixels
        (see :mod:`smallmines_classic.models.domain`): a band out of range gives a
        ``DomainWarning`` naming the band and the likely cause (reflectance
        scaled 0-1, the Sentinel-2 offset left in, Sentinel-1 in linear
        power, bands in another order, or a sensor's bands shifted), as does
        a band with no valid pixel; with ``strict=True`` a ``DomainError``.
        """
        if getattr(self, "band_stats_", None) is not None:
            X, positions = self._band_positions(X, band_names)
            guard(check_domain(self.band_stats_, sample_pixels(X, positions), self.band_names_), "X", strict)
        return (self.predict_proba(X, band_names) > self.threshold).astype(np.uint8)

    def score(self, X, y, band_names=None):
        """Mining-class IoU over all pixels of X (the paper's score)."""
        return segmentation_scores(check_masks(y, X), self.predict(X, band_names))["iou"]

    def save(self, path):
        """Write the fitted model, with its band names, recipe and versions, to ``path``.

        The file runs no code when read: a forest is written as skops (``.skops``), a deep model as safetensors
        with a JSON header (``.safetensors``); see :mod:`smallmines_classic.models.persistence`.
        """
        check_is_fitted(self, "band_names_")
        return save_model(path, self)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`.

        ``ModelFileError`` for other classes, versions, damaged or pickle files.
        """
        return load_model(path, cls.__name__)
