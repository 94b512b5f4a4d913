"""Random-forest pixel segmenter on the CPU (scikit-learn) or GPU (cuML), with a choice of inference engines."""

import copy
import threading

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .._backend import resolve_device
from ..bands import band_indices
from ..errors import DeviceError, InputError
from . import _forest_engines
from .base import SegmenterMixin, check_images, check_masks
from .domain import band_statistics
from .features import feature_names, pixel_features, required_bands
from .sampling import pixels_with_data, sorted_sample, undersample_indices

__all__ = ["RandomForestSegmenter", "PAPER_PRESETS"]

PAPER_PRESETS = {
    "paper-rgb": dict(bands="rgb", n_estimators=300, undersample=True, sampling_ratio=1.0, random_state=42),
    "paper-rgb+": dict(bands="rgb+", n_estimators=300, undersample=True, sampling_ratio=1.0, random_state=42),
}
"""The paper's random-forest baselines (Table I): 300 trees, balanced undersampling of the majority class, seed 42."""

_CUML_DEFAULT_DEPTH = 16

# One engine build at a time, so threads that share a model (a Dask worker's) build it once.
_ENGINE_BUILD = threading.Lock()


class _ForestPredictor:
    """Batched probabilities of a fitted forest through an inference engine, built on first use and kept.

    Subclasses give ``_build_engine()`` (a callable, float32 features -> mining
    probability) and ``_engine_key()`` (the parameters it depends on): the
    engine is rebuilt when the key changes, never pickled.
    """

    def __getstate__(self):
        # The built engine (compiled arrays, an nvForest handle) stays in this process: a copy sent to a
        # Dask worker or written to a model file builds its own on first use.
        state = dict(super().__getstate__())
        state.pop("_engine_cache", None)
        return state

    def _forest_proba(self, features):
        """Mining probability of each row of ``features``, by the engine, built once and kept until its key changes."""
        key = self._engine_key()
        with _ENGINE_BUILD:
            cached = getattr(self, "_engine_cache", None)
            if cached is None or cached[0] != key:
                cached = self._engine_cache = (key, self._build_engine())
        return cached[1](features)

    def _predict_proba_selected(self, X):
        out = np.empty((X.shape[0], *X.shape[2:]), np.float32)
        starts = range(0, X.shape[0], self.batch_size)
        for start in tqdm(starts, desc="predicting", unit="batch", disable=not self.verbose):
            batch = X[start:start + self.batch_size]
            features = pixel_features(batch, self.bands, self.derived, band_names=self.band_names_)
            out[start:start + len(batch)] = self._forest_proba(features).reshape(len(batch), *X.shape[2:])
        return out


