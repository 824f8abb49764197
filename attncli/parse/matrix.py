"""Text, JSON, CSV and .npy into arrays, with errors that name the argument and the position.

Accepted forms of a matrix argument:
    inline JSON   '[[1, 0], [0, 1]]'  (a flat list is one row; deeper nesting gives leading dimensions)
    compact rows  '1 0; 0 1'  or  '1,0;0,1'  (rows split by ';' or line breaks, values by commas or spaces;
                  '0,5 0,5' has decimal commas: attncli.parse.separators gives the rule)
    a file        '@q.json', '@k.csv', '@v.npy'
Masks accept the same forms plus true/false cells (boolean: True = attend) and −∞ cells, written
"-inf" or null in JSON and -inf in compact rows and CSV.

Nothing here knows about attention; it only turns text into validated arrays.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from attncli.core.memory import PARSE_BYTES_PER_VALUE, memory_budget
from attncli.errors import InputError
from attncli.i18n import _, ngettext
from attncli.parse.files import open_regular_file, read_regular_file
from attncli.parse.separators import compact_cells, compact_rows, csv_lines, refuse_grouping, semicolon_cell

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

Kind = Literal["matrix", "mask"]

MAX_DIMS = 8
# Text read from stdin or one file, at most (a JSON matrix takes ~16× its text in Python objects while
# it is parsed); $ATTN_MAX_INPUT changes it. Large matrices belong in .npy files, which have no limit.
MAX_TEXT_BYTES = 64 * 2**20
INPUT_LIMIT_ENV = "ATTN_MAX_INPUT"
_NEG_INF_WORDS = {"-inf", "-infinity", "−∞", "-∞"}
_BOOL_WORDS = {"true": True, "false": False}


def where(path: tuple[int, ...], ndim: int) -> str:
    """1-based human position of a cell: 'row 2, column 1', 'column 3' or '[1] row 2, column 1'."""
    if ndim == 1:
        return _("column {column}").format(column=path[0] + 1)
    text = _cell_at(path[-2] + 1, path[-1] + 1)
    if len(path) > 2:
        text = "[" + "][".join(str(i) for i in path[:-2]) + "] " + text
    return text


def _cell_at(row: int, column: int) -> str:
    return _("row {row}, column {column}").format(row=row, column=column)


def _line_at(line: int, column: int) -> str:
    return _("line {line}, column {column}").format(line=line, column=column)


def _reject_constant(name: str) -> float:
    raise ValueError(_('{name} is not valid JSON (write "-inf" or null for −∞ in a mask)').format(name=name))


def refuse_parse_over_memory(text: str, argument: str) -> None:
    """Before parsing: refuse text whose values would take more memory than the budget allows once parsed
    (each value becomes a Python float in several lists: about PARSE_BYTES_PER_VALUE bytes, for a value
    written in two characters)."""
    if len(text) < 2**20:
        return
    values = text.count(",") + text.count(" ") + text.count("\n") + text.count(";") + 1
    need, budget = values * PARSE_BYTES_PER_VALUE, memory_budget()
    if need > budget:
        message = _(
            "parsing its {values} values would need about {need} (budget {budget}); give large matrices as .npy files"
        )
        raise InputError(message.format(values=values, need=_size(need), budget=_size(budget)), argument=argument)


def loads_json(text: str, argument: str) -> Any:
    """Strict JSON (no NaN/Infinity tokens); errors give line and column."""
    refuse_parse_over_memory(text, argument)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        message = _("malformed JSON at line {line}, column {column}: {reason}")
        raise InputError(message.format(line=e.lineno, column=e.colno, reason=e.msg), argument=argument) from None
    except ValueError as e:
        raise InputError(_("malformed JSON: {reason}").format(reason=e), argument=argument) from None
    except RecursionError:
        raise InputError(_("JSON is nested too deeply"), argument=argument) from None


def _shape_of(value: Any, path: tuple[int, ...], argument: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    if len(path) >= MAX_DIMS:
        raise InputError(_("more than {n} nested dimensions").format(n=MAX_DIMS), argument=argument)
    if not value:
        if not path:
            raise InputError(_("the matrix is empty"), argument=argument)
        at = "[" + "][".join(str(i) for i in path) + "]"
        raise InputError(_("the list at {at} is empty").format(at=at), argument=argument)
    first = _shape_of(value[0], (*path, 0), argument)
    for i, item in enumerate(value[1:], start=1):
        shape = _shape_of(item, (*path, i), argument)
        if shape != first:
            if len(path) == 0 and len(first) == 1 and len(shape) == 1:
                message = _("row {row} has {values}, row 1 has {n} (ragged rows)")
                raise InputError(message.format(row=i + 1, values=_values(shape[0]), n=first[0]), argument=argument)
            here = "[" + "][".join(str(j) for j in (*path, i)) + "]"
            there = "[" + "][".join(str(j) for j in (*path, 0)) + "]"
            message = _("{here} is {what} but {there} is {other} (ragged)")
            what, other = _describe(shape), _describe(first)
            raise InputError(message.format(here=here, what=what, there=there, other=other), argument=argument)
    return (len(value), *first)


def _values(n: int) -> str:
    return ngettext("{n} value", "{n} values", n).format(n=n)


def _describe(shape: tuple[int, ...]) -> str:
    if not shape:
        return _("a single number")
    if len(shape) == 1:
        return ngettext("a list of {n} value", "a list of {n} values", shape[0]).format(n=shape[0])
    return _("a {shape} array").format(shape="×".join(str(n) for n in shape))


def _flatten(value: Any, out: list[Any]) -> None:
    if isinstance(value, list):
        for item in value:
            _flatten(item, out)
    else:
        out.append(value)


def _cell(value: Any, kind: Kind, position: Callable[[], str], argument: str) -> float | bool:
    """One JSON cell: a number (finite), or for masks also a bool, null or "-inf"."""
    if isinstance(value, bool):
        if kind == "mask":
            return value
        message = _("{where}: {value} is not a number")
        raise InputError(message.format(where=position(), value=json.dumps(value)), argument=argument)
    if isinstance(value, int | float):
        x = json_number(value)
        if x is None:
            message = _("{where}: {value} is out of range").format(where=position(), value=_short(str(value)))
            raise InputError(message, argument=argument)
        return x
    if kind == "mask" and (value is None or (isinstance(value, str) and value.strip().lower() in _NEG_INF_WORDS)):
        return -math.inf
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    if kind == "mask":
        message = _('{where}: {value} is not a number (a mask cell may be true/false, a number, "-inf" or null)')
    else:
        message = _("{where}: {value} is not a number")
    raise InputError(message.format(where=position(), value=shown), argument=argument)


def json_number(value: int | float) -> float | None:
    """A JSON number as a finite float, or None when it is out of range (JSON integers have no limit)."""
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def from_json_value(value: Any, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """A parsed JSON value (nested lists) as a float array, or a bool array for a boolean mask."""
    if not isinstance(value, list):
        shown = json.dumps(value, ensure_ascii=False)[:40]
        raise InputError(_("expected a list of rows, got {value}").format(value=shown), argument=argument)
    shape = _shape_of(value, (), argument)
    flat: list[Any] = []
    _flatten(value, flat)

    def position(n: int) -> str:
        return where(tuple(int(i) for i in np.unravel_index(n, shape)), len(shape))

    cells = [_cell(x, kind, lambda n=n: position(n), argument) for n, x in enumerate(flat)]  # type: ignore[misc]
    return _assemble(cells, shape, kind, argument, position)


def from_claim_value(value: Any, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """A claimed stage: as from_json_value, but a row may be null (not claimed), which becomes a row of NaN."""
    if not isinstance(value, list) or not any(row is None for row in value):
        return from_json_value(value, argument, kind)
    given = [i for i, row in enumerate(value) if row is not None]
    if not given:
        raise InputError(_("every row is null: claim at least one row"), argument=argument)
    part = from_json_value([value[i] for i in given], argument, kind).astype(np.float64)
    if part.ndim != 2 or part.shape[0] != len(given):
        raise InputError(_("a null row (not claimed) needs rows of numbers around it"), argument=argument)
    out: NDArray[Any] = np.full((len(value), part.shape[1]), np.nan)
    out[given] = part
    return out


def parse_claim(text: str, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """A claimed stage as text: as parse_matrix, where inline JSON may have null rows (from_claim_value)."""
    if text.strip().startswith("["):
        return from_claim_value(loads_json(text.strip(), argument), argument, kind)
    return parse_matrix(text, argument, kind)


def _assemble(
    cells: list[float | bool],
    shape: tuple[int, ...],
    kind: Kind,
    argument: str,
    position: Callable[[int], str],
) -> NDArray[Any]:
    """Cells into an array of `shape`; a mask is boolean only if every cell is (mixing is an error)."""
    is_bool = [isinstance(c, bool) for c in cells]
    if kind == "mask" and any(is_bool):
        if not all(is_bool):
            n = is_bool.index(False) if is_bool[0] else is_bool.index(True)
            message = _(
                "{where}: mixes true/false with numbers; a mask is either boolean (True = attend) "
                "or additive (numbers added to the scores)"
            )
            raise InputError(message.format(where=position(n)), argument=argument)
        arr: NDArray[Any] = np.array(cells, dtype=np.bool_).reshape(shape)
    else:
        arr = np.array(cells, dtype=np.float64).reshape(shape)
    if arr.ndim == 1:
        arr = arr[None, :]  # a flat list is one row
    return arr


def _token(text: str, kind: Kind, position: str, argument: str) -> float | bool:
    low = text.lower()
    if kind == "mask":
        if low in _BOOL_WORDS:
            return _BOOL_WORDS[low]
        if low in _NEG_INF_WORDS:
            return -math.inf
    try:
        x = float(text.replace("−", "-"))
    except ValueError:
        shown = text if len(text) <= 40 else text[:37] + "..."
        message = _("{where}: {value!r} is not a number").format(where=position, value=shown)
        raise InputError(message, argument=argument) from None
    if not math.isfinite(x):
        message = _("{where}: {value!r} is not a finite number").format(where=position, value=_short(text))
        raise InputError(message, argument=argument)
    return x


def parse_compact(text: str, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """'1 0; 0 1' or '1,0;0,1' (rows by ';' or a line break, values by commas and/or spaces; decimal
    commas in cells separated by spaces: see attncli.parse.separators)."""
    refuse_parse_over_memory(text, argument)
    refuse_grouping(text, argument, "row")
    rows = compact_rows(text)
    if not rows:
        raise InputError(_("the matrix is empty"), argument=argument)
    for i, row in enumerate(rows):
        if not row.replace(",", " ").split():
            raise InputError(_("row {row} is empty").format(row=i + 1), argument=argument)
    parsed = compact_cells(rows, text, argument)
    for i, values in enumerate(parsed):
        if len(values) != len(parsed[0]):
            message = _("row {row} has {values}, row 1 has {n} (ragged rows)")
            message = message.format(row=i + 1, values=_values(len(values)), n=len(parsed[0]))
            raise InputError(message, argument=argument)
    shape = (len(parsed), len(parsed[0]))
    cells = [
        _token(tok, kind, _cell_at(i + 1, j + 1), argument) for i, row in enumerate(parsed) for j, tok in enumerate(row)
    ]
    return _assemble(cells, shape, kind, argument, lambda n: _cell_at(n // shape[1] + 1, n % shape[1] + 1))


def parse_csv(text: str, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """CSV rows of numbers (no header). Positions are 'line L, column C' of the file."""
    refuse_parse_over_memory(text, argument)
    text_lines, delimiter = csv_lines(text, argument)
    reader = csv.reader(text_lines, delimiter=delimiter)
    try:
        lines = [(n, row) for n, row in enumerate(reader, start=1) if any(c.strip() for c in row)]
    except csv.Error as e:  # e.g. a lone carriage return inside a field
        message = _("line {line}: not CSV ({reason})").format(line=reader.line_num, reason=e)
        raise InputError(message, argument=argument) from None
    if not lines:
        raise InputError(_("the CSV file holds no rows"), argument=argument)
    width = len(lines[0][1])
    cells: list[float | bool] = []
    for n, row in lines:
        if len(row) != width:
            message = _("line {line} has {values}, line {first} has {n} (ragged rows)")
            message = message.format(line=n, values=_values(len(row)), first=lines[0][0], n=width)
            raise InputError(message, argument=argument)
        if delimiter == ";":
            row = [semicolon_cell(c.strip()) for c in row]
        cells.extend(_token(c.strip(), kind, _line_at(n, j + 1), argument) for j, c in enumerate(row))
    shape = (len(lines), width)
    return _assemble(cells, shape, kind, argument, lambda i: _line_at(lines[i // width][0], i % width + 1))


def _check_npy_size(f: IO[bytes], path: Path, argument: str) -> tuple[int, ...]:
    """Refuse a .npy file whose header promises more data than the file holds, before NumPy allocates
    room for it (a damaged header can claim petabytes); every header version NumPy reads (1.0, 2.0, 3.0)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            return ()  # np.load refuses it, with its reason
        # 3.0 is 2.0 with a UTF-8 header; its shape and dtype are ASCII, which read the same in latin-1
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _fortran, dtype = read_header(f)  # (not `_`: that is the translator)
        held = os.fstat(f.fileno()).st_size - f.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        message = _("{path}: not a readable .npy file ({reason})").format(path=path, reason=_short(str(e)))
        raise InputError(message, argument=argument) from None
    finally:
        f.seek(0)
    if dtype.hasobject:
        return ()  # refused by np.load (no pickles)
    promised = math.prod(shape) * dtype.itemsize
    if promised > held:
        message = _(
            "{path}: the header promises a {shape} array ({promised}) but the file holds {held} of data "
            "(truncated or damaged)"
        )
        shape_text = "×".join(map(str, shape))
        raise InputError(
            message.format(path=path, shape=shape_text, promised=_size(promised), held=_size(held)), argument=argument
        )
    return tuple(shape)


