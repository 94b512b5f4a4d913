"""Forest inference engines: who computes a fitted forest's mining probabilities.

- ``"sklearn"``: the forest's own ``predict_proba`` (scikit-learn's, or cuML's
  for a forest fitted on the GPU in this process); the reference.
- ``"numba"``: the forest packed into flat arrays (8 bytes a node and its
  float64 value) and walked by a compiled kernel. Its probabilities are **identical** to scikit-learn's at
  ``n_jobs=1``, bit for bit: each pixel's tree outputs are summed in tree
  order from 0.0 and divided by the number of trees, as scikit-learn does,
  with scikit-learn's leaf values and its comparison of float32 features
  with float64 thresholds (``<=`` goes left, NaN goes where the tree sends
  missing values). scikit-learn with ``n_jobs > 1`` adds the trees in the
  order its threads finish, so its own output can move by a rounding error
  from run to run; ours does not.
- ``"nvforest"``: NVIDIA's nvForest (the ``nvforest`` or ``gpu`` extra), in
  double precision, on the GPU or in its CPU mode.

``select_engine`` turns the estimator's ``engine`` parameter into one of
these; ``build_engine`` makes the callable that maps a float32 feature matrix
(n_pixels, n_features) to the float64 mining probability of each pixel.

numba is imported only when a numba engine is built, so importing
smallmines never pays for it. The kernels are compiled on first use and
cached on disk by numba (beside this file, or, where the package is
read-only, in numba's user-wide cache folder, ``NUMBA_CACHE_DIR``); where no
cache folder is writable they are compiled in memory, once per process.
"""

import copy
import functools
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._backend import _gpu_problem, require, to_numpy
from ..errors import DeviceError, InputError, MissingExtraError

__all__ = ["ENGINES", "NumbaForest", "NvForest", "PackedForest", "build_engine", "check_engine", "check_features",
           "float32_at_most", "numba_available", "nvforest_available", "pack_forest", "select_engine"]

ENGINES = ("auto", "sklearn", "numba", "nvforest")

#: Pixels per task of the numba engine. Each task walks its pixels through one tree after another, so
#: a tree is read from memory once per task: larger tasks read the forest less often.
CHUNK_PIXELS = 262144


def check_engine(engine):
    """Refuse an ``engine`` parameter that is not one of :data:`ENGINES`."""
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {list(ENGINES)}, got {engine!r}")


