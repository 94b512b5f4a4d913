"""Reading the SmallMinesDS layout: find, validate, load and cache patches.

Layout (as downloaded)::

    <root>/<year>/IMAGE/IMG_GH_<tile>_<year>.tif     13 x 128 x 128
    <root>/<year>/MASK/MASK_GH_<tile>_<year>.tif      1 x 128 x 128, values {0, 1}
    <root>/train_test_splits_<year>.csv

Policies
--------
* Mask nodata: a mask pixel equal to the mask file's declared nodata value is
  read as background (0); any other value outside {0, 1} is an error.
* Non-finite image pixels (NaN / inf): ``nan_policy="raise"`` (default) raises
  an error naming the file; ``nan_policy="fill"`` replaces them with the
  median of the finite values of that band in that patch (0 if it has none).
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from joblib import Parallel, delayed
from rasterio.crs import CRS
from tqdm.auto import tqdm

from .._writes import atomic_dir, sweep_stale
from ..bands import BAND_NAMES, band_indices, resolve_bands
from ..errors import DatasetError, InputError
from .splits import parse_patch_name, read_split_csv

__all__ = ["DatasetError", "SmallMinesDS", "find_patches", "read_patch", "load_smallminesds", "TILE_SIZE", "YEARS"]

TILE_SIZE = 128
YEARS = (2016, 2022)
_CACHE_FORMAT = 2


@dataclass
class SmallMinesDS:
    """Patches of SmallMinesDS in memory (or memory-mapped from the cache).

    Attributes
    ----------
    images : ndarray of shape (N, C, H, W), float32
    masks : ndarray of shape (N, H, W), uint8, 1 = mining
    tile_ids : ndarray of shape (N,), int
    years : ndarray of shape (N,), int
    band_names : tuple of str
        Names of the C image bands, in order.
    crs : list of rasterio.crs.CRS
        Per patch.
    transforms : list of affine.Affine
        Per patch, the pixel-to-CRS transform of its top-left corner.
    """

    images: np.ndarray
    masks: np.ndarray
    tile_ids: np.ndarray
    years: np.ndarray
    band_names: tuple
    crs: list = field(repr=False)
    transforms: list = field(repr=False)

    def __len__(self):
        return len(self.tile_ids)

    def __repr__(self):
        return (
            f"SmallMinesDS({len(self)} patches, bands={list(self.band_names)}, "
            f"years={sorted(set(self.years.tolist()))}, mining share={self.masks.mean():.2%})"
        )

    def mining_shares(self):
        """Mining share of each patch in percent, as in the split CSVs: ``{(tile_id, year): percent}``."""
        shares = self.masks.reshape(len(self), -1).mean(axis=1) * 100
        return {(int(t), int(y)): float(s) for t, y, s in zip(self.tile_ids, self.years, shares)}


def _year_folders(root):
    """The years of the ``<root>/<year>`` folders, sorted."""
    years = sorted(int(path.name) for path in root.iterdir() if path.is_dir() and re.fullmatch(r"\d{4}", path.name))
    if not years:
        raise DatasetError(f"no year folders under {root} (expected <root>/<year>/IMAGE and MASK, e.g. {root / '2022'})")
    return years


def _image_mask_paths(root, year):
    """Pair up the image and mask files of one year folder, by tile id; warn about files off the naming pattern."""
    year_dir = root / str(year)
    if not year_dir.is_dir():
        raise DatasetError(f"year folder {year_dir} does not exist (expected <root>/<year>/IMAGE and MASK)")
    found, skipped = {}, {}
    for kind, folder in (("IMG", "IMAGE"), ("MASK", "MASK")):
        sub = year_dir / folder
        if not sub.is_dir():
            raise DatasetError(f"folder {sub} does not exist")
        for path in sorted(sub.iterdir()):
            if path.name.startswith(".") or path.name.endswith(".aux.xml"):
                continue  # hidden files (our own temporaries among them) and GDAL's statistics sidecars
            parsed = parse_patch_name(path.name)
            if parsed is None or parsed[0] != kind or parsed[2] != year or not path.is_file():
                skipped.setdefault(sub, []).append(path.name)
                continue
            found.setdefault(parsed[1], {})[kind] = path
    notes = [f"{len(names)} file(s) in {sub} not named {'IMG' if sub.name == 'IMAGE' else 'MASK'}_GH_<tile>_{year}.tif "
             f"were skipped, e.g. {', '.join(names[:3])}" for sub, names in skipped.items()]
    if not found:
        raise DatasetError(f"year folder {year_dir} holds no patches (expected IMAGE/IMG_GH_<tile>_{year}.tif and "
                           f"MASK/MASK_GH_<tile>_{year}.tif){'; ' + '; '.join(notes) if notes else ''}")
    for note in notes:
        warnings.warn(note, stacklevel=4)
    for tile, pair in found.items():
        if "MASK" not in pair:
            raise DatasetError(f"image {pair['IMG']} has no mask (expected MASK_GH_{tile:04d}_{year}.tif in {year_dir / 'MASK'})")
        if "IMG" not in pair:
            raise DatasetError(f"mask {pair['MASK']} has no image (expected IMG_GH_{tile:04d}_{year}.tif in {year_dir / 'IMAGE'})")
    return {(tile, year): (pair["IMG"], pair["MASK"]) for tile, pair in found.items()}


def _official_split(root, years):
    split = {}
    for year in years:
        split.update(read_split_csv(root / f"train_test_splits_{year}.csv", year))
    return split


def find_patches(root, years=None, split=None, splits=None):
    """List the patches of a SmallMinesDS folder.

    Parameters
    ----------
    root : str or Path
        Dataset root (holding the year folders).
    years : sequence of int or None
        None: every ``<root>/<year>`` folder found.
    split : {None, "train", "test"}
        Keep only one side of the split; None keeps every patch.
    splits : dict or None
        ``{(tile_id, year): "train" | "test"}``; None reads the official
        ``train_test_splits_<year>.csv`` files in ``root`` (only when ``split`` is set).

    Returns
    -------
    list of tuple
        ``(tile_id, year, image_path, mask_path)``, sorted by year then tile.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} {'is not a folder' if root.exists() else 'does not exist'}")
    years = _year_folders(root) if years is None else [int(year) for year in years]
    patches = {}
    for year in years:
        patches.update(_image_mask_paths(root, year))
    if split is not None:
        if split not in ("train", "test"):
            raise InputError(f"split must be None, 'train' or 'test', got {split!r}")
        splits = _official_split(root, years) if splits is None else splits
        wanted = {key for key, side in splits.items() if side == split and key[1] in set(years)}
        missing = sorted(wanted - set(patches))
        if missing:
            names = ", ".join(f"{t:04d}/{y}" for t, y in missing[:5])
            raise DatasetError(f"the split names {len(missing)} patch(es) not found under {root}: {names}")
        unassigned = len(set(patches) - set(splits))
        if unassigned:
            warnings.warn(f"{unassigned} patch(es) under {root} are in no split and were left out", stacklevel=2)
        patches = {key: patches[key] for key in wanted}
    keys = sorted(patches, key=lambda key: (key[1], key[0]))
    return [(tile, year, *patches[tile, year]) for tile, year in keys]


