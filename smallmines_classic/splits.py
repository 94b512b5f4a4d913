"""Train / test splits: the official CSV files, the paper's method, and a spatially disjoint split.

A split is a dict ``{(tile_id, year): "train" | "test"}`` throughout.
"""

import csv
import re
from pathlib import Path

import numpy as np

from ._atomic import atomic_path

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


def read_split_csv(path):
    """Read an official ``train_test_splits_<year>.csv`` file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``{(tile_id, year): "train" | "test"}``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For a missing column, an unparseable patch name or a split other than
        train / test; the message names the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist")
    split = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"patch_name", "split"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected {list(_CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            parsed = parse_patch_name(row["patch_name"].strip())
            side = row["split"].strip().lower()
            if parsed is None:
                raise ValueError(f"{path}, line {line}: {row['patch_name']!r} is not a SmallMinesDS patch name")
            if side not in ("train", "test"):
                raise ValueError(f"{path}, line {line}: split {row['split']!r} is neither 'train' nor 'test'")
            split[parsed[1:]] = side
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
            writer.writerow([f"MASK_{tile:04d}_{year}.tif", round(float(share), 2), share_bin(share), split[tile, year]])


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
