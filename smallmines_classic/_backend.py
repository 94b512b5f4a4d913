"""numpy vs CuPy, and where GPU work runs; GPU libraries are imported lazily, here alone."""

import importlib
import warnings

import numpy as np

from .errors import DeviceError, InputError, MissingExtraError

__all__ = ["array_namespace", "resolve_device", "to_numpy", "require", "install_hint"]


def array_namespace(*arrays):
    """``cupy`` if any array is a CuPy array, else ``numpy`` (CuPy is never imported for numpy input)."""
    if any(type(a).__module__.split(".")[0] == "cupy" for a in arrays):
        return importlib.import_module("cupy")
    return np


def install_hint(extra):
    """How to install an extra, in both forms: from a clone of the repository, and from an index or a wheel."""
    return (f"install the {extra} extra: in a clone of the repository pip install -e '.[{extra}]', otherwise "
            f"pip install 'smallmines[{extra}]'")


def require(module, extra):
    """Import an optional dependency, or raise a :class:`MissingExtraError` (an ImportError) that names the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(f"this needs {module.split('.')[0]}, which is not installed ({error}); "
                                f"{install_hint(extra)}") from error


def to_numpy(array):
    """A numpy copy of a numpy or CuPy array."""
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def _gpu_problem(modules):
    """None if ``modules`` import and a CUDA GPU is visible, else what is missing, in words."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            return f"{name} is not installed ({error})"
    try:
        cupy = importlib.import_module("cupy")
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA GPU is visible"
    except Exception as error:  # CuPy raises its own CUDA runtime errors when no driver is present
        return f"no usable CUDA GPU ({error})"
    return None


def resolve_device(device, modules=("cupy", "cuml"), extra="gpu"):
    """Turn ``"cpu"``, ``"gpu"`` or ``"auto"`` into ``"cpu"`` or ``"gpu"``.

    ``"gpu"`` raises :class:`DeviceError` (a RuntimeError) naming what is missing and what to install;
    ``"auto"`` falls back to the CPU with a warning.
    """
    if device not in ("cpu", "gpu", "auto"):
        raise InputError(f"device must be 'cpu', 'gpu' or 'auto', got {device!r}")
    if device == "cpu":
        return "cpu"
    problem = _gpu_problem(modules)
    if problem is None:
        return "gpu"
    if device == "gpu":
        raise DeviceError(f"device='gpu' needs {', '.join(modules)} and a CUDA GPU, but {problem}; "
                          f"{install_hint(extra)}")
    warnings.warn(f"device='auto': using the CPU because {problem}", RuntimeWarning, stacklevel=3)
    return "cpu"
