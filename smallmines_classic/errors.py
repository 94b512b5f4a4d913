"""Every error and warning smallmines raises on purpose, in one family.

As rasterio's ``errors.py``: one root, :class:`SmallminesError`, so that a caller
(and the ``smallmines`` command) can tell a refused input from a bug; and each
subclass also derives from the builtin a caller would already catch
(``ValueError`` for bad input, ``OSError`` for a full disk, ``ImportError`` for
a missing extra), so code written against the builtins keeps working.

This module imports nothing heavy: the command line loads it to print errors.
"""

import errno
from pathlib import Path

__all__ = [
    "BandError",
    "CompositeError",
    "DatasetError",
    "DeviceError",
    "DiskFullError",
    "DomainError",
    "DomainWarning",
    "DownloadError",
    "InputError",
    "MissingExtraError",
    "ModelFileError",
    "ModelFileNotFoundError",
    "MonitorFolderError",
    "NonResponseWarning",
    "OutputError",
    "PointsError",
    "RegionsError",
    "SceneError",
    "SessionLockedError",
    "SmallminesError",
    "SmallminesWarning",
    "StacError",
]


class SmallminesError(Exception):
    """The root of every error smallmines raises on purpose: a refused input, file or setting, never a bug."""


class InputError(SmallminesError, ValueError):
    """An argument or array that a function cannot use: the message names it, what was expected and what was given."""


class BandError(InputError):
    """Input bands that are not the ones a model was trained with (names, count or order)."""


class DatasetError(InputError):
    """A SmallMinesDS file or folder is missing, malformed or unreadable."""


class ModelFileError(InputError):
    """A model file is missing, damaged, of another kind, unsafe to open, or from an incompatible version."""


class ModelFileNotFoundError(ModelFileError, FileNotFoundError):
    """A model or weights file that does not exist (also a ``FileNotFoundError``, as callers catch it)."""


class SceneError(InputError):
    """A scene or map raster that cannot be read as one: bands, CRS, grid, data type or no-data value."""


class DomainError(SceneError):
    """An input band does not look like the model's training pixels, and a strict check refuses it."""


class PointsError(InputError):
    """A sample points or labels file (ours or Collect Earth Online's) that breaks its format: the file and row."""


class RegionsError(InputError):
    """A regions file that cannot be used: no polygons, a missing or repeated name, an unusable geometry."""


class StacError(InputError):
    """A STAC catalog or its items cannot give the imagery asked for: unreachable, no item, missing or unreadable
    assets."""


class CompositeError(StacError):
    """The items cannot make a composite: none in the box, no Sentinel-2 item or valid observation, unreadable pixels,
    an unreachable STAC API."""


class MonitorFolderError(InputError):
    """A folder that is not a complete ``smallmines monitor`` output, or a ``monitor.json`` that breaks its format."""


class OutputError(InputError):
    """An output that must not be written there: an input of the same run, a device, a folder, a locked file."""


class SessionLockedError(SmallminesError, RuntimeError):
    """Another session (labelling, monitor run) holds the file or folder."""


class DeviceError(SmallminesError, RuntimeError):
    """A device or engine asked for (a CUDA GPU, cuML, nvForest) that this machine or install cannot provide."""


class DownloadError(SmallminesError, RuntimeError):
    """Pretrained weights or the dataset could not be downloaded (offline, most often); the message says what to do
    and how to get them by hand."""


class MissingExtraError(SmallminesError, ImportError):
    """A feature needs an optional extra that is not installed; the message says how to install it."""


class DiskFullError(SmallminesError, OSError):
    """Not enough free space for a write; the partial output was removed.

    ``detail``, if given, says what the ``needed`` bytes are made of.
    """

    def __init__(self, path, needed=None, free=None, detail=None):
        sizes = ""
        if needed is not None:
            sizes = f": {needed:,} bytes needed{f' ({detail})' if detail else ''}, {free:,} free"
        super().__init__(errno.ENOSPC, f"no space left on the device to write {path}{sizes}; nothing was written")
        self.path, self.needed, self.free, self.detail = Path(path), needed, free, detail

    def __str__(self):
        return self.strerror

    def __reduce__(self):  # so that it crosses process boundaries intact
        return type(self), (self.path, self.needed, self.free, self.detail)


class SmallminesWarning(UserWarning):
    """The root of every warning smallmines gives."""


class DomainWarning(SmallminesWarning):
    """An input band does not look like the model's training pixels; predictions may be wrong."""


class NonResponseWarning(SmallminesWarning):
    """Sample points were left out of an estimate because they were not interpreted (unsure, flagged)."""
