"""What this machine is, for the blocked path's tile sizes: the CPU model, the BLAS library and its
kernel, the per-core cache sizes, and tile sizes a tuning run measured here.

Tile sizes are never a constant tuned for one CPU: by default they follow the level-2 cache size
(Linux sysfs, else a 512 KiB guess); a tuning run (benchmarks/bench_attention.py --tune) measures a
few tiles and stores the fastest in the user's cache directory, under a key of CPU model + BLAS
library, version and kernel, so another machine or another BLAS never reads them:

    $XDG_CACHE_HOME/attncli/tiles.json      (else ~/.cache/attncli/tiles.json)

Deleting that file (or `forget_tuned_tiles()`) goes back to the cache-size rule; ATTN_TILES_CACHE
names another file ("" turns the tuned tiles off).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

# When sysfs tells nothing (not Linux, a container hiding it): a common level-2 size of current cores.
L2_FALLBACK = 512 * 1024


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), with its family and model numbers where x86 gives them
    (a VM may show only "AMD EPYC" for two generations of core), else the platform's processor string."""
    fields: dict[str, str] = {}
    try:  # the first value of each field: the first processor's (ARM puts "Model" in a block after them all)
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = next((fields[k] for k in ("model name", "Model Name", "Model", "cpu model") if fields.get(k)), None)
    if name and fields.get("cpu family") and fields.get("model"):
        return f"{name} (family {fields['cpu family']} model {fields['model']})"
    if name:
        return name
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_threads() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@cache
def cache_sizes() -> dict[int, int]:
    """Bytes of data cache per level that one core has (sysfs; {} when unknown)."""
    sizes: dict[int, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    try:
        entries = sorted(base.glob("index*"))
    except OSError:
        return sizes
    for entry in entries:
        try:
            kind = (entry / "type").read_text().strip()
            level = int((entry / "level").read_text())
            size = _size_bytes((entry / "size").read_text().strip())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size > 0:
            sizes[level] = size
    return sizes


def _size_bytes(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text and text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def l2_bytes() -> int:
    """The level-2 cache one core has (the tiles' working set should fit it)."""
    return cache_sizes().get(2) or L2_FALLBACK


def blas_libraries() -> list[dict[str, Any]]:
    """threadpoolctl's description of each BLAS library loaded (internal_api, version, architecture)."""
    from threadpoolctl import threadpool_info

    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


@cache
def machine_key() -> str:
    """CPU model + each BLAS library's name, version and kernel: what tuned tiles are valid for."""
    blas = sorted(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '?')}" for i in blas_libraries())
    return " | ".join([cpu_model(), *blas])


def tiles_file() -> Path | None:
    """Where tuned tiles are kept (None: turned off with ATTN_TILES_CACHE="")."""
    given = os.environ.get("ATTN_TILES_CACHE")
    if given is not None:
        return Path(given) if given else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attncli" / "tiles.json"


def _read_all(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_tuned: dict[str, tuple[int, int]] | None = None


def tuned_tiles() -> dict[str, tuple[int, int]]:
    """The tiles a tuning run stored for this machine: {"float32" | "float64" [+ " causal"]: (block_q,
    block_k)}; {} when none (read once per process; a damaged file counts as none)."""
    global _tuned
    if _tuned is None:
        path = tiles_file()
        data = _read_all(path) if path is not None else {}
        entry = data.get(machine_key(), {}) if data else {}  # no file: no need to ask for the BLAS
        _tuned = {}
        for name, pair in entry.items() if isinstance(entry, dict) else ():
            if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) and 0 < x <= 1 << 16 for x in pair):
                _tuned[str(name)] = (pair[0], pair[1])
    return _tuned


def save_tuned_tiles(tiles: dict[str, tuple[int, int]]) -> Path | None:
    """Store tuned tiles for this machine (other machines' entries are kept); the file, or None when off."""
    global _tuned
    path = tiles_file()
    if path is None:
        return None
    data = _read_all(path)
    data[machine_key()] = {name: list(pair) for name, pair in tiles.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    _tuned = None
    return path


def forget_tuned_tiles() -> bool:
    """Delete the tuned tiles of every machine (back to the cache-size rule); whether a file was there."""
    global _tuned
    _tuned = None
    path = tiles_file()
    if path is None or not path.exists():
        return False
    path.unlink()
    return True
