"""Numbers and matrices as text: cells, numbers in sentences, which rows and columns to show, and the View
(decimals, width, labels) that every renderer takes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

MAX_SLICES = 4  # leading (batch/head) slices shown before a note


def fmt(x: float, precision: int) -> str:
    """A table cell: fixed decimals, −∞ for masked cells, no '-0.0000'."""
    if np.isneginf(x):
        return "−∞"
    if np.isposinf(x):
        return "+∞"
    if np.isnan(x):
        return "NaN"
    text = f"{x:.{precision}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def num(x: float, precision: int) -> str:
    """A number inside a sentence: as short as it can be at `precision` decimals (1.0, 0.3, 0.7071)."""
    if not np.isfinite(x):
        return fmt(x, precision)
    text = np.format_float_positional(float(x), precision=precision, unique=True, trim="0")
    return "0.0" if text in ("-0.0", "-0") else text


def vec(xs: Iterable[float], precision: int) -> str:
    return "[" + ", ".join(num(x, precision) for x in xs) + "]"


@dataclass(frozen=True)
class View:
    """How to show a result: decimals, width, labels and which cell to expand."""

    precision: int = 4
    width: int = 80
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    explain_cell: tuple[int, int] | None = None  # 1-based (query, key)
    slice_name: Callable[[tuple[int, ...]], str] | None = None  # e.g. "head 2" for index (1,)
    only_slices: tuple[tuple[int, ...], ...] | None = None  # show just these leading indices
    max_slices: int = MAX_SLICES
    heatmap: bool = False  # also show the weights as a coloured heatmap


def window(n: int, limit: int) -> list[int | None]:
    """Indices to show out of n, with None where a '…' goes."""
    if n <= limit:
        return list(range(n))
    head = limit - 2
    return [*range(head), None, n - 1]
