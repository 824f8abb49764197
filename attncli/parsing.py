"""Text, JSON, CSV and .npy into arrays, with errors that name the argument and the position.

Accepted forms of a matrix argument:
    inline JSON   '[[1, 0], [0, 1]]'  (a flat list is one row; deeper nesting gives leading dimensions)
    compact rows  '1 0; 0 1'  or  '1,0;0,1'  (rows split by ';' or newlines, values by commas or spaces)
    a file        '@q.json', '@k.csv', '@v.npy'
Masks accept the same forms plus true/false cells (boolean: True = attend) and −∞ cells, written
"-inf" or null in JSON and -inf in compact rows and CSV.

Nothing here knows about attention; it only turns text into validated arrays.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from attncli.errors import InputError

if TYPE_CHECKING:
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
        return f"column {path[0] + 1}"
    text = f"row {path[-2] + 1}, column {path[-1] + 1}"
    if len(path) > 2:
        text = "[" + "][".join(str(i) for i in path[:-2]) + "] " + text
    return text


def _reject_constant(name: str) -> float:
    raise ValueError(f'{name} is not valid JSON (write "-inf" or null for −∞ in a mask)')


def loads_json(text: str, argument: str) -> Any:
    """Strict JSON (no NaN/Infinity tokens); errors give line and column."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}", argument=argument) from None
    except ValueError as e:
        raise InputError(f"malformed JSON: {e}", argument=argument) from None
    except RecursionError:
        raise InputError("JSON is nested too deeply", argument=argument) from None


