"""Accepted and rejected forms of matrix arguments, read by the parser alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli import InputError
from attncli.parse.matrix import parse_matrix

DATA = Path(__file__).parent.parent / "data"

ACCEPTED = [
    ("[[1,0],[0,1]]", "matrix", [[1, 0], [0, 1]]),
    ("[1, 2, 3]", "matrix", [[1, 2, 3]]),  # a flat list is one row
    ("1 0; 0 1", "matrix", [[1, 0], [0, 1]]),
    ("1,0;0,1", "matrix", [[1, 0], [0, 1]]),
    ("1, 0\n0, 1\n", "matrix", [[1, 0], [0, 1]]),
    ("1 0; 0 1;", "matrix", [[1, 0], [0, 1]]),  # a trailing ';' ends the last row
    ("-1.5e-3 2", "matrix", [[-0.0015, 2]]),
    ("−1 2", "matrix", [[-1, 2]]),  # a typographic minus, as pasted from lecture notes
    ("[[[1,0]],[[0,1]]]", "matrix", [[[1, 0]], [[0, 1]]]),
    ("0 -inf; 0 0", "mask", [[0, -np.inf], [0, 0]]),
    ('[[0, null], ["-inf", 0]]', "mask", [[0, -np.inf], [-np.inf, 0]]),
]


@pytest.mark.parametrize(("text", "kind", "expected"), ACCEPTED)
def test_accepted(text: str, kind: str, expected: list[object]) -> None:
    np.testing.assert_array_equal(parse_matrix(text, "--q", kind), np.array(expected, dtype=float))  # type: ignore[arg-type]


def test_boolean_masks() -> None:
    assert parse_matrix("[[true, false]]", "--mask", "mask").dtype == np.bool_
    assert parse_matrix("true false; True FALSE", "--mask", "mask").tolist() == [[True, False], [True, False]]


def test_files() -> None:
    assert parse_matrix(f"@{DATA / 'q.npy'}", "--q").tolist() == [[1, 0], [0, 1]]
    assert parse_matrix(f"@{DATA / 'k.csv'}", "--k").tolist() == [[1, 0], [0, 1]]
    assert parse_matrix(f"@{DATA / 'v.json'}", "--v").tolist() == [[1, 0], [0, 1]]
    assert parse_matrix(f"@{DATA / 'mask.npy'}", "--mask", "mask").dtype == np.bool_
    assert parse_matrix("@v.json", "--v", base_dir=DATA).tolist() == [[1, 0], [0, 1]]


REJECTED = [
    ("[[1,2],[3]]", "matrix", "--q: row 2 has 1 value, row 1 has 2 (ragged rows)"),
    ("1 2; 3", "matrix", "--q: row 2 has 1 value, row 1 has 2 (ragged rows)"),
    ('[[1,"a"]]', "matrix", '--q: row 1, column 2: "a" is not a number'),
    ("1 x", "matrix", "--q: row 1, column 2: 'x' is not a number"),
    ("[[1,2]", "matrix", "--q: malformed JSON at line 1, column 7: Expecting ',' delimiter"),
    ("[[1, NaN]]", "matrix", "--q: malformed JSON: NaN is not valid JSON"),
    ("nan 1", "matrix", "--q: row 1, column 1: 'nan' is not a finite number"),
    ("1 inf", "matrix", "--q: row 1, column 2: 'inf' is not a finite number"),
    ("", "matrix", "--q: is empty"),
    ("[]", "matrix", "--q: the matrix is empty"),
    ("[[]]", "matrix", "--q: the list at [0] is empty"),
    ("1 0;;0 1", "matrix", "--q: row 2 is empty"),
    ("[[true]]", "matrix", "--q: row 1, column 1: true is not a number"),
    ("5e999 1", "matrix", "--q: row 1, column 1: '5e999' is not a finite number"),
    ('{"a": 1}', "matrix", "--q: row 1, column 1: '{\"a\":' is not a number"),
    ("[[[1],[2]],[[1,2],[3,4]]]", "matrix", "--q: [1] is a 2×2 array but [0] is a 2×1 array (ragged)"),
    ("[[1,0],[[0],1]]", "matrix", "--q: [1][1] is a single number but [1][0] is a list of 1 value (ragged)"),
    ("[[true, 0]]", "mask", "--mask: row 1, column 2: mixes true/false with numbers"),
    ('[["x"]]', "mask", '--mask: row 1, column 1: "x" is not a number (a mask cell may be'),
    ("@", "matrix", "--q: '@' needs a file name after it"),
    ("@missing.csv", "matrix", "--q: file 'missing.csv' not found"),
    (f"@{DATA / 'notes.txt'}", "matrix", "--q: unknown file type '.txt' (use .json, .csv or .npy)"),
    (f"@{DATA}.json", "matrix", "--q: file"),
    (f"@{DATA / 'ragged.csv'}", "matrix", "line 2 has 1 value, line 1 has 2 (ragged rows)"),
    (f"@{DATA / 'bad.csv'}", "matrix", "line 2, column 2: 'x' is not a number"),
    (f"@{DATA / 'broken.json'}", "matrix", "malformed JSON at line 3, column 1"),
    (f"@{DATA / 'nan.npy'}", "matrix", "row 1, column 2 is nan"),
    (f"@{DATA / 'strings.npy'}", "matrix", "holds <U1 values, expected real numbers"),
    (f"@{DATA / 'mask.npy'}", "matrix", "holds booleans, expected numbers"),
]


@pytest.mark.parametrize(("text", "kind", "message"), REJECTED)
def test_rejected(text: str, kind: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_matrix(text, "--mask" if kind == "mask" else "--q", kind)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)
