"""Options that several commands share, each defined once; and what a command makes of their values."""

import argparse
from pathlib import Path

from ..errors import InputError

__all__ = ["CommandParser", "HelpFormatter", "add_command", "band_names", "bbox", "box_text", "boxes_overlap", "cache",
           "check_bbox_covers", "client", "dask_client", "data_inputs", "engine", "jobs", "months", "needs", "output",
           "quiet", "stac_source", "vector_modules", "year", "years"]

#: Sentinel-2 began in 2015 (Sentinel-1 in 2014): a year before it has no composite.
FIRST_YEAR = 2015
#: The optional modules a command needs, all from the ``maps`` extra: STAC items and composites; vector files;
#: the report.
STAC_MODULES = ("pystac", "pystac_client", "planetary_computer", "odc.stac", "dask.array")
VECTOR_MODULES = ("shapely", "pyogrio")
REPORT_MODULES = ("folium", "jinja2", "shapely")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's own, except that a paragraph with indented lines (the examples) is kept as written."""

    def _fill_text(self, text, width, indent):
        return "\n\n".join("\n".join(indent + line for line in paragraph.splitlines()) if "\n  " in paragraph
                            else super(HelpFormatter, self)._fill_text(paragraph, width, indent)
                            for paragraph in text.split("\n\n"))


def add_command(subparsers, name, summary, examples, details=None):
    """A command's parser with the help every command has.

    ``summary`` is the command's line in ``smallmines --help`` and, as a sentence, the first line of its own help;
    ``details`` a paragraph after it; ``examples`` command lines shown at the end (each parses: tests/cli).
    """
    description = f"{summary[:1].upper()}{summary[1:]}." + (f"\n\n{details}" if details else "")
    epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples)
    return subparsers.add_parser(name, help=summary, description=description, epilog=epilog,
                                 formatter_class=HelpFormatter)


def vector_modules(path):
    """What reading or writing the vector file ``path`` needs: shapely and pyogrio, or nothing for CSV."""
    return () if str(path).lower().endswith(".csv") else VECTOR_MODULES


def needs(extra, *modules):
    """Import the optional ``modules`` a command needs before it prints or writes anything, or raise a
    :class:`~smallmines_classic.errors.MissingExtraError` that names ``extra``, in both ways to install it."""
    from .._backend import require

    for module in modules:
        require(module, extra)


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


def _before_sentinel2(values):
    """None when every year is from 2015 on, else why not, with the four-digit years meant if they were two."""
    early = [value for value in values if value < FIRST_YEAR]
    if not early:
        return None
    verb = "is" if len(early) == 1 else "are"
    message = f"{' '.join(map(str, early))} {verb} before {FIRST_YEAR}, when Sentinel-2 began"
    if all(0 <= value < 100 for value in early):   # two digits: the years meant, in full
        return message + f"; did you mean {' '.join(str(v + 2000 if v < 100 else v) for v in values)}?"
    return message


def year(text):
    """``--year``: a whole year from 2015 on."""
    value = int(text)
    problem = _before_sentinel2([value])
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


class _Years(argparse.Action):
    """``--years``: whole years from 2015 on; ``--years 16 22`` is refused with "did you mean 2016 2022?"."""

    def __call__(self, parser, namespace, values, option_string=None):
        problem = _before_sentinel2(values)
        if problem:
            parser.error(f"argument {option_string}: {problem}")
        setattr(namespace, self.dest, values)


def years(parser, help="years to use (default: every year folder found)", **kwargs):
    parser.add_argument("--years", type=int, nargs="+", action=_Years, metavar="YEAR", help=help, **kwargs)


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


def box_text(box):
    """A box as the numbers to type after ``--bbox``."""
    return " ".join(f"{value:g}" for value in box)


def boxes_overlap(box, other):
    """Whether two boxes W S E N overlap (or touch)."""
    return box[0] <= other[2] and box[2] >= other[0] and box[1] <= other[3] and box[3] >= other[1]


def _swapped(box):
    """The box as it was meant if it was given as S W N E (latitude first)."""
    south, west, north, east = box
    return west, south, east, north


def _bbox_problem(box):
    """None for a box W S E N in degrees, else what is wrong with it."""
    west, south, east, north = box
    if not (abs(south) <= 90 and abs(north) <= 90):
        return "latitudes S and N must lie within -90..90"
    if not (abs(west) <= 180 and abs(east) <= 180):
        return "longitudes W and E must lie within -180..180"
    if not (west < east and south < north):
        return "it needs W < E and S < N"
    return None


class _Bbox(argparse.Action):
    """``--bbox W S E N`` in degrees, checked against the ranges of longitude and latitude."""

    def __call__(self, parser, namespace, values, option_string=None):
        problem = _bbox_problem(values)
        if problem:
            hint = ""
            if _bbox_problem(_swapped(values)) is None:
                hint = (f"; did you give lat/lon instead of lon/lat? try --bbox W S E N = "
                        f"{box_text(_swapped(values))}")
            parser.error(f"argument --bbox: {box_text(values)} is not a box W S E N in degrees: {problem}{hint}")
        setattr(namespace, self.dest, values)


def bbox(parser, help, required=False):
    parser.add_argument("--bbox", type=float, nargs=4, required=required, action=_Bbox, metavar=("W", "S", "E", "N"),
                        help=help)


def check_bbox_covers(box, covers, what, refuse=True):
    """Refuse a ``--bbox`` for which ``covers(box)`` is false, naming ``what`` it misses, with a hint when the box
    read as S W N E (latitude first) would be covered. ``refuse=False``: only then, the caller's own checks say the
    rest."""
    if covers(box):
        return
    swapped = _bbox_problem(_swapped(box)) is None and covers(_swapped(box))
    if swapped or refuse:
        hint = f"; did you give lat/lon instead of lon/lat? try --bbox W S E N = {box_text(_swapped(box))}"
        raise InputError(f"--bbox {box_text(box)} (W S E N, degrees) does not overlap {what}{hint if swapped else ''}")


def months(parser, help):
    parser.add_argument("--months", type=int, nargs="+", default=[1], help=help)


def stac_source(parser, items_help):
    """Where the items come from: a local ItemCollection or a STAC API, one or the other; Sentinel-1 maybe apart."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--items", help=items_help)
    source.add_argument("--stac", metavar="CATALOG", help="STAC API to search: planetary-computer (the default, items "
                        "signed), earth-search (Element 84 v1; its Sentinel-1 is GRD: add --s1-stac) or a URL")
    parser.add_argument("--s1-stac", metavar="CATALOG", help="take Sentinel-1 from here alone: a catalog as --stac "
                        "(e.g. planetary-computer, whose RTC the recipe reads) or a local ItemCollection JSON")


def client(parser, help):
    parser.add_argument("--client", metavar="tcp://HOST:PORT", help=help)


def dask_client(address):
    """A client of the Dask scheduler at ``address`` (``--client``), or an error that names it."""
    from .._backend import require

    distributed = require("dask.distributed", "maps")
    try:
        return distributed.Client(address, timeout=20)
    except (OSError, TimeoutError, ValueError) as error:   # refused, timed out, or not an address
        raise ConnectionError(f"cannot connect to the Dask scheduler at {address} ({error}); start one with 'dask "
                              "scheduler' and workers with 'dask worker ADDRESS', or leave out --client") from None


def data_inputs(args):
    """The dataset root, its split CSVs and the cache folder: what an output of train / evaluate must not replace."""
    return [args.data, args.cache, *Path(args.data).glob("train_test_splits_*.csv")]
