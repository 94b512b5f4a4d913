"""``smallmines`` commands on the pages, run during the build and shown as a console session with their output.

Used from the pages' hidden example blocks: ``print(run("area map.tif", folder))`` shows ``$ smallmines area
map.tif`` and what the command printed (stdout and stderr, as a terminal shows them). A command that exits with
another code than ``expect`` fails the build (``expect=1`` for a page that shows a refusal on purpose).
"""

import contextlib
import io
import os
import shlex
import warnings

from smallmines_classic.cli import main


def run(command, folder=None, *, expect=0):
    """Run ``smallmines COMMAND`` in this process, in ``folder``; return the session as a terminal shows it."""
    output = io.StringIO()
    here = os.getcwd()
    try:
        if folder is not None:
            os.chdir(folder)
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output), warnings.catch_warnings():
            _terminal_warning_filters()
            try:
                code = main(shlex.split(command))
            except SystemExit as exit_:  # --help and usage errors exit through argparse
                code = exit_.code
    finally:
        os.chdir(here)
    session = f"$ smallmines {command}\n{output.getvalue().rstrip()}"
    if code != expect:
        raise RuntimeError(f"exit code {code}, expected {expect}:\n{session}")
    return session


def _terminal_warning_filters():
    """Python's default warning filters, as in a terminal (MkDocs shows DeprecationWarnings while it builds)."""
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)
