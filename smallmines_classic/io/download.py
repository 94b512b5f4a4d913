"""Downloading SmallMinesDS from the Hugging Face Hub, unpacked into the layout :func:`load_smallminesds` reads.

The dataset repository holds the patches as one archive (``SmallMinesDS.zip``, which unpacks to
``SmallMinesDS/<year>/...``) and the official split files in ``data_splits/``. ``huggingface_hub`` downloads them
into its cache: resumable (a second run continues an interrupted one), with progress bars, and with the sizes and
SHA-256 checksums the Hub gives checked. They are then unpacked into a temporary folder beside the destination,
which is renamed to it when complete: the destination holds the year folders and the split files, or nothing.
"""

import contextlib
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from .._writes import atomic_dir
from ..errors import DatasetError, DownloadError, OutputError
from .dataset_layout import locate_dataset

__all__ = ["REPO_ID", "download_smallminesds"]

#: The dataset repository on the Hugging Face Hub.
REPO_ID = "ellaampy/SmallMinesDS"
_SPLIT_FILES = "train_test_splits_*.csv"


def _snapshot(revision, cache_dir, progress):
    """The repository's files in the Hugging Face cache, downloaded or resumed as needed."""
    import huggingface_hub as hub  # a dependency, imported here: ``import smallmines_classic`` stays light
    from huggingface_hub.utils import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    were_disabled = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    try:
        return Path(hub.snapshot_download(repo_id=REPO_ID, repo_type="dataset", revision=revision,
                                          cache_dir=cache_dir))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise DownloadError(
            f"cannot download the dataset {REPO_ID} from the Hugging Face Hub ({type(error).__name__}: {error}). "
            "Check the connection (and that HF_HUB_OFFLINE is not set), then run the same command again: it resumes "
            f"where it stopped. Or download https://huggingface.co/datasets/{REPO_ID} by hand and load "
            "SmallMinesDS.zip or the folder it unpacks to as it is") from error
    finally:
        if not progress and not were_disabled:
            enable_progress_bars()


def _archives(folder):
    return sorted(path for path in folder.rglob("*") if path.is_file()
                  and path.name.lower().endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")))


@contextlib.contextmanager
def _reading(archive):
    """Name ``archive`` in any error that reading it raises."""
    try:
        yield
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DatasetError(f"cannot unpack {archive}: {error}; delete it from the Hugging Face cache "
                           "(hf cache delete) and download again") from error


def _unpacked_size(archive):
    with _reading(archive):
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                return sum(info.file_size for info in handle.infolist())
        with tarfile.open(archive) as handle:  # a compressed tar lists its members only when read through
            return sum(member.size for member in handle)


def _extract(archive, into):
    """Unpack ``archive`` into ``into``; members may not point outside it (zipfile drops such paths, tar refuses)."""
    with _reading(archive):
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                handle.extractall(into)
        else:
            with tarfile.open(archive) as handle:
                handle.extractall(into, filter="data")


def unpack_snapshot(snapshot, dest):
    """Unpack the archives of a downloaded snapshot folder into ``dest``, as the folder of year folders.

    Parameters
    ----------
    snapshot : Path
        The repository's files: archives, or year folders as they are, and the split files anywhere below.
    dest : Path
        Must not exist, or be an empty folder.

    Returns
    -------
    Path
        ``dest``.
    """
    archives = _archives(snapshot)
    size = sum(_unpacked_size(archive) for archive in archives) or sum(
        path.stat().st_size for path in snapshot.rglob("*") if path.is_file())
    with atomic_dir(dest, size=size) as tmp:
        unpacked = tmp / ".unpacked"
        for archive in archives:
            _extract(archive, unpacked)
        years_root = locate_dataset(unpacked if archives else snapshot).years_root
        for path in years_root.iterdir():
            if archives:  # moved within one folder: no copy
                path.rename(tmp / path.name)
            elif path.is_dir():  # the cache's files stay where they are
                shutil.copytree(path, tmp / path.name)
            else:
                shutil.copy2(path, tmp / path.name)
        for split_file in sorted(snapshot.rglob(_SPLIT_FILES)):
            if not (tmp / split_file.name).exists():
                shutil.copy2(split_file, tmp / split_file.name)
        shutil.rmtree(unpacked, ignore_errors=True)
    return dest


def download_smallminesds(dest, *, revision=None, cache_dir=None, progress=True):
    """Download SmallMinesDS from the Hugging Face Hub and unpack it into ``dest``.

    Parameters
    ----------
    dest : str or Path
        Folder to create, holding the year folders and the official split files afterwards (load it with
        :func:`load_smallminesds`). It must not exist or be empty.
    revision : str or None
        A branch, tag or commit of the dataset repository; None: its main branch.
    cache_dir : str, Path or None
        The Hugging Face cache the archive is downloaded into (and resumed from); None: the hub's own
        (``HF_HUB_CACHE``, ``~/.cache/huggingface/hub``). The archive stays there: ``hf cache delete`` frees it.
    progress : bool
        Show the download's progress bars.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    OutputError
        If ``dest`` is a file or a folder that is not empty.
    DownloadError
        If the Hub cannot be reached and the cache does not hold the files; the message names the repository and
        says what to do.
    DiskFullError
        If the unpacked dataset does not fit beside ``dest``; nothing of it is left.
    """
    dest = Path(dest).expanduser()
    if dest.exists() and (not dest.is_dir() or any(os.scandir(dest))):
        raise OutputError(f"{dest} {'is a file' if not dest.is_dir() else 'is not empty'}; give a new or empty "
                          "folder to download SmallMinesDS into")
    snapshot = _snapshot(revision, cache_dir, progress)
    return unpack_snapshot(snapshot, dest)