@functools.cache
def numba_available():
    """Whether numba imports here (a missing or broken install falls back to scikit-learn)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def nvforest_available():
    """Whether nvForest imports here (the gpu extra); it runs in its CPU mode without a GPU."""
    try:
        import nvforest  # noqa: F401
    except ImportError:
        return False
    return True


def _nvforest_gpu_problem():
    return _gpu_problem(("cupy", "nvforest"))


def select_engine(engine, device, fitted_on):
    """The engine and the device it runs on, ``(name, "cpu" | "gpu")``, for an estimator's parameters.

    Parameters
    ----------
    engine : {"auto", "sklearn", "numba", "nvforest"}
    device : {"cpu", "gpu", "auto"}
        The estimator's ``device`` parameter: ``"gpu"`` or ``"auto"`` let
        inference use a GPU, ``"cpu"`` never does.
    fitted_on : {"cpu", "gpu"}
        Where the forest was fitted (``device_``); ``"gpu"`` is a cuML forest.

    ``"auto"`` never fails: nvForest on the GPU when the GPU is allowed and
    usable (or the forest is cuML's), else cuML's own prediction for a cuML
    forest, else numba when it imports, else scikit-learn. An explicit
    ``"nvforest"`` runs on the GPU when ``device`` allows it and one is
    usable, on its CPU mode otherwise; ``device="gpu"`` without a usable GPU
    raises.
    """
    check_engine(engine)
    gpu_wanted = fitted_on == "gpu" or device in ("gpu", "auto")
    if engine == "auto":
        if gpu_wanted and _nvforest_gpu_problem() is None:
            return "nvforest", "gpu"
        if fitted_on == "gpu":
            return "sklearn", "gpu"
        return ("numba" if numba_available() else "sklearn"), "cpu"
    if engine == "nvforest":
        problem = _nvforest_gpu_problem() if gpu_wanted else "device='cpu'"
        if problem is not None and device == "gpu":
            raise DeviceError(f"engine='nvforest' with device='gpu' needs nvforest, cupy and a CUDA GPU, "
                              f"but {problem}; install with pip install 'smallmines[gpu]'")
        return "nvforest", "gpu" if problem is None else "cpu"
    return engine, fitted_on if engine == "sklearn" else "cpu"


def build_engine(name, where, forest, n_jobs=None):
    """A callable ``features (n, F) float32 -> mining probability (n,) float64`` for ``forest``.

    Parameters
    ----------
    name, where : str
        As returned by :func:`select_engine`.
    forest : RandomForestClassifier
        scikit-learn's (cuML's too for ``"sklearn"`` on the GPU).
    n_jobs : int or None
        CPU threads of the numba engine and of scikit-learn's, as scikit-learn counts them (None: 1, -1: all
        cores); scikit-learn's forest predicts with these, not with the ``n_jobs`` it was fitted with.
    """
    if name == "sklearn":
        if where == "cpu":  # a shallow copy shares the trees; the model's own forest keeps its fitted parameters
            forest = copy.copy(forest)
            forest.n_jobs = n_jobs
        return functools.partial(_forest_proba, forest, where)
    if name == "numba":
        return NumbaForest(pack_forest(forest), n_jobs)
    return NvForest(forest, where)


def _forest_proba(forest, where, features):
    if where == "gpu":
        import cupy

        return to_numpy(forest.predict_proba(cupy.asarray(features)))[:, 1]
    return forest.predict_proba(features)[:, 1]


def check_features(features, n_features):
    """``features`` as C-ordered float32 (n_pixels, n_features), refused as scikit-learn refuses it: with infinities.

    NaN is allowed: each tree sends it where it sent missing values in training.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != n_features:
        raise InputError(f"features must have shape (n_pixels, {n_features}), got {features.shape}")
    if np.isinf(features).any():
        raise InputError("Input X contains infinity or a value too large for dtype('float32').")
    return features


# -- numba ---------------------------------------------------------------------

class PackedForest:
    """A scikit-learn forest as flat arrays for the numba kernels (layout: :mod:`._forest_kernels`).

    Attributes
    ----------
    words : ndarray of uint32, shape (2 * n_nodes,)
        Every node of every tree: its float32 threshold's bits and its code.
    values : ndarray of float64, shape (n_nodes,)
        Each node's mining probability, scikit-learn's value exactly (read at leaves).
    tree_start : ndarray of int64, shape (n_trees,)
        Where each tree's nodes start.
    shift : int
        Bits below a code's child offset: the feature, the NaN and the leaf flags.
    n_features : int
    """

    def __init__(self, words, values, tree_start, shift, n_features):
        self.words, self.values, self.tree_start = words, values, tree_start
        self.shift, self.n_features = shift, n_features

    @property
    def nbytes(self):
        return self.words.nbytes + self.values.nbytes + self.tree_start.nbytes


