"""CSV cells: no file the package writes holds a text cell that a spreadsheet runs as a formula (OWASP)."""

import csv

import numpy as np
import pytest

from smallmines_classic._cells import safe_cell
from smallmines_classic.io.vectors import read_vector, write_vector
from smallmines_classic.tables import format_table, score_row, write_table

FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "=1"]


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("text", FORMULAS)
def test_a_formula_cell_gets_a_quote_in_front(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-1.5", "-3e-05", "+7", "-inf", "-.5", -1.5, -3, "mine", "a=b", "", None, "'=x"])
def test_numbers_and_plain_text_are_written_as_they_are(value):
    assert safe_cell(value) == value


def test_vector_csv_neutralises_text_and_keeps_negative_numbers(tmp_path):
    names = np.array(["=cmd()", "-x", "ok"], dtype=object)
    write_vector(tmp_path / "f.csv", {"name": names, "lon": np.array([-1.25, -2.5, 3.0]),
                                      "text_lon": np.array(["-1.25", "-2", "+4"])})
    header, *rows = _rows(tmp_path / "f.csv")
    assert header == ["name", "lon", "text_lon"]
    assert [row[0] for row in rows] == ["'=cmd()", "'-x", "ok"]
    assert [float(row[1]) for row in rows] == [-1.25, -2.5, 3.0]
    assert [row[2] for row in rows] == ["-1.25", "-2", "+4"]
    assert list(read_vector(tmp_path / "f.csv", geometry=False).fields["name"]) == ["'=cmd()", "'-x", "ok"]


def test_the_scores_table_csv_neutralises_a_model_name(tmp_path):
    scores = dict(iou=0.5, sdc=0.6, precision=0.7, recall=-0.0)
    rows = [score_row("=WEBSERVICE(1)", "@rgb", scores)]
    assert format_table(rows, "csv").splitlines()[1].startswith("'=WEBSERVICE(1),'@rgb,0.5000")
    written = _rows(write_table(tmp_path / "t.csv", rows))
    assert written[1][:2] == ["'=WEBSERVICE(1)", "'@rgb"]
    assert written[1][written[0].index("paper_iou")] == "" and written[1][-1] == ""   # null: empty, not "-"
