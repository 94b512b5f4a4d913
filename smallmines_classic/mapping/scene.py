"""Whole scenes: windowed prediction to Cloud-Optimized GeoTIFFs, and mosaics of SmallMinesDS tiles.

Map files written here are single- or two-band uint8 GeoTIFFs on the source's
grid: band 1 is the mask (0 background, 1 mining, 255 nodata), the optional
band 2 the mining probability in percent (0..100, 255 nodata).

A scene is any GeoTIFF or VRT, in any CRS and data type (float64 and
EPSG:4326, as Earth Engine exports, included), whose bands are named by
``band_names``, by its band descriptions or, with 13 bands, by the
SmallMinesDS order. The model's bands are found by name (aliases such as
``B2`` or ``blue`` included, :mod:`smallmines_classic.bands`); others, such
as an export's NDVI, are ignored. No data is NaN, the declared nodata value,
or, where a file declares none, a pixel that is 0 in every band read (of two
or more): how Earth Engine writes masked pixels unless told otherwise.
"""

import warnings
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm.auto import tqdm

from .._guards import check_output_not_input
from .._writes import atomic_path
from ..bands import BAND_NAMES, BAND_SETS, resolve_bands
from ..errors import BandError, DatasetError, ModelFileError, SmallminesWarning
from ..io.dataset import find_patches
from ..io.raster import MAP_NODATA, bounded_gdal_cache, cog_output, map_profile, scene_windows
from ..models.domain import check_domain, guard
from ..models.sampling import sorted_sample

__all__ = ["MAP_NODATA", "scene_band_names", "scene_windows", "model_band_indexes", "read_scene", "map_window", "taper",
           "write_map", "predict_scene", "mosaic_tiles", "cog_output", "map_profile", "bounded_gdal_cache",
           "scene_sample", "check_scene", "guard_scene"]

# The domain guard reads this many windows of this side, spread at random over the scene.
_SAMPLE_WINDOWS, _SAMPLE_SIDE = 32, 64


def _band_labels(src, band_names):
    """What each band of an open scene is called: ``band_names``, else its descriptions, else the 13 bands by count."""
    if band_names is not None:
        labels = BAND_SETS.get(band_names.lower(), [band_names]) if isinstance(band_names, str) else list(band_names)
        if len(labels) != src.count:
            raise BandError(f"{src.name} has {src.count} bands but band_names names {len(labels)}")
        return [str(label) for label in labels]
    if all(src.descriptions):
        return list(src.descriptions)
    if src.count == len(BAND_NAMES):
        return list(BAND_NAMES)
    raise BandError(f"{src.name} has {src.count} unnamed bands: pass band_names (the SmallMinesDS order has "
                    f"{len(BAND_NAMES)})")


def _known_name(label):
    """The SmallMinesDS name of a band's label, aliases included, or None for another band (NDVI, say)."""
    try:
        return resolve_bands([label])[0]
    except BandError:
        return None


def scene_band_names(src, band_names=None):
    """The name of each band of an open scene: given, else its band descriptions, else the 13 SmallMinesDS bands.

    Names the package knows become canonical (``B2`` and ``blue`` become
    ``B02``); bands of other names (an export's NDVI or QA60) keep theirs.

    Raises
    ------
    BandError
        ``band_names`` of another length than the scene's bands, unnamed
        bands that are not 13, or a SmallMinesDS band named twice.
    """
    labels = _band_labels(src, band_names)
    names = tuple(_known_name(label) or label for label in labels)
    twice = sorted({name for name in names if name in BAND_NAMES and names.count(name) > 1})
    if twice:
        raise BandError(f"{src.name}: its bands {labels} name {twice} more than once")
    return names