def float32_at_most(threshold):
    """The largest float32 <= each float64 threshold: for float32 x, ``x <= t`` exactly when ``x <= this``."""
    rounded = threshold.astype(np.float32)
    above = rounded.astype(np.float64) > threshold
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def pack_forest(forest, positive_class=1):
    """Pack a fitted scikit-learn ``RandomForestClassifier`` for the numba kernels (see :class:`PackedForest`)."""
    kernels = _kernels()
    column = int(np.flatnonzero(forest.classes_ == positive_class)[0])
    n_features = int(forest.n_features_in_)
    shift = max(1, (n_features - 1).bit_length()) + 2
    trees = [estimator.tree_ for estimator in forest.estimators_]
    limit = 1 << (31 - shift)
    for number, tree in enumerate(trees):
        if tree.node_count >= limit:
            raise InputError(f"tree {number} has {tree.node_count} nodes, more than the numba engine's {limit} "
                             f"for {n_features} features; use engine='sklearn'")
    counts = np.array([tree.node_count for tree in trees], np.int64)
    tree_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    words = np.empty(2 * int(counts.sum()), np.uint32)
    values = np.empty(int(counts.sum()), np.float64)
    for tree, start in zip(trees, tree_start):
        stop = start + tree.node_count
        nan_left = getattr(tree, "missing_go_to_left", None)  # scikit-learn >= 1.3
        kernels.pack_tree(tree.children_left, tree.children_right, tree.feature.astype(np.int64),
                          float32_at_most(tree.threshold).view(np.uint32),
                          np.zeros(tree.node_count, np.uint8) if nan_left is None else np.asarray(nan_left, np.uint8),
                          np.ascontiguousarray(tree.value[:, 0, column]), tree.weighted_n_node_samples, shift,
                          words[2 * start:2 * stop], values[start:stop])
    return PackedForest(words, values, tree_start, shift, n_features)


def _threads(n_jobs):
    """scikit-learn's reading of ``n_jobs``: None is 1, -1 every core, -2 all but one."""
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


class NumbaForest:
    """The numba engine: a packed forest, walked by ``threads`` threads over chunks of :data:`CHUNK_PIXELS` pixels."""

    def __init__(self, packed, n_jobs=None):
        self.packed, self.threads = packed, _threads(n_jobs)
        self._predict_chunk = _kernels().predict_chunk

    def __call__(self, features):
        packed = self.packed
        features = check_features(features, packed.n_features)
        out = np.empty(len(features), np.float64)
        n = len(features)

        # Equal tasks of at most CHUNK_PIXELS, as many as a multiple of the threads, so that none waits on
        # a last short one; tasks under 4096 pixels are not worth a thread.
        tasks = -(-max(-(-n // CHUNK_PIXELS), 1) // self.threads) * self.threads
        size = max(-(-n // tasks), min(CHUNK_PIXELS, 4096))

        def run(start):
            self._predict_chunk(features.reshape(-1), packed.n_features, packed.words.view(np.float32), packed.words,
                                packed.tree_start, packed.values, packed.shift, out, start, min(start + size, n))

        starts = range(0, n, size)
        if self.threads == 1 or len(starts) == 1:
            for start in starts:
                run(start)
        else:  # the kernel releases the GIL; plain threads work under any numba threading layer, and concurrently
            with ThreadPoolExecutor(min(self.threads, len(starts))) as pool:
                list(pool.map(run, starts))
        return out


def _kernels():
    """The numba kernels' module, imported on first use (numba compiles each kernel at its first call)."""
    if not numba_available():
        raise MissingExtraError("engine='numba' needs numba: pip install numba (or use engine='auto' or 'sklearn')")
    from . import _forest_kernels

    return _forest_kernels


# -- nvforest -------------------------------------------------------------------

class NvForest:
    """The nvForest engine: the forest loaded into nvForest, in double precision, on ``"cpu"`` or ``"gpu"``."""

    def __init__(self, forest, where):
        nvforest = require("nvforest", "gpu")
        with warnings.catch_warnings():  # treelite's note that nvforest's bundled treelite is older than the Python one
            warnings.filterwarnings("ignore", message=".*originated from a newer Treelite version",
                                    category=UserWarning)
            self.model = nvforest.load_from_sklearn(forest, device=where, precision="double")
        self.where = where

    def __call__(self, features):
        return to_numpy(self.model.predict_proba(check_features(features, self.model.num_features)))[:, 1]
