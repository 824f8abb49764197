"""The heatmap of weights (a coloured table, rows = queries, columns = keys) and its colour scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich import box
from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text

from attncli.i18n import _, ngettext
from attncli.render.format import Hints, cut_note, fmt, hints_of, window

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]


# Heatmap colours, low → high weight (viridis-like: dark blue, teal, green, yellow).
RAMP = ((38, 24, 84), (33, 104, 140), (34, 160, 120), (140, 205, 60), (250, 230, 40))


HEATMAP_ROWS = 24  # taller heatmaps show their first and last rows around a ⋮ row


def colour(w: float) -> Style:
    """Background for a weight in [0, 1]; black text on light cells, white on dark ones."""
    x = min(max(float(w), 0.0), 1.0) ** 0.5 * (len(RAMP) - 1)  # √ spreads the many small weights
    i = min(int(x), len(RAMP) - 2)
    f = x - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(RAMP[i], RAMP[i + 1], strict=True))
    light = 0.299 * r + 0.587 * g + 0.114 * b > 140
    return Style.parse(f"{'black' if light else 'white'} on rgb({r},{g},{b})")


def short(label: str, width: int) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def heatmap(
    weights: Array,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str,
    caption: str,
    width: int,
    precision: int = 2,
    hints: Hints | None = None,
    rows_are_layers: bool = False,
) -> Group:
    """Weights as a coloured table: rows = query tokens, columns = key tokens (headers cut to fit);
    `rows_are_layers`: a layer × head grid of scores (then a cut says "layers", not "query rows").

    The bold cell of each row is its largest weight (readable without colour too). Every row sums to 1
    (the engine guarantees it; `attn compute` shows the Σ column), so there is no Σ column here.
    `hints` (default: the installed ones, see attncli.render.format.use_hints) says where every value is.
    """
    n_rows, n_cols = weights.shape
    cell_w = precision + 2
    label_w = max(len(s) for s in row_labels)
    room = width - label_w - 1
    # whole key labels when they all fit, else headers cut to 5 characters to fit more columns
    headers = list(col_labels)
    fits = sum(max(cell_w, len(h)) + 1 for h in headers) <= room
    if not fits:
        headers = [short(h, max(cell_w, 5)) for h in headers]
    widths = [max(cell_w, len(h)) for h in headers]
    cols = window(n_cols, n_cols if fits else max(3, room // (max(widths) + 1)))
    roomy = fits and sum(w + 2 for w in widths) <= room  # then a second space between columns
    rows = window(n_rows, HEATMAP_ROWS)
    # the box's one-space column divider separates the cells (width + 1 per column), plus a space if roomy
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1) if roomy else 0)
    table.add_column("", style="bold", no_wrap=True)
    for j in cols:
        table.add_column("…" if j is None else headers[j], justify="right", no_wrap=True)
    for i in rows:
        if i is None:
            table.add_row("⋮", *["⋮" for _ in cols])
            continue
        top = float(weights[i].max())
        cells: list[str | Text] = []
        for j in cols:
            if j is None:
                cells.append("…")
                continue
            w = float(weights[i, j])
            style = colour(w) + Style(bold=w == top and w > 0)
            cells.append(Text(f"{fmt(w, precision):>{widths[j]}}", style=style))  # padded: the colour fills the cell
        table.add_row(row_labels[i], *cells)
    notes = []
    if None in cols:
        shown = ngettext("showing {shown} of {n} key column", "showing {shown} of {n} key columns", n_cols)
        notes.append(shown.format(shown=len([c for c in cols if c is not None]), n=n_cols))
    if None in rows:
        if rows_are_layers:
            shown = ngettext("{shown} of {n} layer", "{shown} of {n} layers", n_rows)
        else:
            shown = ngettext("{shown} of {n} query row", "{shown} of {n} query rows", n_rows)
        notes.append(shown.format(shown=len([r for r in rows if r is not None]), n=n_rows))
    if notes:
        caption += "\n" + cut_note(notes, (hints or hints_of()).every_value)
    return Group(Text(title, style="bold"), table, Text(caption, style="dim"), legend())


def legend() -> Text:
    """The colour scale of the heatmap, as weights on their own colours."""
    scale = Text(_("colour scale: "), style="dim")
    for w in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0):
        scale.append(f" {w:g} ", style=colour(w))
    return scale