def _check_shape(src, path, count, tile_size):
    if src.count != count or src.height != tile_size or src.width != tile_size:
        raise DatasetError(
            f"{path}: expected {count} x {tile_size} x {tile_size}, got {src.count} x {src.height} x {src.width}"
        )


def _fill_nonfinite(image):
    for band in image:
        bad = ~np.isfinite(band)
        if bad.any():
            good = band[~bad]
            band[bad] = np.median(good) if good.size else 0.0


@contextlib.contextmanager
def _open_raster(path):
    """rasterio.open that names the file when it is truncated or unreadable."""
    try:
        with rasterio.open(path) as src:
            yield src
    except rasterio.errors.RasterioError as error:
        raise DatasetError(f"cannot read {path}: {error}") from error


def read_patch(image_path, mask_path, indexes, tile_size, nan_policy):
    """Read and validate one patch; returns (image, mask, crs, transform)."""
    with _open_raster(image_path) as src:
        _check_shape(src, image_path, len(BAND_NAMES), tile_size)
        image = src.read([i + 1 for i in indexes], out_dtype="float32")
        crs, transform = src.crs, src.transform
    with _open_raster(mask_path) as src:
        _check_shape(src, mask_path, 1, tile_size)
        mask = src.read(1)
        nodata = src.nodata
    if not np.isfinite(image).all():
        if nan_policy == "raise":
            raise DatasetError(f"{image_path}: {int((~np.isfinite(image)).sum())} NaN / inf pixel(s) (see nan_policy)")
        _fill_nonfinite(image)
    if nodata is not None:
        mask = np.where(mask == nodata, 0, mask)
    bad = ~np.isin(mask, (0, 1))
    if bad.any():
        raise DatasetError(f"{mask_path}: mask values must be 0 or 1, found {np.unique(mask[bad])[:10].tolist()}")
    return image, mask.astype(np.uint8), crs, transform


