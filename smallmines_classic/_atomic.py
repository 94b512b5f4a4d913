"""The one atomic-write helper: every writer of the package goes through it."""

import contextlib
import os
import uuid
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary file lives in the target folder, so the final rename is
    atomic on the same file system, and keeps the target's suffix, so that
    writers which pick a format by extension still do. If the body raises
    (or is interrupted), the temporary file is removed and ``path`` is
    untouched: no reader ever sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.part{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
