"""Dequantized weights kept on disk, so that a second run maps float32 arrays instead of unpacking
4-bit blocks again.

    $XDG_CACHE_HOME/attncli/dequantized/  (else ~/.cache/attncli/dequantized/; a relative
    $XDG_CACHE_HOME is ignored, as the XDG specification says), one folder per model file.
    `attn model clear-cache` deletes it (nothing else is kept there); $ATTN_CACHE=off turns it off.

A folder belongs to one source file as it is now: its name is the file's name and a hash of its
path, size, modification time and the SHA-256 of its first and last bytes (the header, the tensor
directory and the end of the data), so a changed file gets a new folder (and the old folder of the
same path is deleted). In the folder, manifest.json repeats that identity and lists each entry with
its size, its shape and dtype (the arrays) and a checksum of its bytes; an entry is used only when
all of them match — a truncated, replaced or damaged entry is made again from the source, never
used. Each file is written to a temporary name and renamed (a run cut short leaves no half file);
arrays are read back memory-mapped. A cache that cannot be written (a read-only home) is skipped: the
weights are then dequantized in memory on every run, with the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

ENV_VAR = "ATTN_CACHE"
MANIFEST = "manifest.json"
EDGE = 1 << 20  # bytes hashed at each end of the source file (its header and tensor directory are there)
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def cache_root() -> Path:
    """Where the dequantized weights of every model file are kept."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    home = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return home / "attncli" / "dequantized"


def enabled() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() not in ("off", "0", "no")


def safe_name(name: str, limit: int = 80) -> str:
    """`name` as one file name inside the cache folder: no separators, no '..', no control characters."""
    cleaned = _SAFE.sub("_", name)[:limit].lstrip(".")
    return cleaned or "_"


def checksum(data: Any) -> str:
    """A checksum of an array's bytes: the wrapping sum of its 64-bit words (4-byte words when the
    size is not a multiple of 8) and its length. NumPy sums at memory speed (0.1 s for 0.5 GB), a tenth
    of what a cryptographic hash takes; it catches truncation, a flipped bit and a replaced file."""
    flat = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    word = np.uint64 if flat.size % 8 == 0 else np.uint32 if flat.size % 4 == 0 else np.uint8
    total = int(np.add.reduce(flat.view(word), dtype=np.uint64)) if flat.size else 0
    return f"{flat.size}:{total:016x}"


def source_identity(source: Path) -> dict[str, Any]:
    """What says that a source file is the one a cache folder was made from."""
    stat = source.stat()
    digest = hashlib.sha256()
    with source.open("rb") as f:
        digest.update(f.read(EDGE))
        if stat.st_size > 2 * EDGE:
            f.seek(stat.st_size - EDGE)
        digest.update(f.read(EDGE))
    return {
        "path": str(source.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "edges_sha256": digest.hexdigest(),
    }


class WeightCache:
    """The cache folder of one model file."""

    def __init__(self, source: Path) -> None:
        self.on = enabled()
        self.identity = source_identity(source) if self.on else {}
        key = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = cache_root() / f"{safe_name(source.name)}-{key}"
        self._manifest: dict[str, Any] | None = None

    def _path(self, name: str, suffix: str = "") -> Path:
        return self.folder / (safe_name(name) + suffix)

    def manifest(self) -> dict[str, Any]:
        """The folder's entries ({} when there is none, or it belongs to another source file)."""
        if self._manifest is None:
            self._manifest = {}
            try:
                doc = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
                ours = isinstance(doc, dict) and doc.get("source") == self.identity
                if ours and isinstance(doc.get("entries"), dict):
                    self._manifest = {k: v for k, v in doc["entries"].items() if isinstance(v, dict)}
            except (OSError, ValueError):
                pass
        return self._manifest

    def array(self, name: str, make: Callable[[], NDArray[np.float32]]) -> NDArray[np.float32]:
        """The cached tensor `name`, if its entry checks out, else `make()` (then stored for next time)."""
        path = self._path(name, ".npy")
        entry = self.manifest().get(path.name) if self.on else None
        if entry is not None:
            try:
                out: NDArray[np.float32] = np.load(path, mmap_mode="r", allow_pickle=False)
                if [list(out.shape), out.dtype.str] == [entry.get("shape"), entry.get("dtype")] and checksum(
                    out
                ) == entry.get("sum"):
                    return out
            except Exception:  # a damaged .npy header fails in many ways (ValueError, EOFError,
                pass  # tokenize.TokenError, …): whichever, the entry is not used but made again below
        value = make()
        if self.on:
            array = np.asarray(value)
            about = {"shape": list(array.shape), "dtype": array.dtype.str, "sum": checksum(array)}
            self._store(path, lambda f: np.save(f, array, allow_pickle=False), about)
        return value

    def json(self, name: str, make: Callable[[], Any] | None) -> Any:
        """The cached JSON document `name`, if its entry checks out, else `make()` (then stored); None
        when `make` is None."""
        path = self._path(name)
        entry = self.manifest().get(path.name) if self.on else None
        if entry is not None:
            try:
                raw = path.read_bytes()
                if f"{len(raw)}:{zlib.crc32(raw):08x}" == entry.get("sum"):
                    return json.loads(raw.decode("utf-8"))
            except (OSError, ValueError):
                pass
        if make is None:
            return None
        value = make()
        if self.on:
            raw = json.dumps(value).encode("utf-8")
            self._store(path, lambda f: f.write(raw), {"sum": f"{len(raw)}:{zlib.crc32(raw):08x}"})
        return value

    def _store(self, path: Path, write: Callable[[IO[bytes]], Any], about: dict[str, Any]) -> None:
        """Write the entry, then list it in the manifest (a reader never sees an entry not yet whole)."""
        try:
            fresh = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
            if fresh:
                self._forget_older()
            self._write(path, write)
            entries = {**self.manifest(), path.name: about}
            doc = json.dumps({"source": self.identity, "entries": entries}).encode("utf-8")
            self._write(self.folder / MANIFEST, lambda f: f.write(doc))
            self._manifest = entries
        except OSError:
            pass

    def _write(self, path: Path, write: Callable[[IO[bytes]], Any]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as f:
                write(f)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _forget_older(self) -> None:
        """Delete the folders made from earlier versions of the same file (same path, other identity)."""
        import shutil  # here: it imports bz2 and lzma, which a run that only reads the cache does not need

        prefix = self.folder.name.rsplit("-", 1)[0] + "-"
        for other in self.folder.parent.glob(f"{prefix}*"):
            if other == self.folder or not other.is_dir():
                continue
            try:
                doc = json.loads((other / MANIFEST).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            source = doc.get("source") if isinstance(doc, dict) else None
            if isinstance(source, dict) and source.get("path") == self.identity["path"]:
                shutil.rmtree(other, ignore_errors=True)


def clear() -> tuple[int, int]:
    """Delete every cached file; (folders, bytes) deleted."""
    import shutil

    root = cache_root()
    folders = nbytes = 0
    if not root.is_dir():
        return 0, 0
    for folder in root.iterdir():
        if folder.is_dir() and not folder.is_symlink():
            nbytes += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            folders += 1
            shutil.rmtree(folder)
        else:
            folder.unlink()
    return folders, nbytes