def load_npy(path: Path, argument: str, kind: Kind = "matrix", within: Path | None = None) -> NDArray[Any]:
    with open_regular_file(path, argument, within=within) as f:
        cells = math.prod(_check_npy_size(f, path, argument))
        room = memory_budget() * 4  # all the memory there is (the budget is a quarter of it)
        if cells * 8 > room:  # as float64, before anything is allocated
            message = _("{path}: its {cells} values would need {need} as float64, more than the {room} available")
            message = message.format(path=path, cells=cells, need=_size(cells * 8), room=_size(room))
            raise InputError(message, argument=argument)
        try:
            arr: Any = np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            message = _("{path}: not a readable .npy file ({reason})").format(path=path, reason=_short(str(e)))
            raise InputError(message, argument=argument) from None
    if not isinstance(arr, np.ndarray):
        raise InputError(_("{path}: expected one array in a .npy file").format(path=path), argument=argument)
    if arr.dtype == np.bool_ and kind != "mask":
        raise InputError(_("{path}: holds booleans, expected numbers").format(path=path), argument=argument)
    if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.floating):
        message = _("{path}: holds {dtype} values, expected real numbers").format(path=path, dtype=arr.dtype)
        raise InputError(message, argument=argument)
    if arr.ndim == 0 or 0 in arr.shape:
        message = _("{path}: the array is empty or a scalar (shape {shape})").format(path=path, shape=arr.shape)
        raise InputError(message, argument=argument)
    if arr.ndim > MAX_DIMS:
        raise InputError(_("{path}: more than {n} dimensions").format(path=path, n=MAX_DIMS), argument=argument)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.dtype != np.bool_:
        arr = np.asarray(arr, dtype=np.float64)  # (no copy when it is float64 already)
        bad = np.isnan(arr) | np.isposinf(arr) | (np.isneginf(arr) if kind == "matrix" else False)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            message = _("{path}: {where} is {value}").format(path=path, where=where(idx, arr.ndim), value=arr[idx])
            raise InputError(message, argument=argument)
    out: NDArray[Any] = arr
    return out


