"""A GGUF file (llama.cpp's model format) read with NumPy: metadata, tensor directory, tensors.

    magic "GGUF", version (uint32, 2 or 3), tensor count (uint64), metadata count (uint64)
    metadata: key (string), value type (uint32), value      string = uint64 length + UTF-8 bytes
    tensors:  name, n_dims (uint32), dims (uint64 each, innermost first), ggml type (uint32), offset (uint64)
    then, aligned to general.alignment (32), the tensor data; each offset counts from there

A tensor's dims are ggml's (ne0 = the row length first), so its NumPy shape is the dims reversed.
Every check is made when the file is opened (the magic, every length inside the file, every tensor's
type, its bytes matching its shape, its data inside the file); a damaged file is one ModelError naming
the file and what is wrong. Tensors are memory-mapped and dequantized (attncli.models.quant) on request.
"""

from __future__ import annotations

import itertools
import math
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.errors import ModelError
from attncli.i18n import _
from attncli.models.quant import TYPES, dequantize

if TYPE_CHECKING:
    from numpy.typing import NDArray

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {
    0: "<u1",
    1: "<i1",
    2: "<u2",
    3: "<i2",
    4: "<u4",
    5: "<i4",
    6: "<f4",
    7: "<u1",
    10: "<u8",
    11: "<i8",
    12: "<f8",
}
STRING, ARRAY = 8, 9


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor directory."""

    name: str
    shape: tuple[int, ...]  # NumPy order (the dims reversed)
    kind: int  # ggml type id
    offset: int  # from the start of the file

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return TYPES[self.kind].nbytes(self.count)

    @property
    def type_name(self) -> str:
        return TYPES[self.kind].name


class HeaderReader:
    """Reads the header from the mapped file, every read checked against its end."""

    def __init__(self, buffer: mmap.mmap, path: Path) -> None:
        self.buf, self.pos, self.path, self.size = buffer, 0, path, len(buffer)

    def fail(self, what: str) -> ModelError:
        return ModelError(_("{path}: {what}").format(path=self.path, what=what), argument="model")

    def truncated(self) -> ModelError:
        return self.fail(_("the file ends inside its header (truncated?)"))

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise self.truncated()
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.strings(1)[0]

    def strings(self, count: int) -> list[str]:
        """`count` strings one after another (a vocabulary: the loop kept tight)."""
        buf, pos, unpack = self.buf, self.pos, struct.unpack_from
        out = []
        try:
            for _i in range(count):
                (n,) = unpack("<Q", buf, pos)
                if pos + 8 + n > self.size:
                    raise self.truncated()
                out.append(buf[pos + 8 : pos + 8 + n].decode("utf-8"))
                pos += 8 + n
        except struct.error:
            raise self.truncated() from None
        except UnicodeDecodeError:
            raise self.fail(_("a string of the header is not UTF-8 (corrupt file)")) from None
        self.pos = pos
        return out

    def value(self, kind: int) -> Any:
        if kind == STRING:
            return self.string()
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind != ARRAY:
            raise self.fail(_("unknown metadata type {kind} (corrupt file)").format(kind=kind))
        inner, count = self.scalar("<I"), self.scalar("<Q")
        if count > self.size:
            raise self.truncated()
        if inner in _NUMPY:
            size = np.dtype(_NUMPY[inner]).itemsize
            return np.frombuffer(self.take(count * size), dtype=_NUMPY[inner]).tolist()
        if inner == STRING:
            return self.strings(count)
        return [self.value(inner) for _i in range(count)]


class TensorStore:
    """Tensors of a memory-mapped model file: `tensors` (name → TensorInfo) over the bytes `_map`."""

    path: Path
    tensors: dict[str, TensorInfo]
    _map: NDArray[np.uint8]

    def _open(self, path: Path) -> None:
        """Map `path` read-only (`_mmap`, and `_map` its bytes); ModelError when it cannot be read."""
        self.path = path
        try:
            with path.open("rb") as f:
                self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
            message = _("{path} cannot be read ({reason})").format(path=path, reason=e)
            raise ModelError(message, argument="model") from None
        self._map = np.frombuffer(self._mmap, dtype=np.uint8)

    def raw(self, name: str) -> NDArray[np.uint8]:
        """The bytes of tensor `name`, memory-mapped."""
        info = self.tensors[name]
        return self._map[info.offset : info.offset + info.nbytes]

    def tensor(self, name: str) -> NDArray[np.float32]:
        """Tensor `name` dequantized to float32, in its NumPy shape; ModelError for a NaN scale or weight."""
        info = self.tensors[name]
        try:
            flat = dequantize(np.asarray(self.raw(name)), info.kind, info.count)
        except ValueError as e:
            message = _("{path}: tensor '{name}' is corrupt ({reason})").format(path=self.path, name=name, reason=e)
            raise ModelError(message, argument="model") from None
        if not np.isfinite(flat).all():
            message = _("{path}: tensor '{name}' holds NaN or ∞ values (the file is corrupt)")
            raise ModelError(message.format(path=self.path, name=name), argument="model")
        return flat.reshape(info.shape)

    def rows(self, name: str, ids: NDArray[np.integer]) -> NDArray[np.float32]:
        """Rows `ids` of a 2-D tensor (an embedding table), dequantizing only those rows."""
        info = self.tensors[name]
        width = info.shape[-1]
        row_bytes = TYPES[info.kind].nbytes(width)
        data = self.raw(name).reshape(info.shape[0], row_bytes)
        picked = np.asarray(data[np.asarray(ids).ravel()]).reshape(-1)
        try:
            flat = dequantize(picked, info.kind, picked.size // row_bytes * width)
        except ValueError as e:
            message = _("{path}: tensor '{name}' is corrupt ({reason})").format(path=self.path, name=name, reason=e)
            raise ModelError(message, argument="model") from None
        return flat.reshape(*np.shape(ids), width)


class GGUFFile(TensorStore):
    """An opened GGUF file: `metadata` (key → value), `tensors` (name → TensorInfo), `tensor(name)`."""

    metadata: dict[str, Any]
    tensors: dict[str, TensorInfo]

    def __init__(self, path: Path, header: dict[str, Any] | None = None) -> None:
        """Open and check `path`; with `header` (an earlier `header()` of the same file, unchanged since),
        take its metadata and tensor directory from there instead of reading them again."""
        self._open(path)
        if header is not None:
            self.metadata = dict(header["metadata"])
            self.tensors = {t[0]: TensorInfo(t[0], tuple(t[1]), t[2], t[3]) for t in header["tensors"]}
            return
        reader = HeaderReader(self._mmap, path)
        if self._mmap[:4] != MAGIC:
            raise reader.fail(_("not a GGUF file (it does not start with 'GGUF')"))
        reader.take(4)
        version = reader.scalar("<I")
        if version not in (2, 3):
            raise reader.fail(_("GGUF version {version} is not supported (2 or 3)").format(version=version))
        n_tensors, n_meta = reader.scalar("<Q"), reader.scalar("<Q")
        if n_tensors > len(self._map) or n_meta > len(self._map):
            raise reader.fail(_("the header counts more entries than the file can hold (corrupt file)"))
        self.metadata = {}
        for _i in range(n_meta):
            key = reader.string()
            self.metadata[key] = reader.value(reader.scalar("<I"))
        entries = [self._entry(reader) for _i in range(n_tensors)]
        align = int(self.metadata.get("general.alignment", 32))
        start = (reader.pos + align - 1) // align * align
        self.tensors = {}
        for name, shape, kind, offset in entries:
            info = TensorInfo(name, shape, kind, start + offset)
            if info.offset + info.nbytes > len(self._map):
                message = _("tensor '{name}' lies past the end of the file (truncated?)").format(name=name)
                raise reader.fail(message)
            self.tensors[name] = info
        ordered = sorted(self.tensors.values(), key=lambda t: t.offset)
        for a, b in itertools.pairwise(ordered):
            if a.offset + a.nbytes > b.offset:
                message = _("tensor '{a}': its shape needs more blocks than lie before the tensor '{b}' (corrupt file)")
                raise reader.fail(message.format(a=a.name, b=b.name))

    def _entry(self, reader: HeaderReader) -> tuple[str, tuple[int, ...], int, int]:
        name = reader.string()
        n_dims = reader.scalar("<I")
        if not 1 <= n_dims <= 4:
            raise reader.fail(_("tensor '{name}' has {n} dimensions (corrupt file)").format(name=name, n=n_dims))
        dims = [reader.scalar("<Q") for _i in range(n_dims)]
        kind, offset = reader.scalar("<I"), reader.scalar("<Q")
        if kind not in TYPES:
            message = _(
                "tensor '{name}' is of ggml type {kind}, which attncli does not read (F32, F16, Q4_0, Q4_1, Q8_0)"
            )
            raise reader.fail(message.format(name=name, kind=kind))
        count = math.prod(dims)  # Python's integers: a damaged dim cannot wrap around
        if count <= 0 or count % TYPES[kind].per_block:
            message = _("tensor '{name}': {count} weights is not a whole number of {type} blocks (corrupt file)")
            raise reader.fail(message.format(name=name, count=count, type=TYPES[kind].name))
        return name, tuple(reversed(dims)), kind, offset

    def header(self, longest: int = 64) -> dict[str, Any]:
        """The metadata (without lists of more than `longest` items: the vocabulary) and the tensor
        directory, as JSON values, for GGUFFile(path, header) next time."""
        meta = {k: v for k, v in self.metadata.items() if not (isinstance(v, list) and len(v) > longest)}
        return {"metadata": meta, "tensors": [[t.name, list(t.shape), t.kind, t.offset] for t in self.tensors.values()]}


def write_gguf(path: Path, metadata: dict[str, Any], tensors: dict[str, tuple[int, tuple[int, ...], bytes]]) -> None:
    """Write a GGUF v3 file: metadata (str, int, float, bool, list of str or int), tensors name →
    (ggml type, NumPy shape, bytes). For the tests' small models and damaged files."""
    out = bytearray(MAGIC + struct.pack("<IQQ", 3, len(tensors), len(metadata)))

    def string(s: str) -> bytes:
        raw = s.encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw

    def typed(v: Any) -> tuple[int, bytes]:
        if isinstance(v, bool):
            return 7, struct.pack("<?", v)
        if isinstance(v, int):
            return 4, struct.pack("<I", v)
        if isinstance(v, float):
            return 6, struct.pack("<f", v)
        if isinstance(v, str):
            return STRING, string(v)
        inner = [typed(x) for x in v]
        kind = inner[0][0] if inner else STRING
        return ARRAY, struct.pack("<IQ", kind, len(inner)) + b"".join(b for _k, b in inner)

    for key, value in metadata.items():
        kind, body = typed(value)
        out += string(key) + struct.pack("<I", kind) + body
    offset = 0
    for name, (kind, shape, data) in tensors.items():
        out += string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape))
        out += struct.pack("<IQ", kind, offset)
        offset += (len(data) + 31) // 32 * 32
    out += b"\0" * (-len(out) % 32)
    for _kind, _shape, data in tensors.values():
        out += data + b"\0" * (-len(data) % 32)
    path.write_bytes(bytes(out))
