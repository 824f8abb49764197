"""The gradebook: counts of the class summary, exit codes, CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
import json

from attncli.analysis.classroom import Row, invalid_row, summarize
from attncli.render.gradebook import gradebook_csv, gradebook_json, summary_text


def _rows() -> list[Row]:
    return [
        Row("a.json", "a", "passed", 5, 5),
        Row("b.json", '=HYPERLINK("x")', "failed", 4, 5, "scaled", ("no_scaling",), ("no scaling",)),
        Row("c.json", "c", "failed", 3, 5, "masked", ("mask_ignored", "no_scaling"), ("mask ignored", "no scaling")),
        invalid_row("d.json", "d", "d.json: malformed JSON at line 1, column 2: Expecting value"),
    ]


def test_summary_counts_each_mistake_once_per_submission() -> None:
    s = summarize(_rows())
    assert (s.submissions, s.passed, s.failed, s.invalid) == (4, 1, 2, 1)
    assert s.mistakes == (("no_scaling", "no scaling", 2), ("mask_ignored", "mask ignored", 1))
    assert s.first_wrong == (("masked", 1), ("scaled", 1))
    assert "no scaling: 2 submissions" in summary_text(s)


def test_exit_codes() -> None:
    rows = _rows()
    assert summarize(rows[:1]).exit_code == 0
    assert summarize(rows[:3]).exit_code == 1
    assert summarize(rows).exit_code == 2


def test_csv_cells_never_start_a_formula() -> None:
    rows = list(csv.reader(io.StringIO(gradebook_csv(_rows()))))
    assert rows[0][0] == "student" and len(rows) == 5
    assert rows[2][0] == '\'=HYPERLINK("x")'
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_json_rows_round_trip() -> None:
    rows = _rows()
    doc = json.loads(gradebook_json(rows, summarize(rows)))
    assert [Row.from_json(r) for r in doc["submissions"]] == rows
    assert doc["summary"]["mistakes"][0] == {"key": "no_scaling", "title": "no scaling", "submissions": 2}