def parse_size(text: str, argument: str) -> int:
    """'2G', '512M', '1.5GiB', '100000' (bytes) as a whole number of bytes (at least 1)."""
    units = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = (t[:-1], t[-1]) if t and t[-1] in units and t[-1] != "" else (t, "")
    try:
        value = float(number) * units[unit]
    except ValueError:
        message = _("expected a size like 2G, 500M or a number of bytes, got {value!r}").format(value=text)
        raise InputError(message, argument=argument) from None
    if not math.isfinite(value) or value < 1:
        raise InputError(_("must be a size of at least 1 byte, got {text!r}").format(text=text), argument=argument)
    return int(value)


def max_text_bytes() -> int:
    """The most text attncli reads from stdin or one file: $ATTN_MAX_INPUT, else MAX_TEXT_BYTES."""
    limit = os.environ.get(INPUT_LIMIT_ENV)
    return MAX_TEXT_BYTES if not limit else parse_size(limit, f"${INPUT_LIMIT_ENV}")


def _too_much(what: str, limit: int) -> InputError:
    message = _(
        "holds more than {limit} of text; give large matrices as .npy files (--q @q.npy), "
        "or raise the limit with {variable}=SIZE"
    )
    return InputError(message.format(limit=_size(limit), variable=INPUT_LIMIT_ENV), argument=what)


