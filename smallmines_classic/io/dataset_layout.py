"""Where the SmallMinesDS files are: the folder of year folders, however the download was unpacked, and its patches.

A dataset is found in any of the forms a download takes:

* the folder holding the year folders (``<root>/<year>/IMAGE`` and ``MASK``);
* the folder above it: the Hugging Face archive unpacks to ``SmallMinesDS/SmallMinesDS/<year>``;
* the archive itself (``SmallMinesDS.zip``), read in place through GDAL's ``/vsizip/``;
* a Hugging Face snapshot folder (the archive, and the split files in ``data_splits/``).

The official split files ``train_test_splits_<year>.csv`` are looked for beside the year folders, in the folder
given (or holding the archive given) and the one above it, and in their ``data_splits`` folders (the hub
repository's place for them).
"""

import re
import warnings
import zipfile
from pathlib import Path

from ..errors import DatasetError, InputError
from .splits import parse_patch_name, read_split_csv

__all__ = ["DatasetLocation", "archive_of", "find_patches", "locate_dataset"]

_YEAR = re.compile(r"\d{4}")


class DatasetLocation:
    """The folder of year folders (``years_root``: a Path, or a ``zipfile.Path`` inside an archive), how it was
    given (``given``) and the folders where its split files may lie (``split_folders``)."""

    def __init__(self, given, years_root, split_folders):
        self.given, self.years_root, self.split_folders = given, years_root, split_folders

    def split_file(self, year):
        """The official split file of ``year``: the first that exists, else where it was expected first."""
        name = f"train_test_splits_{year}.csv"
        candidates = [folder / name for folder in self.split_folders]
        return next((path for path in candidates if path.is_file()), candidates[0])

    def __str__(self):
        return _shown(self.years_root)


def _shown(folder):
    """A folder for a message: an archive member as ``archive.zip/inner/folder``."""
    return str(folder).rstrip("/")


def _has_years(folder):
    return any(path.is_dir() and _YEAR.fullmatch(path.name) for path in folder.iterdir())


