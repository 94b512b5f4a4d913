"""Options that several commands share, each defined once; and what a command makes of their values."""

from pathlib import Path

__all__ = ["band_names", "bbox", "cache", "client", "dask_client", "data_inputs", "engine", "jobs", "months", "quiet",
           "stac_source", "years"]


def quiet(parser, **kwargs):
    """``-q/--quiet``: the program's, and again each command's, so that it may also come after the command."""
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars", **kwargs)


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