def _size(n: int) -> str:
    for unit, size in ((2**30, _("{n:.3g} GiB")), (2**20, _("{n:.3g} MiB")), (2**10, _("{n:.3g} KiB"))):
        if n >= unit:
            return size.format(n=n / unit)
    return ngettext("{n} byte", "{n} bytes", n).format(n=n)


def decode_text(data: bytes, argument: str) -> str:
    """UTF-8 bytes as text (a byte-order mark is dropped); else an error naming the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        message = _(
            "is not UTF-8 text (byte {byte} is 0x{value:02x}): expected JSON or CSV text "
            "(binary matrices go in .npy files)"
        )
        raise InputError(message.format(byte=e.start + 1, value=data[e.start]), argument=argument) from None


def read_stream(stream: IO[str], argument: str) -> str:
    """All of a text stream such as sys.stdin, read as bytes when it has a binary buffer; at most
    max_text_bytes(), so an endless or huge stream is refused without being read to the end."""
    limit = max_text_bytes()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a stream of text only (e.g. io.StringIO)
        text = stream.read(limit + 1)
        if len(text) > limit:
            raise _too_much(argument, limit)
        return text
    data = buffer.read(limit + 1)
    if len(data) > limit:
        raise _too_much(argument, limit)
    return decode_text(data, argument)


def read_text(path: Path, argument: str, within: Path | None = None) -> str:
    """A UTF-8 text file (a regular file: see attncli.parse.files), of at most max_text_bytes()."""
    limit = max_text_bytes()
    data = read_regular_file(path, argument, limit=limit, within=within)
    if len(data) > limit:
        raise _too_much(f"{argument} ({path})", limit)
    return decode_text(data, f"{argument} ({path})")


def load_file(path: Path, argument: str, kind: Kind = "matrix", within: Path | None = None) -> NDArray[Any]:
    """A matrix from a .json, .csv or .npy file (a regular file, inside the folder `within` when given)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return load_npy(path, argument, kind, within)
    if suffix not in (".json", ".csv"):
        message = _("unknown file type '{suffix}' (use .json, .csv or .npy)").format(suffix=suffix or path.name)
        raise InputError(message, argument=argument)
    text = read_text(path, argument, within)
    if suffix == ".csv":
        return parse_csv(text, f"{argument} ({path})", kind)
    return from_json_value(loads_json(text, f"{argument} ({path})"), f"{argument} ({path})", kind)


