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
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from joblib import Parallel, delayed
from rasterio.crs import CRS
from tqdm.auto import tqdm

from ._atomic import atomic_path
from ._errors import DatasetError
from .bands import BAND_NAMES, band_indices, resolve_bands
from .splits import parse_patch_name, read_split_csv

__all__ = ["DatasetError", "SmallMinesDS", "find_patches", "read_patch", "load_smallminesds", "TILE_SIZE", "YEARS"]

TILE_SIZE = 128
YEARS = (2016, 2022)
_CACHE_FORMAT = 1


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
        raise FileNotFoundError(f"dataset root {root} {'is not a folder' if root.exists() else 'does not exist'}")
    years = _year_folders(root) if years is None else [int(year) for year in years]
    patches = {}
    for year in years:
        patches.update(_image_mask_paths(root, year))
    if split is not None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")
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


def _open_cache(folder):
    meta = json.loads((folder / "meta.json").read_text())
    return SmallMinesDS(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        masks=np.load(folder / "masks.npy", mmap_mode="r"),
        tile_ids=np.asarray(meta["tile_ids"]),
        years=np.asarray(meta["years"]),
        band_names=tuple(meta["band_names"]),
        crs=[CRS.from_wkt(wkt) for wkt in meta["crs"]],
        transforms=[Affine(*t) for t in meta["transforms"]],
    )


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
        keyed by the files' paths, sizes and modification times).
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
    FileNotFoundError
        If ``root`` does not exist.
    DatasetError
        For a missing or empty year folder, unpaired image / mask, wrong
        shape, bad mask values, non-finite pixels, an unreadable file or
        patches in different CRSs; the message names the file(s).

    Warns
    -----
    UserWarning
        For files in IMAGE / MASK off the naming pattern (skipped), with
        their count and examples.
    """
    if nan_policy not in ("raise", "fill"):
        raise ValueError(f"nan_policy must be 'raise' or 'fill', got {nan_policy!r}")
    band_names = resolve_bands(bands)
    indexes = band_indices(band_names)
    patches = find_patches(root, years, split, splits)
    if not patches:
        where = "the year folders found" if years is None else f"years {list(years)}"
        raise DatasetError(f"no patches found under {root} for {where} and split {split!r}")

    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir).expanduser() / _cache_key(patches, band_names, tile_size, nan_policy)
        if (cache / "meta.json").is_file():
            return _open_cache(cache)
        cache.mkdir(parents=True, exist_ok=True)

    n = len(patches)
    shape = (n, len(band_names), tile_size, tile_size)
    with atomic_path(cache / "images.npy") if cache else contextlib.nullcontext() as images_path:
        # With a cache, the images are read straight into the memory-mapped file.
        if images_path is None:
            images = np.empty(shape, np.float32)
        else:
            images = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.float32, shape=shape)
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
        if images_path is not None:
            images.flush()
            del images

    tile_ids = np.array([p[0] for p in patches])
    year_arr = np.array([p[1] for p in patches])
    if cache is None:
        return SmallMinesDS(images, masks, tile_ids, year_arr, band_names, crs, transforms)
    with atomic_path(cache / "masks.npy") as tmp:
        np.save(tmp, masks)
    meta = {
        "band_names": list(band_names),
        "tile_ids": tile_ids.tolist(),
        "years": year_arr.tolist(),
        "crs": [c.to_wkt() for c in crs],
        "transforms": [list(t)[:6] for t in transforms],
    }
    # meta.json is written last: its presence marks a complete cache entry.
    with atomic_path(cache / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta))
    return _open_cache(cache)

