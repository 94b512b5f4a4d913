"""The STAC catalogs a composite reads, as they really are: their names, collections and asset keys.

Two public catalogs hold the three sources of the recipe, under different
names:

- **Planetary Computer** (``planetary-computer``): ``sentinel-2-l2a`` with
  assets ``B02`` ... ``B12`` and ``SCL``, uint16 numbers that carry the 1000
  offset from processing baseline 04.00 on; ``sentinel-1-rtc`` with assets
  ``vv`` and ``vh``, float32 linear gamma0 whose no-data is -32768;
  ``cop-dem-glo-30`` with asset ``data``. Its items are signed.
- **Earth Search** v1 (``earth-search``): ``sentinel-2-l2a`` and its
  reprocessing ``sentinel-2-c1-l2a`` with assets named by colour (``blue``,
  ``green``, ``red``, ``rededge1``-``3``, ``nir``, ``nir08``, ``swir16``,
  ``swir22``, ``scl``), uint16 with no-data 0; where the property
  ``earthsearch:boa_offset_applied`` is true the offset is already out of the
  numbers (its ``raster:bands`` still declare ``offset: -0.1``, so they are not
  trusted for it); ``cop-dem-glo-30`` with asset ``data``. Its Sentinel-1 is
  ``sentinel-1-grd``: ground range detected, not terrain corrected, so the
  recipe cannot use it (take Sentinel-1 from the Planetary Computer instead).

:func:`canonical_item` gives every item the names the recipe reads
(the Planetary Computer's), so one recipe reads both catalogs.
"""

from urllib.parse import urlparse

from ..bands import BAND_SETS
from ..errors import InputError

__all__ = ["PLANETARY_COMPUTER", "EARTH_SEARCH", "CATALOGS", "S2_COLLECTION", "S2_COLLECTIONS", "S1_COLLECTION",
           "S1_GRD_COLLECTION", "DEM_COLLECTION", "S2_ASSETS", "SCL_ASSET", "S1_ASSETS", "DEM_ASSET",
           "EARTH_SEARCH_S2_ASSETS", "S1_NODATA", "catalog_url", "catalog_collections", "canonical_item"]

PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
#: The catalogs known by name (``--stac earth-search``).
CATALOGS = {"planetary-computer": PLANETARY_COMPUTER, "earth-search": EARTH_SEARCH}

S2_COLLECTION, S1_COLLECTION, DEM_COLLECTION = "sentinel-2-l2a", "sentinel-1-rtc", "cop-dem-glo-30"
#: Sentinel-2 L2A collections read as one: Earth Search's Collection 1 reprocessing besides the L2A of both.
S2_COLLECTIONS = (S2_COLLECTION, "sentinel-2-c1-l2a")
#: Earth Search's Sentinel-1: GRD, which the recipe (terrain-corrected gamma0) cannot use.
S1_GRD_COLLECTION = "sentinel-1-grd"
S2_ASSETS = BAND_SETS["s2"]                  # the recipe's asset keys are the band names: B02 ... B12
SCL_ASSET = "SCL"
S1_ASSETS = ("vv", "vh")
DEM_ASSET = "data"
#: Earth Search's Sentinel-2 asset keys -> the recipe's.
EARTH_SEARCH_S2_ASSETS = {"blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05", "rededge2": "B06",
                          "rededge3": "B07", "nir": "B08", "nir08": "B8A", "swir16": "B11", "swir22": "B12",
                          "scl": SCL_ASSET}
#: The Planetary Computer's Sentinel-1 RTC no-data value (its ``raster:bands``): never a backscatter.
S1_NODATA = -32768.0


def catalog_url(catalog):
    """The URL of a catalog given by name (:data:`CATALOGS`) or URL; an :class:`InputError` for anything else."""
    catalog = str(catalog).strip()
    if catalog in CATALOGS:
        return CATALOGS[catalog]
    if urlparse(catalog).scheme in ("http", "https"):
        return catalog.rstrip("/")
    raise InputError(f"STAC catalog {catalog!r} is neither a name ({', '.join(CATALOGS)}) nor an http(s) URL")


def catalog_collections(url):
    """The Sentinel-2, Sentinel-1 and DEM collections a search of the catalog at ``url`` asks for.

    Earth Search's Sentinel-1 is GRD, asked for only to say so
    (:func:`~smallmines_classic.io.stac.select_items` leaves it out of the
    composite); any other URL is asked for the Planetary Computer's names.
    """
    if urlparse(url).hostname == urlparse(EARTH_SEARCH).hostname:
        return S2_COLLECTIONS, S1_GRD_COLLECTION, DEM_COLLECTION
    return (S2_COLLECTION,), S1_COLLECTION, DEM_COLLECTION


def canonical_item(item):
    """``item`` with the recipe's names: a Sentinel-2 item of Earth Search gets ``B02`` ... ``B12``, ``SCL``.

    The recipe's keys are added beside the catalog's own, pointing at the same
    files; the collection becomes ``sentinel-2-l2a``. Items that already have
    the recipe's keys, and items of other collections, come back as they are.
    """
    if item.collection_id not in S2_COLLECTIONS or all(key in item.assets for key in (*S2_ASSETS, SCL_ASSET)):
        return item
    item = item.clone()
    for key, name in EARTH_SEARCH_S2_ASSETS.items():
        if key in item.assets and name not in item.assets:
            item.add_asset(name, item.assets[key].clone())
    item.collection_id = S2_COLLECTION
    return item
