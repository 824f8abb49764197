"""Memory estimates, made before anything large is allocated: the stage-keeping path's T×S tables,
and the default budget for them."""

from __future__ import annotations

import math

import numpy as np

from attncli.core.checks import scores_shape


def stages_nbytes(q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...], dtype: str) -> int:
    """Bytes the stage-keeping path needs for its T×S tables (scores, scaled, masked, shifted, exp,
    weights and the boolean mask of allowed cells), for every leading slice."""
    cells = math.prod(scores_shape(q_shape, k_shape, v_shape))  # a ShapeError when the inputs do not fit
    return tables_nbytes(cells, dtype)


def tables_nbytes(cells: int, dtype: str) -> int:
    """Bytes of the stage-keeping path's tables for `cells` score cells (all slices and heads together)."""
    return cells * (6 * np.dtype(dtype).itemsize + 1)


# Printing the stage tables as JSON holds each cell as a Python float in nested lists, then as text in
# pieces and joined: measured, `compute --json` with T = S = 1500 peaks at 887 MB of RSS against 140 MB
# without --json, about 330 bytes a score cell. Parsing text holds each value as a float object in the
# parsed lists, the flattened list and the cells, then in the array.
JSON_BYTES_PER_CELL = 400  # per score cell, all the stage tables of one result together
JSON_BYTES_PER_VALUE = 120  # per number printed once (the output-only documents): its float, its text, the pieces
PARSE_BYTES_PER_VALUE = 120


def json_nbytes(cells: int) -> int:
    """Bytes printing every stage table of `cells` score cells as JSON takes (see JSON_BYTES_PER_CELL)."""
    return cells * JSON_BYTES_PER_CELL


def memory_budget() -> int:
    """Default budget for stage tables: a quarter of the tightest of the memory available now
    (MemAvailable), the room left under the address-space limit (RLIMIT_AS, `ulimit -v`) and the room
    left in the cgroup (memory.max − memory.current); 4 GiB when none of them is known."""
    limits = [n for n in (_mem_available(), _address_space_left(), _cgroup_left()) if n is not None]
    return max(min(limits), 0) // 4 if limits else 4 * 2**30


def memory_sources() -> dict[str, int | None]:
    """Each source of the budget and its room in bytes (None: not known or unlimited)."""
    return {"MemAvailable": _mem_available(), "RLIMIT_AS": _address_space_left(), "memory.max": _cgroup_left()}


def _proc_value(path: str, key: str) -> int | None:
    """A `key: N kB` line of a /proc file, in bytes."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _mem_available() -> int | None:
    return _proc_value("/proc/meminfo", "MemAvailable")


def _address_space_left() -> int | None:
    """The soft RLIMIT_AS less the address space this process already maps (VmSize)."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    return soft - (_proc_value("/proc/self/status", "VmSize") or 0)


def _cgroup_left() -> int | None:
    """memory.max − memory.current of this process's cgroup (v2), when it has a limit."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            path = next((line.strip().partition("::")[2] for line in f if line.startswith("0::")), None)
        if path is None:
            return None
        folder = "/sys/fs/cgroup" + path.rstrip("/")
        with open(folder + "/memory.max", encoding="ascii") as f:
            text = f.read().strip()
        if text == "max":
            return None
        with open(folder + "/memory.current", encoding="ascii") as f:
            current = int(f.read().strip())
        return int(text) - current
    except (OSError, ValueError):
        return None


def multihead_output_nbytes(
    t: int,
    s: int,
    inputs: tuple[int, int],
    widths: tuple[int, int, int, int],
    heads: tuple[int, int],
    dtype: str,
    workers: int,
) -> int:
    """The peak bytes of multi-head attention's output-only path (keep_stages=False), every term
    linear in T + S (the T×S weights never exist); b is the itemsize, H, G the query and K/V heads:

        b·(2·(T·d_in + S·d_kv)              the inputs, and the encodings added to them
           + 2·(T·w_q + S·(w_k + w_v))      Q, K, V, and their rotated (RoPE / QK-norm) copies
           + S·(w_v + w_k + 2·G)            V and K with a column of ones, in the blocked path
           + 2·T·w_v·H/G + H·T + T·d_out)   the heads' outputs, the concatenation, the row sums, the output
        + workers · blocked_worker_nbytes(…)  each worker's tiles (the larger of this machine's tiles
                                            for the dtype, with and without a causal mask)
        + 4·b · block_q · min(S, block_k)   the causal masks kept (blocked.DIAGONALS_KEPT), causal tiles

    `inputs` = (d_in, d_kv), the widths of X_q and X_kv; `widths` = (w_q, w_k, w_v, d_out): H·d_head,
    G·d_head, G·d_v and the output's width; `heads` = (H, G)."""
    from attncli.core.blocked import DIAGONALS_KEPT, tiles_for  # (here: reading the tuned tiles only when asked)

    b = np.dtype(dtype).itemsize
    (d_in, d_kv), (w_q, w_k, w_v, d_out), (h, g) = inputs, widths, heads
    concat = w_v * h // g
    elements = 2 * (t * d_in + s * d_kv) + 2 * (t * w_q + s * (w_k + w_v)) + s * (w_v + w_k + 2 * g)
    elements += 2 * t * concat + h * t + t * d_out
    width = max(w_q // h, w_v // g)
    plain, causal = ((min(bq, t), min(bk, s)) for bq, bk in (tiles_for(dtype, False), tiles_for(dtype, True)))
    worker = max(blocked_worker_nbytes(*tile, width, dtype) for tile in (plain, causal))
    kept = DIAGONALS_KEPT * b * causal[0] * causal[1]
    return b * elements + workers * worker + kept


def blocked_worker_nbytes(block_q: int, block_k: int, width: int, dtype: str) -> int:
    """The peak bytes one worker of the blocked path holds, for tiles of block_q queries × block_k
    keys and heads of `width` (the larger of d_k and d_v), measured with tracemalloc
    (tests/core/test_blocked_bound.py), rows recomputed by the running-maximum path included:

        (2·b + 3) · block_q · block_k      the score tile, its masks (the running path's, for rows it redoes)
        + 6·b · block_q · (width + 2)      the rows' queries, sums and outputs
        + 256 KiB                          NumPy's iterator buffers (broadcast and masked writes)"""
    b = np.dtype(dtype).itemsize
    return (2 * b + 3) * block_q * block_k + 6 * b * block_q * (width + 2) + 256 * 1024
