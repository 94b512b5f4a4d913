"""Saving and loading fitted models with their band names, recipe and versions."""

from pathlib import Path

import joblib

from ._atomic import atomic_path

__all__ = ["ModelFileError", "save_model", "load_model", "package_version"]

FORMAT = "smallmines-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, of another kind, or from an incompatible version."""


def package_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smallmines")
    except PackageNotFoundError:
        return "0+unknown"


def _release(version):
    return tuple(version.split("+")[0].split(".")[:2])


def save_model(path, model):
    """Write a fitted model (which carries its band names and recipe) to ``path`` atomically, with versions."""
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": package_version(),
              "class": type(model).__name__, "model": model}
    with atomic_path(path) as tmp:
        joblib.dump(record, tmp)
    return Path(path)


def load_model(path, expected_class=None):
    """Read a model written by :func:`save_model`, checking its version and, if given, its class name.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is no smallmines model, holds another model class, or was
        written by a smallmines release with another major.minor version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        record = joblib.load(path)
    except Exception as error:  # joblib / pickle raise many kinds for a foreign or damaged file
        raise ModelFileError(f"{path} is not a readable smallmines model file ({error})") from error
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a smallmines model file")
    if record["format_version"] != FORMAT_VERSION or _release(record["package_version"]) != _release(package_version()):
        raise ModelFileError(
            f"{path} was written by smallmines {record['package_version']} (file format {record['format_version']}); "
            f"this is smallmines {package_version()} (format {FORMAT_VERSION}): retrain or install that release"
        )
    if expected_class is not None and record["class"] != expected_class:
        raise ModelFileError(f"{path} holds a {record['class']}, not a {expected_class}")
    return record["model"]
