"""Rich renderables for `attn explain`: tokens, Q/K/V of one head, the weights heatmap, the reading
and the per-head overview. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from attncli.analysis.explanation import HeadSummary, Reading
from attncli.core.engine import Attention
from attncli.i18n import _, ngettext
from attncli.render.tables import View, dot_expansion, fmt, matrix_table, window

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]


# Heatmap colours, low → high weight (viridis-like: dark blue, teal, green, yellow).
_RAMP = ((38, 24, 84), (33, 104, 140), (34, 160, 120), (140, 205, 60), (250, 230, 40))
HEATMAP_ROWS = 24  # taller heatmaps show their first and last rows around a ⋮ row
READING_ROWS = 40  # the reading names at most this many query tokens


def _colour(w: float) -> Style:
    """Background for a weight in [0, 1]; black text on light cells, white on dark ones."""
    x = min(max(float(w), 0.0), 1.0) ** 0.5 * (len(_RAMP) - 1)  # √ spreads the many small weights
    i = min(int(x), len(_RAMP) - 2)
    f = x - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(_RAMP[i], _RAMP[i + 1], strict=True))
    light = 0.299 * r + 0.587 * g + 0.114 * b > 140
    return Style.parse(f"{'black' if light else 'white'} on rgb({r},{g},{b})")


def _short(label: str, width: int) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def tokens_view(pieces: Sequence[str], special: Sequence[bool], title: str) -> Group:
    """Numbered tokens on wrapping lines; '##' pieces and [CLS]/[SEP] styled apart."""
    line = Text()
    for i, piece in enumerate(pieces):
        if i:
            line.append("  ")
        line.append(f"{i + 1}:", style="dim")
        style = "magenta" if special[i] else ("cyan italic" if piece.startswith("##") else "bold")
        line.append(piece, style=style)
    return Group(Text(title, style="bold"), line)


def qkv_view(
    att: Attention,
    labels: Sequence[str],
    view: View,
    where: str,
    rows: Sequence[int] | None,
    origins: dict[str, str],
) -> Group:
    """Q, K and V, each (T × width), cut with '…' to fit; Q only for the focused rows.

    `origins` says where each comes from ({"Q": "x·W_Qᵀ + b_Q …", …}), shown as the caption.
    """
    t = att.k.shape[-2]
    parts: list[RenderableType] = []
    for name, what, m, lab in (
        ("Q", _("Q (queries)"), att.q, labels),
        ("K", _("K (keys)"), att.k, labels),
        ("V", _("V (values)"), att.v, labels),
    ):
        d = m.shape[-1]
        if name == "Q" and rows is not None:
            m, lab = m[list(rows)], [labels[i] for i in rows]
        if name != "Q" or rows is None:
            shape = f"{m.shape[0]} × {d}"
        else:
            shape = ngettext("{n} of {t} row × {d}", "{n} of {t} rows × {d}", t).format(n=len(lab), t=t, d=d)
        parts.append(
            matrix_table(
                m,
                title=f"{what} {where}: {shape}",
                caption=origins.get(name),
                row_labels=lab,
                col_labels=[f"d{j + 1}" for j in range(d)],
                view=view,
            )
        )
        parts.append(Text(""))
    return Group(*parts[:-1])


def heatmap(
    weights: Array,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str,
    caption: str,
    width: int,
    precision: int = 2,
) -> Group:
    """Weights as a coloured table: rows = query tokens, columns = key tokens (headers cut to fit).

    The bold cell of each row is its largest weight (readable without colour too). Every row sums to 1
    (the engine guarantees it; `attn compute` shows the Σ column), so there is no Σ column here.
    """
    n_rows, n_cols = weights.shape
    cell_w = precision + 2
    label_w = max(len(s) for s in row_labels)
    room = width - label_w - 1
    # whole key labels when they all fit, else headers cut to 5 characters to fit more columns
    headers = list(col_labels)
    fits = sum(max(cell_w, len(h)) + 1 for h in headers) <= room
    if not fits:
        headers = [_short(h, max(cell_w, 5)) for h in headers]
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
            style = _colour(w) + Style(bold=w == top and w > 0)
            cells.append(Text(f"{fmt(w, precision):>{widths[j]}}", style=style))  # padded: the colour fills the cell
        table.add_row(row_labels[i], *cells)
    notes = []
    if None in cols:
        shown = ngettext("showing {shown} of {n} key column", "showing {shown} of {n} key columns", n_cols)
        notes.append(shown.format(shown=len([c for c in cols if c is not None]), n=n_cols))
    if None in rows:
        shown = ngettext("{shown} of {n} query row", "{shown} of {n} query rows", n_rows)
        notes.append(shown.format(shown=len([r for r in rows if r is not None]), n=n_rows))
    if notes:
        caption += "\n" + _("({notes}; --json prints every value)").format(notes=", ".join(notes))
    return Group(Text(title, style="bold"), table, Text(caption, style="dim"), legend())


def legend() -> Text:
    """The colour scale of the heatmap, as weights on their own colours."""
    scale = Text(_("colour scale: "), style="dim")
    for w in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0):
        scale.append(f" {w:g} ", style=_colour(w))
    return scale


def reading_view(readings: Sequence[Reading], labels: Sequence[str], precision: int = 2) -> Group:
    """'tower → eiffel 0.41, miniature 0.22, [CLS] 0.12', one line per query token (at most READING_ROWS)."""
    width = max(len(labels[r.query]) for r in readings[:READING_ROWS])
    lines = []
    if len(readings) > READING_ROWS:
        more = len(readings) - READING_ROWS
        first = _("(the first {n} query tokens; {more} more in --json, or pick one with --query)")
        lines.append(Text(first.format(n=READING_ROWS, more=more)))
    for r in readings[:READING_ROWS]:
        line = Text(f"{labels[r.query]:>{width}}", style="bold")
        line.append(" → ")
        # keys whose weight rounds to 0 say nothing; the first one is always named
        keys = [r.keys[0], *(kw for kw in r.keys[1:] if float(fmt(kw[1], precision)) > 0)]
        line.append(", ".join(f"{k} {fmt(w, precision)}" for k, w in keys))
        lines.append(line)
    return Group(*lines)


def overview_view(summaries: Sequence[HeadSummary], labels: Sequence[str]) -> Table:
    """One row per head: layer, head, pattern label (with its share) and the strongest word pairs."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column(_("layer"), justify="right", no_wrap=True)
    table.add_column(_("head"), justify="right", no_wrap=True)
    table.add_column(_("pattern"), no_wrap=True)
    table.add_column(_("strongest word → word pairs"), overflow="fold")
    names = {
        "self": _("self"),
        "previous token": _("previous token"),
        "next token": _("next token"),
        "broad": _("broad"),
    }
    for s in summaries:
        pattern = f"{names.get(s.pattern, s.pattern)} {s.share:.2f}" if s.pattern and s.share is not None else "—"
        pairs = ", ".join(f"{labels[q]}→{labels[k]} {w:.2f}" for q, k, w in s.pairs) or "—"
        table.add_row(str(s.layer + 1), str(s.head + 1), pattern, pairs)
    return table


