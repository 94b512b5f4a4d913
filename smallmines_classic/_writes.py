"""Atomic writes: every writer of the package goes through them, so no reader ever sees a half-written file.

Temporary names carry the writing process's id
(``.{stem}.{pid}.{host tag}{random}.part{suffix}``), so a writer starting in a
folder removes the temporaries left there by killed writers of this machine
(:func:`sweep_stale`). Large writes check the free space first, and a disk
that fills mid-write raises :class:`~smallmines_classic.errors.DiskFullError`
after the partial file is removed. An existing target that is not a regular
file (a device such as ``/dev/full``, a FIFO, a socket) is refused before any
work, so it is never replaced by a file. :func:`atomic_paths` commits several
files that belong together (a scene and its observation count) as one pair.
"""

import contextlib
import errno
import glob
import hashlib
import os
import re
import shutil
import socket
import stat
import uuid
from pathlib import Path

from ._locks import commit_lock
from ._signals import signals_held
from .errors import DiskFullError, OutputError

__all__ = ["atomic_path", "atomic_paths", "atomic_dir", "scratch_dir", "check_file_target", "check_free_space",
           "sweep_stale"]

# Any suffix after ".part": the target's own (".part.tif"), and what GDAL adds beside a file it writes and removes when
# done (".part.tif.ovr.tmp", the overviews of a COG copy), which a kill leaves behind.
_TEMP = re.compile(r"^\..*\.(?P<pid>\d+)\.(?P<host>[0-9a-f]{4})[0-9a-f]{8}\.part(\..*)?$")
# The random part of a temporary name starts with this machine's tag: a process id means nothing on another
# machine sharing the folder (a network file system), so only this machine's temporaries are ever swept.
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:4]
_swept = set()  # folders this process has swept already
_NEARLY_FULL = 2**20  # bytes free below which a failed write is taken for a full disk


def _pid_alive(pid):
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def sweep_stale(folder):
    """Remove the temporaries in ``folder`` written on this machine by a process that is dead; returns their paths."""
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            match = _TEMP.match(entry.name)
            pid = int(match["pid"]) if match else None
            if match and match["host"] == _HOST and pid != os.getpid() and not _pid_alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _temp_name(path, size, folder=False):
    """A temporary path beside ``path`` (a file keeps ``path``'s suffix, a folder none), and the folders made for it.

    ``size`` bytes, if given, are checked to be free before anything is
    made; the folder is swept (once per process).
    """
    path = Path(path)
    if size is not None:
        check_free_space(path, size)
    made = [parent for parent in path.parents if not parent.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _os_error(type(error), error.errno, f"cannot write {path}: cannot make the folder {path.parent} "
                                                  f"({error.strerror})") from None
    _check_writable(path)
    parent = path.parent.resolve()
    if parent not in _swept:
        sweep_stale(parent)
        _swept.add(parent)
    stem, suffix = (path.name, "") if folder else (path.stem, path.suffix)
    return path.with_name(f".{stem}.{os.getpid()}.{_HOST}{uuid.uuid4().hex[:8]}.part{suffix}"), made


def _os_error(kind, code, message):
    """An OSError of ``kind`` with ``errno`` ``code`` whose text is ``message`` alone (no "[Errno N]" before it)."""
    error = kind(message)
    error.errno = code
    return error


def _named(error, path):
    """``error`` (an OSError about a path of ours) as the same kind of error naming ``path``, the user's output."""
    return _os_error(type(error), error.errno, f"cannot write {path}: {error.strerror}")


_NOT_REGULAR = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def check_file_target(path):
    """Refuse at once a file output that is a folder or an existing non-regular file (device, FIFO, socket).

    Called before any work whose result could not be renamed there, or
    would replace the device by a file (``/dev/full`` would become a file).
    A symbolic link is judged by what it points to.

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    OutputError
        ``path`` is a device, a FIFO or a socket (also a ValueError).
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(mode):
        raise _os_error(IsADirectoryError, errno.EISDIR, f"cannot write {path}: it is a folder; give a file name")
    for test, kind in _NOT_REGULAR:
        if test(mode):
            raise OutputError(f"cannot write {path}: it is {kind}, not a regular file, and would be replaced by one; "
                              "give a file name")


def _existing_folder(path):
    """``path``'s folder, or its nearest ancestor that exists."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _check_writable(path):
    """Refuse ``path`` at once when its folder (or the nearest existing ancestor) cannot be written to."""
    folder = _existing_folder(path)
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):  # refused to root too on a read-only file system
        read_only = hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY
        code = errno.EROFS if read_only else errno.EACCES
        raise _os_error(PermissionError, code, f"cannot write {path}: {os.strerror(code)} (the folder {folder})")


def check_free_space(path, nbytes, detail=None):
    """Raise :class:`DiskFullError` unless the file system of ``path``'s folder has ``nbytes`` free.

    A folder that cannot be written to is refused first (PermissionError).
    ``detail`` says in the error what the bytes are made of.
    """
    _check_writable(path)
    folder = _existing_folder(path)
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise DiskFullError(path, int(nbytes), free, detail)