def parse_matrix(
    text: str,
    argument: str,
    kind: Kind = "matrix",
    base_dir: Path | None = None,
    confined: bool = False,
    within: Path | None = None,
) -> NDArray[Any]:
    """Any accepted form of a matrix argument (see the module docstring) as an array. An @file must be a
    regular file, inside the folder `within` when given (symlinks resolved: attncli.parse.files);
    `confined`: a graded submission's @file must also stay inside base_dir (attncli.parse.sandbox)."""
    stripped = text.strip()
    if not stripped:
        raise InputError(_("is empty"), argument=argument)
    if stripped.startswith("@"):
        return load_file(_named_file(stripped, argument, base_dir, confined), argument, kind, within)
    if stripped.startswith("["):
        return from_json_value(loads_json(stripped, argument), argument, kind)
    return parse_compact(stripped, argument, kind)


def _named_file(stripped: str, argument: str, base_dir: Path | None, confined: bool) -> Path:
    """The file an @file argument names (relative to base_dir; inside it when `confined`)."""
    from pathlib import Path  # only for @file arguments

    if not stripped[1:]:
        raise InputError(_("'@' needs a file name after it"), argument=argument)
    if confined:
        from attncli.parse.sandbox import confine

        return confine(stripped[1:], base_dir, argument)
    path = Path(stripped[1:])
    return base_dir / path if base_dir is not None and not path.is_absolute() else path


def npy_shape(
    text: Any, argument: str, base_dir: Path | None = None, confined: bool = False, within: Path | None = None
) -> tuple[int, ...] | None:
    """The shape an @file.npy argument's header promises, read without its data, so that a run can be
    refused before gigabytes are loaded; None for any other form (a damaged header is refused here as
    loading would refuse it)."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped.startswith("@") or not stripped.lower().endswith(".npy"):
        return None
    path = _named_file(stripped, argument, base_dir, confined)
    with open_regular_file(path, argument, within=within) as f:
        shape = _check_npy_size(f, path, argument)
    return (1, *shape) if len(shape) == 1 else shape or None
