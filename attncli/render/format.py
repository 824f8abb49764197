"""Numbers and matrices as text: cells, numbers in sentences, which rows and columns to show, the View
(decimals, width, labels) that every renderer takes, and the Hints its captions may give."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from attncli.i18n import _, ngettext

_INF = float("inf")
MAX_SLICES = 4  # leading (batch/head) slices shown before a note


def fmt(x: float, precision: int) -> str:
    """A table cell: fixed decimals, −∞ for masked cells, no '-0.0000'."""
    x = float(x)  # plain comparisons: this runs for every cell of every table (np.isinf per scalar is slow)
    if x != x:
        return "NaN"
    if x in (_INF, -_INF):
        return "+∞" if x > 0 else "−∞"
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
class Hints:
    """What captions may tell the reader to do to see more, in the caller's words (already translated).

    The renderers know no flags: the CLI fills these with its own (attncli.cli.output.cli_hints). A hint
    left as None is left out of its caption, e.g. "(showing 7 of 32 columns)" instead of
    "(showing 7 of 32 columns; --json prints every value)".
    """

    every_value: str | None = None  # after "showing 7 of 32 columns; " (stage tables, heatmaps)
    all_slices: str | None = None  # after "showing 4 of 6 slices of the leading dimensions (2, 3); "
    all_outputs: str | None = None  # after "showing 4 of 6 slices; " below outputs of the blocked path
    other_stages: str | None = None  # a sentence after the caption of the blocked path's output
    empty_row: str | None = None  # in brackets after a fully masked row; {empty_row} is the policy's name
    causal: str | None = None  # the name of the causal rule's switch, when nothing is masked
    seed: str | None = None  # in brackets after "random demo weights"
    pick_head: str | None = None  # after "showing 8 of 12 heads; "
    all_graded_slices: str | None = None  # after "showing 4 of 6 slices; " in the report of a check
    tolerance: str | None = None  # after "Tolerance ±0.0001; " in the report of a check


def hints_of(view: View | None = None) -> Hints:
    """The hints of `view` (none unless the caller, such as the CLI, gives them)."""
    return view.hints if view is not None and view.hints is not None else Hints()


def cut_note(notes: list[str], hint: str | None) -> str:
    """The note below a table cut to fit, "(showing 7 of 32 columns; hint)": what is shown, and where the rest is."""
    note = _("({notes})") if hint is None else _("({notes}; {hint})")
    return note.format(notes=", ".join(notes), hint=hint)


def slices_note(shown: int, n: int, hint: str | None) -> str:
    """(showing 4 of 6 slices; hint): below a result whose leading slices are not all shown."""
    text = ngettext("showing {shown} of {n} slice", "showing {shown} of {n} slices", n)
    return cut_note([text.format(shown=shown, n=n)], hint)


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
    hints: Hints | None = None  # what captions suggest for more (the CLI gives its flags); None: nothing


def window(n: int, limit: int) -> list[int | None]:
    """Indices to show out of n, with None where a '…' goes."""
    if n <= limit:
        return list(range(n))
    head = limit - 2
    return [*range(head), None, n - 1]
