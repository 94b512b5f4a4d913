"""Locks that keep two processes apart; the operating system's, so each ends with its process, even after a kill.

:func:`exclusive_lock` keeps a second process off a file or folder that one
is writing (a labelling session, a monitoring run); :func:`commit_lock` makes
two writers of files committed together (:func:`~smallmines_classic._writes.atomic_paths`)
commit one after the other, and lets readers open such files in one piece.
"""

import contextlib
import os

__all__ = ["exclusive_lock", "commit_lock"]


@contextlib.contextmanager
def exclusive_lock(lock_path, busy):
    """Hold an exclusive lock on the file ``lock_path`` (made if missing, left in place), without waiting.

    The lock is the OS's (``flock``; ``msvcrt.locking`` on Windows), so it
    ends with the process, even after a ``kill -9``. ``busy`` is the
    exception raised when another process holds it.
    """
    with open(lock_path, "a+") as handle:
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise busy from None
        yield


@contextlib.contextmanager
def commit_lock(folder, shared=False):
    """Hold a lock on ``folder`` (flock on the folder itself: no lock file), exclusive, or shared for readers.

    :func:`atomic_paths` commits under the exclusive lock; readers of files
    committed together open them under the shared one. It is released when
    the block ends, or when the process dies. Where folders cannot be locked
    (no ``fcntl``, as on Windows, a folder that cannot be opened for reading,
    or a file system without flock on folders), the block runs unlocked: the
    order of the renames of :func:`atomic_paths` still holds, but two
    writers are not kept apart.
    """
    try:
        import fcntl

        handle = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):   # no fcntl, or a folder that cannot be opened for reading
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock
