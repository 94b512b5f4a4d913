"""STAC items for a composite: the query (a checked box, year and months), where the items come from, which count.

A query is checked once (:func:`item_query`); the items are found once
(:func:`find_items`: a STAC API search, a local ItemCollection file, or
items given in Python) and selected once (:func:`select_items`): the items of
the three collections that intersect the box, Sentinel-1/2 only in the
chosen months of the year, under the recipe's asset names whatever the
catalog (:mod:`.catalogs`). Sentinel-1 may come from a second source
(:func:`find_s1_items`, :func:`with_s1`). The :class:`ItemSelection` that
comes out is what :func:`smallmines_classic.io.composite.write_composite`
reads, and what ``smallmines monitor`` records for each year.

pystac, pystac-client and planetary-computer are optional (the ``stac``
extra) and imported only when items are read or searched.
"""

import calendar
import contextlib
import typing
from datetime import timezone
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .._backend import require
from ..errors import CompositeError, InputError, StacError
from .catalogs import (
    CATALOGS,
    DEM_ASSET,
    DEM_COLLECTION,
    PLANETARY_COMPUTER,
    S1_ASSETS,
    S1_COLLECTION,
    S1_GRD_COLLECTION,
    S2_ASSETS,
    S2_COLLECTION,
    S2_COLLECTIONS,
    SCL_ASSET,
    canonical_item,
    catalog_collections,
    catalog_url,
)

# The catalogs' names are also this module's, where 0.2.0 had them.
__all__ = ["PLANETARY_COMPUTER", "S2_COLLECTION", "S1_COLLECTION", "DEM_COLLECTION", "S2_ASSETS", "S1_ASSETS",
           "DEM_ASSET", "ItemQuery", "ItemSelection", "check_bbox", "check_months", "item_query", "is_local_href",
           "absolute_hrefs", "read_item_collection", "search_stac", "find_items", "find_s1_items", "select_items",
           "with_s1", "missing_sources", "check_assets", "error_reason"]


# --- the query --------------------------------------------------------------------------------

def check_bbox(bbox):
    """``bbox`` as four floats West, South, East, North in degrees, or an :class:`InputError` naming it."""
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError(f"bbox must be four numbers W S E N in degrees, got {bbox!r}") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(f"bbox {bbox!r} is not W S E N in degrees with W < E and S < N")
    return west, south, east, north


def check_months(months):
    """``months`` as a sorted list of distinct months 1..12, or an :class:`InputError` naming them."""
    months = sorted({int(m) for m in months})
    if not months or not all(1 <= m <= 12 for m in months):
        raise InputError(f"months must be numbers 1..12, got {months!r}")
    return months


class ItemQuery(typing.NamedTuple):
    """A checked box, year and months: what one composite is made of. Make it with :func:`item_query`.

    Attributes
    ----------
    bbox : tuple of 4 float
        West, south, east, north in degrees (EPSG:4326), W < E and S < N.
    year : int
    months : list of int
        Distinct months 1..12, sorted.
    """

    bbox: tuple
    year: int
    months: list


def item_query(bbox, year, months=(1,)):
    """Check a box, a year and months once: an :class:`ItemQuery`, or an :class:`InputError` naming what is wrong."""
    bbox, months = check_bbox(bbox), check_months(months)
    return ItemQuery(bbox, int(year), months)


# --- items ------------------------------------------------------------------------------------

def is_local_href(href):
    """True for a local file path (absolute, relative or file://), False for URLs and GDAL virtual paths."""
    if href.startswith("/vsi"):
        return False
    return urlparse(href).scheme in ("", "file") or (len(href) > 1 and href[1] == ":")   # C:\... too


def absolute_hrefs(items, folder):
    """Copies of ``items`` whose local asset hrefs (paths, ``file://``) are absolute; relative ones from ``folder``."""
    items = [item.clone() for item in items]
    for item in items:
        for asset in item.assets.values():
            if is_local_href(asset.href):
                local = Path(urlparse(asset.href).path if asset.href.startswith("file:") else asset.href)
                asset.href = str(local if local.is_absolute() else (Path(folder) / local).resolve())
    return items


