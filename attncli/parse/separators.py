"""How compact text and CSV are cut into rows and cells, and how a comma is read.

The rule (README, "Decimal commas and separators"):
  * Rows end at ';' (compact text only) and at every line break Unicode knows: LF, CR, CRLF, form feed,
    vertical tab, U+0085, U+2028, U+2029 (a lone CR never joins two rows).
  * In compact text whose cells are separated by spaces or tabs, a comma between two digits is a decimal
    comma: '0,5 0,5' is [0.5, 0.5] (said once in a note).
  * Without spaces between cells the commas separate the cells ('1,0;0,1' is [[1, 0], [0, 1]]); where the
    text could also be read with decimal commas (every row holds one comma, between two whole numbers)
    a note says how it was read and how to write the other reading. A CSV file is read the same way,
    and a CSV with ';' between its cells takes commas as decimal commas.
  * Refused, never guessed: a non-breaking or thin space between digits (a thousands separator, 12 000),
    a cell written with a leading zero after a comma ('1,000,000', '0,05;0,07': thousands or decimals,
    not cells), and a row that uses commas both ways.

Notes are collected while `collect_notes()` is active (the CLI prints them); nothing here prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from attncli.errors import InputError
from attncli.i18n import _

# Line breaks that end a row (str.splitlines' set); ';' also ends a row of compact text.
LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_ROW_BREAK = re.compile(r"\r\n|[;" + LINE_BREAKS + "]")
# No-break space, narrow no-break space, figure space, thin space: thousands separators in typeset numbers.
_GROUPING = re.compile(r"\d+(?:[\u00a0\u202f\u2007\u2009]+\d+)+")
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d)")
_PLAIN_PAIR = re.compile(r"[-−+]?\d+,\d+")
_THOUSANDS = re.compile(r"[-−+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?")
_LEADING_ZERO_AFTER_COMMA = re.compile(r"\d,(0\d+)")

_notes: ContextVar[list[str] | None] = ContextVar("attn_reading_notes", default=None)
_said: ContextVar[frozenset[str]] = ContextVar("attn_reading_notes_said", default=frozenset())


@contextmanager
def collect_notes() -> Iterator[list[str]]:
    """Collect the notes of the text read inside this block (each said once)."""
    notes: list[str] = []
    token, said = _notes.set(notes), _said.set(frozenset())
    try:
        yield notes
    finally:
        _notes.reset(token)
        _said.reset(said)


def _note(text: str, key: str | None = None) -> None:
    """Add a note; with a key, only the first note of that key is kept (a rule is said once, by its first case)."""
    notes = _notes.get()
    if notes is None:
        return
    keys = _said.get()
    if (key or text) in keys:
        return
    _said.set(keys | {key or text})
    notes.append(text)


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def refuse_grouping(text: str, argument: str, unit: str) -> None:
    """A thousands separator (no-break or thin space between digits) is refused with its row or line."""
    found = _GROUPING.search(text)
    if found is None:
        return
    where = len(_ROW_BREAK.findall(text[: found.start()])) + 1 if unit == "row" else _line_of(text, found.start())
    message = (
        _("row {n}: {value!r} has a no-break or thin space between digits (a thousands separator?): ")
        if unit == "row"
        else _("line {n}: {value!r} has a no-break or thin space between digits (a thousands separator?): ")
    )
    message += _("write {number} and separate cells with ordinary spaces")
    number = re.sub(r"\D", "", found.group())
    raise InputError(message.format(n=where, value=found.group(), number=number), argument=argument)


def _line_of(text: str, index: int) -> int:
    return len((text[:index] + "x").splitlines())


def compact_rows(text: str) -> list[str]:
    """Compact text cut into rows (trailing empty rows dropped: a final ';' or newline ends the last row)."""
    rows = _ROW_BREAK.split(text)
    while rows and not rows[-1].strip():
        rows.pop()
    return rows


def compact_cells(rows: list[str], text: str, argument: str) -> list[list[str]]:
    """The cells of each row, as number text with '.' decimal points (see the module docstring)."""
    decimal = any(_DIGIT_COMMA.search(row) and len(row.split()) > 1 for row in rows)
    if decimal:
        return [_decimal_row(row, i + 1, argument) for i, row in enumerate(rows)]
    _refuse_leading_zero(rows, argument, "row")
    if len(rows) and all(_PLAIN_PAIR.fullmatch(row.strip()) for row in rows):
        other = _DIGIT_COMMA.sub(".", text.strip())
        message = _(
            "read {text!r} as {rows} × 2 (commas separate the cells); "
            "if they are decimal commas, write {other!r} (decimal points)"
        )
        _note(message.format(text=_shown(text.strip()), rows=len(rows), other=_shown(other)))
    else:
        _note_thousands(rows)
    return [row.replace(",", " ").split() for row in rows]


def _note_thousands(rows: list[str]) -> None:
    """'1,234,567' read as three cells could be one number with thousands separators: a note says so."""
    grouped = next((row.strip() for row in rows if _THOUSANDS.fullmatch(row.strip())), None)
    if grouped is not None:
        message = _("read {text!r} as {n} cells; if it is one number with thousands separators, write {number}")
        _note(message.format(text=_shown(grouped), n=grouped.count(",") + 1, number=grouped.replace(",", "")))


def _decimal_row(row: str, n: int, argument: str) -> list[str]:
    cells = row.split()
    out = []
    for j, cell in enumerate(cells, start=1):
        if "," not in cell:
            out.append(cell)
            continue
        if cell.count(",") > 1 or "." in cell or not _DIGIT_COMMA.search(cell):
            message = _(
                "row {row}, column {column}: {value!r}: the cells are separated by spaces, so a comma "
                "can only be a decimal comma (one, between digits); write 1000000 or 0.5, without "
                "thousands separators"
            )
            raise InputError(message.format(row=n, column=j, value=_shown(cell)), argument=argument)
        value = cell.replace(",", ".")
        message = _(
            "read {cell!r} as {value} (a comma between digits, in cells separated by spaces, is a decimal comma)"
        )
        _note(message.format(cell=cell, value=value), key="decimal")
        out.append(value)
    return out


def _refuse_leading_zero(rows: list[str], argument: str, unit: str) -> None:
    """'1,000,000' or '0,05' read with commas between cells would give cells written 000 or 05: refused."""
    for n, row in enumerate(rows, start=1):
        for chunk in row.replace(";", " ").split():
            found = _LEADING_ZERO_AFTER_COMMA.search(chunk)
            if found is None:
                continue
            if chunk.count(",") == 1:
                suggestion = _("{value} (a decimal point)").format(value=chunk.replace(",", "."))
            else:
                suggestion = _("{value} (no thousands separators)").format(value=chunk.replace(",", ""))
            message = (
                _("row {n}: in {value!r} no cell is written {cell}, so the comma is not between cells; write {fix}")
                if unit == "row"
                else _(
                    "line {n}: in {value!r} no cell is written {cell}, so the comma is not between cells; write {fix}"
                )
            )
            raise InputError(
                message.format(n=n, value=_shown(chunk), cell=found.group(1), fix=suggestion), argument=argument
            )


def csv_lines(text: str, argument: str) -> tuple[list[str], str]:
    """A CSV file's lines (every Unicode line break ends one) and its cell separator, ',' or ';'."""
    refuse_grouping(text, argument, "line")
    lines = text.splitlines()
    if any(";" in line for line in lines):
        return lines, ";"
    _refuse_leading_zero(lines, argument, "line")
    filled = [line for line in lines if line.strip()]
    if not (filled and all(_PLAIN_PAIR.fullmatch(line.strip()) for line in filled)):
        _note_thousands(lines)
    else:
        other = filled[0].strip().replace(",", ".")
        message = _(
            "read the CSV as {rows} × 2 (commas separate the cells); if they are decimal commas "
            "(one column, {first} = {other}), separate the cells with ';' or write decimal points"
        )
        _note(message.format(rows=len(filled), first=filled[0].strip(), other=other))
    return lines, ","


def semicolon_cell(cell: str) -> str:
    """A cell of a ';'-separated CSV: a comma between digits is its decimal comma (said once in a note)."""
    if "," not in cell or cell.count(",") > 1 or "." in cell or not _DIGIT_COMMA.search(cell):
        return cell
    value = cell.replace(",", ".")
    message = _("read {cell!r} as {value} (a CSV with ';' between its cells has decimal commas)")
    _note(message.format(cell=cell, value=value), key="semicolon")
    return value
