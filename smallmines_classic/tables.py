"""Table I: rows of scores with their intervals, next to the paper's numbers, as text, Markdown or CSV."""

import io

from ._cells import csv_writer
from ._writes import atomic_path
from .metrics import SCORE_NAMES

__all__ = ["PAPER_TABLE_I", "score_row", "format_table", "write_table", "text_table"]

#: The paper's Table I (mining class, official test split): model -> scores.
PAPER_TABLE_I = {
    ("RF", "rgb"): dict(iou=0.4109, precision=0.9238, recall=0.4253, sdc=0.5825),
    ("RF", "rgb+"): dict(iou=0.5027, precision=0.9531, recall=0.5155, sdc=0.6691),
    ("U-Net (ImageNet)", "rgb"): dict(iou=0.7539, precision=0.9278, recall=0.8009, sdc=0.8597),
    ("U-Net (scratch)", "rgb+"): dict(iou=0.6513, precision=0.9642, recall=0.6675, sdc=0.7889),
    ("SAM-2 (mask prompts)", "rgb"): dict(iou=0.4261, precision=0.7416, recall=0.5004, sdc=0.5976),
    ("Prithvi-EO-2.0 300M", "rgb+"): dict(iou=0.7579, precision=0.8558, recall=0.8689, sdc=0.8623),
}

_INTERVAL_COLUMNS = tuple(f"{name}_{end}" for name in SCORE_NAMES for end in ("lo", "hi"))
#: Marks an interval of zero width in the text and Markdown tables, explained by the note below them.
_ZERO_WIDTH_MARK = "*"
_ZERO_WIDTH_NOTE = (f"({_ZERO_WIDTH_MARK}) zero-width interval: every bootstrap resample gave the same value (e.g. one "
                    "test patch holds all the mining); too few patches to measure the uncertainty, not certainty.")
# The interval columns come last, so readers of the older CSV layout keep working.
_COLUMNS = ("model", "bands", *SCORE_NAMES, "paper_iou", *_INTERVAL_COLUMNS)


def score_row(model, bands, scores, intervals=None):
    """One table row from :func:`segmentation_scores` output, with the paper's IoU where it has one.

    ``intervals`` maps score names to (low, high), as from
    :func:`~smallmines_classic.assessment.bootstrap_scores`; without them the
    interval columns are empty.
    """
    paper = PAPER_TABLE_I.get((model, bands), {}).get("iou")
    bounds = {f"{k}_{end}": float(intervals[k][i]) if intervals else None
              for k in SCORE_NAMES for i, end in enumerate(("lo", "hi"))}
    return {"model": model, "bands": bands, **{k: float(scores[k]) for k in SCORE_NAMES}, "paper_iou": paper, **bounds}


def _cell(value):
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def _csv_cells(row):
    """A row's CSV cells: a null is empty, as in every CSV file of the package (a "-" would read as a formula)."""
    return ["" if row.get(c) is None else _cell(row.get(c)) for c in _COLUMNS]


def _zero_width(row, name):
    return row.get(name + "_lo") is not None and row[name + "_lo"] == row[name + "_hi"]


def _shown_cells(row):
    """Cells of the text and Markdown tables: each score with its interval, e.g. ``0.5030 [0.4912, 0.5141]``.

    An interval of zero width is marked with ``*``.
    """
    scores = [_cell(row[k])
              + (f" [{row[k + '_lo']:.4f}, {row[k + '_hi']:.4f}]" if row.get(k + "_lo") is not None else "")
              + (_ZERO_WIDTH_MARK if _zero_width(row, k) else "") for k in SCORE_NAMES]
    return [_cell(row["model"]), _cell(row["bands"]), *scores, _cell(row["paper_iou"])]


def format_table(rows, style="text"):
    """Rows as an aligned text table (``"text"``), Markdown (``"markdown"``) or CSV (``"csv"``).

    Text and Markdown show each score with its interval in brackets, and
    a note under the table when an interval has zero width (marked ``*``);
    CSV has one column per bound (``iou_lo``, ``iou_hi``, ...), a null as an empty cell, and
    text that a spreadsheet would run as a formula written with a single quote in front (OWASP).
    """
    header = ["model", "bands", "IoU", "SDC", "P", "R", "paper IoU"]
    if style == "csv":
        buffer = io.StringIO()
        writer = csv_writer(buffer, lineterminator="\n")
        writer.writerow(_COLUMNS)
        writer.writerows(_csv_cells(row) for row in rows)
        return buffer.getvalue()
    cells = [_shown_cells(row) for row in rows]
    note = any(_zero_width(row, k) for row in rows for k in SCORE_NAMES)
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        table = "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells]) + "\n"
        return table + (f"\n{_ZERO_WIDTH_NOTE}\n" if note else "")
    return text_table(header, cells) + (_ZERO_WIDTH_NOTE + "\n" if note else "")


def text_table(header, cells):
    """Rows of strings as left-aligned text columns under ``header``."""
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines) + "\n"


def write_table(path, rows):
    """Write the table as CSV or Markdown, chosen by the file's suffix (``.csv`` or ``.md``)."""
    style = "csv" if str(path).endswith(".csv") else "markdown"
    with atomic_path(path) as tmp:
        tmp.write_text(format_table(rows, style))
    return path