def read_item_collection(path):
    """Items of a local STAC ItemCollection JSON, with relative asset hrefs resolved against its folder.

    Asset hrefs may be local paths (absolute, relative or ``file://``) or
    URLs. The file is only read.

    Raises
    ------
    StacError
        No such file.
    CompositeError
        A file that is not a readable STAC ItemCollection.
    """
    pystac = require("pystac", "maps")
    path = Path(path)
    if not path.is_file():
        raise StacError(f"STAC ItemCollection {path} does not exist")
    try:
        collection = pystac.ItemCollection.from_file(str(path))
    except Exception as error:  # pystac raises JSON, key and STAC validation errors alike
        raise CompositeError(f"{path} is not a readable STAC ItemCollection "
                             f"({type(error).__name__}: {error})") from None
    return absolute_hrefs(collection, path.parent)


def search_stac(bbox, year, months, stac_url=PLANETARY_COMPUTER, sources=("s2", "s1", "dem")):
    """Items of the three collections from a STAC API (the Planetary Computer's are signed).

    ``stac_url`` is a URL or a catalog's name (``planetary-computer``,
    ``earth-search``; see :mod:`.catalogs`), whose collections are asked for.
    Sentinel-1 and -2 are searched from the first day of the first chosen
    month to the last day of the last one (and then kept only in the chosen
    months, by :func:`select_items`); the DEM without a date. ``sources``
    names those to search, of ``"s2"``, ``"s1"`` and ``"dem"``.
    """
    client_module = require("pystac_client", "maps")
    stac_url = catalog_url(stac_url)
    modifier = None
    if urlparse(stac_url).hostname == urlparse(PLANETARY_COMPUTER).hostname:
        modifier = require("planetary_computer", "maps").sign_inplace
    s2_collections, s1_collection, dem_collection = catalog_collections(stac_url)
    dated = [*(s2_collections if "s2" in sources else ()), *((s1_collection,) if "s1" in sources else ())]
    last = max(months)
    last_day = calendar.monthrange(year, last)[1]
    period = f"{year}-{min(months):02d}-01T00:00:00Z/{year}-{last:02d}-{last_day:02d}T23:59:59Z"
    found = []
    with _stac_errors(stac_url):
        client = client_module.Client.open(stac_url, modifier=modifier)
        if dated:
            found += list(client.search(collections=dated, bbox=list(bbox), datetime=period).items())
        if "dem" in sources:
            found += list(client.search(collections=[dem_collection], bbox=list(bbox)).items())
    return found


@contextlib.contextmanager
def _stac_errors(stac_url):
    """A STAC API that cannot be reached, or answers with an error, as a CompositeError naming it and the way round."""
    api_error = require("pystac_client.exceptions", "maps").APIError
    request_error = require("requests", "maps").RequestException
    try:
        yield
    except (api_error, request_error, OSError) as error:   # pystac-client wraps a failed connection in APIError
        status = getattr(error, "status_code", None)
        what = f"answered with HTTP status {status}" if status else "cannot be reached"
        raise CompositeError(f"the STAC API at {stac_url} {what} ({error_reason(error)}); check the network and the "
                             "URL, or give the items as a local STAC ItemCollection (--items FILE, or items= in "
                             "Python)") from None


