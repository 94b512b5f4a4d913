"""SmallMinesDS-faithful 13-band composites for any bounding box and year, from STAC items.

The recipe is the dataset's (Ofori-Ampofo et al. 2025, section II):

- **Sentinel-2 L2A** (``sentinel-2-l2a``): an observation is dropped where its
  scene classification (SCL) is 0 no data, 1 saturated or defective, 3 cloud
  shadow, 8 cloud medium, 9 cloud high or 10 thin cirrus, or where a band
  holds no data. Items of processing baseline 04.00 or later have the 1000
  offset subtracted (floor 0), so every year is on the pre-2022 scale of the
  training data. Each band is the per-pixel median of the valid observations
  in the chosen months. Bands are brought to the 10 m grid bilinearly (the
  10 m bands land on it unchanged when their grid is aligned), SCL with
  nearest neighbour.
- **Sentinel-1 RTC** (``sentinel-1-rtc``): per-pixel median of the linear
  gamma0 backscatter, then a 3 x 3 circular mean filter, then 10 log10 (dB).
- **Copernicus DEM GLO-30** (``cop-dem-glo-30``): bilinear to the 10 m grid.

Every item is one observation, as every image is in Earth Engine's median
over a collection, with which the dataset was made: where neighbouring tiles
of one pass overlap, the pass counts in each. Pixels are read (directly on
grids aligned with the output, else with odc-stac) and the composite made
window by window, so memory is bounded by the window, whatever the box. One
function reduces a window, whether this process runs it or, with a Dask
``client``, a worker does (:func:`build_composite`).

This module holds the grid, the plan and the builder; the recipe on arrays
is :mod:`.recipe`, the items (query, search, selection) :mod:`.stac`, and
the reading and reduction of one window :mod:`.composite_windows`, :mod:`.composite_reads`.

pystac, pystac-client, planetary-computer and odc-stac are optional (the
``stac`` extra) and imported only when a composite is built.
"""

import contextlib
import math
import typing
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from .._backend import require
from .._guards import check_output_not_input
from .._locks import commit_lock
from .._writes import check_file_target, check_free_space
from ..bands import BAND_NAMES, S2_OFFSET
from ..errors import CompositeError, InputError, SceneError
from .composite_reads import OpenAssets
from .composite_windows import composite_windows, gdal_env, s1_median_window, s2_dem_window
from .raster import OBS_DESCRIPTION, cog_outputs, scene_windows
from .recipe import SCL_DROPPED, circular_mean, harmonise, nan_median, s2_composite, s2_offset, s2_valid, to_db
from .stac import (
    DEM_COLLECTION,
    PLANETARY_COMPUTER,
    S1_ASSETS,
    S1_COLLECTION,
    S2_ASSETS,
    S2_COLLECTION,
    ItemQuery,
    check_assets,
    check_bbox,
    find_items,
    item_query,
    missing_sources,
    read_item_collection,
    search_stac,
    select_items,
    with_s1,
)

# The recipe's and the items' public names are also this module's, where 0.2.0 had them.
__all__ = ["CompositeError", "CompositePlan", "PLANETARY_COMPUTER", "S2_COLLECTION", "S1_COLLECTION", "DEM_COLLECTION",
           "SCL_DROPPED", "S2_OFFSET", "RECIPE", "s2_valid", "harmonise", "nan_median", "circular_mean", "to_db",
           "s2_composite", "composite_grid", "composite_plan", "read_item_collection", "search_stac", "build_composite",
           "write_composite", "observations_path", "open_composite"]

RESOLUTION = 10
#: Side of the tiles of every raster written, in pixels.
BLOCK = 512
#: The recipe in one line, as the composite's ``recipe`` tag says it.
RECIPE = "SmallMinesDS: S2 SCL-masked, offset-harmonised median; S1 median, 3x3 circular mean, dB; DEM bilinear"


# --- the output grid -------------------------------------------------------------------------