def _shape_of(value: Any, path: tuple[int, ...], argument: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    if len(path) >= MAX_DIMS:
        raise InputError(f"more than {MAX_DIMS} nested dimensions", argument=argument)
    if not value:
        what = "the matrix" if not path else f"the list at [{']['.join(str(i) for i in path)}]"
        raise InputError(f"{what} is empty", argument=argument)
    first = _shape_of(value[0], (*path, 0), argument)
    for i, item in enumerate(value[1:], start=1):
        shape = _shape_of(item, (*path, i), argument)
        if shape != first:
            if len(path) == 0 and len(first) == 1 and len(shape) == 1:
                raise InputError(
                    f"row {i + 1} has {_values(shape[0])}, row 1 has {first[0]} (ragged rows)",
                    argument=argument,
                )
            here = "[" + "][".join(str(j) for j in (*path, i)) + "]"
            there = "[" + "][".join(str(j) for j in (*path, 0)) + "]"
            raise InputError(
                f"{here} is {_describe(shape)} but {there} is {_describe(first)} (ragged)",
                argument=argument,
            )
    return (len(value), *first)


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _describe(shape: tuple[int, ...]) -> str:
    if not shape:
        return "a single number"
    if len(shape) == 1:
        return f"a list of {_values(shape[0])}"
    return f"a {'×'.join(str(n) for n in shape)} array"


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
        raise InputError(f"{position()}: {json.dumps(value)} is not a number", argument=argument)
    if isinstance(value, int | float):
        x = json_number(value)
        if x is None:
            raise InputError(f"{position()}: {_short(str(value))} is out of range", argument=argument)
        return x
    if kind == "mask" and (value is None or (isinstance(value, str) and value.strip().lower() in _NEG_INF_WORDS)):
        return -math.inf
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    hint = ' (a mask cell may be true/false, a number, "-inf" or null)' if kind == "mask" else ""
    raise InputError(f"{position()}: {shown} is not a number{hint}", argument=argument)


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
        raise InputError(f"expected a list of rows, got {shown}", argument=argument)
    shape = _shape_of(value, (), argument)
    flat: list[Any] = []
    _flatten(value, flat)

    def position(n: int) -> str:
        return where(tuple(int(i) for i in np.unravel_index(n, shape)), len(shape))

    cells = [_cell(x, kind, lambda n=n: position(n), argument) for n, x in enumerate(flat)]  # type: ignore[misc]
    return _assemble(cells, shape, kind, argument, position)


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
            raise InputError(
                f"{position(n)}: mixes true/false with numbers; a mask is either boolean (True = attend) "
                "or additive (numbers added to the scores)",
                argument=argument,
            )
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
        raise InputError(f"{position}: {shown!r} is not a number", argument=argument) from None
    if not math.isfinite(x):
        raise InputError(f"{position}: {text!r} is not a finite number", argument=argument)
    return x


def parse_compact(text: str, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """'1 0; 0 1' or '1,0;0,1' (rows by ';' or newline, values by commas and/or spaces)."""
    rows = [r for r in text.replace("\n", ";").split(";")]
    while rows and not rows[-1].strip():
        rows.pop()  # a trailing ';' or newline ends the last row; it is not an empty row
    if not rows:
        raise InputError("the matrix is empty", argument=argument)
    parsed: list[list[str]] = []
    for i, row in enumerate(rows):
        values = row.replace(",", " ").split()
        if not values:
            raise InputError(f"row {i + 1} is empty", argument=argument)
        if parsed and len(values) != len(parsed[0]):
            raise InputError(
                f"row {i + 1} has {_values(len(values))}, row 1 has {len(parsed[0])} (ragged rows)",
                argument=argument,
            )
        parsed.append(values)
    shape = (len(parsed), len(parsed[0]))
    cells = [
        _token(tok, kind, f"row {i + 1}, column {j + 1}", argument)
        for i, row in enumerate(parsed)
        for j, tok in enumerate(row)
    ]
    return _assemble(cells, shape, kind, argument, lambda n: f"row {n // shape[1] + 1}, column {n % shape[1] + 1}")


def parse_csv(text: str, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """CSV rows of numbers (no header). Positions are 'line L, column C' of the file."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = [(n, row) for n, row in enumerate(reader, start=1) if any(c.strip() for c in row)]
    except csv.Error as e:  # e.g. a lone carriage return inside a field
        raise InputError(f"line {reader.line_num}: not CSV ({e})", argument=argument) from None
    if not lines:
        raise InputError("the CSV file holds no rows", argument=argument)
    width = len(lines[0][1])
    cells: list[float | bool] = []
    for n, row in lines:
        if len(row) != width:
            raise InputError(
                f"line {n} has {_values(len(row))}, line {lines[0][0]} has {width} (ragged rows)",
                argument=argument,
            )
        cells.extend(_token(c.strip(), kind, f"line {n}, column {j + 1}", argument) for j, c in enumerate(row))
    shape = (len(lines), width)
    return _assemble(cells, shape, kind, argument, lambda i: f"line {lines[i // width][0]}, column {i % width + 1}")


def _check_npy_size(path: Path, argument: str) -> None:
    """Refuse a .npy file whose header promises more data than the file holds, before NumPy allocates
    room for it (a damaged header can claim petabytes)."""
    fmt = np.lib.format
    try:
        with path.open("rb") as f:
            version = fmt.read_magic(f)
            read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if read_header is None:
                return  # another version: np.load judges it
            shape, _, dtype = read_header(f)
            held = path.stat().st_size - f.tell()
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy file ({e})", argument=argument) from None
    if dtype.hasobject:
        return  # refused by np.load (no pickles)
    promised = math.prod(shape) * dtype.itemsize
    if promised > held:
        raise InputError(
            f"{path}: the header promises a {'×'.join(map(str, shape))} array ({_size(promised)}) but the file "
            f"holds {_size(held)} of data (truncated or damaged)",
            argument=argument,
        )


def load_npy(path: Path, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    _check_npy_size(path, argument)
    try:
        arr: Any = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy file ({e})", argument=argument) from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: expected one array in a .npy file", argument=argument)
    if arr.dtype == np.bool_ and kind != "mask":
        raise InputError(f"{path}: holds booleans, expected numbers", argument=argument)
    if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{path}: holds {arr.dtype} values, expected real numbers", argument=argument)
    if arr.ndim == 0 or 0 in arr.shape:
        raise InputError(f"{path}: the array is empty or a scalar (shape {arr.shape})", argument=argument)
    if arr.ndim > MAX_DIMS:
        raise InputError(f"{path}: more than {MAX_DIMS} dimensions", argument=argument)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.dtype != np.bool_:
        arr = arr.astype(np.float64)
        bad = np.isnan(arr) | np.isposinf(arr) | (np.isneginf(arr) if kind == "matrix" else False)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"{path}: {where(idx, arr.ndim)} is {arr[idx]}", argument=argument)
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
        raise InputError(
            f"expected a size like 2G, 500M or a number of bytes, got {text!r}", argument=argument
        ) from None
    if not math.isfinite(value) or value < 1:
        raise InputError(f"must be a size of at least 1 byte, got {text!r}", argument=argument)
    return int(value)


def max_text_bytes() -> int:
    """The most text attncli reads from stdin or one file: $ATTN_MAX_INPUT, else MAX_TEXT_BYTES."""
    limit = os.environ.get(INPUT_LIMIT_ENV)
    return MAX_TEXT_BYTES if not limit else parse_size(limit, f"${INPUT_LIMIT_ENV}")


def _too_much(what: str, limit: int) -> InputError:
    return InputError(
        f"holds more than {_size(limit)} of text; give large matrices as .npy files (--q @q.npy), "
        f"or raise the limit with {INPUT_LIMIT_ENV}=SIZE",
        argument=what,
    )


def _size(n: int) -> str:
    for unit, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= unit:
            return f"{n / unit:.3g} {name}"
    return f"{n} bytes"


def decode_text(data: bytes, argument: str) -> str:
    """UTF-8 bytes as text (a byte-order mark is dropped); else an error naming the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            f"is not UTF-8 text (byte {e.start + 1} is 0x{data[e.start]:02x}): expected JSON or CSV text "
            "(binary matrices go in .npy files)",
            argument=argument,
        ) from None


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


def read_text(path: Path, argument: str) -> str:
    """A UTF-8 text file, of at most max_text_bytes()."""
    limit = max_text_bytes()
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"file '{path}' not found", argument=argument) from None
    except IsADirectoryError:
        raise InputError(f"'{path}' is a directory, not a file", argument=argument) from None
    except OSError as e:
        raise InputError(f"cannot read '{path}': {e.strerror}", argument=argument) from None
    if len(data) > limit:
        raise _too_much(f"{argument} ({path})", limit)
    return decode_text(data, f"{argument} ({path})")


def load_file(path: Path, argument: str, kind: Kind = "matrix") -> NDArray[Any]:
    """A matrix from a .json, .csv or .npy file."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if not path.exists():
            raise InputError(f"file '{path}' not found", argument=argument)
        if path.is_dir():
            raise InputError(f"'{path}' is a directory, not a file", argument=argument)
        return load_npy(path, argument, kind)
    if suffix not in (".json", ".csv"):
        raise InputError(f"unknown file type '{suffix or path.name}' (use .json, .csv or .npy)", argument=argument)
    text = read_text(path, argument)
    if suffix == ".csv":
        return parse_csv(text, f"{argument} ({path})", kind)
    return from_json_value(loads_json(text, f"{argument} ({path})"), f"{argument} ({path})", kind)


def parse_matrix(text: str, argument: str, kind: Kind = "matrix", base_dir: Path | None = None) -> NDArray[Any]:
    """Any accepted form of a matrix argument (see the module docstring) as an array."""
    stripped = text.strip()
    if not stripped:
        raise InputError("is empty", argument=argument)
    if stripped.startswith("@"):
        path = Path(stripped[1:])
        if not stripped[1:]:
            raise InputError("'@' needs a file name after it", argument=argument)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return load_file(path, argument, kind)
    if stripped.startswith("["):
        return from_json_value(loads_json(stripped, argument), argument, kind)
    return parse_compact(stripped, argument, kind)
