"""The one atomic-write helper: every writer of the package goes through it.

Temporary names carry the writing process's id
(``.{stem}.{pid}.{host tag}{random}.part{suffix}``), so a writer starting in a
folder removes the temporaries left there by killed writers of this machine
(:func:`sweep_stale`). Large writes check the free space first, and a disk
that fills mid-write raises :class:`DiskFullError` after the partial file is
removed. :func:`stop_on_signals` turns SIGTERM and SIGINT into
:class:`Interrupted`, so the same clean-up runs on a stop as on an error.
:func:`exit_with_parent` makes worker processes end with their parent."""

import contextlib
import ctypes
import errno
import hashlib
import os
import re
import shutil
import signal
import socket
import sys
import threading
import uuid
from pathlib import Path

__all__ = ["DiskFullError", "Interrupted", "atomic_path", "atomic_dir", "scratch_dir", "check_free_space",
           "sweep_stale", "stop_on_signals", "exit_with_parent"]

_TEMP = re.compile(r"^\..*\.(?P<pid>\d+)\.(?P<host>[0-9a-f]{4})[0-9a-f]{8}\.part(\.[^.]*)?$")
# The random part of a temporary name starts with this machine's tag: a process id means nothing on another
# machine sharing the folder (a network file system), so only this machine's temporaries are ever swept.
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:4]
_swept = set()  # folders this process has swept already
_NEARLY_FULL = 2**20  # bytes free below which a failed write is taken for a full disk


class DiskFullError(OSError):
    """Not enough free space for a write; the partial output was removed."""

    def __init__(self, path, needed=None, free=None):
        sizes = f": {needed:,} bytes needed, {free:,} free" if needed is not None else ""
        super().__init__(errno.ENOSPC, f"no space left on the device to write {path}{sizes}; nothing was written")
        self.path, self.needed, self.free = Path(path), needed, free

    def __str__(self):
        return self.strerror

    def __reduce__(self):  # so that it crosses process boundaries intact
        return type(self), (self.path, self.needed, self.free)


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGINT) arrived; raised so that every ``finally`` clean-up runs."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


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
            if match and match["host"] == _HOST and int(match["pid"]) != os.getpid() and not _pid_alive(int(match["pid"])):
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _temp_name(path, size, folder=False):
    """A temporary path beside ``path`` (a file keeps ``path``'s suffix, a folder has none), and the folders made for it.

    ``size`` bytes, if given, are checked to be free before anything is
    made; the folder is swept (once per process).
    """
    path = Path(path)
    if size is not None:
        check_free_space(path, size)
    made = [parent for parent in path.parents if not parent.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    parent = path.parent.resolve()
    if parent not in _swept:
        sweep_stale(parent)
        _swept.add(parent)
    stem, suffix = (path.name, "") if folder else (path.stem, path.suffix)
    return path.with_name(f".{stem}.{os.getpid()}.{_HOST}{uuid.uuid4().hex[:8]}.part{suffix}"), made


def _check_file_target(path):
    """Refuse at once a file output whose path is a folder, before any work whose result could not be renamed there."""
    if Path(path).is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path}: it is a folder; give a file name")


def check_free_space(path, nbytes):
    """Raise :class:`DiskFullError` unless the file system of ``path``'s folder has ``nbytes`` free."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise DiskFullError(path, int(nbytes), free)


def _is_disk_full(error, folder):
    code = getattr(error, "errno", None)
    if code is not None:  # the system said what went wrong (no space, or e.g. no permission): believe it
        return code in (errno.ENOSPC, errno.EDQUOT)
    # GDAL (an OSError, "Write failed") and torch (a RuntimeError, "file write failed") report a full disk
    # without an errno; the file system, still holding the partial file, tells. Bad input (ValueError) stays itself.
    return isinstance(error, (OSError, RuntimeError)) and shutil.disk_usage(folder).free < _NEARLY_FULL


@contextlib.contextmanager
def _cleaned_up(path, tmp, made):
    """Remove ``tmp`` (file or folder) when the block ends, if a rename has not taken it away.

    On failure, the folders ``made`` for it go too, if empty: the disk is left
    as it was found. A full disk inside the block becomes a
    :class:`DiskFullError` naming ``path``.
    """
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        if _is_disk_full(error, tmp.parent):
            raise DiskFullError(path) from error
        if isinstance(error, OSError) and error.filename is not None and Path(error.filename) == tmp:
            # Name the file the user asked for, not our temporary one.
            raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from error
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink()
        if not os.path.lexists(path):
            with contextlib.suppress(OSError):
                for folder in made:  # deepest first; stops at the first one not empty
                    folder.rmdir()


@contextlib.contextmanager
def atomic_path(path, size=None):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

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
    _check_file_target(path)
    tmp, made = _temp_name(path, size)
    with _cleaned_up(path, tmp, made):
        yield tmp
        os.replace(tmp, path)


@contextlib.contextmanager
def scratch_dir(path, size=None):
    """Yield a temporary scratch folder beside ``path`` (a file to be), removed on exit (also on an error or a stop)."""
    _check_file_target(path)
    tmp, made = _temp_name(path, size, folder=True)
    tmp.mkdir()
    with _cleaned_up(path, tmp, made):
        yield tmp


@contextlib.contextmanager
def atomic_dir(path, size=None, exist_ok=False):
    """Yield a temporary folder beside ``path``; rename it to ``path`` on success (``path`` must not exist, or be empty).

    With ``exist_ok``, a ``path`` that another writer completed meanwhile is
    kept and this copy dropped: for entries whose content their name decides.
    """
    tmp, made = _temp_name(path, size, folder=True)
    tmp.mkdir()
    with _cleaned_up(path, tmp, made):
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError as error:
            if not (exist_ok and error.errno in (errno.ENOTEMPTY, errno.EEXIST) and Path(path).is_dir()):
                raise


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGTERM, signal.SIGINT)):
    """Within the block, the first of ``signals`` raises :class:`Interrupted`; later ones wait for the clean-up.

    Only the main thread can install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        for sig in signals:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_with_parent(parent_pid):
    """Worker-process initializer: end this process when ``parent_pid`` dies, so no worker writes after its parent.

    On Linux the kernel kills the worker (``PR_SET_PDEATHSIG``); elsewhere a
    thread polls the parent. Stop signals are left to the parent, which
    stops its workers between tasks.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    else:
        def watch():
            while os.getppid() == parent_pid:
                threading.Event().wait(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


def check_output_not_input(out, *inputs):
    """Refuse to write ``out`` over one of ``inputs`` (the same file by path, symbolic or hard link).

    Inputs that are None are ignored, so optional inputs can be passed as they are.

    Raises
    ------
    ValueError
        Naming both paths.
    """
    out = Path(out)
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        same = out.resolve() == source.resolve()
        if not same and out.exists() and source.exists():
            same = os.path.samefile(out, source)
        if same:
            raise ValueError(f"the output {out} is the input {source}: writing it would destroy the input; "
                             "choose another output path")
