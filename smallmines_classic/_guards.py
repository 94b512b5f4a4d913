"""The guard that keeps a run from writing over its own input."""

import os
from pathlib import Path

from .errors import OutputError

__all__ = ["check_output_not_input"]


def check_output_not_input(out, *inputs):
    """Refuse to write ``out`` over one of ``inputs`` (the same file by path, symbolic or hard link).

    Inputs that are None are ignored, so optional inputs can be passed as they are.

    Raises
    ------
    OutputError
        Naming both paths (also a ValueError).
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
            raise OutputError(f"the output {out} is the input {source}: writing it would destroy the input; "
                              "choose another output path")
