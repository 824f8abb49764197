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
from attncli.render.format import View, fmt
from attncli.render.heatmap import colour
from attncli.render.tables import dot_expansion, matrix_table

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]


READING_ROWS = 40  # the reading names at most this many query tokens


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


def reading_view(readings: Sequence[Reading], labels: Sequence[str], precision: int = 2, *, more: str) -> Group:
    """'tower → eiffel 0.41, miniature 0.22, [CLS] 0.12', one line per query token (at most READING_ROWS).

    `more` is said above the lines when there are more query tokens than that, with {n} (the lines shown)
    and {more} (the rest): the caller knows how to see the rest."""
    width = max(len(labels[r.query]) for r in readings[:READING_ROWS])
    lines = []
    if len(readings) > READING_ROWS:
        lines.append(Text(more.format(n=READING_ROWS, more=len(readings) - READING_ROWS)))
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
        "first token": _("first token"),
    }
    for s in summaries:
        pattern = f"{names.get(s.pattern, s.pattern)} {s.share:.2f}" if s.pattern and s.share is not None else "—"
        pairs = ", ".join(f"{labels[q].strip()}→{labels[k].strip()} {w:.2f}" for q, k, w in s.pairs) or "—"
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
        cells.append(Text(fmt(w, precision), style=colour(w) + Style(bold=w == top and w > 0)))
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
