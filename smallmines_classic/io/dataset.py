"""Reading the SmallMinesDS layout: find, validate, load and cache patches.

Layout (as downloaded; :mod:`.dataset_layout` finds it in the other forms a download takes)::

    <root>/<year>/IMAGE/IMG_GH_<tile>_<year>.tif     13 x 128 x 128
    <root>/<year>/MASK/MASK_GH_<tile>_<year>.tif      1 x 128 x 128, values {0, 1}
    <root>/train_test_splits_<year>.csv

Policies
--------
* Mask nodata: a mask pixel equal to the mask file's declared nodata value is
  read as background (0); any other value outside {0, 1} is an error.
* Image nodata: a pixel equal to its band's declared nodata value (e.g. -9999
  in the GeoTIFF's nodata tag) is missing data and read as NaN; the loader
  warns once with their count per band and names any patch with no data at all.
* Other non-finite image pixels (NaN / inf that no nodata value declares):
  ``nan_policy="raise"`` (default) raises an error naming the file.
* ``nan_policy="fill"`` replaces every missing or non-finite pixel with the
  median of the finite values of that band in that patch (0 if it has none).
"""

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from joblib import effective_n_jobs
from rasterio.crs import CRS
from tqdm.auto import tqdm

from .._writes import atomic_dir, sweep_stale
from ..bands import BAND_NAMES, band_indices, resolve_bands
from ..errors import DatasetError, InputError, SmallminesWarning
from .dataset_layout import archive_of, find_patches, locate_dataset

__all__ = ["DatasetError", "SmallMinesDS", "find_patches", "read_patch", "load_smallminesds", "TILE_SIZE", "YEARS"]

TILE_SIZE = 128
YEARS = (2016, 2022)
_CACHE_FORMAT = 3  # 3: declared image nodata is read as NaN
_BATCH = 16  # patches a reader thread reads in one GDAL environment


_SIDECARS = (".aux.xml", ".ovr", ".msk")  # files GDAL reads beside a GeoTIFF (PAM metadata, overviews, masks)