def _subfolders(folder):
    return sorted((path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")),
                  key=lambda path: path.name)


def _years_below(folder, depth, level=0):
    """``(folder, level)`` of the folders at most ``depth`` levels below ``folder`` (level 0) that hold year folders."""
    if _has_years(folder):
        return [(folder, level)]
    if depth == 0:
        return []
    return [found for sub in _subfolders(folder) for found in _years_below(sub, depth - 1, level + 1)]


def _years_root(folder, what):
    """``folder`` or its one subfolder that holds the year folders; an error that says where they are otherwise."""
    found = _years_below(folder, 3)
    near = [path for path, level in found if level <= 1]
    if len(near) == 1:
        return near[0]
    expected = f"expected <root>/<year>/IMAGE and MASK, e.g. {_shown(folder)}/2022"
    if len(near) > 1 or found:
        places = ", ".join(_shown(path) for path in (near or [path for path, _ in found])[:3])
        hint = "several folders hold year folders" if len(near) > 1 else "the year folders are further down"
        raise DatasetError(f"no year folders directly under {what} ({expected}); {hint}: {places}; "
                           "pass the one to load")
    raise DatasetError(f"no year folders under {what} ({expected})")


def _archive_location(archive, split_folders):
    if not zipfile.is_zipfile(archive):
        raise DatasetError(f"dataset root {archive} is not a folder or a .zip archive")
    years_root = _years_root(zipfile.Path(archive), f"the archive {archive}")
    return DatasetLocation(archive, years_root, split_folders)


def locate_dataset(root):
    """Find the year folders of a SmallMinesDS download given as any of the forms in the module docstring.

    Parameters
    ----------
    root : str or Path

    Returns
    -------
    DatasetLocation

    Raises
    ------
    DatasetError
        If ``root`` does not exist or holds no year folders (the message says where they are, if deeper).
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset root {root} does not exist")
    if root.is_file():
        return _archive_location(root, [root.parent, root.parent / "data_splits"])
    split_folders = [root, root / "data_splits", root.parent, root.parent / "data_splits"]
    archives = sorted(root.glob("*.zip"))
    if len(archives) == 1 and not _years_below(root, 1):  # a hub snapshot: the archive, the split files beside it
        return _archive_location(archives[0], split_folders)
    years_root = _years_root(root, root)
    return DatasetLocation(root, years_root, [years_root, *split_folders])


def archive_of(path):
    """The archive that a ``/vsizip/`` path reads from, or None for a plain file."""
    archive = re.match(r"/vsizip/\{(.+)\}/", str(path))
    return Path(archive[1]) if archive else None


def _readable(path):
    """A path that rasterio opens: an archive member as ``/vsizip/{<archive>}/<member>`` (GDAL's braces keep the
    archive's own slashes, which a Path would fold)."""
    if isinstance(path, zipfile.Path):
        return Path(f"/vsizip/{{{Path(path.root.filename).resolve()}}}/{path.at}")
    return path


def _year_folders(root):
    """The years of the ``<root>/<year>`` folders, sorted."""
    return sorted(int(path.name) for path in root.iterdir() if path.is_dir() and _YEAR.fullmatch(path.name))


def _image_mask_paths(root, year):
    """Pair up the image and mask files of one year folder, by tile id; warn about files off the naming pattern."""
    year_dir = root / str(year)
    if not year_dir.is_dir():
        raise DatasetError(f"year folder {_shown(year_dir)} does not exist (expected <root>/<year>/IMAGE and MASK)")
    found, skipped = {}, {}
    for kind, folder in (("IMG", "IMAGE"), ("MASK", "MASK")):
        sub = year_dir / folder
        if not sub.is_dir():
            raise DatasetError(f"folder {_shown(sub)} does not exist")
        for path in sorted(sub.iterdir(), key=lambda path: path.name):
            if path.name.startswith(".") or path.name.endswith(".aux.xml"):
                continue  # hidden files (our own temporaries among them) and GDAL's statistics sidecars
            parsed = parse_patch_name(path.name)
            if parsed is None or parsed[0] != kind or parsed[2] != year or not path.is_file():
                skipped.setdefault(_shown(sub), []).append(path.name)
                continue
            found.setdefault(parsed[1], {})[kind] = _readable(path)
    notes = [f"{len(names)} file(s) in {sub} not named {'IMG' if sub.endswith('IMAGE') else 'MASK'}_GH_<tile>_{year}"
             f".tif were skipped, e.g. {', '.join(names[:3])}" for sub, names in skipped.items()]
    if not found:
        raise DatasetError(f"year folder {_shown(year_dir)} holds no patches (expected IMAGE/IMG_GH_<tile>_{year}.tif "
                           f"and MASK/MASK_GH_<tile>_{year}.tif){'; ' + '; '.join(notes) if notes else ''}")
    for note in notes:
        warnings.warn(note, stacklevel=4)
    for tile, pair in found.items():
        if "MASK" not in pair:
            raise DatasetError(f"image {pair['IMG']} has no mask (expected MASK_GH_{tile:04d}_{year}.tif in "
                               f"{_shown(year_dir / 'MASK')})")
        if "IMG" not in pair:
            raise DatasetError(f"mask {pair['MASK']} has no image (expected IMG_GH_{tile:04d}_{year}.tif in "
                               f"{_shown(year_dir / 'IMAGE')})")
    return {(tile, year): (pair["IMG"], pair["MASK"]) for tile, pair in found.items()}


def find_patches(root, years=None, split=None, splits=None):
    """List the patches of a SmallMinesDS folder.

    Parameters
    ----------
    root : str or Path
        The dataset, in any form of :func:`locate_dataset`: the folder holding the year folders, the folder above
        it, the ``.zip`` archive or a Hugging Face snapshot folder.
    years : sequence of int or None
        None: every ``<root>/<year>`` folder found.
    split : {None, "train", "test"}
        Keep only one side of the split; None keeps every patch.
    splits : dict or None
        ``{(tile_id, year): "train" | "test"}``; None reads the official
        ``train_test_splits_<year>.csv`` files (only when ``split`` is set).

    Returns
    -------
    list of tuple
        ``(tile_id, year, image_path, mask_path)``, sorted by year then tile; a file in an archive is given as
        its ``/vsizip/`` path.
    """
    location = root if isinstance(root, DatasetLocation) else locate_dataset(root)
    years_root = location.years_root
    years = _year_folders(years_root) if years is None else [int(year) for year in years]
    patches = {}
    for year in years:
        patches.update(_image_mask_paths(years_root, year))
    if split is not None:
        if split not in ("train", "test"):
            raise InputError(f"split must be None, 'train' or 'test', got {split!r}")
        if splits is None:
            splits = {}
            for year in years:
                splits.update(read_split_csv(location.split_file(year), year))
        wanted = {key for key, side in splits.items() if side == split and key[1] in set(years)}
        missing = sorted(wanted - set(patches))
        if missing:
            names = ", ".join(f"{t:04d}/{y}" for t, y in missing[:5])
            raise DatasetError(f"the split names {len(missing)} patch(es) not found under {location}: {names}")
        unassigned = len(set(patches) - set(splits))
        if unassigned:
            warnings.warn(f"{unassigned} patch(es) under {location} are in no split and were left out", stacklevel=2)
        patches = {key: patches[key] for key in wanted}
    keys = sorted(patches, key=lambda key: (key[1], key[0]))
    return [(tile, year, *patches[tile, year]) for tile, year in keys]
