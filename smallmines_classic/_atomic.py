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
