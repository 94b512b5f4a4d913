"""Collect Earth Online (CEO) interchange: the plot file to upload, and CEO's sample data export, read for ``assess``.

Followed: CEO's documentation (collect-earth-online-doc, "Plot & Sample Design:
CSV & SHP files" and "Export Data"). A plot CSV has the columns ``LON, LAT,
PLOTID`` first, in that order (WGS 84), any others after them; CEO shows those
others to interpreters ("Plot Information"), so none is written here: the map
class stays hidden. CEO's "Download Sample Data" has one row per sample point
with ``plotid`` (``PLOT_ID`` / ``plot_id`` in older exports), ``sampleid``,
``lon``, ``lat``, ``email``, ``flagged``, ``collection_time``, ... , the plot
file's own columns as ``pl_<name>``, and one column per survey question,
named by its text and holding the answer's text.
"""


import numpy as np

from .._cells import csv_writer
from .._writes import atomic_path
from ..errors import PointsError
from .labels import UNSURE, column_text

__all__ = ["CEO_PLOT_COLUMNS", "DEFAULT_CEO_ANSWERS", "write_ceo_plots", "is_ceo_export", "read_ceo_answers"]

CEO_PLOT_COLUMNS = ("LON", "LAT", "PLOTID")
DEFAULT_CEO_ANSWERS = {"mining": "1", "not mining": "0", "unsure": UNSURE}
"""Answer text (any case) -> reference class, or ``"unsure"`` for an answer that is not a class."""
# The columns of a sample export that are not survey questions (any case; old and new spellings).
_CEO_BASE = {"plotid", "plot_id", "sampleid", "sample_id", "sample_internal_id", "lon", "lat", "email", "flagged",
             "collection_time", "analysis_duration", "used_geodash", "used_kml", "imagery_title",
             "imagery_attributions", "sample_geom", "confidence", "confidence_comment", "guest interpreters"}
_TRUE = {"true", "t", "1", "yes"}


def write_ceo_plots(points, path):
    """Write the sample as CEO's plot CSV: ``LON, LAT, PLOTID`` (one plot per point, at its centre), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(CEO_PLOT_COLUMNS)
        for lon, lat, plot in zip(points["lon"], points["lat"], points["id"]):
            writer.writerow([repr(float(lon)), repr(float(lat)), int(plot)])
    return path


def _columns(points):
    """Lower-case name -> the file's own name (a byte-order mark, as CEO writes, and spaces removed)."""
    return {name.lstrip("\ufeff").strip().lower(): name for name in points}


def is_ceo_export(points):
    """Whether a point table is one of CEO's data downloads (it has a plot id, ``flagged`` and ``collection_time``)."""
    names = _columns(points)
    return bool({"plotid", "plot_id"} & set(names)) and {"flagged", "collection_time"} <= set(names)


def _question(names, question, source):
    """The file's name of the survey question column: the one given, or the only one there is."""
    if question is not None:
        if question.strip().lower() not in names:
            raise PointsError(f"{source} has no question column {question!r}; it has {sorted(names.values())}")
        return names[question.strip().lower()]
    found = [name for low, name in names.items() if low not in _CEO_BASE and not low.startswith(("pl_", "smpl_"))]
    if len(found) != 1:
        raise PointsError(f"{source} has {len(found)} survey question columns ({found}): name the one that says "
                          "whether a point is mined with --ceo-question")
    return found[0]


def read_ceo_answers(points, source, question=None, answers=None):
    """A CEO sample export's columns -> the columns ``assess`` reads.

    Parameters
    ----------
    points : dict of arrays
        The export as :func:`read_points` returns it.
    source : str
        The file's name, for messages.
    question : str or None
        The question column (any case); by default the only column that is
        neither one of CEO's own nor a ``pl_`` / ``smpl_`` one.
    answers : dict or None
        Answer text (any case) -> class (``"0"``, ``"1"``, ... as text or
        int) or ``"unsure"``. Default :data:`DEFAULT_CEO_ANSWERS`.

    Returns
    -------
    points : dict of arrays
        ``plot_id``, ``sample_id``, ``lon``, ``lat``, the question column
        (the class as text; empty for an unsure answer, a flagged plot or no
        answer) and ``confidence`` (``"unsure"`` for an unsure answer or a
        flagged plot, CEO's mark for "could not be interpreted").
    question : str
        The question column's name.

    Raises
    ------
    ValueError
        No plot id, lon or lat column; no or several question columns; an
        answer the mapping does not know (all such answers listed); a plot
        with more than one row (several samples per plot, or several
        interpreters of one plot).
    """
    names = _columns(points)
    if "center_lon" in names:
        raise PointsError(f"{source} is CEO's plot data download (shares of answers per plot): use 'Download Sample "
                          "Data' for assess")
    found = {key: next((names[n] for n in spellings if n in names), None) for key, spellings in
             (("plot_id", ("plotid", "plot_id")), ("sample_id", ("sampleid", "sample_id")), ("lon", ("lon",)),
              ("lat", ("lat",)))}
    absent = [key for key, name in found.items() if name is None]
    if absent:
        raise PointsError(f"{source} has no {', '.join(absent)} column: is it CEO's 'Download Sample Data' file?")
    question = _question(names, question, source)
    mapping = {str(text).strip().lower(): str(value).strip().lower()
               for text, value in (DEFAULT_CEO_ANSWERS if answers is None else answers).items()}
    plots = column_text(points[found["plot_id"]])
    repeated, counts = np.unique(plots, return_counts=True)
    if (counts > 1).any():
        plot = repeated[counts > 1][0]
        raise PointsError(f"{source}: plot {plot} has {counts[counts > 1][0]} rows: the sample from 'smallmines "
                          "sample' has one sample point per plot, interpreted once (set CEO's sample design to Center, "
                          "and keep one interpreter's answers per plot)")
    given = column_text(points[question])
    flagged = np.isin(np.char.lower(column_text(points[names["flagged"]])), list(_TRUE))
    unknown = sorted({str(answer) for answer, flag in zip(given, flagged)
                      if answer and not flag and answer.lower() not in mapping})
    if unknown:
        raise PointsError(f"{source}: column {question!r} holds answers the answer map does not know: {unknown}; map "
                          "each to a class or to 'unsure' with --ceo-answer TEXT=CLASS (default: "
                          f"{', '.join(f'{k}={v}' for k, v in DEFAULT_CEO_ANSWERS.items())})")
    classes = np.array([mapping.get(answer.lower(), "") for answer in given])
    unsure = flagged | (classes == UNSURE)
    return {"plot_id": plots, "sample_id": column_text(points[found["sample_id"]]), "lon": points[found["lon"]],
            "lat": points[found["lat"]], question: np.where(unsure, "", classes),
            "confidence": np.where(unsure, UNSURE, "")}, question