def error_reason(error):
    """The innermost cause of ``error`` that says something ("Read failed. See previous exception" says little)."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for cause in reversed(chain):
        if str(cause).strip():
            return str(cause).strip()
    return type(chain[-1]).__name__


# --- the selection ----------------------------------------------------------------------------

class ItemSelection(typing.NamedTuple):
    """The items one composite reads: per collection, those of the query's box and months. Made by :func:`select_items`.

    Attributes
    ----------
    query : ItemQuery
    source : str
        Where the items came from, in words (the STAC API's URL, the file), for messages.
    s2, s1, dem : list of pystac.Item
        The Sentinel-2, Sentinel-1 and DEM items, under the recipe's asset names.
    inputs : tuple of str
        The local files a composite of these items must not overwrite: the
        ItemCollection file and the local assets of every item found.
    s1_grd : tuple of str
        Ids of the Sentinel-1 GRD items found in the box and months (Earth
        Search's): not terrain corrected, so not in ``s1``; a composite
        without ``s1`` says why.
    s1_source : str or None
        Where ``s1`` came from when not from ``source`` (:func:`with_s1`).
    """

    query: ItemQuery
    source: str
    s2: list
    s1: list
    dem: list
    inputs: tuple = ()
    s1_grd: tuple = ()
    s1_source: typing.Optional[str] = None

    @property
    def items(self):
        """Every selected item: Sentinel-2, then Sentinel-1, then the DEM."""
        return [*self.s2, *self.s1, *self.dem]

    @property
    def counts(self):
        """Items per collection: ``{"s2": n, "s1": n, "dem": n}``."""
        return {"s2": len(self.s2), "s1": len(self.s1), "dem": len(self.dem)}


def find_items(items, query, stac_url=PLANETARY_COMPUTER):
    """The items to select from, their source in words, and the local files they are read from.

    Parameters
    ----------
    items : str, Path, iterable of pystac.Item or None
        A local STAC ItemCollection JSON file, or items (local hrefs are
        taken from the working folder); None searches ``stac_url`` for the
        query's box, year and months.
    query : ItemQuery
    stac_url : str
        A STAC API's URL or a catalog's name (see :func:`search_stac`).

    Returns
    -------
    found : list of pystac.Item
    source : str
    inputs : tuple of str
        The ItemCollection file, if one, and every local asset file of ``found``.
    """
    if items is None:
        return _found(search_stac(query.bbox, query.year, query.months, stac_url), catalog_url(stac_url), [])
    return _local(items)


def find_s1_items(s1_source, query):
    """Sentinel-1 items from a second source, as :func:`find_items`: a catalog (name or URL) or a local file.

    A catalog (``planetary-computer``, ``earth-search`` or an http(s) URL)
    is searched for its Sentinel-1 collection alone; anything else is read as
    a local STAC ItemCollection file, or taken as items.
    """
    if isinstance(s1_source, str) and not Path(s1_source).exists() and \
            (s1_source in CATALOGS or urlparse(s1_source).scheme in ("http", "https")):
        found = search_stac(query.bbox, query.year, query.months, s1_source, sources=("s1",))
        return _found(found, catalog_url(s1_source), [])
    return _local(s1_source)


def _local(items):
    """Items of a local ItemCollection file, or given items (local hrefs from the working folder)."""
    if isinstance(items, (str, Path)):
        return _found(read_item_collection(items), str(items), [str(items)])
    return _found(absolute_hrefs(items, Path.cwd()), "the given items", [])


def _found(found, source, files):
    files += [asset.href for item in found for asset in item.assets.values() if is_local_href(asset.href)]
    return found, source, tuple(files)


def select_items(items, query, source="the given items", inputs=()):
    """The items of the three collections in the query's box; Sentinel-1/2 only in its months of its year.

    Sentinel-2 items of Earth Search (``sentinel-2-l2a``, ``sentinel-2-c1-l2a``)
    get the recipe's asset names (:func:`~smallmines_classic.io.catalogs.canonical_item`);
    a ``sentinel-2-l2a`` acquisition that ``sentinel-2-c1-l2a`` holds too (same
    tile, same minute) counts once, as its reprocessing. Sentinel-1 GRD items
    are named in ``s1_grd``, not read.

    Parameters
    ----------
    items : iterable of pystac.Item
        Found items (:func:`find_items`); other collections are left out.
    query : ItemQuery
    source : str
        Where the items came from, for messages.
    inputs : sequence of str
        The local files they come from (see :class:`ItemSelection`).

    Returns
    -------
    ItemSelection
    """
    chosen = {S2_COLLECTION: [], S1_COLLECTION: [], DEM_COLLECTION: [], S1_GRD_COLLECTION: []}
    for item in items:
        collection = S2_COLLECTION if item.collection_id in S2_COLLECTIONS else item.collection_id
        if collection not in chosen or not _intersects(_item_bounds(item), query.bbox):
            continue
        if collection != DEM_COLLECTION:   # the DEM is one timeless surface
            when = _item_time(item)
            if when.year != query.year or when.month not in query.months:
                continue
        chosen[collection].append(item)
    s2 = [canonical_item(item) for item in _once(chosen[S2_COLLECTION])]
    return ItemSelection(query, source, s2, chosen[S1_COLLECTION], chosen[DEM_COLLECTION], tuple(inputs),
                         tuple(item.id for item in chosen[S1_GRD_COLLECTION]))


def with_s1(selection, s1_source):
    """``selection`` whose Sentinel-1 is that of ``s1_source`` (a catalog or items, :func:`find_s1_items`) alone;
    ``selection`` as it is for None."""
    if s1_source is None:
        return selection
    found, source, inputs = find_s1_items(s1_source, selection.query)
    other = select_items(found, selection.query, source, inputs)
    return selection._replace(s1=other.s1, s1_grd=other.s1_grd, s1_source=source,
                              inputs=(*selection.inputs, *other.inputs))


def _once(s2_items):
    """Sentinel-2 items, each acquisition once: Collection 1 (``sentinel-2-c1-l2a``) over the L2A it reprocesses."""
    reprocessed = {_acquisition(item) for item in s2_items if item.collection_id == S2_COLLECTIONS[1]}
    return [item for item in s2_items
            if item.collection_id != S2_COLLECTION or _acquisition(item) not in reprocessed]


def _acquisition(item):
    tile = item.properties.get("grid:code") or item.properties.get("s2:mgrs_tile")
    return tile, _item_time(item).strftime("%Y%m%dT%H%M")


def missing_sources(selection):
    """What a composite of ``selection`` lacks, each in words: Sentinel-1 (none, or only GRD), the DEM."""
    (bbox, year, months), s1_source = selection.query, selection.s1_source or selection.source
    missing = []
    if selection.s1_grd and not selection.s1:
        missing.append(f"the Sentinel-1 of {s1_source} for the box {list(bbox)} in {year}, months {months} is "
                       f"ground range detected ({S1_GRD_COLLECTION}, {len(selection.s1_grd)} items), not the "
                       f"terrain-corrected {S1_COLLECTION} the recipe reads; take Sentinel-1 from the Planetary "
                       "Computer (--s1-stac planetary-computer, or s1_source= in Python)")
    elif not selection.s1:
        missing.append(f"no {S1_COLLECTION} item of {s1_source} for the box {list(bbox)} in {year}, months {months}")
    if not selection.dem:
        missing.append(f"no {DEM_COLLECTION} item of {selection.source} for the box {list(bbox)}")
    return missing


def check_assets(selection):
    """Refuse, naming the item, selected items without the assets a composite reads or whose local files are missing.

    Raises
    ------
    CompositeError
    """
    for items, keys, collection in ((selection.s2, (*S2_ASSETS, SCL_ASSET), S2_COLLECTION),
                                    (selection.s1, S1_ASSETS, S1_COLLECTION),
                                    (selection.dem, (DEM_ASSET,), DEM_COLLECTION)):
        for item in items:
            missing = [key for key in keys if key not in item.assets]
            if missing:
                raise CompositeError(f"{collection} item {item.id!r} lacks the assets {missing} "
                                     f"(has {sorted(item.assets)})")
            for key in keys:
                href = item.assets[key].href
                if is_local_href(href) and not Path(href).is_file():
                    raise CompositeError(f"{collection} item {item.id!r}: the pixels of asset {key!r} cannot be read, "
                                         f"{href} {'is not a file' if Path(href).exists() else 'does not exist'}")


def _item_time(item):
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise CompositeError(f"STAC item {item.id!r} has no datetime")
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _item_bounds(item):
    if item.bbox:
        box = item.bbox   # 2D [W, S, E, N] or 3D [W, S, low, E, N, high]
        return (box[0], box[1], box[2], box[3]) if len(box) == 4 else (box[0], box[1], box[3], box[4])
    if item.geometry:
        points = np.array(list(_coordinates(item.geometry["coordinates"])), dtype=float).reshape(-1, 2)
        return (*points.min(axis=0), *points.max(axis=0))
    return None


def _coordinates(nested):
    """Flatten GeoJSON coordinates into (lon, lat) pairs."""
    if nested and isinstance(nested[0], (int, float)):
        yield nested[:2]
        return
    for part in nested:
        yield from _coordinates(part)


def _intersects(bounds, bbox):
    return bounds is None or (bounds[0] <= bbox[2] and bounds[2] >= bbox[0]
                              and bounds[1] <= bbox[3] and bounds[3] >= bbox[1])
