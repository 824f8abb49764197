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


def memory_budget() -> int:
    """Default budget for stage tables: a quarter of the memory available now (4 GiB if unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 4
    except OSError:
        pass
    return 4 * 2**30
