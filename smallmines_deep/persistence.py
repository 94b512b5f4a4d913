"""Deep model files: safetensors weights plus a JSON header, never a pickle.

One file: the network's state dict as safetensors tensors, and in the
safetensors metadata (under ``"smallmines"``) the record written by
:func:`smallmines_classic.models.persistence.save_model` plus the class name, the
``__init__`` arguments (``get_params``), every other fitted attribute
(``band_names_``, ``mean_``, ``std_``, ``history_``, ...) and library
versions, all as tagged JSON. Loading looks the class up among ours by
name, rebuilds the network from the parameters with random weights (no
download) and loads the tensors into it. Reached through
:mod:`smallmines_classic.models.persistence`, which tells the file kind.
"""

import json

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from smallmines_classic.bands import resolve_bands
from smallmines_classic.models.persistence import (
    RECORD_KEY,
    ModelFileError,
    from_json_data,
    installed_versions,
    to_json_data,
)

from .prithvi import PrithviSegmenter
from .sam import SAM2Segmenter
from .trainer import snapshot
from .unet import UNetSegmenter

__all__ = ["write_model", "read_model", "MODEL_CLASSES"]

#: The classes a deep model file may name; a file naming any other is refused.
MODEL_CLASSES = {cls.__name__: cls for cls in (UNetSegmenter, PrithviSegmenter, SAM2Segmenter)}


def write_model(path, model, record):
    """Write ``model``'s weights and, as JSON metadata, ``record``, its parameters and fitted attributes."""
    if type(model).__name__ not in MODEL_CLASSES:
        raise TypeError(f"smallmines writes the deep models {list(MODEL_CLASSES)}, not {type(model).__name__}")
    params = model.get_params(deep=False)
    attributes = {name: value for name, value in vars(model).items() if name not in params and name != "network_"}
    header = {**record, "versions": installed_versions("torch", "safetensors", "numpy"),
              "params": to_json_data(params, "parameter"), "attributes": to_json_data(attributes, "attribute")}
    # safetensors wants contiguous tensors that share no memory: snapshot copies, contiguous() undoes channels-last.
    tensors = {key: value.contiguous() for key, value in snapshot(model.network_).items()}
    save_file(tensors, str(path), metadata={RECORD_KEY: json.dumps(header)})


def read_model(path, record):
    """The model in the file at ``path`` whose header ``record`` was read and checked; nothing is unpickled."""
    cls = MODEL_CLASSES.get(record["class"])
    if cls is None:
        raise ModelFileError(f"{path} names the class {record['class']!r}, which is none of the smallmines deep models "
                             f"{list(MODEL_CLASSES)}")
    try:
        model = cls(**from_json_data(record["params"]))
        for name, value in from_json_data(record["attributes"]).items():
            if not (name.isidentifier() and name.endswith("_") and not name.startswith("_")) or name == "network_":
                raise ValueError(f"{name!r} is not a fitted attribute")
            setattr(model, name, value)
        model.band_names_ = resolve_bands(model.band_names_)
        for name in ("mean_", "std_"):  # one statistic per band, or prediction would fail far from here
            if np.shape(getattr(model, name)) != (len(model.band_names_),):
                raise ValueError(f"{name} has shape {np.shape(getattr(model, name))} "
                                 f"for bands {list(model.band_names_)}")
        network = model._build_network(len(model.band_names_), pretrained=False)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path} has a damaged or foreign {record['class']} description "
                             f"({type(error).__name__}: {error})") from error
    try:
        network.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError, OSError) as error:
        raise ModelFileError(f"{path} holds weights that do not fit a {record['class']} with its parameters "
                             f"({type(error).__name__}: {error})") from error
    model.network_ = network.eval()
    return model