class RandomForestSegmenter(_ForestPredictor, SegmenterMixin, BaseEstimator):
    """Pixel-wise random forest that maps mining from named bands.

    Each pixel is one sample; its features are the selected bands (and any
    derived indices, see :mod:`smallmines_classic.models.features`). Training pixels
    are drawn by undersampling the majority class on pixel indices, so memory
    follows the sample size, not the dataset.

    Parameters
    ----------
    bands : str or sequence of str, default "rgb+"
        Bands to train on: a set name (``"rgb"``, ``"rgb+"``, ``"s2"``, ``"all"``)
        or band names.
    derived : sequence of str, default ()
        Derived indices to add as features (``"ndvi"``, ``"mndwi"``, ``"slope"``, ...).
    n_estimators : int, default 300
    max_depth : int or None, default None
        None grows full trees on the CPU; cuML needs a depth and uses 16.
    min_samples_leaf : int, default 1
    max_features : {"sqrt", "log2"}, int, float or None, default "sqrt"
    undersample : bool, default True
        Undersample the majority class before fitting.
    sampling_ratio : float, default 1.0
        Minority / majority ratio after undersampling (1.0 balances them).
    max_pixels : int or None, default None
        Cap on training pixels, drawn at random after undersampling.
    threshold : float, default 0.5
        A pixel is predicted as mining when its probability exceeds this.
    device : {"cpu", "gpu", "auto"}, default "cpu"
        ``"gpu"`` uses cuML on CuPy arrays and raises if either or a GPU is
        missing; ``"auto"`` falls back to the CPU with a warning.
    batch_size : int, default 32
        Images per prediction batch (bounds memory for any N).
    random_state : int or None, default None
        Seeds the undersampling and the forest.
    n_jobs : int or None, default None
        CPU threads of the scikit-learn forest and of the numba engine (-1: all cores). Predictions read it when
        they run, with every engine: ``set_params(n_jobs=...)`` on a fitted or loaded model changes them.
    verbose : bool, default False
        Progress bars over the trees being fitted (CPU) and over prediction batches.
    engine : {"auto", "sklearn", "numba", "nvforest"}, default "auto"
        Who computes the probabilities (see :mod:`smallmines_classic.models._forest_engines`):
        scikit-learn's ``predict_proba``; a compiled numba kernel whose
        probabilities are identical to scikit-learn's; or nvForest (the
        ``gpu`` extra), on the GPU when ``device`` allows it, else in its
        CPU mode. ``"auto"`` takes nvForest on the GPU for a GPU model
        (``device`` "gpu", or "auto" with a usable GPU), else numba when it
        imports, else scikit-learn; it never fails. The engine is built on
        the first prediction and kept (never saved: a model file holds the
        scikit-learn forest).

    Attributes
    ----------
    band_names_ : tuple of str
        Bands the model reads from its input: the trained bands, then any
        band only a derived index needs.
    feature_names_ : tuple of str
        Feature columns: the bands, then the derived indices.
    device_ : str
        ``"cpu"`` or ``"gpu"``, where the forest predicts. A cuML forest is
        saved as scikit-learn's (cuML 25.06+), so a loaded one is ``"cpu"``.
    forest_ : sklearn or cuML RandomForestClassifier
    n_training_pixels_ : int
    n_missing_pixels_ : int
        Pixels left out of training because a band the model reads is missing there (NaN: declared no-data).
    band_stats_ : dict
        Quantiles of each band of ``band_names_`` over a sample of all
        training pixels (plain JSON data), checked by ``predict`` and scene mapping.
    """

    def __init__(
        self,
        bands="rgb+",
        derived=(),
        n_estimators=300,
        max_depth=None,
        min_samples_leaf=1,
        max_features="sqrt",
        undersample=True,
        sampling_ratio=1.0,
        max_pixels=None,
        threshold=0.5,
        device="cpu",
        batch_size=32,
        random_state=None,
        n_jobs=None,
        verbose=False,
        engine="auto",
    ):
        self.bands = bands
        self.derived = derived
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.undersample = undersample
        self.sampling_ratio = sampling_ratio
        self.max_pixels = max_pixels
        self.threshold = threshold
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.engine = engine

    def __setstate__(self, state):
        super().__setstate__({"engine": "auto", **state})  # files written before engines existed

    @classmethod
    def from_preset(cls, name, **overrides):
        """A segmenter with the paper's settings (``"paper-rgb"`` or ``"paper-rgb+"``), optionally overridden."""
        if name not in PAPER_PRESETS:
            raise InputError(f"unknown preset {name!r}; valid are {sorted(PAPER_PRESETS)}")
        return cls(**{**PAPER_PRESETS[name], **overrides})

    def fit(self, X, y, band_names=None):
        """Fit the forest on the pixels of X.

        Parameters
        ----------
        X : ndarray of shape (N, C, H, W)
        y : ndarray of shape (N, H, W), values {0, 1}
        band_names : sequence of str, optional
            Names of the C bands of X; default: the 13 SmallMinesDS bands.

        Returns
        -------
        self
        """
        X, input_names = check_images(X, band_names)
        y = check_masks(y, X)
        feature_columns = feature_names(self.bands, self.derived)
        _forest_engines.check_engine(self.engine)
        if not np.any(y) or np.all(y):
            raise InputError("y must hold both mining (1) and background (0) pixels to fit a segmenter")
        device = resolve_device(self.device)

        present = pixels_with_data(X, band_indices(required_bands(self.bands, self.derived), input_names))
        labels = y.reshape(-1) if present is None else y.reshape(-1)[present]
        n_missing = y.size - labels.size
        if n_missing and (not np.any(labels) or np.all(labels)):
            raise InputError(f"the {labels.size} pixels of y with data in every band read must hold both mining (1) "
                             f"and background (0) pixels; {n_missing} pixels have none (NaN)")
        rng = np.random.default_rng(self.random_state)
        if self.undersample:
            index = undersample_indices(labels, self.sampling_ratio, rng)
            if self.max_pixels is not None and len(index) > self.max_pixels:
                index = index[sorted_sample(len(index), self.max_pixels, rng)]
        else:
            index = sorted_sample(labels.size, min(labels.size, self.max_pixels or labels.size), rng)
        index = index if present is None else present[index]
        features = pixel_features(X, self.bands, self.derived, index, input_names)
        labels = y.reshape(-1)[index]

        self._engine_cache = None
        self.forest_ = self._fit_gpu(features, labels) if device == "gpu" else self._fit_cpu(features, labels)
        self.band_names_ = required_bands(self.bands, self.derived)
        self.feature_names_ = feature_columns
        self.device_ = device
        self.n_training_pixels_ = len(index)
        self.n_missing_pixels_ = n_missing
        self.band_stats_ = band_statistics(X, self.band_names_, band_indices(self.band_names_, input_names))
        return self

    def _forest_params(self):
        return dict(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                    max_features=self.max_features, random_state=self.random_state)

    def _fit_cpu(self, features, labels):
        forest = RandomForestClassifier(max_depth=self.max_depth, n_jobs=self.n_jobs, **self._forest_params())
        if not self.verbose:
            return forest.fit(features, labels)
        # For a progress bar the forest grows in steps (warm start), at least one tree per thread each. The trees
        # are those of a single fit: scikit-learn draws each tree's seed in turn and skips the seeds of trees grown.
        step = max(-(-self.n_estimators // 20), effective_n_jobs(self.n_jobs))
        with tqdm(total=self.n_estimators, desc="fitting trees", unit="tree") as bar:
            for grown in range(step, self.n_estimators + step, step):
                forest.set_params(n_estimators=min(grown, self.n_estimators), warm_start=True).fit(features, labels)
                bar.update(len(forest.estimators_) - bar.n)
        return forest.set_params(warm_start=False)

    def _fit_gpu(self, features, labels):
        import cupy
        from cuml.ensemble import RandomForestClassifier as CumlRandomForestClassifier

        forest = CumlRandomForestClassifier(max_depth=self.max_depth or _CUML_DEFAULT_DEPTH, **self._forest_params())
        return forest.fit(cupy.asarray(features), cupy.asarray(labels, dtype=cupy.int32))

    def _portable(self):
        """This model with a scikit-learn forest, for a model file: a cuML forest is converted, if cuML can."""
        if self.device_ != "gpu":
            return self
        convert = getattr(self.forest_, "as_sklearn", None)
        if convert is None:
            raise DeviceError("this cuML cannot convert its forest to scikit-learn (cuML 25.06 and later can): "
                              "upgrade cuML or fit with device='cpu' to save the model")
        portable = copy.copy(self)
        portable.forest_, portable.device_ = convert(), "cpu"
        return portable

    def engine_used(self):
        """``(engine, device)`` that predictions run on with the current parameters, e.g. ``("numba", "cpu")``."""
        check_is_fitted(self, "forest_")
        return _forest_engines.select_engine(self.engine, self.device, self.device_)

    def _engine_key(self):
        return self.engine, self.device, self.n_jobs

    def _build_engine(self):
        name, where = self.engine_used()
        forest = self.forest_ if name == "sklearn" else self._portable().forest_
        return _forest_engines.build_engine(name, where, forest, self.n_jobs)