def _crs_name(crs):
    return crs.to_string() if crs else "none"


def _check_one_crs(patches, crs):
    """Refuse patches in different CRSs, naming the first odd one and the first patch."""
    for (_, _, image_path, _), other in zip(patches, crs):
        if other != crs[0]:
            raise DatasetError(f"{image_path} has CRS {_crs_name(other)} but {patches[0][2]} has CRS {_crs_name(crs[0])}: "
                               "the patches of one load must share a CRS (reproject the odd ones, or load them apart)")


def _cache_key(patches, band_names, tile_size, nan_policy):
    digest = hashlib.sha256(json.dumps([_CACHE_FORMAT, list(band_names), tile_size, nan_policy]).encode())
    for tile, year, image_path, mask_path in patches:
        for path in (image_path, mask_path):
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _cache_layout(key, n, n_bands, tile_size, band_names):
    """What a cache entry must hold: its key, band names, and each array's shape and dtype."""
    return {"key": key, "band_names": list(band_names),
            "images": {"shape": [n, n_bands, tile_size, tile_size], "dtype": np.dtype(np.float32).str},
            "masks": {"shape": [n, tile_size, tile_size], "dtype": np.dtype(np.uint8).str}}


def _open_cache(folder, layout):
    """The cache entry in ``folder`` if it holds ``layout``; None if absent. A mismatched or unreadable entry is removed."""
    if not os.path.lexists(folder):
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ("images", "masks")}
        found = {"key": meta["key"], "band_names": meta["band_names"],
                 **{name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in arrays.items()}}
        if found != layout or any(meta[name] != layout[name] for name in ("images", "masks")):
            raise ValueError(f"it holds {found}, not {layout}")
        n = layout["masks"]["shape"][0]
        if not all(len(meta[name]) == n for name in ("tile_ids", "years", "crs", "transforms")):
            raise ValueError(f"its patch list does not have {n} entries")
        return SmallMinesDS(
            images=arrays["images"],
            masks=arrays["masks"],
            tile_ids=np.asarray(meta["tile_ids"]),
            years=np.asarray(meta["years"]),
            band_names=tuple(meta["band_names"]),
            crs=[CRS.from_wkt(wkt) for wkt in meta["crs"]],
            transforms=[Affine(*t) for t in meta["transforms"]],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        # Rebuilding is always correct; a damaged or foreign entry is only ever a cost.
        warnings.warn(f"cache entry {folder} is unusable ({error}); rebuilding it", stacklevel=3)
        shutil.rmtree(folder) if folder.is_dir() and not folder.is_symlink() else folder.unlink()
        return None


def _allocated_memmap(path, shape, dtype):
    """A writable ``.npy`` memory map whose disk blocks are allocated up front.

    A memory-mapped write into a sparse file dies with SIGBUS when the disk is
    full; allocating first turns that into an ENOSPC error here.
    """
    np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)  # header, then a sparse file; unmapped at once
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(handle.fileno(), 0, size)
        else:  # no fallocate (macOS): writing zeros allocates the blocks too
            for _ in range(0, size, 2**24):
                handle.write(bytes(min(2**24, size - handle.tell())))
    return np.lib.format.open_memmap(path, mode="r+")


