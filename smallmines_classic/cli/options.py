"""Options that several commands share, each defined once; and what a command makes of their values."""

import argparse
from pathlib import Path

__all__ = ["CommandParser", "band_names", "bbox", "cache", "client", "dask_client", "data_inputs", "engine", "jobs",
           "months", "output", "quiet", "stac_source", "years"]


class CommandParser(argparse.ArgumentParser):
    """A command's parser. Its ``-o/--out`` (see :func:`output`) may be given, for one release, as the positional
    argument that 0.2.0 took instead: the namespace gets it as ``out``, with a deprecation in ``deprecations``."""

    out_action = None  # set by output(..., positional=True); required, but checked here, not by argparse

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if self.out_action is None:
            return namespace, extras
        old = namespace.__dict__.pop("positional_out")
        if old is None and len(extras) == 1 and not extras[0].startswith("-"):
            # argparse gives an optional positional nothing when an option stands between it and the positionals
            # before it (`train DATA --trees 5 OUT`); 0.2.0's required positional took that last word.
            old, extras = extras[0], []
        if old is not None and namespace.out is not None:
            self.error(f"the output is given twice, as -o/--out {namespace.out} and as the positional {old}; "
                       "give it once, as -o/--out")
        if old is None and namespace.out is None:
            self.error("the following arguments are required: -o/--out")
        if old is not None:
            namespace.out = old
            namespace.deprecations = [f"the output as a positional argument ({old}) is deprecated and will stop "
                                      f"working in the next release; give it as -o/--out {old}"]
        return namespace, extras

    def format_usage(self):
        return self._formatted(super().format_usage)

    def format_help(self):
        return self._formatted(super().format_help)

    def _formatted(self, format_text):
        """The text with ``-o/--out`` shown as required, as it is unless the deprecated positional stands in."""
        if self.out_action is None:
            return format_text()
        self.out_action.required = True
        try:
            return format_text()
        finally:
            self.out_action.required = False


def quiet(parser, **kwargs):
    """``-q/--quiet``: the program's, and again each command's, so that it may also come after the command."""
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars", **kwargs)


def output(parser, help, *, positional=False, **kwargs):
    """``-o/--out``, the one option for the file or folder a command writes.

    ``positional``: the command took it as its last positional argument in 0.2.0, which still works, with a
    warning, for one release (the parser must be a :class:`CommandParser`; ``-o/--out`` is then required).
    """
    action = parser.add_argument("-o", "--out", help=help, **kwargs)
    if positional:
        parser.add_argument("positional_out", nargs="?", help=argparse.SUPPRESS)
        parser.out_action = action


def years(parser):
    parser.add_argument("--years", type=int, nargs="+", help="years to use (default: every year folder found)")


def engine(parser, default):
    """``--engine``; ``default`` says where the engine comes from when the option is not given."""
    parser.add_argument("--engine", choices=["auto", "sklearn", "numba", "nvforest"],
                        help="forest inference engine: numba is compiled and gives scikit-learn's probabilities "
                             f"exactly, nvforest runs on a GPU ({default})")


def jobs(parser, help, default=None):
    parser.add_argument("--jobs", type=int, default=default, help=help)


def cache(parser):
    parser.add_argument("--cache", help="folder for a memory-mapped cache of the loaded arrays")


def band_names(parser):
    parser.add_argument("--band-names", nargs="+", help="names of the scene's bands, if it does not carry them")


def bbox(parser, help, required=False):
    parser.add_argument("--bbox", type=float, nargs=4, required=required, metavar=("W", "S", "E", "N"), help=help)


def months(parser, help):
    parser.add_argument("--months", type=int, nargs="+", default=[1], help=help)


def stac_source(parser, items_help):
    """Where the items come from: a local ItemCollection or a STAC API, one or the other."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--items", help=items_help)
    source.add_argument("--stac", help="STAC API to search (default: the Planetary Computer's, items signed)")


def client(parser, help):
    parser.add_argument("--client", metavar="tcp://HOST:PORT", help=help)


def dask_client(address):
    """A client of the Dask scheduler at ``address`` (``--client``), or an error that names it."""
    from .._backend import require

    distributed = require("dask.distributed", "scale")
    try:
        return distributed.Client(address, timeout=20)
    except (OSError, TimeoutError, ValueError) as error:   # refused, timed out, or not an address
        raise ConnectionError(f"cannot connect to the Dask scheduler at {address} ({error}); start one with 'dask "
                              "scheduler' and workers with 'dask worker ADDRESS', or leave out --client") from None


def data_inputs(args):
    """The dataset root, its split CSVs and the cache folder: what an output of train / evaluate must not replace."""
    return [args.data, args.cache, *Path(args.data).glob("train_test_splits_*.csv")]
