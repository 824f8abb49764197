"""Decimal commas, thousands separators and line breaks: how text is cut into rows and cells (the rule
of attncli.parse.separators), by the parser alone and through `attn` with flags, CSV files and documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attncli import InputError
from attncli.parse.matrix import parse_csv, parse_matrix
from attncli.parse.separators import collect_notes

from conftest import RunAttn

# (text, matrix, a word of the note or None: no note)
COMPACT = [
    ("0,5 0,5", [[0.5, 0.5]], "decimal comma"),
    ("0,5 0,5; 0,3 0,7", [[0.5, 0.5], [0.3, 0.7]], "decimal comma"),
    ("0,5\t0,5", [[0.5, 0.5]], "decimal comma"),
    ("−0,25 1", [[-0.25, 1]], "decimal comma"),
    ("0,5 1e-3; 2 0,125", [[0.5, 0.001], [2, 0.125]], "decimal comma"),
    ("1,0;0,1", [[1, 0], [0, 1]], "'1.0;0.1'"),  # the documented form keeps its meaning, with a note
    ("0,5;0,3", [[0, 5], [0, 3]], "'0.5;0.3'"),
    ("1,2,3;4,5,6", [[1, 2, 3], [4, 5, 6]], None),  # three cells a row: no decimal reading
    ("1,100.0", [[1, 100]], "one number with thousands separators, write 1100.0"),  # found by the campaign
    ("1,234,567", [[1, 234, 567]], "write 1234567"),
    ("1, 0; 0, 1", [[1, 0], [0, 1]], None),
    ("0.5,0.3;0.1,0.2", [[0.5, 0.3], [0.1, 0.2]], None),
    ("1 2\r3 4", [[1, 2], [3, 4]], None),  # every line break ends a row
    ("1 2\r\n3 4", [[1, 2], [3, 4]], None),
    ("1 2\u20283 4", [[1, 2], [3, 4]], None),
    ("1 2\u20293 4", [[1, 2], [3, 4]], None),
    ("1 2\x853 4", [[1, 2], [3, 4]], None),
    ("1 2\x0c3 4", [[1, 2], [3, 4]], None),
    ("1 2\x0b3 4", [[1, 2], [3, 4]], None),
]


@pytest.mark.parametrize(("text", "expected", "note"), COMPACT)
def test_compact(text: str, expected: list[list[float]], note: str | None) -> None:
    assert_read(parse_matrix, text, expected, note)


def assert_read(parse: Any, text: str, expected: list[list[float]], note: str | None) -> None:
    """`text` is read as `expected`, with no note, or with one note (said once, however many cells) holding `note`."""
    with collect_notes() as notes:
        np.testing.assert_array_equal(parse(text, "--q"), np.array(expected, dtype=float))
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0], notes


CSV = [
    ("0,5\n0,3\n", [[0, 5], [0, 3]], "one column, 0,5 = 0.5"),  # a European one-column CSV: not silent
    ("0,5;0,3\n0,1;0,2\n", [[0.5, 0.3], [0.1, 0.2]], "decimal commas"),
    ("0,5\r0,3\r", [[0, 5], [0, 3]], "one column"),
    ("0.5\r0.3\r", [[0.5], [0.3]], None),  # a lone CR ends a line
    ("1.5,2\u20283,4.5", [[1.5, 2], [3, 4.5]], None),
    ("1.5,2\x853,4.5\x0c5,6.5", [[1.5, 2], [3, 4.5], [5, 6.5]], None),
    ("0.5,0.3\n0.1,0.2\n", [[0.5, 0.3], [0.1, 0.2]], None),
    ("1,2,3\n4,5,6\n", [[1, 2, 3], [4, 5, 6]], None),
    ("0,5;1\n", [[0.5, 1]], "decimal commas"),
]


@pytest.mark.parametrize(("text", "expected", "note"), CSV)
def test_csv(text: str, expected: list[list[float]], note: str | None) -> None:
    assert_read(parse_csv, text, expected, note)


REFUSED = [
    ("12\u00a0000 1", "row 1: '12\\xa0000' has a no-break or thin space between digits"),
    ("1 2; 3\u202f500 4", "row 2: '3\\u202f500' has a no-break"),
    ("1,000,000", "row 1: in '1,000,000' no cell is written 000, so the comma is not between cells; write 1000000"),
    ("0,05;0,07", "row 1: in '0,05' no cell is written 05, so the comma is not between cells; write 0.05"),
    ("0,5 1,000,000", "row 1, column 2: '1,000,000': the cells are separated by spaces"),
    ("0,5 1,5,", "row 1, column 2: '1,5,'"),
    ("0,5 1.5,2", "row 1, column 2: '1.5,2'"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse_matrix(text, "--q")
    assert message in str(e.value)
    assert str(e.value).startswith("--q: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,000,000\n", "line 1: in '1,000,000' no cell is written 000"),
        ("1.5,2\n12\u00a0000,1\n", "line 2: '12\\xa0000' has a no-break"),
        ("0,5;0,3\n0,1;0.2,5\n", "line 2, column 2: '0.2,5' is not a number"),
    ],
)
def test_csv_refused(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse_csv(text, "--q")
    assert message in str(e.value)


# The numbers of the lecture notes: (q, k, v) with decimal points; each is also written with decimal commas.
NOTES = [
    ("0.5 0.5", "0.5 0.5; 0.3 0.7", "1 0; 0.5 0.5"),
    ("1 0", "0.5 0.5; 0.3 0.7", "1 0; 0.5 0.5"),
    ("0.2 0.9; 0.6 0.1", "0.2 0.9; 0.6 0.1; 0.9 0.3", "0.4 0.5; 0.8 0.1; 0.3 0.7"),
    ("0.1 0.2; 0.3 0.4; 0.5 0.6", "0.1 0.2; 0.3 0.4; 0.5 0.6", "0.7 0.8; 0.9 1.5; 2.25 0.05"),
]


def _commas(text: str) -> str:
    return text.replace(".", ",")


def _output(r: object) -> list[list[float]]:
    assert r.code == 0, r.err  # type: ignore[attr-defined]
    out: list[list[float]] = json.loads(r.out)["output"]  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize(("q", "k", "v"), NOTES)
def test_notes_with_decimal_commas(attn: RunAttn, tmp_path: Path, q: str, k: str, v: str) -> None:
    """Every number of the notes, with decimal points and with decimal commas, in flags, in ';'-separated
    CSV files and in a document, gives the same output; a comma says so in one note line."""
    dots = attn("compute", "--q", q, "--k", k, "--v", v, "--json")
    assert dots.err == ""
    expected = _output(dots)
    commas = attn("compute", "--q", _commas(q), "--k", _commas(k), "--v", _commas(v), "--json")
    assert _output(commas) == expected
    assert commas.err.count("attn: note:") == 1 and "decimal comma" in commas.err
    for name, text in (("q", q), ("k", k), ("v", v)):
        rows = [";".join(_commas(c) for c in row.split()) for row in text.split(";")]
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    files = attn("compute", "--q", f"@{tmp_path / 'q.csv'}", "--k", f"@{tmp_path / 'k.csv'}",
                 "--v", f"@{tmp_path / 'v.csv'}", "--json")  # fmt: skip
    assert _output(files) == expected
    doc = json.dumps({"q": _commas(q), "k": _commas(k), "v": _commas(v)})
    assert _output(attn("compute", "--json", stdin=doc)) == expected


def test_the_issue_example(attn: RunAttn) -> None:
    """`--q '0,5 0,5'` was read as [0, 5, 0, 5]: scores of 50."""
    r = attn("compute", "--q", "0,5 0,5", "--k", "0,5 0,5; 0,3 0,7", "--v", "1 0; 0,5 0,5", "--stage", "scores")
    assert r.code == 0
    assert "q1   0.5000   0.5000" in r.out and "50.0" not in r.out
    assert r.err == (
        "attn: note: read '0,5' as 0.5 (a comma between digits, in cells separated by spaces, is a decimal comma)\n"
    )
    quiet = attn("compute", "--q", "0,5 0,5", "--k", "0,5 0,5; 0,3 0,7", "--v", "1 0; 0,5 0,5", "--quiet")
    assert quiet.code == 0 and quiet.err == ""


def test_either_way_says_how(attn: RunAttn) -> None:
    r = attn("compute", "--q", "0,5;0,3", "--k", "1 0; 0 1", "--v", "1 0; 0 1", "--stage", "scores", "--json")
    assert r.code == 0
    assert json.loads(r.out)["stages"]["scores"] == [[0, 5], [0, 3]]
    assert "read '0,5;0,3' as 2 × 2 (commas separate the cells)" in r.err
    assert "write '0.5;0.3'" in r.err


def test_check_grades_decimal_commas(attn: RunAttn) -> None:
    """Issue 19: `attn check` graded a correct answer written with decimal commas as wrong."""
    r = attn("check", "--q", "1 0", "--k", "1 0; 0 1", "--v", "0,5 0,5; 0,3 0,7", "--expect-weights", "0,6698 0,3302")
    assert r.code == 0, r.out + r.err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12\u00a0000 1", "--q: row 1: '12\\xa0000' has a no-break or thin space between digits"),
        ("1,000,000", "--q: row 1: in '1,000,000' no cell is written 000"),
    ],
)
def test_refused_through_attn(attn: RunAttn, value: str, message: str) -> None:
    r = attn("compute", "--q", value, "--k", "1", "--v", "1")
    assert r.code == 2
    assert message in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