def focus_view(att: Attention, query_label: str, keys: Sequence[str], title: str, precision: int) -> Group:
    """One query's row of every stage, turned on its side: one line per key (fits any sentence length).

    `att` holds that one query row (1 × S). Columns: score q·k, scaled, masked (if any), weight, and
    a bar as long as the weight.
    """
    stages: list[tuple[str, Array]] = [("q·k", att.scores[0]), ("× scale", att.scaled[0])]
    if att.masked is not None:
        stages.append(("masked", att.masked[0]))
    weights = att.weights[0]
    stages.append((_("weight"), weights))
    top = float(weights.max())
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column(_("key"), style="bold", no_wrap=True)
    for name, _stage in stages:  # (not `_`: that is the translator)
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    bar_width = 20
    for j, key in enumerate(keys):
        cells: list[str | Text] = [fmt(float(a[j]), precision) for _name, a in stages[:-1]]
        w = float(weights[j])
        cells.append(Text(fmt(w, precision), style=_colour(w) + Style(bold=w == top and w > 0)))
        cells.append("█" * round(w * bar_width))
        table.add_row(key, *cells)
    scale = f"× {fmt(att.scale, 4)} = ÷ √{att.d_k}" if att.scale_is_default else f"× {fmt(att.scale, 4)}"
    best = int(np.argmax(weights))
    example = dot_expansion(att.q, att.k, 0, best, query_label, keys[best], precision)
    caption = _(
        "q·k: the query row of {query} dotted with each key row, e.g. {example}; × scale: {scale}; "
        "weight: softmax down the column, so the weights add up to 1; the bar is the weight × {bar}."
    ).format(query=query_label, example=example, scale=scale, bar=bar_width)
    return Group(Text(title, style="bold"), table, Text(caption, style="dim"))
