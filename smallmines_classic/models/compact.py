"""The compact forest: a ``RandomForestSegmenter`` reduced to what prediction needs, in a file of plain arrays.

A forest file (skops) holds scikit-learn's trees: about 80 bytes a node
(children, feature, threshold, impurity, sample counts, both classes'
values). Prediction needs 12: the node packed as the numba engine walks it
(its float32 threshold and a code word, see :mod:`._forest_kernels`) and,
at leaves only, the float64 mining probability, scikit-learn's own value.
The thresholds are the largest float32 not above scikit-learn's float64
ones, so every float32 decision is the same; the leaf values are not
rounded, so the probabilities, and the maps, are scikit-learn's bit for bit.

A compact forest file is a `safetensors <https://huggingface.co/docs/safetensors>`_
file written with numpy alone: three arrays (``words``, ``leaf_values``,
``tree_start``) and a JSON record in its metadata with the bands, the
feature recipe (bands and derived indices: the forest's whole
normalisation), the domain statistics, the parameters of the full model it
was made from, and model file format 3. It is read without pickle and
without building any scikit-learn tree, and checked node by node before the kernel walks it:
a damaged or hostile file cannot send it outside its trees or round in a
circle.
"""

import json

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._guards import check_output_not_input
from ..errors import InputError, MissingExtraError, ModelFileError
from . import _forest_engines
from ._plain_data import from_json_data, to_json_data
from .base import SegmenterMixin
from .forest import RandomForestSegmenter, _ForestPredictor
from .persistence import installed_versions, load_model, save_model

__all__ = ["CompactForest", "compact_forest", "convert_to_compact"]

#: The parameters a compact forest keeps from its full model: those prediction reads.
KEPT_PARAMS = ("bands", "derived", "threshold", "batch_size", "n_jobs", "verbose", "engine")
_ENGINES = ("auto", "numba")
# The arrays of a file, in the order written (widest first, so each starts aligned): name, dtype, safetensors dtype.
_ARRAYS = (("leaf_values", np.dtype("<f8"), "F64"), ("tree_start", np.dtype("<i8"), "I64"),
           ("words", np.dtype("<u4"), "U32"))
_NO_NUMBA = ("a CompactForest is checked and predicts with numba, which does not import here: pip install numba, or "
             "use the full .skops model file (scikit-learn's engine)")
# The fitted attributes a file holds (the packed trees aside): exactly these are read back.
_ATTRIBUTES = ("band_names_", "feature_names_", "n_training_pixels_", "band_stats_", "forest_params_")


class CompactForest(_ForestPredictor, SegmenterMixin, BaseEstimator):
    """A fitted random forest for inference only: the packed trees of a ``RandomForestSegmenter``.

    Made by :func:`compact_forest` (or ``smallmines convert-model rf.skops
    -o rf_compact.safetensors``) and read by :func:`~smallmines_classic.models.persistence.load_model`.
    ``predict``, ``predict_proba``, ``score``, the band checks and the domain
    guard are the full model's, and give its probabilities bit for bit, with
    the numba engine. It cannot be fitted.

    Parameters
    ----------
    bands, derived, threshold, batch_size, n_jobs, verbose
        As for :class:`~smallmines_classic.models.forest.RandomForestSegmenter`,
        taken from the full model.
    engine : {"auto", "numba"}, default "auto"
        The numba engine, whichever is given; ``"sklearn"`` and ``"nvforest"``
        need the full model's scikit-learn trees and are refused.

    Attributes
    ----------
    band_names_, feature_names_, n_training_pixels_, band_stats_
        The full model's.
    forest_params_ : dict
        The full model's parameters (``get_params()``), for the record.
    packed_ : PackedForest
        The trees, as the numba engine walks them.
    n_estimators_ : int
        Number of trees.
    """

    def __init__(self, bands="rgb+", derived=(), threshold=0.5, batch_size=32, n_jobs=None, verbose=False,
                 engine="auto"):
        self.bands = bands
        self.derived = derived
        self.threshold = threshold
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.engine = engine

    def fit(self, X, y, band_names=None):
        """Refused: a compact forest is for inference; fit a ``RandomForestSegmenter`` and convert it."""
        raise InputError("CompactForest is inference-only and cannot be fitted: fit a RandomForestSegmenter, save it "
                         "(.skops) and convert it with compact_forest(model) or smallmines convert-model")

    @property
    def n_estimators_(self):
        check_is_fitted(self, "packed_")
        return len(self.packed_.tree_start)

    def engine_used(self):
        """``("numba", "cpu")``: the only engine of a compact forest; another ``engine`` is refused."""
        check_is_fitted(self, "packed_")
        if self.engine not in _ENGINES:
            raise InputError(f"a CompactForest predicts with the numba engine: engine must be one of {list(_ENGINES)}, "
                             f"got {self.engine!r} (the full .skops model file has the other engines)")
        return "numba", "cpu"

    def _engine_key(self):
        return self.engine, self.n_jobs

    def _build_engine(self):
        self.engine_used()
        if not _forest_engines.numba_available():
            raise MissingExtraError(_NO_NUMBA)
        return _forest_engines.NumbaForest(self.packed_, self.n_jobs)