def _gdal_options(patches):
    """GDAL options for reading ``patches``: where no GDAL sidecar lies beside them, GDAL need not list their folder
    and look for one at every open (a fifth of a patch's read); a sidecar (a nodata value in an ``.aux.xml``) is
    honoured where there is one. An archive is listed once by GDAL anyway."""
    paths = [path for *_, image, mask in patches for path in (image, mask)]
    if any(archive_of(path) for path in paths):
        return {}
    if any(_holds_sidecar(folder) for folder in {Path(path).parent for path in paths}):
        return {}
    return {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_PAM_ENABLED": "NO"}


def _holds_sidecar(folder):
    with os.scandir(folder) as entries:
        return any(entry.name.endswith(_SIDECARS) for entry in entries)


def _default_readers():
    """Reader threads: twice the cores, at most 8. Reading waits on the disk and decompresses (GDAL releases the GIL
    for both): threads beyond the cores keep them busy while others wait."""
    return min(8, 2 * (os.cpu_count() or 1))


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


def _declared_nodata(image, nodatavals):
    """Set the pixels equal to their band's declared nodata to NaN; return how many each band had."""
    counts = np.zeros(len(image), np.int64)
    for k, (band, nodata) in enumerate(zip(image, nodatavals)):
        if nodata is not None:
            declared = np.isnan(band) if np.isnan(nodata) else band == np.float32(nodata)
            counts[k] = np.count_nonzero(declared)
            band[declared] = np.nan
    return counts


def _read_patch(image_path, mask_path, indexes, tile_size, nan_policy, out=None):
    """:func:`read_patch`, and the count of declared no-data pixels of each band read; the image is read into
    ``out`` (float32, bands x tile x tile) if given."""
    with _open_raster(image_path) as src:
        _check_shape(src, image_path, len(BAND_NAMES), tile_size)
        if out is None:
            out = np.empty((len(indexes), tile_size, tile_size), np.float32)
        image = src.read([i + 1 for i in indexes], out=out)
        crs, transform = src.crs, src.transform
        missing = _declared_nodata(image, [src.nodatavals[i] for i in indexes])
    with _open_raster(mask_path) as src:
        _check_shape(src, mask_path, 1, tile_size)
        mask = src.read(1)
        nodata = src.nodata
    if nan_policy == "fill":
        _fill_nonfinite(image)
    elif not np.isfinite(image).all():
        undeclared = int((~np.isfinite(image)).sum() - missing.sum())
        if undeclared:
            raise DatasetError(f"{image_path}: {undeclared} NaN / inf pixel(s) that no nodata value declares "
                               "(see nan_policy)")
    if nodata is not None:
        mask = np.where(mask == nodata, 0, mask)
    bad = ~np.isin(mask, (0, 1))
    if bad.any():
        raise DatasetError(f"{mask_path}: mask values must be 0 or 1, found {np.unique(mask[bad])[:10].tolist()}")
    return image, mask.astype(np.uint8), crs, transform, missing


def read_patch(image_path, mask_path, indexes, tile_size, nan_policy):
    """Read and validate one patch; returns (image, mask, crs, transform). Declared image no-data is NaN."""
    return _read_patch(image_path, mask_path, indexes, tile_size, nan_policy)[:4]


def _warn_missing(missing, patches, band_names, tile_size, nan_policy):
    """One warning: how many pixels of each band were declared no-data, and which patches hold no data at all."""
    per_band = missing.sum(axis=0)
    if not per_band.any():
        return
    bands = ", ".join(f"{name}: {int(count):,}" for name, count in zip(band_names, per_band) if count)
    empty = [str(patches[i][2]) for i in np.flatnonzero(missing.sum(axis=1) == len(band_names) * tile_size**2)]
    named = f"; {len(empty)} patch(es) hold no data at all: {', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''}"
    warnings.warn(f"{int(per_band.sum()):,} image pixel(s) in {np.count_nonzero(missing.any(axis=1))} patch(es) are "
                  f"declared no-data and were {'filled' if nan_policy == 'fill' else 'read as NaN'} ({bands})"
                  f"{named if empty else ''}", SmallminesWarning, stacklevel=3)


def _crs_name(crs):
    return crs.to_string() if crs else "none"


def _check_one_crs(patches, crs):
    """Refuse patches in different CRSs, naming the first odd one and the first patch."""
    for (_, _, image_path, _), other in zip(patches, crs):
        if other != crs[0]:
            raise DatasetError(f"{image_path} has CRS {_crs_name(other)} but {patches[0][2]} has CRS "
                               f"{_crs_name(crs[0])}: the patches of one load must share a CRS (reproject the odd "
                               "ones, or load them apart)")


def _cache_key(patches, band_names, tile_size, nan_policy):
    digest = hashlib.sha256(json.dumps([_CACHE_FORMAT, list(band_names), tile_size, nan_policy]).encode())
    for tile, year, image_path, mask_path in patches:
        for path in (image_path, mask_path):
            archive = archive_of(path)  # a member of an archive changes with the archive
            stat = (archive or path).stat()
            digest.update(f"{path if archive else path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _cache_layout(key, n, n_bands, tile_size, band_names):
    """What a cache entry must hold: its key, band names, and each array's shape and dtype."""
    return {"key": key, "band_names": list(band_names),
            "images": {"shape": [n, n_bands, tile_size, tile_size], "dtype": np.dtype(np.float32).str},
            "masks": {"shape": [n, tile_size, tile_size], "dtype": np.dtype(np.uint8).str}}


def _open_cache(folder, layout):
    """The cache entry in ``folder`` if it holds ``layout``; None if absent.

    A mismatched or unreadable entry is removed."""
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
        The dataset: the folder holding the year folders, the folder above it (the Hugging Face archive unpacks
        to ``SmallMinesDS/SmallMinesDS/<year>``), the ``.zip`` archive itself or a Hugging Face snapshot folder
        (see :func:`~smallmines_classic.io.dataset_layout.locate_dataset`).
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
        Reader threads (-1: one a core); None means twice the CPU cores, at most 8 (reading waits on the disk
        and decompresses, both outside Python's GIL).
    nan_policy : {"raise", "fill"}
        What to do with NaN / inf image pixels that no nodata value declares: raise, or fill them and the
        declared no-data pixels (see module docstring).
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
    SmallminesWarning
        Once, for pixels equal to their band's declared nodata: their count per band, and the patches with no
        data at all (not repeated when the arrays come from the cache).
    """
    if nan_policy not in ("raise", "fill"):
        raise InputError(f"nan_policy must be 'raise' or 'fill', got {nan_policy!r}")
    band_names = resolve_bands(bands)
    indexes = band_indices(band_names)
    location = locate_dataset(root)
    patches = find_patches(location, years, split, splits)
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
        images = (np.empty(shape, np.float32) if folder is None
                  else _allocated_memmap(folder / "images.npy", shape, np.float32))
        masks = np.empty((n, tile_size, tile_size), np.uint8)
        crs, transforms = [None] * n, [None] * n
        missing = np.zeros((n, len(band_names)), np.int64)
        gdal_options = _gdal_options(patches)

        def read_batch(batch):
            # Straight into the output (no copy, no temporary per patch), in one GDAL environment per batch.
            with rasterio.Env(**gdal_options):
                for i in batch:
                    image_path, mask_path = patches[i][2:]
                    _, masks[i], crs[i], transforms[i], missing[i] = _read_patch(
                        image_path, mask_path, indexes, tile_size, nan_policy, out=images[i])
            return len(batch)

        batches = [range(start, min(start + _BATCH, n)) for start in range(0, n, _BATCH)]
        # On a stop (Ctrl-C, SIGTERM) the batches not started are cancelled and the running ones finish (a few
        # patches), before the cache's temporary folder is removed.
        with (ThreadPoolExecutor(effective_n_jobs(n_jobs or _default_readers())) as pool,
              tqdm(total=n, desc=f"reading SmallMinesDS from {location}", unit="patch", disable=not progress) as bar):
            jobs = [pool.submit(read_batch, batch) for batch in batches]
            try:
                for job in as_completed(jobs):
                    bar.update(job.result())
            finally:
                pool.shutdown(cancel_futures=True)
        _check_one_crs(patches, crs)
        _warn_missing(missing, patches, band_names, tile_size, nan_policy)
        tile_ids = np.array([p[0] for p in patches])
        year_arr = np.array([p[1] for p in patches])
        if folder is None:
            return SmallMinesDS(images, masks, tile_ids, year_arr, band_names, crs, transforms)
        images.flush()
        images = None  # unmaps the file before it is renamed
        np.save(folder / "masks.npy", masks)
        meta = {**layout, "tile_ids": tile_ids.tolist(), "years": year_arr.tolist(), "crs": [c.to_wkt() for c in crs],
                "transforms": [list(t)[:6] for t in transforms]}
        (folder / "meta.json").write_text(json.dumps(meta))
    return _open_cache(cache, layout)