def _is_disk_full(error, folder):
    code = getattr(error, "errno", None)
    if code is not None:  # the system said what went wrong (no space, or e.g. no permission): believe it
        return code in (errno.ENOSPC, errno.EDQUOT)
    # GDAL (an OSError, "Write failed") and torch (a RuntimeError, "file write failed") report a full disk
    # without an errno; the file system, still holding the partial file, tells. Bad input (ValueError) stays itself.
    return isinstance(error, (OSError, RuntimeError)) and shutil.disk_usage(folder).free < _NEARLY_FULL


@contextlib.contextmanager
def _cleaned_up(targets, made):
    """Remove the temporaries of ``targets``, (path, temporary) pairs, when the block ends, unless renamed away.

    A temporary is a file or a folder; what GDAL writes beside a file and
    removes when done (``.ovr.tmp``) goes too. On failure, the folders
    ``made`` for them go too, if empty: the disk is left as it was found. A
    full disk inside the block becomes a :class:`DiskFullError` naming the
    first path.
    """
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        if _is_disk_full(error, targets[0][1].parent):
            raise DiskFullError(targets[0][0]) from error
        for path, tmp in targets:
            if isinstance(error, OSError) and error.filename is not None and Path(error.filename) == tmp:
                raise _named(error, path) from error  # the file the user asked for, not our temporary one
        raise
    finally:
        for _, tmp in targets:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink()
            for extra in tmp.parent.glob(glob.escape(tmp.name) + ".*"):
                with contextlib.suppress(FileNotFoundError):
                    extra.unlink()
        if not any(os.path.lexists(path) for path, _ in targets):
            with contextlib.suppress(OSError):
                for folder in made:  # deepest first; stops at the first one not empty
                    folder.rmdir()


@contextlib.contextmanager
def atomic_path(path, size=None):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success (:func:`atomic_paths` of one path).

    The temporary file lives in the target folder, so the final rename is
    atomic on the same file system, and keeps the target's suffix, so that
    writers which pick a format by extension still do. If the body raises
    (or is interrupted), the temporary file is removed and ``path`` is
    untouched: no reader ever sees a half-written file.

    Parameters
    ----------
    path : str or Path
    size : int or None
        Bytes the write needs; if given, checked against the free space first.

    Raises
    ------
    DiskFullError
        Not ``size`` bytes free, or the disk filled during the write.
    """
    with atomic_paths([path], size) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(paths, size=None):
    """Yield temporary paths beside ``paths`` (files of one folder); on success they replace ``paths`` as one commit.

    For files that only make sense together (a scene and its observation
    count): every temporary is complete before any is renamed, so a failure,
    stop or kill while writing leaves the old files as they were. The commit
    holds :func:`commit_lock` on the folder, so two writers of the same
    files commit one after the other, never mixed. Within it, the first
    path (the primary) is removed, the others are replaced, and the primary
    is renamed in last. Hence at every moment, **where the primary exists,
    the others beside it come from the same commit**: a reader sees the old
    set, the new set, or no primary (a kill in the microseconds between the
    renames can leave the others without their primary, until the next
    commit). A reader that opens all the files under
    ``commit_lock(folder, shared=True)`` never gets files of two commits,
    even while one runs. A single path is just renamed, with no lock.

    Parameters
    ----------
    paths : sequence of str or Path
        Targets in one folder, the primary first.
    size : int or None
        Bytes the whole write needs; if given, checked against the free space first.

    Raises
    ------
    DiskFullError
        Not ``size`` bytes free, or the disk filled during the write.
    """
    paths = [Path(path) for path in paths]
    for path in paths:
        check_file_target(path)
    if len({os.path.abspath(path.parent) for path in paths}) != 1:
        raise ValueError(f"files committed together must share a folder, got {[str(p) for p in paths]}")
    temps, made = zip(*(_temp_name(path, size if index == 0 else None) for index, path in enumerate(paths)))
    with _cleaned_up(list(zip(paths, temps)), made[0]):  # the first made the folders, if any were missing
        yield list(temps)
        if len(paths) == 1:
            os.replace(temps[0], paths[0])
            return
        with commit_lock(paths[0].parent), signals_held():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(paths[0])  # from here to the last rename there is no primary, so no pair to mix
            for tmp, path in reversed(list(zip(temps, paths))):
                os.replace(tmp, path)


@contextlib.contextmanager
def scratch_dir(path, size=None):
    """Yield a temporary scratch folder beside ``path`` (a file to be), removed on exit (also on an error or a stop)."""
    check_file_target(path)
    tmp, made = _temp_name(path, size, folder=True)
    with _cleaned_up([(path, tmp)], made):
        tmp.mkdir()
        yield tmp


@contextlib.contextmanager
def atomic_dir(path, size=None, exist_ok=False):
    """Yield a temporary folder beside ``path``; rename it to ``path`` on success (``path`` must not exist or be empty).

    With ``exist_ok``, a ``path`` that another writer completed meanwhile is
    kept and this copy dropped: for entries whose content their name decides.
    """
    tmp, made = _temp_name(path, size, folder=True)
    with _cleaned_up([(path, tmp)], made):
        tmp.mkdir()
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError as error:
            if not (exist_ok and error.errno in (errno.ENOTEMPTY, errno.EEXIST) and Path(path).is_dir()):
                raise