def compact_forest(model):
    """The :class:`CompactForest` of a fitted ``RandomForestSegmenter`` (its trees packed; the model is unchanged)."""
    if not isinstance(model, RandomForestSegmenter):
        raise InputError(f"compact_forest takes a fitted RandomForestSegmenter, got a {type(model).__name__}")
    check_is_fitted(model, "forest_")
    params = model.get_params()
    compact = CompactForest(**{name: params[name] for name in KEPT_PARAMS})
    if compact.engine not in _ENGINES:  # the full model's choice of another engine does not travel
        compact.engine = "auto"
    compact.packed_ = _forest_engines.pack_forest(model._portable().forest_)
    compact.band_names_, compact.feature_names_ = tuple(model.band_names_), tuple(model.feature_names_)
    compact.n_training_pixels_ = int(model.n_training_pixels_)
    compact.band_stats_ = getattr(model, "band_stats_", None)
    compact.forest_params_ = params
    return compact


def convert_to_compact(source, target):
    """Write the compact forest file of the forest file ``source`` (``.skops``) to ``target``; returns ``target``.

    Raises
    ------
    ModelFileError
        If ``source`` is no forest file (a pickle among them: see
        :func:`~smallmines_classic.models.persistence.convert_legacy_model`).
    """
    check_output_not_input(target, source)
    return save_model(target, compact_forest(load_model(source, "RandomForestSegmenter")))


# -- the file ------------------------------------------------------------------------------------------------------

def _leaves(packed):
    return ((packed.words[1::2] >> np.uint32(packed.shift - 1)) & 1).astype(bool)


def write_compact(path, model, record):
    """Write ``model`` (a fitted :class:`CompactForest`) and its ``record`` to ``path`` as safetensors."""
    packed = model.packed_
    arrays = {"leaf_values": packed.values[_leaves(packed)], "tree_start": packed.tree_start, "words": packed.words}
    attributes = {name: getattr(model, name) for name in _ATTRIBUTES}
    record = {**record, "versions": installed_versions("numpy", "scikit-learn"),
              "forest": {"n_features": packed.n_features, "shift": packed.shift},
              "params": to_json_data(model.get_params(), "parameter"),
              "attributes": to_json_data(attributes, "attribute")}
    header, offset = {}, 0
    for name, dtype, code in _ARRAYS:
        array = arrays[name] = np.ascontiguousarray(arrays[name], dtype)
        header[name] = {"dtype": code, "shape": [len(array)], "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header["__metadata__"] = {"smallmines": json.dumps(record)}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # the arrays start 8-byte aligned, as safetensors pads its header
    with open(path, "wb") as handle:
        handle.write(len(raw).to_bytes(8, "little") + raw)
        for name, _, _ in _ARRAYS:
            arrays[name].tofile(handle)


def read_compact(path, header, record):
    """The :class:`CompactForest` in the compact forest file ``path`` (safetensors ``header``, checked ``record``)."""
    if not _forest_engines.numba_available():
        raise MissingExtraError(_NO_NUMBA)
    with open(path, "rb") as handle:
        start = 8 + int.from_bytes(handle.read(8), "little")
        handle.seek(0)
        buffer = bytearray(handle.read())  # writable, so the arrays are too (numba compiles for those)
    try:
        arrays = {}
        for name, dtype, code in _ARRAYS:
            entry = header[name]
            (length,), (begin, end) = entry["shape"], entry["data_offsets"]
            if entry["dtype"] != code or end - begin != length * dtype.itemsize:
                raise ValueError(f"array {name!r} is {entry['dtype']} of {length} with {end - begin} bytes")
            array = np.frombuffer(buffer, dtype, length, start + begin)
            arrays[name] = array.astype(dtype.newbyteorder("="), copy=False)
        n_features, shift = int(record["forest"]["n_features"]), int(record["forest"]["shift"])
        model = CompactForest(**from_json_data(record["params"]))
        attributes = from_json_data(record["attributes"])
        if sorted(attributes) != sorted(_ATTRIBUTES):
            raise ValueError(f"attributes {sorted(attributes)}, not {sorted(_ATTRIBUTES)}")
        for name, value in attributes.items():
            setattr(model, name, value)
        n_feature_names = len(model.feature_names_)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path} is a damaged compact forest file ({type(error).__name__}: {error})") from error
    packed = _forest_engines.PackedForest(arrays["words"], None, arrays["tree_start"], shift, n_features)
    packed.values = _checked_values(path, packed, arrays["leaf_values"], n_feature_names)
    model.packed_ = packed
    return model


def _checked_values(path, packed, leaf_values, n_features):
    """The node values of packed trees read from ``path``, after checking that the kernels can walk every node.

    The trees must tile the nodes; then one compiled pass
    (:func:`._forest_kernels.unpack_checked`) checks each node (a child
    after its node and inside its tree, a feature that exists, a leaf that
    points to itself) and puts the leaf values in place.
    """
    words, tree_start, shift = packed.words, packed.tree_start, packed.shift
    n_nodes = len(words) // 2
    if packed.n_features != n_features or n_features < 1 or shift != max(1, (n_features - 1).bit_length()) + 2:
        problem = f"{packed.n_features} features and shift {shift} for {n_features} feature names"
    elif len(words) % 2 or not len(tree_start) or tree_start[0] != 0 or (np.diff(tree_start) <= 0).any() \
            or tree_start[-1] >= n_nodes:
        problem = "trees that do not tile its nodes"
    else:
        values = np.zeros(n_nodes, np.float64)
        bad = _forest_engines._kernels().unpack_checked(words, tree_start, leaf_values, shift, n_features, values)
        if bad < 0:
            return values
        problem = (f"{len(leaf_values)} leaf values that do not fit its leaves" if bad == n_nodes else
                   f"nodes that point outside their tree or hold no probability (node {bad})")
    raise ModelFileError(f"{path} is a damaged compact forest file: it holds {problem}")
