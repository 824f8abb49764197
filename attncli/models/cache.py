"""Dequantized weights kept on disk, so that a second run maps float32 arrays instead of unpacking
4-bit blocks again.

    $XDG_CACHE_HOME/attncli/dequantized/  (else ~/.cache/attncli/dequantized/), one folder per model
    file, named by the file's name, size and modification time: a changed file gets a new folder.
    Clear it with `rm -rf ~/.cache/attncli` (nothing else is kept there). $ATTN_CACHE=off turns it off.

Each tensor is one .npy, written to a temporary name and renamed (a run cut short leaves no half
file), read back memory-mapped. A cache that cannot be written (a read-only home) is skipped: the
weights are then dequantized in memory on every run, with the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

ENV_VAR = "ATTN_CACHE"


def cache_root() -> Path:
    """Where the dequantized weights of every model file are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attncli" / "dequantized"


def enabled() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() not in ("off", "0", "no")


class WeightCache:
    """The cache folder of one model file."""

    def __init__(self, source: Path) -> None:
        stat = source.stat()
        key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        self.folder = cache_root() / f"{source.name}-{key}"
        self.on = enabled()

    def _path(self, name: str) -> Path:
        return self.folder / (name.replace("/", "_") + ".npy")

    def array(self, name: str, make: Callable[[], NDArray[np.float32]]) -> NDArray[np.float32]:
        """The cached tensor `name`, else `make()` (then stored for next time)."""
        path = self._path(name)
        if self.on and path.is_file():
            try:
                out: NDArray[np.float32] = np.load(path, mmap_mode="r")
                return out
            except (OSError, ValueError):
                pass  # a damaged cache file: made again below
        value = make()
        if self.on:
            self._write(path, lambda f: np.save(f, value, allow_pickle=False))
        return value

    def json(self, name: str, make: Callable[[], Any] | None) -> Any:
        """The cached JSON document `name`, else `make()` (then stored); None when `make` is None."""
        path = self.folder / name
        if self.on and path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass
        if make is None:
            return None
        value = make()
        if self.on:
            self._write(path, lambda f: f.write(json.dumps(value).encode("utf-8")))
        return value

    def _write(self, path: Path, write: Callable[[IO[bytes]], Any]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                write(f)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
