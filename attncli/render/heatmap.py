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
    """Background for a weight in [0, 1], with black or white text, whichever contrasts more (WCAG 2:
    the better of the two is always at least 4.58 : 1, above AA's 4.5). The text colours are given as
    RGB, not as the terminal's 'white', which an export theme draws light grey."""
    x = min(max(float(w), 0.0), 1.0) ** 0.5 * (len(RAMP) - 1)  # √ spreads the many small weights
    i = min(int(x), len(RAMP) - 2)
    f = x - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(RAMP[i], RAMP[i + 1], strict=True))
    light = luminance((r, g, b)) > LUMINANCE_SPLIT
    return Style.parse(f"{'rgb(0,0,0)' if light else 'rgb(255,255,255)'} on rgb({r},{g},{b})")


# The relative luminance where black and white text contrast equally: (L + 0.05)/0.05 = 1.05/(L + 0.05).
LUMINANCE_SPLIT = 0.0525**0.5 - 0.05


def luminance(rgb: Sequence[int]) -> float:
    """WCAG 2's relative luminance of an sRGB colour (0 = black, 1 = white)."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: Sequence[int], b: Sequence[int]) -> float:
    """WCAG 2's contrast ratio of two colours, 1 to 21 (AA asks 4.5 for text)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


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
    row_labels, col_labels = numbered(row_labels), numbered(col_labels, header=True)
    cell_w = precision + 2
    label_w = max(len(s) for s in row_labels)
    room = width - label_w - 1
    # whole key labels when they all fit, else headers cut to 5 characters to fit more columns
    headers = list(col_labels)
    fits = sum(max(cell_w, *(len(line) for line in h.split("\n"))) + 1 for h in headers) <= room
    if not fits:
        headers = ["\n".join(short(line, max(cell_w, 5)) for line in h.split("\n")) for h in headers]
    widths = [max(cell_w, *(len(line) for line in h.split("\n"))) for h in headers]
    rows = window(n_rows, HEATMAP_ROWS)
    shown_rows = [i for i in rows if i is not None]
    cols = columns_to_show(weights[shown_rows], n_cols if fits else max(3, room // (max(widths) + 1)))
    roomy = fits and sum(w + 2 for w in widths) <= room  # then a second space between columns
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
        shown = ngettext(
            "showing {shown} of {n} key column, each row's largest weight among them; hidden: {hidden}",
            "showing {shown} of {n} key columns, each row's largest weight among them; hidden: {hidden}",
            n_cols,
        )
        kept = len([c for c in cols if c is not None])
        notes.append(shown.format(shown=kept, n=n_cols, hidden=_hidden(cols, n_cols)))
    if None in rows:
        if rows_are_layers:
            shown = ngettext("{shown} of {n} layer", "{shown} of {n} layers", n_rows)
        else:
            shown = ngettext("{shown} of {n} query row", "{shown} of {n} query rows", n_rows)
        notes.append(shown.format(shown=len([r for r in rows if r is not None]), n=n_rows))
    if notes:
        caption += "\n" + cut_note(notes, (hints or hints_of()).every_value)
    return Group(Text(title, style="bold"), table, Text(caption, style="dim"), legend())


def numbered(labels: Sequence[str], header: bool = False) -> list[str]:
    """Labels that repeat (##т three times) get their 1-based positions, as the token list shows them:
    '3:##т' for a row, the position on a second line for a column header."""
    if len(set(labels)) == len(labels):
        return list(labels)
    return [f"{label}\n{i + 1}" if header else f"{i + 1}:{label}" for i, label in enumerate(labels)]


def columns_to_show(weights: Array, limit: int) -> list[int | None]:
    """At most `limit` entries: key columns in order, None where a '…' hides a run of them. Each row's
    largest weight stays visible (the columns most rows peak at first), then the first and last keys."""
    n = weights.shape[-1]
    if n <= limit:
        return list(range(n))
    peaks = np.argmax(weights, axis=-1)
    by_rows = sorted(set(peaks.tolist()), key=lambda j: (-int((peaks == j).sum()), j))
    ends = [j for pair in zip(range(n), range(n - 1, -1, -1), strict=True) for j in pair]
    chosen: set[int] = set()
    for j in [*by_rows, *ends]:
        if j not in chosen and len(_layout(chosen | {j}, n)) <= limit:
            chosen.add(j)
    return _layout(chosen, n)


def _layout(chosen: set[int], n: int) -> list[int | None]:
    out: list[int | None] = []
    for j in sorted(chosen):
        if (out and out[-1] is not None and j > out[-1] + 1) or (not out and j > 0):
            out.append(None)
        out.append(j)
    if out and out[-1] is not None and out[-1] < n - 1:
        out.append(None)
    return out


def _hidden(cols: Sequence[int | None], n: int) -> str:
    """The hidden key columns as 1-based positions and ranges: '5–9, 12'."""
    shown = {c for c in cols if c is not None}
    runs: list[tuple[int, int]] = []
    for j in range(n):
        if j not in shown:
            if runs and runs[-1][1] == j - 1:
                runs[-1] = (runs[-1][0], j)
            else:
                runs.append((j, j))
    return ", ".join(f"{a + 1}" if a == b else f"{a + 1}–{b + 1}" for a, b in runs)


def legend() -> Text:
    """The colour scale of the heatmap, as weights on their own colours."""
    scale = Text()
    scale.append(_("colour scale: "), style="dim")
    for w in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0):
        scale.append(f" {w:g} ", style=colour(w))  # not dim: dim text on a colour fails the contrast
    return scale