def model_band_indexes(model, source, band_names=None):
    """1-based indexes of the model's bands in an open scene, found by name (:func:`scene_band_names`).

    Bands the model does not read are ignored. Where the scene holds bands
    the package does not know (an Earth Engine export's NDVI, say), one
    :class:`~smallmines_classic.errors.SmallminesWarning` names every band
    ignored. A scene that lacks a band of the model is refused with a
    :class:`~smallmines_classic.errors.BandError` naming both lists.
    """
    names, wanted = scene_band_names(source, band_names), tuple(model.band_names_)
    missing = [name for name in wanted if name not in names]
    if missing:
        raise BandError(f"{source.name}: the model reads bands {list(wanted)}, but the scene holds {list(names)} "
                        f"(missing {missing})")
    if any(name not in BAND_NAMES for name in names):  # a SmallMinesDS stack's other bands go unsaid
        ignored = [name for name in names if name not in wanted]
        warnings.warn(f"{source.name}: bands {ignored} are ignored: the model reads {list(wanted)}",
                      SmallminesWarning, stacklevel=3)
    return [names.index(name) + 1 for name in wanted]


def read_scene(source, indexes, window):
    """Bands ``indexes`` (1-based) of an open scene in ``window``, as float32 with NaN where there is no data.

    Any data type is read (float64 is converted window by window, so memory
    is one window's float32). No data: a value that is not finite, the
    declared nodata value (band by band) or, where the file declares none, a
    pixel that is 0 in every one of two or more bands read, which is how Earth
    Engine writes masked pixels unless its export sets
    ``formatOptions: {noData: ...}`` (one band alone may well be 0).
    """
    block = source.read(indexes, window=window, out_dtype="float32")
    if source.nodata is not None:
        block[block == source.nodata] = np.nan
    elif len(indexes) > 1:
        block[:, (block == 0).all(axis=0)] = np.nan
    return block


