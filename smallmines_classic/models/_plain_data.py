"""Plain data as JSON, for the records of model files: every object tagged with its Python type.

Tuples, paths and numeric numpy arrays come back as they were (``get_params``
identical after a load), and a user's dict can never be mistaken for a tag.
"""

from pathlib import Path, PurePath

import numpy as np

__all__ = ["to_json_data", "from_json_data"]


def to_json_data(value, where):
    """``value`` as JSON data: None, bool, int, float, str, list, tuple, str-keyed dict, path, numeric numpy data.

    Raises TypeError naming ``where`` for anything else: a model file holds
    plain data only.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{where} is a numpy {array.dtype} array; a model file holds numeric arrays only")
        return {"__type__": "ndarray" if isinstance(value, np.ndarray) else "numpy_scalar",
                "dtype": array.dtype.str, "shape": list(array.shape), "data": array.ravel().tolist()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [to_json_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__type__": "tuple", "items": [to_json_data(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"{where} is a dict with keys that are not strings; a model file needs string keys")
        return {"__type__": "dict", "items": {k: to_json_data(v, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, PurePath):
        return {"__type__": "path", "value": str(value)}
    raise TypeError(f"{where} is a {type(value).__name__}; a model file holds plain data only (None, bool, int, float, "
                    "str, lists, tuples, dicts with string keys, paths, numeric numpy arrays)")


def from_json_data(data):
    """The value :func:`to_json_data` encoded; ValueError for anything it cannot have written."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [from_json_data(v) for v in data]
    if not isinstance(data, dict):
        raise ValueError(f"unexpected JSON value of type {type(data).__name__}")
    kind = data.get("__type__")
    if kind == "tuple":
        return tuple(from_json_data(v) for v in data["items"])
    if kind == "dict":
        return {str(k): from_json_data(v) for k, v in data["items"].items()}
    if kind == "path":
        return Path(data["value"])
    if kind in ("ndarray", "numpy_scalar"):
        dtype = np.dtype(data["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"numpy dtype {dtype} is not numeric")
        array = np.array(data["data"], dtype=dtype).reshape(data["shape"])
        return array[()] if kind == "numpy_scalar" else array
    raise ValueError(f"unknown JSON tag {kind!r}")
