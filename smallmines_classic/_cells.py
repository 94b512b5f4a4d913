"""CSV cells a spreadsheet shows as text: every CSV writer of the package goes through :func:`csv_writer`.

OWASP's CSV-injection rule: a spreadsheet takes a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return for a formula, so such a
text cell is written with a single quote in front (``'=HYPERLINK(...)``).
Numbers stay numbers: a Python number, and text that is a plain number
(``-1.5``, ``-3e-05``, ``-inf``, as a coordinate read back from a CSV file),
are written as they are.
"""

import csv
import re

__all__ = ["FORMULA_STARTS", "safe_cell", "csv_writer"]

#: The first characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)


def safe_cell(value):
    """``value`` as a CSV cell that no spreadsheet runs: a text cell starting with a formula character is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class _SafeWriter:
    """A :func:`csv.writer` whose rows pass through :func:`safe_cell`."""

    def __init__(self, handle, **options):
        self._writer = csv.writer(handle, **options)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_writer(handle, **options):
    """A :func:`csv.writer` on ``handle`` (same ``options``) that neutralises formula cells (:func:`safe_cell`)."""
    return _SafeWriter(handle, **options)
