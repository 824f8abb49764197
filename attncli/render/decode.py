"""Rich renderables for a KV-cache decoding step beside the full recompute (attncli.core.decode)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.text import Text

from attncli.i18n import _, ngettext
from attncli.render.format import View, fmt
from attncli.render.tables import matrix_table

if TYPE_CHECKING:
    from attncli.core.decode import Cache, DecodeStep


def _dims(n: int) -> list[str]:
    return [f"d{j + 1}" for j in range(n)]


def cache_text(cache: Cache) -> str:
    """What a cache holds and its size: "K (6×2) and V (6×2) per K/V head, × 1 head, float64: 192 bytes"."""
    parts = _(" and ").join(f"{name} ({'×'.join(map(str, shape))})" for name, shape in cache.holds)
    size = f"{cache.nbytes:,}".replace(",", " ")
    if cache.shared:
        return _("{parts} once for every head, {dtype}: {bytes} bytes").format(
            parts=parts, dtype=cache.dtype, bytes=size
        )
    heads = ngettext("{n} K/V head", "{n} K/V heads", cache.kv_heads).format(n=cache.kv_heads)
    return _("{parts} per head, × {heads}, {dtype}: {bytes} bytes").format(
        parts=parts, heads=heads, dtype=cache.dtype, bytes=size
    )


def render_decode(d: DecodeStep, view: View | None = None, head: int | None = None) -> Group:
    """The step's weights and output beside the full recompute's last rows, and what the cache holds.
    `head` (0-based) picks a head of a result with a leading head axis."""
    view = view or View()
    t, s = d.full.scores.shape[-2:]
    rows = d.full_rows
    q_labels = list(view.labels.get("q") or [f"q{i + 1}" for i in range(t)])[rows]
    k_labels = list(view.labels.get("k") or [f"k{j + 1}" for j in range(s)])
    idx: tuple[int, ...] = (head or 0,) if d.full.scores.ndim > 2 else ()
    where = "" if not idx else "  " + _("[head {h}]").format(h=idx[0] + 1)
    step_label, full_label = _("step"), _("full")
    labels = [f"{q} {which}" for q in q_labels for which in (step_label, full_label)]

    def pair(step: np.ndarray, full: np.ndarray, title: str, cols: list[str]) -> RenderableType:
        """Each new query's row from the step, then the same row of the full recompute, under it."""
        both = np.empty((2 * d.new, step.shape[-1]), dtype=np.float64)
        both[0::2], both[1::2] = step[idx], full[idx][rows]
        return matrix_table(both, title=title, caption=None, row_labels=labels, col_labels=cols, view=view)

    new = ngettext("{n} new query", "{n} new queries", d.new).format(n=d.new)
    title = _("KV-cache decoding: {new} against a cache of {cached} keys ({s} after the step){where}").format(
        new=new, cached=d.cached, s=s, where=where
    )
    d_v = d.full.v.shape[-1]
    rule = _(
        "The step computes only the new rows of Q against every cached key (causal aligned bottom-right: "
        "new query i sees keys 1…{cached}+i)."
    )
    lines = [
        rule.format(cached=d.cached),
        ngettext(
            "Before the step the cache holds {before}; the step appends {n} row: {after}.",
            "Before the step the cache holds {before}; the step appends {n} rows: {after}.",
            d.new,
        ).format(before=cache_text(d.before), n=d.new, after=cache_text(d.cache)),
    ]
    if d.bit_equal:
        lines.append(_("The step equals the full recompute bit for bit (weights and output)."))
    else:
        close = _(
            "The step equals the full recompute to the last digit shown; in the last bits they differ by at most "
            "{diff} (the product of fewer rows adds its terms in another order)."
        )
        lines.append(close.format(diff=f"{d.max_difference:.1e}"))
    weights = pair(d.step.weights, d.full.weights, _("weights: the step and the full recompute"), k_labels)
    output = pair(d.step.output, d.full.output, _("output: the step and the full recompute"), _dims(d_v))
    note = _("Each new row's weights sum to {total}.").format(total=fmt(float(np.nansum(d.step.weights[idx][0])), 4))
    return Group(Text(title, style="bold"), weights, Text(""), output, Text("\n".join([*lines, note]), style="dim"))
