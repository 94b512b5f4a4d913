"""Train / test splits: the official CSV files, the paper's method, and a spatially disjoint split.

A split is a dict ``{(tile_id, year): "train" | "test"}`` throughout.
"""

import csv
import re
import warnings
from pathlib import Path

import numpy as np

from .._writes import atomic_path
from ..errors import DatasetError

__all__ = [
    "PATCH_NAME",
    "parse_patch_name",
    "read_split_csv",
    "write_split_csv",
    "share_bin",
    "histogram_split",
    "spatially_disjoint_split",
]

#: File-name pattern of images and masks; the country code is optional
#: because the official split CSVs leave it out (``MASK_1125_2016.tif``).
PATCH_NAME = re.compile(r"^(?P<kind>IMG|MASK)_(?:(?P<country>[A-Z]{2})_)?(?P<tile>\d{4})_(?P<year>\d{4})\.tiff?$")

_CSV_COLUMNS = ("patch_name", "class_percentage", "bin", "split")


def parse_patch_name(name):
    """Return ``(kind, tile_id, year)`` of a SmallMinesDS file name, or None if it is not one."""
    match = PATCH_NAME.match(Path(name).name)
    if match is None:
        return None
    return match["kind"], int(match["tile"]), int(match["year"])


def _text_lines(path, handle):
    """Lines of a binary file decoded as UTF-8 (a leading byte-order mark dropped); names the first line that is not."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise DatasetError(f"{path}, line {number}: not UTF-8 text (byte {raw[error.start]:#04x} at column "
                               f"{error.start + 1}); save the file as UTF-8 CSV") from None


def read_split_csv(path, year=None):
    """Read an official ``train_test_splits_<year>.csv`` file.

    Only the ``patch_name`` and ``split`` columns are used; others may be
    absent. A row repeated with the same split is counted once (with a
    warning).

    Parameters
    ----------
    path : str or Path
    year : int or None
        If given, every row must name a patch of that year (the official
        files hold one year each).

    Returns
    -------
    dict
        ``{(tile_id, year): "train" | "test"}``.

    Raises
    ------
    DatasetError
        If the file does not exist; for an empty file, a header without ``patch_name`` and ``split``, a row
        with more or fewer fields than the header, an unparseable patch name,
        a split other than train / test, a patch given both splits or of
        another year than ``year``, text that is not UTF-8 or a malformed CSV
        line; the message names the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"split file {path} does not exist")
    expected = ",".join(_CSV_COLUMNS)
    split, first_line, repeats = {}, {}, []
    with open(path, "rb") as handle:
        reader = csv.reader(_text_lines(path, handle))
        try:
            header = [column.strip() for column in next(reader, [])]
            if not header:
                raise DatasetError(f"{path} is empty; expected the header {expected} and one row per patch")
            missing = [column for column in ("patch_name", "split") if column not in header]
            if missing or len(set(header)) != len(header):
                problem = f"is missing column(s) {missing}" if missing else "repeats a column"
                raise DatasetError(f"{path}, line 1: header {','.join(header)!r} {problem}; expected {expected}")
            name_at, side_at = header.index("patch_name"), header.index("split")
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise DatasetError(f"{path}, line {line}: {len(row)} field(s) where the header "
                                       f"({','.join(header)}) has {len(header)}")
                name, side = row[name_at].strip(), row[side_at].strip().lower()
                parsed = parse_patch_name(name)
                if parsed is None:
                    raise DatasetError(f"{path}, line {line}: {name!r} is not a SmallMinesDS patch name "
                                       "(e.g. MASK_0001_2016.tif)")
                if year is not None and parsed[2] != year:
                    raise DatasetError(f"{path}, line {line}: {name} is a patch of {parsed[2]}; "
                                       f"this file splits {year}")
                if side not in ("train", "test"):
                    raise DatasetError(f"{path}, line {line}: split {row[side_at]!r} is neither 'train' nor 'test'")
                key = parsed[1:]
                if key in split:
                    if split[key] != side:
                        raise DatasetError(f"{path}, line {line}: {name} is {side!r} here but {split[key]!r} on line "
                                           f"{first_line[key]}; a patch belongs to one side only")
                    repeats.append(line)
                    continue
                split[key], first_line[key] = side, line
        except csv.Error as error:
            raise DatasetError(f"{path}, line {reader.line_num}: not valid CSV ({error})") from None
    if not split:
        raise DatasetError(f"{path} has a header but no rows; expected one row per patch")
    if repeats:
        warnings.warn(f"{path}: {len(repeats)} row(s) repeat an earlier row with the same split and were counted once "
                      f"(line(s) {', '.join(map(str, repeats[:5]))}{', ...' if len(repeats) > 5 else ''})",
                      stacklevel=2)
    return split


def share_bin(percentage):
    """The paper's 10 %-wide bin label of a mining share in percent (``"0-10%"`` ... ``"90-100%"``)."""
    low = min(int(percentage // 10), 9) * 10
    return f"{low}-{low + 10}%"


def write_split_csv(path, shares, split):
    """Write a split in the official CSV format.

    Parameters
    ----------
    path : str or Path
    shares : dict
        ``{(tile_id, year): mining share in percent}``.
    split : dict
        ``{(tile_id, year): "train" | "test"}``.
    """
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(_CSV_COLUMNS)
        for (tile, year), share in shares.items():
            writer.writerow([f"MASK_{tile:04d}_{year}.tif", round(float(share), 2), share_bin(share),
                             split[tile, year]])


def _split_bins(keys, bins, test_size, rng):
    """70:30 (for test_size 0.3) inside each bin; the test side gets the rounded-up share."""
    split = {}
    bins = np.asarray(bins)
    for label in np.unique(bins):
        members = rng.permutation(np.flatnonzero(bins == label))
        n_test = int(np.ceil(test_size * len(members)))
        for rank, index in enumerate(members):
            split[keys[index]] = "test" if rank < n_test else "train"
    return split


def histogram_split(shares, test_size=0.3, random_state=None):
    """The paper's split: per year, ``test_size`` of the patches of each 10 % mining-share bin go to test.

    Parameters
    ----------
    shares : dict
        ``{(tile_id, year): mining share in percent}``.
    test_size : float
        Share of each bin that goes to the test side.
    random_state : int or None

    Returns
    -------
    dict
        ``{(tile_id, year): "train" | "test"}``.
    """
    rng = np.random.default_rng(random_state)
    keys = sorted(shares)
    bins = [f"{year}:{share_bin(shares[tile, year])}" for tile, year in keys]
    return _split_bins(keys, bins, test_size, rng)


def spatially_disjoint_split(shares, test_size=0.3, random_state=None):
    """A split that keeps every tile id on one side for all years.

    Tiles are stratified by the bin of their mean mining share over the years,
    as the paper stratifies patches, so both sides keep a similar mix of
    mining. Use it for an honest estimate of how a model does on places it
    has never seen (the official split puts 903 of 2135 locations on
    different sides in the two years).

    Parameters
    ----------
    shares : dict
        ``{(tile_id, year): mining share in percent}``.
    test_size : float
    random_state : int or None

    Returns
    -------
    dict
        ``{(tile_id, year): "train" | "test"}``, the same side for each tile id.
    """
    rng = np.random.default_rng(random_state)
    per_tile = {}
    for (tile, _), share in shares.items():
        per_tile.setdefault(tile, []).append(share)
    tiles = sorted(per_tile)
    tile_side = _split_bins(tiles, [share_bin(np.mean(per_tile[t])) for t in tiles], test_size, rng)
    return {(tile, year): tile_side[tile] for tile, year in shares}
