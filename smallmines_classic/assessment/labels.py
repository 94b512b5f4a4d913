"""The labels file that ``smallmines label`` writes and ``assess`` reads, and its unsure answers (non-response).

Columns (:data:`LABEL_COLUMNS`): Collect Earth Online's sample columns
``plot_id``, ``sample_id``, ``lon``, ``lat``, then ``x``, ``y`` (map CRS),
``reference`` (1 mining, 0 not mining, empty when unsure or not yet
labelled), ``confidence`` (``sure``, ``unsure``, or empty when not yet
labelled), ``interpreter``, ``time`` (UTC, ISO 8601) and ``map_class`` carried
from the points file.
"""

import warnings

import numpy as np

from ..errors import NonResponseWarning
from .points import cell_text

__all__ = ["LABEL_COLUMNS", "ANSWERS", "UNSURE", "NonResponseWarning", "unsure_rows", "point_ids", "warn_non_response",
           "column_text"]

LABEL_COLUMNS = ("plot_id", "sample_id", "lon", "lat", "x", "y", "reference", "confidence", "interpreter", "time",
                 "map_class")
"""The columns of the labels file, in order: Collect Earth Online's first four (``plot_id``, ``sample_id``, ``lon``,
``lat``), then the point's map coordinates, the answer (``reference``, ``confidence``), who gave it and when, and
the map class that ``assess`` reads."""
#: The confidence of an answer the interpreter could not give.
UNSURE = "unsure"
#: Key pressed on the page -> (reference, confidence) written to the labels file.
ANSWERS = {"1": ("1", "sure"), "0": ("0", "sure"), "u": ("", UNSURE)}
_ID_COLUMNS = ("plot_id", "id", "plotid")


def column_text(values):
    """Values of a column as stripped strings; a null (None, NaN) is empty."""
    return np.array([cell_text(v).strip() for v in values])


def unsure_rows(points, reference_column, confidence_column="confidence"):
    """Rows answered unsure: no reference class and the confidence ``unsure`` (boolean array; all False without it)."""
    n = len(next(iter(points.values())))
    if confidence_column not in points or reference_column not in points:
        return np.zeros(n, bool)
    unsure = np.char.lower(column_text(points[confidence_column])) == UNSURE
    return (column_text(points[reference_column]) == "") & unsure


def point_ids(points):
    """Each point's id (``plot_id``, ``id`` or ``plotid``), or its row number from 1 where there is none."""
    for name in _ID_COLUMNS:
        if name in points:
            return column_text(points[name])
    return np.array([str(i) for i in range(1, len(next(iter(points.values()))) + 1)])


def warn_non_response(source, ids, n_points):
    """Say that ``ids`` were left out of the estimate and why that matters."""
    shown = ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")
    warnings.warn(NonResponseWarning(
        f"{source}: {len(ids)} of {n_points} point(s) were not interpreted (unsure) and are left out of the estimate "
        f"(ids {shown}). This is non-response: the estimate holds only if those points are like the interpreted "
        "ones of their map class; hard cases are often map errors, so accuracy may be overstated. Label them from "
        "better imagery or a field visit if you can."), stacklevel=3)
