"""The same sentence in another word order, without and with positions, as rich renderables and JSON.

Each table has one row per word, in the sentence's first order: its place in both orders, its output
as given and in the new order, and how much it changed. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attncli.core.positions import sinusoidal_encoding
from attncli.i18n import _
from attncli.render.format import View, fmt, num, vec
from attncli.serialize.strict_json import jsonable

if TYPE_CHECKING:
    from attncli.analysis.wordorder import OrderRun, WordOrder
    from attncli.core.positions import Positions


def positions_name(p: Positions) -> str:
    """ "sinusoidal", "RoPE", "sinusoidal + RoPE" or "none"."""
    names = [n for n, on in ((_("sinusoidal"), p.positional == "sinusoidal"), ("RoPE", p.rope)) if on]
    return " + ".join(names) if names else _("none")


def _quoted(word: str) -> str:
    return _("“{word}”").format(word=word)


def _dims_shown(d: int, width: int, words_w: int, precision: int) -> int:
    """How many output columns fit twice (as given, new order) beside the word, its places and |Δ|."""
    cell = precision + 5
    room = width - words_w - 8 - (precision + 6)
    return max(1, min(d, room // (2 * cell)))


def _table(run: OrderRun, words: Sequence[str], view: View, title: str) -> Table:
    p = view.precision
    d = run.original.output.shape[-1]
    shown = _dims_shown(d, view.width, max(map(len, words)) + 2, p)
    cut = ["…"] if shown < d else []
    table = Table(title=title, title_justify="left", title_style="italic", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(_("word"), style="bold", no_wrap=True)
    table.add_column(_("place"), justify="center", no_wrap=True)
    for side in (_("given"), _("new")):
        for j in range(shown):
            table.add_column(f"{side} d{j + 1}", justify="right", no_wrap=True)
        for c in cut:
            table.add_column(c, justify="center")
    table.add_column("|Δ|", justify="right", no_wrap=True)
    place = np.argsort(run.order)  # the new place of each word
    moved = run.moved.output
    for i, word in enumerate(words):
        given = [fmt(x, p) for x in run.original.output[i, :shown]]
        new = [fmt(x, p) for x in moved[place[i], :shown]]
        change = run.per_word[i]
        style = "bold" if change == run.max_difference and not run.rows_permuted else ""
        table.add_row(word, f"{i + 1}→{place[i] + 1}", *given, *cut, *new, *cut, Text(fmt(change, p), style=style))
    return table


def plain_caption(run: OrderRun, words: Sequence[str], precision: int) -> str:
    """Without positions: the rows are the same, permuted; says so with the check numbers."""
    place = np.argsort(run.order)
    moved = [i for i in range(len(words)) if place[i] != i]
    i = moved[0] if moved else 0
    text = _(
        "Without positions every word's output is the same in both orders: the new sentence's outputs are "
        "the first one's rows, permuted (largest |Δ| {gap}); {word} gives {output} at place {a} and at place {b}. "
        "Q·Kᵀ, the softmax along each row and weights·V treat the words as a set: moving the words only moves "
        "the rows and columns."
    )
    output = vec(run.original.output[i], precision)
    return text.format(
        gap=_gap(run.max_difference, precision), word=_quoted(words[i]), output=output, a=i + 1, b=int(place[i]) + 1
    )


def _why(run: OrderRun, i: int, b: int, precision: int) -> str:
    """How the positions reach word i, at its place as given and at its new place b (0-based), in numbers."""
    p = run.positions
    parts = []
    if p.positional == "sinusoidal":
        x = run.original.x_q
        assert x is not None
        pe = sinusoidal_encoding(max(i, b) + 1, x.shape[1])
        text = _("its embedding gets PE({a}) = {pa} at place {pa_place} and PE({b}) = {pb} at place {pb_place}")
        parts.append(
            text.format(a=i, pa=vec(pe[i], precision), pa_place=i + 1, b=b, pb=vec(pe[b], precision), pb_place=b + 1)
        )
    if p.rope:
        text = _(
            "RoPE turns its q and k by m·θ_i: pair 1 by {a} rad at place {pa_place} and by {b} rad at place {pb_place}"
        )
        parts.append(text.format(a=i, pa_place=i + 1, b=b, pb_place=b + 1))
    return _("; ").join(parts)


def placed_caption(run: OrderRun, words: Sequence[str], precision: int) -> str:
    """With positions: the outputs are not a permutation; by how much, worked on the word that changes most."""
    if run.rows_permuted:  # positions that do not tell these words apart
        text = _(
            "With {positions} positions the outputs are still the first sentence's rows, permuted (largest |Δ| "
            "{gap}): here the positions do not tell the words apart."
        )
        return text.format(positions=positions_name(run.positions), gap=_gap(run.max_difference, precision))
    i = int(np.argmax(run.per_word))
    place = np.argsort(run.order)
    b = int(place[i])
    text = _(
        "With {positions} positions they are not: positions go by place, not by word. {word} moves from place "
        "{a} to place {b} ({why}), and its output goes from {before} to {after} (|Δ| up to {gap})."
    )
    caption = text.format(
        positions=positions_name(run.positions),
        word=_quoted(words[i]),
        a=i + 1,
        b=b + 1,
        why=_why(run, i, b, precision),
        before=vec(run.original.output[i], precision),
        after=vec(run.moved.output[b], precision),
        gap=num(run.max_difference, precision),
    )
    stayed = [j for j in range(len(words)) if place[j] == j]
    if stayed and len(stayed) < len(words):
        j = stayed[0]
        more = _("Even {word}, which keeps place {a}, changes by {gap}: the words around it moved.")
        caption += " " + more.format(word=_quoted(words[j]), a=j + 1, gap=num(run.per_word[j], precision))
    return caption


def _gap(x: float, precision: int) -> str:
    """A difference that may be a rounding error: 0, "< 1e-12, rounding" (its digits differ from machine to
    machine; --json has them), or the number."""
    if x == 0:
        return "0"
    return _("< 1e-12, rounding") if x < 1e-12 else num(x, precision)


def render_word_order(w: WordOrder, words: Sequence[str], view: View | None = None) -> Group:
    """The two tables (without positions; with them, when asked) and their captions."""
    view = view or View()
    moved = " ".join(words[i] for i in w.order)
    parts: list[RenderableType] = [
        Text(_("The same words in another order: {sentence}").format(sentence=moved), style="bold"),
        Text(""),
        _table(w.plain, words, view, _("Without positions: each word's output in both orders")),
        Text(plain_caption(w.plain, words, view.precision), style="dim"),
    ]
    if w.placed is not None:
        title = _("With {positions} positions: each word's output in both orders")
        parts += [
            Text(""),
            _table(w.placed, words, view, title.format(positions=positions_name(w.placed.positions))),
            Text(placed_caption(w.placed, words, view.precision), style="dim"),
        ]
    return Group(*parts)


def _run_dict(run: OrderRun) -> dict[str, Any]:
    return {
        "positions": {"positional": run.positions.positional, "rope": run.positions.rope},
        "output": jsonable(run.original.output),
        "new_order_output": jsonable(run.moved.output),
        "change_per_word": jsonable(run.per_word),
        "max_change": run.max_difference,
        "rows_permuted": run.rows_permuted,
    }


def word_order_dict(w: WordOrder, words: Sequence[str]) -> dict[str, Any]:
    """The comparison as a JSON-able dict (see the README: `permutation`, `without_positions`,
    `with_positions`)."""
    return {
        "permutation": {
            "order": [i + 1 for i in w.order],
            "words": [words[i] for i in w.order],
        },
        "without_positions": _run_dict(w.plain),
        "with_positions": None if w.placed is None else _run_dict(w.placed),
    }


__all__ = ["placed_caption", "plain_caption", "positions_name", "render_word_order", "word_order_dict"]