def composite_grid(bbox):
    """The output grid of a box: UTM zone of its centre, 10 m pixels on multiples of 10 m.

    Parameters
    ----------
    bbox : sequence of 4 float or ItemQuery
        West, south, east, north in degrees (EPSG:4326), checked here; or
        the box of an :class:`~smallmines_classic.io.stac.ItemQuery`, checked when it was made.

    Returns
    -------
    crs : rasterio.crs.CRS
        EPSG:326zz north of the equator, EPSG:327zz south of it.
    transform : affine.Affine
    width, height : int
        The box's UTM bounds, snapped outward to multiples of 10 m.
    """
    west, south, east, north = _checked_bbox(bbox)
    lon, lat = (west + east) / 2, (south + north) / 2
    zone = min(int((lon + 180) // 6) + 1, 60)
    crs = CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, west, south, east, north, densify_pts=21)
    snap = lambda value, rounding: rounding(round(value, 6) / RESOLUTION) * RESOLUTION  # noqa: E731 (6 dp: no float dust)
    left, bottom = snap(left, math.floor), snap(bottom, math.floor)
    right, top = snap(right, math.ceil), snap(top, math.ceil)
    transform = Affine(RESOLUTION, 0, left, 0, -RESOLUTION, top)
    return crs, transform, (right - left) // RESOLUTION, (top - bottom) // RESOLUTION


def _checked_bbox(bbox):
    return bbox.bbox if isinstance(bbox, ItemQuery) else check_bbox(bbox)


# --- the job's size ------------------------------------------------------------------------------

#: Bytes per pixel of the 13 float32 bands and the uint8 count, uncompressed.
PIXEL_BYTES = 4 * len(BAND_NAMES) + 1
#: Share that a COG's overviews add (each level a quarter of the one above).
OVERVIEW_SHARE = 1 / 3
#: Room for a GeoTIFF's headers and tile index.
HEADER_BYTES = 2 ** 16


class CompositePlan(typing.NamedTuple):
    """The output grid of a box and the disk space a composite of it needs, from uncompressed sizes.

    ``output_bytes``: the scene and its ``_obs.tif`` as COGs with overviews.
    ``scratch_bytes``: while it runs, beside the output: the GeoTIFFs the
    windows are written to, the Sentinel-1 medians (8 bytes a pixel) and
    GDAL's overview file during the final copy. Every raster counts whole
    tiles of :data:`BLOCK` pixels. The scratch rasters are not compressed
    (each is read once: deflate would only cost time); the output is, which
    usually makes it much smaller, so its size is an estimate from above.
    """

    crs: CRS
    transform: Affine
    width: int
    height: int
    output_bytes: int
    scratch_bytes: int

    @property
    def disk_bytes(self):
        return self.output_bytes + self.scratch_bytes

    def describe(self):
        """One line: the grid's size in pixels and the disk space the job needs at most."""
        return (f"{self.width} x {self.height} px of {RESOLUTION} m ({self.width * self.height:,} px, "
                f"EPSG:{self.crs.to_epsg()}); "
                f"up to {_size(self.disk_bytes)} on disk: output {_size(self.output_bytes)}, scratch "
                f"{_size(self.scratch_bytes)}")


def _size(nbytes):
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def _tiled_pixels(width, height):
    return math.ceil(width / BLOCK) * BLOCK * math.ceil(height / BLOCK) * BLOCK


def composite_plan(bbox):
    """The grid of :func:`composite_grid` and the bytes a composite of ``bbox`` needs on disk, from above.

    Computed from the box alone (a sequence of 4 float or an
    :class:`~smallmines_classic.io.stac.ItemQuery`, as :func:`composite_grid`),
    before any item is read, from uncompressed sizes (see :class:`CompositePlan`).

    Returns
    -------
    CompositePlan
    """
    crs, transform, width, height = composite_grid(bbox)
    composite = _tiled_pixels(width, height) * PIXEL_BYTES
    overviews = math.ceil(composite * OVERVIEW_SHARE)
    s1_medians = _tiled_pixels(width + 2, height + 2) * 4 * len(S1_ASSETS)
    return CompositePlan(crs, transform, width, height, output_bytes=composite + overviews + 2 * HEADER_BYTES,
                         scratch_bytes=composite + s1_medians + overviews + 3 * HEADER_BYTES)


# --- the composite -------------------------------------------------------------------------------

def observations_path(scene):
    """The observation count beside a composite: ``<stem>_obs.tif`` (``scene_obs.tif`` for ``scene.tif``)."""
    scene = Path(scene)
    return scene.with_name(f"{scene.stem}_obs{scene.suffix or '.tif'}")


@contextlib.contextmanager
def open_composite(scene):
    """Open a composite and its observation count as one pair: ``(scene, obs)`` rasterio datasets.

    Both are opened under the shared commit lock of their folder, so they
    come from the same run even while another run replaces them (see
    :func:`build_composite`). Closed when the block ends.
    """
    scene = Path(scene)
    with contextlib.ExitStack() as stack:
        with commit_lock(scene.parent, shared=True):
            if not scene.is_file():
                raise SceneError(f"composite {scene} does not exist")
            if not observations_path(scene).is_file():
                raise SceneError(f"composite {scene} has no observation count {observations_path(scene).name} "
                                 "beside it; build it again")
            opened = [stack.enter_context(rasterio.open(path)) for path in (scene, observations_path(scene))]
        yield tuple(opened)


def build_composite(bbox, year, out, *, months=(1,), items=None, stac_url=PLANETARY_COMPUTER, s1_source=None,
                    chunk_size=512, progress=True, client=None):
    """Build a SmallMinesDS-style 13-band composite for a box and a year.

    Parameters
    ----------
    bbox : sequence of 4 float
        West, south, east, north in degrees (EPSG:4326).
    year : int
    out : str or Path
        Output Cloud-Optimized GeoTIFF: 13 float32 bands in the SmallMinesDS
        order with band descriptions ``B02`` ... ``B12``, ``VV``, ``VH``,
        ``DEM``; NaN where a band has no valid observation. Beside it,
        ``<stem>_obs.tif`` (:func:`observations_path`): one uint8 band, the
        number of valid Sentinel-2 observations (items) per pixel. The two
        are committed as one pair (see Notes).
    months : sequence of int
        Months of ``year`` to composite (default January, as the dataset).
    items : str, Path, iterable of pystac.Item or None
        A local STAC ItemCollection JSON file, or items; None searches
        ``stac_url``. Items are recognised by their ``collection``
        (``sentinel-2-l2a``, ``sentinel-1-rtc``, ``cop-dem-glo-30``) and kept
        when they intersect ``bbox`` and (Sentinel-1/2) fall in the months.
    stac_url : str
        STAC API to search when ``items`` is None: a URL, or a catalog's name,
        ``planetary-computer`` (the default; items signed with
        ``planetary-computer``) or ``earth-search`` (Element 84's v1; its
        Sentinel-1 is GRD, which the recipe cannot use: see ``s1_source``).
    s1_source : str, Path, iterable of pystac.Item or None
        Where Sentinel-1 comes from instead, alone: a catalog's name or URL
        (searched for its Sentinel-1 collection), a local STAC
        ItemCollection file, or items. None: from ``items`` / ``stac_url``.
    chunk_size : int
        Side in pixels of the windows read, reduced and written at a time
        (one Dask task each with a ``client``); memory grows with its square
        times the number of observations.
    progress : bool
        Show a progress bar over the windows.
    client : dask.distributed.Client or None
        Run the windows on this Dask cluster (needs the ``scale`` extra).
        Each window is one task: the worker reads its pixels as this process would,
        reduces them and returns the arrays; this process writes them as
        they arrive. The asset hrefs must be readable from every worker
        (URLs, or local paths on storage the workers share at the same
        path). The Sentinel-1 medians are computed on the workers too, one
        window a task, and written by this process to its scratch raster,
        from which it applies the 3 x 3 filter as it writes each window:
        workers never see this machine's disk. The result is the same, byte
        for byte, as without a client.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    CompositeError
        No item in the box, no Sentinel-2 item in the months of the year, an
        item without its assets or processing baseline, pixels that cannot
        be read (naming the item, the asset and its file), no valid
        Sentinel-2 observation in the whole box, or a STAC API that cannot
        be reached. Nothing is written then.
    DiskFullError
        The disk beside ``out`` cannot hold the output and scratch files
        (:func:`composite_plan`): checked before any item is read.
    InputError
        A box, months or ``chunk_size`` that are not numbers of their kind.
    OutputError
        ``out`` or its ``_obs.tif`` is one of the inputs (the items file or
        an asset's file, links too), a folder, a device, a FIFO or a socket.

    Notes
    -----
    See the module docstring for the recipe. A missing Sentinel-1 or DEM
    source only warns: its bands are NaN (a model that reads them maps no
    data there). The 3 x 3 circular filter uses Sentinel-1 pixels one pixel
    beyond the box, so its edge matches the inside.

    The scene and its ``_obs.tif`` are written to temporary files and
    committed together (:func:`smallmines_classic._writes.atomic_paths`):
    where the scene exists, the ``_obs.tif`` beside it is from the same run.
    A failure, stop or kill before the commit leaves an older pair as it
    was; two runs writing the same ``out`` commit one after the other.
    :func:`open_composite` opens the pair consistently even during a commit.
    """
    query = item_query(bbox, year, months)
    out = Path(out)
    plan = _checked_plan(out, query, chunk_size)   # before any item is read: a box too large for the disk stops here
    found, source, inputs = find_items(items, query, stac_url)
    selection = with_s1(select_items(found, query, source, inputs), s1_source)
    return _write(selection, out, plan, chunk_size, progress, client)


def write_composite(selection, out, *, chunk_size=512, progress=True, client=None):
    """Build the composite of items already selected (:func:`~smallmines_classic.io.stac.select_items`).

    :func:`build_composite` finds and selects the items of a box, a year and
    months, then calls this; a caller that has selected them already (as
    ``smallmines monitor`` does for each year, up front) calls it directly,
    so the box is checked and the items selected once.

    Parameters
    ----------
    selection : ItemSelection
        The items, with the checked query they were selected for.
    out : str or Path
    chunk_size, progress, client
        As :func:`build_composite`.

    Returns
    -------
    Path
        ``out``: the same file, byte for byte, as :func:`build_composite`
        of the same box, year, months and items.

    Raises
    ------
    CompositeError, DiskFullError, OutputError
        As :func:`build_composite`.
    """
    out = Path(out)
    return _write(selection, out, _checked_plan(out, selection.query, chunk_size), chunk_size, progress, client)


def _checked_plan(out, query, chunk_size):
    """The plan of ``query``'s box, once ``chunk_size`` and the outputs are checked, and the disk can hold the job."""
    if int(chunk_size) < 1:
        raise InputError(f"chunk_size must be a positive number of pixels, got {chunk_size}")
    for target in (out, observations_path(out)):
        check_file_target(target)
    plan = composite_plan(query)
    check_free_space(out, plan.disk_bytes, detail=f"a composite of {plan.width} x {plan.height} px: output "
                     f"{_size(plan.output_bytes)}, scratch {_size(plan.scratch_bytes)} at most")
    return plan


def _write(selection, out, plan, chunk_size, progress, client):
    """The composite of ``selection`` on the grid of ``plan``, committed to ``out`` and its ``_obs.tif``."""
    obs_path = observations_path(out)
    for target in (out, obs_path):
        check_output_not_input(target, *selection.inputs)
    (bbox, year, months), source = selection.query, selection.source
    s2, s1, dem = selection.s2, selection.s1, selection.dem
    if not selection.items:
        raise CompositeError(f"no {S2_COLLECTION}, {S1_COLLECTION} or {DEM_COLLECTION} item of {source} "
                             f"intersects the box {list(bbox)}")
    if not s2:
        raise CompositeError(f"no {S2_COLLECTION} item of {source} covers the box {list(bbox)} in {year}, "
                             f"months {months}")
    for missing in missing_sources(selection):
        warnings.warn(f"{missing}: its bands are NaN in {out.name}", RuntimeWarning, stacklevel=3)
    check_assets(selection)

    geobox_module = require("odc.geo.geobox", "maps")
    crs, transform, width, height = plan.crs, plan.transform, plan.width, plan.height
    geobox = geobox_module.GeoBox((height, width), transform, crs)
    s2_groups = {}   # offset -> items; loaded apart so each item gets its own baseline's offset
    for item in sorted(s2, key=s2_offset):
        s2_groups.setdefault(s2_offset(item), []).append(item)
    cores = [core for core, _ in scene_windows(height, width, chunk_size, 0)]
    # Scratch GeoTIFFs, copied once to the COGs: uncompressed, so no deflate is spent on pixels read back once.
    profile = dict(driver="GTiff", width=width, height=height, crs=crs, transform=transform, tiled=True,
                   blockxsize=BLOCK, blockysize=BLOCK, BIGTIFF="IF_SAFER")
    with contextlib.ExitStack() as stack:
        stack.enter_context(gdal_env())
        work, (tmp, obs_tmp) = stack.enter_context(cog_outputs([out, obs_path]))
        files = stack.enter_context(contextlib.closing(OpenAssets()))
        s1_medians = None
        if s1:
            # Sentinel-1 one pixel wider on every side, so the 3x3 filter sees real neighbours at the edge.
            s1_geobox = geobox_module.GeoBox((height + 2, width + 2), transform * Affine.translation(-1, -1), crs)
            s1_medians = stack.enter_context(_s1_medians(s1, s1_geobox, files, work / "s1_median.tif",
                                                         chunk_size, progress, client))
        dst = stack.enter_context(rasterio.open(tmp, "w", **profile, count=len(BAND_NAMES), dtype="float32",
                                                nodata=np.nan))
        obs_dst = stack.enter_context(rasterio.open(obs_tmp, "w", **profile, count=1, dtype="uint8"))
        observed = 0
        windows = composite_windows(s2_dem_window, (s2_groups, dem, geobox, files), cores, client,
                                    f"compositing {out.name}", progress)
        for core, medians, count, dem_band in stack.enter_context(contextlib.closing(windows)):
            composite = np.full((len(BAND_NAMES), core.height, core.width), np.nan, dtype=np.float32)
            composite[:len(S2_ASSETS)] = medians
            if s1_medians is not None:   # the window and its one-pixel ring, in the padded grid
                ring = s1_medians.read(window=Window(core.col_off, core.row_off, core.width + 2, core.height + 2))
                composite[len(S2_ASSETS):len(S2_ASSETS) + len(S1_ASSETS)] = [to_db(circular_mean(median))[1:-1, 1:-1]
                                                                            for median in ring]
            if dem_band is not None:
                composite[-1] = dem_band
            dst.write(composite, window=core)
            obs_dst.write(count, 1, window=core)
            observed += int(np.count_nonzero(count))
        if not observed:
            raise CompositeError(f"no pixel of the box {list(bbox)} has a valid {S2_COLLECTION} observation in {year}, "
                                 f"months {months}: each of the {len(s2)} items is cloud, cloud shadow, cirrus, "
                                 f"defective or no data there (SCL classes {list(SCL_DROPPED)}); nothing was written. "
                                 "Add months (--months 1 2 3) or choose another year")
        for index, name in enumerate(BAND_NAMES, start=1):
            dst.set_band_description(index, name)
        obs_dst.set_band_description(1, OBS_DESCRIPTION)
        dst.update_tags(year=year, months=",".join(map(str, months)), s2_items=len(s2), s1_items=len(s1),
                        dem_items=len(dem), recipe=RECIPE)
    return out


@contextlib.contextmanager
def _s1_medians(items, s1_geobox, files, path, chunk_size, progress, client):
    """First pass: the per-pixel median of linear VV and VH to a scratch raster, open for reading.

    Each window of the composite then reads its one-pixel ring from this
    file, so no Sentinel-1 pixel is read from the items twice. With a
    ``client``, the medians are computed on the workers and written here.
    """
    height, width = s1_geobox.shape
    profile = dict(driver="GTiff", width=width, height=height, count=len(S1_ASSETS), dtype="float32",
                   crs=s1_geobox.crs.to_wkt(), transform=s1_geobox.transform, tiled=True, blockxsize=BLOCK,
                   blockysize=BLOCK, BIGTIFF="IF_SAFER")
    cores = [core for core, _ in scene_windows(height, width, chunk_size, 0)]
    with rasterio.open(path, "w+", **profile) as scratch:
        windows = composite_windows(s1_median_window, (items, s1_geobox, files), cores, client, "Sentinel-1 medians",
                                    progress)
        with contextlib.closing(windows):
            for core, medians in windows:
                scratch.write(medians, window=core)
        yield scratch
