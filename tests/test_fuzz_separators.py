"""The fuzzing campaign, separators class (issue 19): a matrix written in any separator dialect (decimal
commas or points, thousands separators, spaces, tabs or commas between cells, every kind of line break
between rows), as flags and as CSV files, through the real `attn`. No such text may be read silently as
another matrix: it is read as written, or read with a note on stderr that says how, or refused in one line.
`pytest --slow` or ATTN_FUZZ=slow runs the long campaign."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from conftest import RunAttn
from fuzzing import fuzz_settings, run_clean

ROW_BREAKS = (";", "; ", "\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0c", "\x0b")
CSV_BREAKS = ("\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0c", "\x0b")
# Thousands separators. Not '.' nor ' ': a dot is always a decimal point and a space always separates cells
# (the README's rule), so '1.234' and '12 345' are read as written, not as thousands.
GROUPING = ("", "", ",", "\u00a0", "\u202f", "\u2009", "\u2007")


@dataclass(frozen=True)
class Dialect:
    """How a matrix is written: between rows, between cells, the decimal mark, the thousands separator."""

    rows: str
    cells: str
    decimal: str
    grouping: str


def _number(value: int, decimals: int, dialect: Dialect) -> str:
    """value / 10**decimals written in the dialect, e.g. 1234567 with 2 decimals: '12 345,67'."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    digits = f"{whole:,}".replace(",", dialect.grouping)
    return sign + digits + (dialect.decimal + str(frac).zfill(decimals) if decimals else "")


@st.composite
def written(draw: st.DrawFn, breaks: tuple[str, ...], cells: tuple[str, ...]) -> tuple[list[list[float]], str]:
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dialect = Dialect(
        draw(st.sampled_from(breaks)), draw(st.sampled_from(cells)), draw(st.sampled_from((".", ","))),
        draw(st.sampled_from(GROUPING)),
    )  # fmt: skip
    if dialect.cells == ",":  # commas between cells leave no room for decimal commas or comma thousands
        dialect = Dialect(dialect.rows, ",", ".", draw(st.sampled_from([g for g in GROUPING if g != ","])))
    if dialect.grouping == dialect.decimal:  # '1,100,0' is no way of writing 1100.0 that anyone reads
        dialect = Dialect(dialect.rows, dialect.cells, ".", dialect.grouping)
    big = draw(st.booleans())
    values = [
        [draw(st.integers(-(10**7) if big else -999, 10**7 if big else 999)) for _ in range(cols)] for _ in range(rows)
    ]
    decimals = [[draw(st.integers(0, 3)) for _ in range(cols)] for _ in range(rows)]
    text = dialect.rows.join(
        dialect.cells.join(_number(v, d, dialect) for v, d in zip(row, ds, strict=True))
        for row, ds in zip(values, decimals, strict=True)
    )
    matrix = [[v / 10**d for v, d in zip(row, ds, strict=True)] for row, ds in zip(values, decimals, strict=True)]
    return matrix, text


def _read_as(attn: RunAttn, argument: str, stdin: str = "") -> tuple[int, list[list[float]] | None, str]:
    r = run_clean(attn, "compute", "--q", argument, "--k", argument, "--v", argument, "--json", stdin=stdin)
    if r.code != 0:
        return r.code, None, r.err
    q: list[list[float]] = json.loads(r.out)["inputs"]["q"]
    return r.code, q, r.err


def _not_silent(matrix: list[list[float]], code: int, read: list[list[float]] | None, err: str, text: str) -> None:
    if code == 2:
        assert err.startswith("attn: error: ") and len(err.strip().splitlines()) == 1, err
        return
    assert read is not None
    same = len(read) == len(matrix) and all(
        len(a) == len(b) and all(abs(x - y) <= 1e-9 * max(1.0, abs(y)) for x, y in zip(a, b, strict=True))
        for a, b in zip(read, matrix, strict=True)
    )
    assert same or "attn: note: " in err, f"{text!r} was read silently as {read}, not {matrix}"


@fuzz_settings(ci=60, slow=2000)
@given(case=written(ROW_BREAKS, (" ", "  ", "\t", ", ", ",")))
def test_compact_text_is_never_silently_another_matrix(attn: RunAttn, case: tuple[list[list[float]], str]) -> None:
    matrix, text = case
    code, read, err = _read_as(attn, text)
    _not_silent(matrix, code, read, err, text)


@fuzz_settings(ci=40, slow=1500)
@given(case=written(CSV_BREAKS, (",", ";")))
def test_csv_is_never_silently_another_matrix(
    attn: RunAttn, tmp_path_factory: object, case: tuple[list[list[float]], str]
) -> None:
    matrix, text = case
    path = Path(tmp_path_factory.mktemp("csv")) / "m.csv"  # type: ignore[attr-defined]
    path.write_bytes(text.encode("utf-8"))
    code, read, err = _read_as(attn, f"@{path}")
    _not_silent(matrix, code, read, err, text)


@fuzz_settings(ci=30, slow=1000)
@given(case=written(ROW_BREAKS, (" ", "\t", ", ")))
def test_documents_are_never_silently_another_matrix(attn: RunAttn, case: tuple[list[list[float]], str]) -> None:
    matrix, text = case
    doc = json.dumps({"q": text, "k": text, "v": text})
    r = run_clean(attn, "compute", "--json", stdin=doc)
    read = json.loads(r.out)["inputs"]["q"] if r.code == 0 else None
    _not_silent(matrix, r.code, read, r.err, text)