def load_smallminesds(
    root,
    years=None,
    split=None,
    bands="all",
    *,
    splits=None,
    cache_dir=None,
    n_jobs=None,
    nan_policy="raise",
    tile_size=TILE_SIZE,
    progress=True,
):
    """Load SmallMinesDS patches as named, validated arrays.

    Parameters
    ----------
    root : str or Path
        Dataset root, laid out as the download (see module docstring).
    years : sequence of int or None
        None (default): every ``<root>/<year>`` folder found, so a download
        of one year loads as it is.
    split : {None, "train", "test"}
        One side of the split, or every patch (None).
    bands : str or sequence of str, default "all"
        Bands to read (a set name such as ``"rgb+"`` or band names).
    splits : dict or None
        A split ``{(tile_id, year): side}`` to use instead of the official
        CSV files (e.g. from :func:`spatially_disjoint_split`).
    cache_dir : str, Path or None
        If given, the arrays are stored there as ``.npy`` files on the first
        load and memory-mapped on later loads of the same files (the cache is
        keyed by the files' paths, sizes and modification times). An entry
        whose recorded key, shapes or dtypes do not match is rebuilt, with a
        warning. The free space is checked before an entry is written.
    n_jobs : int or None
        Parallel readers (joblib threads); None means 2 (reading is I/O and decompression bound).
    nan_policy : {"raise", "fill"}
        What to do with NaN / inf image pixels (see module docstring).
    tile_size : int
        Expected patch height and width.
    progress : bool
        Show a progress bar.

    Returns
    -------
    SmallMinesDS

    Raises
    ------
    DatasetError
        If ``root`` is not a folder; for a missing or empty year folder, unpaired image / mask, wrong
        shape, bad mask values, non-finite pixels, an unreadable file or
        patches in different CRSs; the message names the file(s).
    DiskFullError
        If the cache entry does not fit on its disk (checked before writing,
        and on a disk that fills meanwhile); nothing of it is left.

    Warns
    -----
    UserWarning
        For files in IMAGE / MASK off the naming pattern (skipped), with
        their count and examples.
    """
    if nan_policy not in ("raise", "fill"):
        raise InputError(f"nan_policy must be 'raise' or 'fill', got {nan_policy!r}")
    band_names = resolve_bands(bands)
    indexes = band_indices(band_names)
    patches = find_patches(root, years, split, splits)
    if not patches:
        where = "the year folders found" if years is None else f"years {list(years)}"
        raise DatasetError(f"no patches found under {root} for {where} and split {split!r}")

    n = len(patches)
    shape = (n, len(band_names), tile_size, tile_size)
    cache = layout = None
    if cache_dir is not None:
        key = _cache_key(patches, band_names, tile_size, nan_policy)
        cache = Path(cache_dir).expanduser() / key
        sweep_stale(cache.parent)  # entries left half-written by killed runs, even when this load is a hit
        layout = _cache_layout(key, n, len(band_names), tile_size, band_names)
        cached = _open_cache(cache, layout)
        if cached is not None:
            return cached

    # A cache entry is written to a temporary folder, renamed to its key when complete (or dropped, if another
    # process completed the same entry meanwhile).
    size = np.prod(shape) * 4 + n * tile_size**2 + 2**20  # images, masks, headers and meta.json
    with atomic_dir(cache, size=size, exist_ok=True) if cache else contextlib.nullcontext() as folder:
        # With a cache, the images are read straight into the memory-mapped file.
        images = np.empty(shape, np.float32) if folder is None else _allocated_memmap(folder / "images.npy", shape, np.float32)
        masks = np.empty((n, tile_size, tile_size), np.uint8)
        crs, transforms = [None] * n, [None] * n

        def read_into(i, image_path, mask_path):
            images[i], masks[i], crs[i], transforms[i] = read_patch(image_path, mask_path, indexes, tile_size, nan_policy)

        jobs = Parallel(n_jobs=n_jobs or 2, prefer="threads", return_as="generator_unordered")(
            delayed(read_into)(i, image_path, mask_path) for i, (_, _, image_path, mask_path) in enumerate(patches)
        )
        for _ in tqdm(jobs, total=n, desc="reading SmallMinesDS", unit="patch", disable=not progress):
            pass
        _check_one_crs(patches, crs)
        tile_ids = np.array([p[0] for p in patches])
        year_arr = np.array([p[1] for p in patches])
        if folder is None:
            return SmallMinesDS(images, masks, tile_ids, year_arr, band_names, crs, transforms)
        images.flush()
        del images
        np.save(folder / "masks.npy", masks)
        meta = {**layout, "tile_ids": tile_ids.tolist(), "years": year_arr.tolist(), "crs": [c.to_wkt() for c in crs],
                "transforms": [list(t)[:6] for t in transforms]}
        (folder / "meta.json").write_text(json.dumps(meta))
    return _open_cache(cache, layout)
