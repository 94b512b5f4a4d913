"""The ``smallmines`` command: the only place that parses arguments and prints.

One module per command (or two that share their job), each with ``register(subparsers)`` (its arguments) and
``run(args)`` (its job) side by side; :mod:`.main` builds the parser from the one list of them, runs the command
and turns what it raises into an exit code; :mod:`.options` holds the options several commands share, and
:mod:`.output` the tables they print.

Exit codes: 0 success, 1 a failure the message explains (bad input, missing
file, unusable model, full disk), 2 wrong usage (argparse), 128 + the signal
number when stopped by a signal (130 SIGINT / Ctrl-C, 143 SIGTERM), after the
temporary files are removed. An unforeseen error (a bug) also exits 1 with
one line; set ``SMALLMINES_DEBUG=1`` to see its traceback.

Building the parser imports no heavy module (numpy, rasterio, scikit-learn...): each command imports what it
needs when it runs, so that ``smallmines --help`` is quick.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
