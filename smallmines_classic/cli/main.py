"""The parser, built from the one list of commands; running a command; its exit code, warnings and errors."""

import argparse
import os
import signal
import sys
import warnings

from ..errors import SmallminesError
from . import (
    area,
    assess,
    change,
    check_scene,
    composite,
    convert_model,
    demo,
    download,
    evaluate,
    label,
    monitor,
    options,
    polygons,
    predict,
    report,
    reproduce,
    sample,
    synth,
    tour,
    train,
)

__all__ = ["COMMANDS", "build_parser", "main"]

#: The commands, in the order ``smallmines --help`` lists them; each module has ``register(subparsers)`` and
#: ``run(args)``.
COMMANDS = (tour, download, synth, demo, train, evaluate, predict, check_scene, convert_model, area, polygons, change,
            sample, assess, label, composite, monitor, report, reproduce)


def build_parser():
    """The ``smallmines`` parser with every command of :data:`COMMANDS`; imports no heavy module."""
    parser = argparse.ArgumentParser(prog="smallmines", description="Map artisanal and small-scale gold mining "
                                     "from Sentinel-1/2 + DEM stacks (SmallMinesDS).",
                                     epilog="new here? smallmines tour runs the whole chain offline on a synthetic "
                                     "twin, in about a minute; smallmines COMMAND --help shows a command's options "
                                     "and examples.")
    options.quiet(parser)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       parser_class=options.CommandParser)
    for command in COMMANDS:
        command_parser = command.register(subparsers)
        command_parser.set_defaults(run=command.run)
        options.quiet(command_parser, default=argparse.SUPPRESS)  # also after the command: `smallmines predict -q`
    return parser


def _user_errors():
    """What a user can cause and the message explains: ours, the file system's, and GDAL's and OGR's as rasterio and
    pyogrio raise them (looked up only where the command loaded them, so that the start stays light).

    Anything else (a bare ValueError, KeyError...) is a bug: no check foresaw it.
    """
    errors = [SmallminesError, OSError]
    if "rasterio.errors" in sys.modules:
        rasterio_errors = sys.modules["rasterio.errors"]
        errors += [rasterio_errors.RasterioError, rasterio_errors.CRSError]
    if "pyogrio.errors" in sys.modules:
        pyogrio_errors = sys.modules["pyogrio.errors"]
        errors += [pyogrio_errors.DataSourceError, pyogrio_errors.DataLayerError]
    return tuple(errors)


def _warning_printer(command):
    """Warnings as one ``smallmines COMMAND: warning: ...`` line each, not Python's format with a source line.

    A message is printed once, however often it comes (a folder scanned for the train and then the test split).
    """
    shown = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if str(message) not in shown:
            shown.add(str(message))
            print(f"smallmines {command}: warning: {message}", file=sys.stderr)

    return show


def _warn_deprecations(messages):
    """The deprecated usages the parser met, as DeprecationWarnings shown whatever the filters say of others."""
    for message in messages:
        with warnings.catch_warnings():  # keeps the printer, restores the filters
            warnings.simplefilter("always", DeprecationWarning)
            warnings.warn(message, DeprecationWarning, stacklevel=1)


def main(argv=None):
    """Entry point of the ``smallmines`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from .._signals import Interrupted, stop_on_signals

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command)  # restored by catch_warnings
            _warn_deprecations(getattr(args, "deprecations", ()))
            with stop_on_signals():
                args.run(args)
    except KeyboardInterrupt as stop:  # Interrupted, or a Ctrl-C outside the main thread's handler
        signum = stop.signum if isinstance(stop, Interrupted) else signal.SIGINT
        print(f"smallmines {args.command}: interrupted by {signal.Signals(signum).name}; temporary files removed",
              file=sys.stderr)
        return 128 + signum
    except Exception as error:
        if isinstance(error, _user_errors()):
            print(f"smallmines {args.command}: error: {error}", file=sys.stderr)
            return 1
        if os.environ.get("SMALLMINES_DEBUG"):  # no check foresaw it: still one line, and the traceback on request
            raise
        print(f"smallmines {args.command}: unexpected error ({type(error).__name__}: {error}); "
              "set SMALLMINES_DEBUG=1 to see the traceback, and please report it", file=sys.stderr)
        return 1
    return 0