def scene_sample(source, indexes, n_windows=_SAMPLE_WINDOWS, side=_SAMPLE_SIDE, random_state=0):
    """Pixels of up to ``n_windows`` random ``side`` x ``side`` windows of an open scene, shape (bands, pixels).

    Nodata becomes NaN band by band (:func:`read_scene`), so a band missing in
    part of the scene (no radar, say) does not hide the others. Memory is
    bounded by the windows, whatever the scene size; the same seed reads the
    same windows.
    """
    rows, cols = -(-source.height // side), -(-source.width // side)
    picks = sorted_sample(rows * cols, min(n_windows, rows * cols), np.random.default_rng(random_state))
    values = []
    for row, col in zip(*np.divmod(picks, cols)):
        top, left = int(row) * side, int(col) * side
        window = Window(left, top, min(side, source.width - left), min(side, source.height - top))
        values.append(read_scene(source, indexes, window).reshape(len(indexes), -1))
    return np.concatenate(values, axis=1)


def _scene_checks(model, source, indexes):
    return check_domain(model.band_stats_, scene_sample(source, indexes), model.band_names_)


def guard_scene(model, source, indexes, strict=False):
    """The domain guard on an open scene: warn, or if ``strict`` raise, when it does not look like the training data.

    Models without training statistics (saved before they existed) are not checked.
    """
    if getattr(model, "band_stats_", None) is not None:
        guard(_scene_checks(model, source, indexes), source.name, strict, stacklevel=3)


def check_scene(model, src, band_names=None):
    """Compare a sample of a scene's bands with the model's training pixels, band by band.

    Parameters
    ----------
    model : fitted segmenter with ``band_stats_``
    src : str or Path
        Scene, as for :func:`predict_scene`.
    band_names : sequence of str, optional

    Returns
    -------
    list of smallmines_classic.models.domain.BandCheck
        One per band the model reads: training and scene (q0.01, median,
        q0.99), ``ok`` and the likely cause when not ok (see :mod:`smallmines_classic.models.domain`).

    Raises
    ------
    ModelFileError
        If the model carries no training statistics (a file saved before they existed).
    """
    if getattr(model, "band_stats_", None) is None:
        raise ModelFileError(f"this {type(model).__name__} carries no training statistics (saved before "
                             "smallmines recorded them): retrain it to check scenes")
    with rasterio.open(src) as source:
        return _scene_checks(model, source, model_band_indexes(model, source, band_names))


def map_window(model, source, indexes, window):
    """Mining probability of one (padded) window, and which of its pixels are valid.

    Pixels with no data (:func:`read_scene`) in any band the model reads are
    invalid; they are predicted as zeros and later left out.
    """
    block = read_scene(source, indexes, window)
    valid = np.isfinite(block).all(axis=0)
    proba = model.predict_proba(np.where(valid, block, 0)[None], band_names=model.band_names_)[0]
    return proba.astype(np.float32), valid


def taper(height, width, overlap):
    """Blending weights of a padded window: 1 inside, falling linearly to 1 / (overlap + 1) at its edges."""
    def ramp(n):
        return np.minimum(np.minimum(np.arange(n), np.arange(n)[::-1]) + 1, overlap + 1) / (overlap + 1)

    return np.minimum.outer(ramp(height), ramp(width)).astype(np.float32)


def write_map(source, dst, blocks, n_blocks, *, threshold, overlap, probability, progress):
    """Blend ``(padded window, probability, valid)`` blocks, in any order, into a COG on the source's grid.

    Each window's probabilities are weighted by :func:`taper`, so where
    windows overlap the result moves smoothly from one to the next: no seams.
    The weighted sums go to a temporary float32 raster beside ``dst`` (8
    bytes a pixel on disk, never the whole scene in memory); the map is then
    thresholded block by block, and ``dst`` appears only once it is complete.
    """
    dst = Path(dst)
    check_output_not_input(dst, *source.files)
    bands = 2 if probability else 1
    # Scratch: the float32 sums and weights (8 bytes a pixel), the map, and at most as much again for its COG copy.
    with cog_output(dst, size=source.width * source.height * (8 + 2 * bands)) as (work, tmp):
        profile = dict(map_profile(source, 2), dtype="float32", nodata=None, compress=None, BIGTIFF="IF_SAFER")
        with rasterio.open(work / "weighted_sums.tif", "w+", **profile) as acc:
            for window, proba, valid in tqdm(blocks, total=n_blocks, desc=f"mapping {Path(source.name).name}",
                                             unit="window", disable=not progress):
                weight = taper(window.height, window.width, overlap) * valid
                acc.write(acc.read(window=window) + np.stack([proba * weight, weight]), window=window)
            with rasterio.open(tmp, "w", **map_profile(source, bands)) as out:
                for core, _ in scene_windows(source.height, source.width, 2048, 0):
                    weighted, weight = acc.read(window=core)
                    covered = weight > 0
                    blended = np.divide(weighted, weight, out=np.zeros_like(weight), where=covered)
                    out.write(np.where(covered, blended > threshold, MAP_NODATA).astype(np.uint8), 1, window=core)
                    if probability:
                        percent = np.where(covered, np.rint(blended * 100), MAP_NODATA).astype(np.uint8)
                        out.write(percent, 2, window=core)
                out.set_band_description(1, "mining mask (1 mining, 0 background)")
                if probability:
                    out.set_band_description(2, "mining probability, percent")
    return dst


def predict_scene(model, src, dst, *, band_names=None, window_size=1024, overlap=64, probability=False, progress=True,
                  strict=False):
    """Map mining over a whole GeoTIFF scene, window by window.

    Parameters
    ----------
    model : fitted segmenter
        Anything with ``band_names_``, ``threshold`` and
        ``predict_proba(X, band_names=...)`` on (N, C, H, W): the forest and
        the deep models alike. One that carries ``band_stats_`` is checked
        against the scene first (see ``strict``).
    src : str or Path
        Scene in any CRS and data type whose bands are named by
        ``band_names``, by the file's band descriptions, or (13 bands) in the
        dataset order (see the module docstring: other bands are ignored, no
        data is NaN, the nodata value or 0 in every band read). Only the bands the
        model needs are read.
    dst : str or Path
        Output Cloud-Optimized GeoTIFF (see module docstring); written only
        when complete.
    window_size : int
        Side of the square core windows; memory is bounded by it.
    overlap : int
        Pixels by which neighbouring windows overlap on each side. Where they
        overlap, their probabilities are blended with weights that fall
        towards each window's edge (:func:`taper`), so no seams show.
    probability : bool
        Also write the probability band.
    progress : bool
    strict : bool
        Before mapping, a sample of windows is compared with the model's
        training pixels (:func:`check_scene`); a band out of range gives a
        ``DomainWarning`` naming it and the likely cause, or with ``strict``
        a ``DomainError`` (nothing is written).

    Returns
    -------
    Path
        ``dst``.

    Raises
    ------
    DiskFullError
        If ``dst``'s file system lacks the space for the blending raster (8
        bytes a pixel) and the map; checked before any window is read.

    Notes
    -----
    GDAL's block cache is bounded to :data:`GDAL_CACHE_MB` while mapping, so
    memory does not grow with the scene size.

    See Also
    --------
    smallmines_classic.mapping.distributed.predict_scene_dask : the same on a Dask cluster.
    """
    with bounded_gdal_cache(), rasterio.open(src) as source:
        indexes = model_band_indexes(model, source, band_names)
        guard_scene(model, source, indexes, strict)
        windows = [padded for _, padded in scene_windows(source.height, source.width, window_size, overlap)]
        blocks = ((window, *map_window(model, source, indexes, window)) for window in windows)
        return write_map(source, dst, blocks, len(windows), threshold=model.threshold, overlap=overlap,
                         probability=probability, progress=progress)


def mosaic_tiles(root, year, dst, kind="IMAGE"):
    """A GDAL VRT that mosaics the image (or mask) tiles of one year of a SmallMinesDS folder.

    The tiles must share a CRS and pixel size (true of the download and of
    the twin). Returns ``dst``.
    """
    patches = find_patches(root, years=[year])
    paths = [image if kind == "IMAGE" else mask for _, _, image, mask in patches]
    if not paths:
        raise DatasetError(f"no {kind} tiles for {year} under {root}")
    check_output_not_input(dst, *paths)
    with rasterio.open(paths[0]) as first:
        crs, res, count, dtype, nodata = first.crs, first.res, first.count, first.dtypes[0], first.nodata
        descriptions = first.descriptions
    bounds = []
    for path in paths:
        with rasterio.open(path) as tile:
            if tile.crs != crs or tile.res != res:
                raise DatasetError(f"{path} has CRS {tile.crs} / pixel size {tile.res}, unlike {paths[0]} "
                                   f"({crs} / {res})")
            bounds.append(tile.bounds)
    left, top = min(b.left for b in bounds), max(b.top for b in bounds)
    width = round((max(b.right for b in bounds) - left) / res[0])
    height = round((top - min(b.bottom for b in bounds)) / res[1])
    vrt_type = {"float32": "Float32", "uint8": "Byte", "uint16": "UInt16", "int16": "Int16",
                "float64": "Float64"}[dtype]
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
             f"  <SRS>{escape(crs.to_wkt())}</SRS>",
             f"  <GeoTransform>{left}, {res[0]}, 0, {top}, 0, {-res[1]}</GeoTransform>"]
    for band in range(1, count + 1):
        lines.append(f'  <VRTRasterBand dataType="{vrt_type}" band="{band}">')
        if descriptions[band - 1]:
            lines.append(f"    <Description>{escape(descriptions[band - 1])}</Description>")
        if nodata is not None:
            lines.append(f"    <NoDataValue>{nodata}</NoDataValue>")
        for path, b in zip(paths, bounds):
            x, y = round((b.left - left) / res[0]), round((top - b.top) / res[1])
            w, h = round((b.right - b.left) / res[0]), round((b.top - b.bottom) / res[1])
            source = escape(str(Path(path).resolve()))
            lines.append(f'    <SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename>'
                         f'<SourceBand>{band}</SourceBand><SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
                         f'<DstRect xOff="{x}" yOff="{y}" xSize="{w}" ySize="{h}"/></SimpleSource>')
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    with atomic_path(dst) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return Path(dst)
