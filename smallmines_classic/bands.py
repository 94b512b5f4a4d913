"""The 13 SmallMinesDS bands as named data.

Every other module refers to bands by name; this module alone turns names
into positions in an image stack.
"""

from dataclasses import dataclass

from .errors import BandError

__all__ = ["Band", "BANDS", "BAND_NAMES", "BAND_SETS", "S2_OFFSET", "resolve_bands", "band_indices"]


@dataclass(frozen=True)
class Band:
    """One band of a SmallMinesDS image.

    Attributes
    ----------
    name : str
        Canonical name, as stored in models and output files.
    sensor : str
        ``"S2"``, ``"S1"`` or ``"DEM"``.
    description : str
        What the band measures, in words.
    aliases : tuple of str
        Other accepted spellings (lower case).
    """

    name: str
    sensor: str
    description: str
    aliases: tuple = ()


BANDS = (
    Band("B02", "S2", "blue, surface reflectance x 10000", ("blue", "b2")),
    Band("B03", "S2", "green", ("green", "b3")),
    Band("B04", "S2", "red", ("red", "b4")),
    Band("B05", "S2", "red edge 1 (20 m resampled)", ("rededge1", "red_edge_1", "b5")),
    Band("B06", "S2", "red edge 2", ("rededge2", "red_edge_2", "b6")),
    Band("B07", "S2", "red edge 3", ("rededge3", "red_edge_3", "b7")),
    Band("B08", "S2", "near infrared", ("nir", "b8")),
    Band("B8A", "S2", "narrow near infrared (Prithvi's NIR)", ("nir08", "nir_narrow", "rededge4", "red_edge_4")),
    Band("B11", "S2", "short-wave infrared 1", ("swir1", "swir16")),
    Band("B12", "S2", "short-wave infrared 2", ("swir2", "swir22")),
    Band("VV", "S1", "C-band backscatter VV, dB (3x3 mean filtered)", ()),
    Band("VH", "S1", "C-band backscatter VH, dB (3x3 mean filtered)", ()),
    Band("DEM", "DEM", "Copernicus DEM surface height, metres", ("elevation", "height")),
)
"""The bands in the order of the image files (index 0..12)."""

#: Added to Sentinel-2 L2A digital numbers from processing baseline 04.00 (25 January 2022) on; the
#: dataset's bands are on the scale before it.
S2_OFFSET = 1000

BAND_NAMES = tuple(band.name for band in BANDS)
"""Canonical band names in file order."""

BAND_SETS = {
    "rgb": ("B04", "B03", "B02"),
    "rgb+": ("B02", "B03", "B04", "B8A", "B11", "B12"),
    "s2": BAND_NAMES[:10],
    "s1": ("VV", "VH"),
    "all": BAND_NAMES,
}
"""Named band sets. ``rgb`` and ``rgb+`` are the paper's two sets, in the order the authors fed them to their
models."""

_LOOKUP = {}
for _band in BANDS:
    for _spelling in (_band.name, *_band.aliases):
        _LOOKUP[_spelling.lower()] = _band.name


def _valid_names():
    aliases = sorted(set(_LOOKUP) - {n.lower() for n in BAND_NAMES})
    return f"bands {', '.join(BAND_NAMES)} (aliases: {', '.join(aliases)}) or sets {', '.join(BAND_SETS)}"


def resolve_bands(bands):
    """Turn a band set name or a list of band names / aliases into canonical names.

    Parameters
    ----------
    bands : str or sequence of str
        A set name (``"rgb"``, ``"rgb+"``, ``"s2"``, ``"s1"``, ``"all"``),
        a single band name, or a sequence of band names or aliases.

    Returns
    -------
    tuple of str
        Canonical band names, in the given order.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), an empty
        selection or a band named twice.
    """
    if isinstance(bands, str):
        if bands.lower() in BAND_SETS:
            return BAND_SETS[bands.lower()]
        bands = [bands]
    names = []
    for spelling in bands:
        canonical = _LOOKUP.get(str(spelling).lower())
        if canonical is None:
            raise BandError(f"unknown band {spelling!r}; valid are {_valid_names()}")
        names.append(canonical)
    if not names:
        raise BandError("no bands selected")
    if len(set(names)) != len(names):
        raise BandError(f"band selection {list(bands)} names a band twice")
    return tuple(names)


def band_indices(wanted, available=BAND_NAMES):
    """Positions of the ``wanted`` bands in a stack holding ``available`` bands.

    Parameters
    ----------
    wanted : str or sequence of str
        Bands to select (anything :func:`resolve_bands` accepts).
    available : sequence of str
        Band names of the stack, in order.

    Returns
    -------
    list of int

    Raises
    ------
    ValueError
        If a wanted band is not in the stack; the message says expected vs got.
    """
    wanted = resolve_bands(wanted)
    available = resolve_bands(available)
    missing = [name for name in wanted if name not in available]
    if missing:
        raise BandError(f"bands {list(wanted)} expected, but the input holds {list(available)} (missing {missing})")
    return [available.index(name) for name in wanted]
