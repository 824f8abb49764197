"""Rich renderables for multi-head attention: projections, heads, positions, per-head stages, output.

Nothing here prints; `render_multihead(result)` returns a rich Group.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attncli.core.multihead import MultiHead, MultiHeadOutput
from attncli.core.stages import MULTIHEAD_STAGES
from attncli.i18n import _, ngettext
from attncli.render.format import View, cut_note, hints_of, num
from attncli.render.tables import STAGES, matrix_table, render_attention

if TYPE_CHECKING:
    from numpy.typing import NDArray

MAX_HEADS = 8  # heads rendered one after another before a note says how to pick one (Hints.pick_head)


def _dims(n: int, prefix: str = "d") -> list[str]:
    return [f"{prefix}{j + 1}" for j in range(n)]


def _head_dims(heads: int, width: int) -> list[str]:
    """Column labels of side-by-side heads: h1·d1, h1·d2, …, h2·d1, …"""
    return [f"h{h + 1}·d{j + 1}" for h in range(heads) for j in range(width)]


def _stack(parts: Iterable[RenderableType]) -> Group:
    """Renderables one under another with a blank line between them."""
    out: list[RenderableType] = []
    for part in parts:
        out += [Text(""), part] if out else [part]
    return Group(*out)


class _Renderer:
    def __init__(self, r: MultiHead, view: View, head: int | None) -> None:
        self.r = r
        self.view = view
        self.shown = [head - 1] if head is not None else list(range(min(r.heads, MAX_HEADS)))
        t, s = r.attention.scores.shape[-2:]
        self.q_labels = list(view.labels.get("q") or [f"q{i + 1}" for i in range(t)])
        self.k_labels = list(view.labels.get("k") or [f"k{j + 1}" for j in range(s)])
        given = view.labels
        self.x_labels = list(given["q"]) if "q" in given else [f"x{i + 1}" for i in range(t)]
        self.e_labels = list(given["k"]) if "k" in given else [f"e{j + 1}" for j in range(s)]  # encoder side

    def table(
        self, a: NDArray[np.floating], title: str, caption: str | None, rows: list[str], cols: list[str]
    ) -> Group:
        return matrix_table(a, title=title, caption=caption, row_labels=rows, col_labels=cols, view=self.view)

    def inputs(self) -> RenderableType:
        r = self.r
        parts: list[RenderableType] = []
        if r.x_q is not None and r.x_kv is not None:
            cross = r.x_q is not r.x_kv
            title = _("0 · inputs: q_input (decoder side)") if cross else _("0 · inputs: X")
            parts.append(self.table(r.x_q, title, None, self.x_labels, _dims(r.x_q.shape[1])))
            if cross:
                title = _("0 · inputs: kv_input (encoder side)")
                parts.append(self.table(r.x_kv, title, None, self.e_labels, _dims(r.x_kv.shape[1])))
        shapes = ", ".join(f"{n} {'×'.join(str(d) for d in w.shape)}" for n, w in r.weights.items())
        seed = hints_of(self.view).seed
        how = {
            "given": _("projection weights given"),
            "random": (_("random demo weights") if seed is None else _("random demo weights ({seed})")).format(
                seed=seed
            ),
            "identity": _("no projection weights: Q, K and V are the inputs themselves"),
            "none": _("q, k and v given already projected"),
        }[r.projection]
        line = ngettext("{n} head of d_head = {d_head}", "{n} heads of d_head = {d_head}", r.heads)
        line = line.format(n=r.heads, d_head=r.d_head)
        if r.kv_heads != r.heads:
            kv = ngettext(
                "{n} K/V head (grouped-query attention)", "{n} K/V heads (grouped-query attention)", r.kv_heads
            )
            line += ", " + kv.format(n=r.kv_heads)
        parts.append(Text(f"{line}; {how}" + (f" ({shapes})" if shapes else "") + ".", style="dim"))
        return _stack(parts)

    def positional(self) -> RenderableType | None:
        p = self.r.positional
        if p is None:
            return None
        d = p.q_encoding.shape[1]
        caption = _(
            "PE[pos, 2i] = sin(pos / 10000^(2i/{d})), PE[pos, 2i+1] = cos(pos / 10000^(2i/{d})); "
            "added to the inputs before the projections."
        ).format(d=d)
        title = _("0a · sinusoidal position encodings PE")
        parts = [
            self.table(p.q_encoding, title, caption, self.x_labels, _dims(d)),
            self.table(p.q_after, _("0b · inputs + PE"), None, self.x_labels, _dims(d)),
        ]
        if self.r.x_q is not self.r.x_kv:
            parts.append(self.table(p.kv_after, "0b · kv_input + PE", None, self.e_labels, _dims(d)))
        return _stack(parts)

    def projected(self) -> RenderableType:
        r = self.r
        q, k, v = r.projected
        if r.projection in ("given", "random"):
            bias = {n: " + b" + n[1] for n in ("bq", "bk", "bv") if n in r.weights}
            heads = ngettext("{heads} head × {d_head} columns", "{heads} heads × {d_head} columns", r.heads)
            shape = f"{q.shape[0]} × {q.shape[1]} = " + heads.format(heads=r.heads, d_head=r.d_head)
            cap_q: str | None = f"Q = X·W_q{bias.get('bq', '')}: {shape}."
            cap_k: str | None = f"K = X·W_k{bias.get('bk', '')}, V = X·W_v{bias.get('bv', '')}."
        else:
            same = "Q = q_input, K = V = kv_input" if r.x_q is not r.x_kv else "Q = K = V = X"
            what = same if r.projection == "identity" else "Q"
            into = ngettext("into {heads} head", "into {heads} heads", r.heads).format(heads=r.heads)
            split = ngettext(
                "{what}, split {into} of {d_head} column.", "{what}, split {into} of {d_head} columns.", r.d_head
            )
            cap_q, cap_k = split.format(what=what, into=into, d_head=r.d_head), None
        projected = r.projection in ("given", "random")  # else Q, K, V are the inputs, only split into heads
        titles = (
            (_("0c · projected Q"), _("0d · projected K"), _("0e · projected V"))
            if projected
            else (_("0c · Q, split into heads"), _("0d · K, split into heads"), _("0e · V, split into heads"))
        )
        return _stack(
            [
                self.table(q, titles[0], cap_q, self.q_labels, _head_dims(r.heads, r.d_head)),
                self.table(k, titles[1], cap_k, self.k_labels, _head_dims(r.kv_heads, r.d_head)),
                self.table(v, titles[2], None, self.k_labels, _head_dims(r.kv_heads, r.d_v)),
            ]
        )

    def heads(self) -> RenderableType | None:
        r = self.r
        if r.kv_heads == r.heads:
            return None
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column(_("query head"), justify="right")
        table.add_column(_("K/V head"), justify="right")
        for h, g in enumerate(r.head_map):
            table.add_row(str(h + 1), str(g + 1))
        caption = _(
            "Grouped-query attention: {heads} query heads share {kv_heads} K/V heads.\n"
            "Query head h uses K/V head ⌊(h−1)/{group}⌋+1, as PyTorch SDPA's enable_gqa."
        ).format(heads=r.heads, kv_heads=r.kv_heads, group=r.heads // r.kv_heads)
        return Group(Text(_("0f · head mapping"), style="bold"), table, Text(caption, style="dim"))

    def qk_norm(self) -> RenderableType | None:
        norm = self.r.qk_norm
        if norm is None:
            return None
        d = self.r.d_head
        parts: list[RenderableType] = []
        for h in self.shown:
            g = self.r.head_map[h]
            qb, qa, rms = norm.q_before[h], norm.q_after[h], norm.q_rms[h, 0, 0]
            squares = " + ".join(f"{num(x, 4)}²" for x in qb[0, :4]) + (" + …" if d > 4 else "")
            caption = _(
                "QK-norm (Gemma 3, Qwen 3): RMSNorm of each head's q and k rows before RoPE,\n"
                "x / √(mean(x²) + ε) × w, ε = {eps:g}, w: d_head = {d} learned weights.\n"
                "{query}: √(({squares}) / {d} + ε) = {rms}; column 1: {x1} / {rms} × {w1} = {y1}."
            ).format(
                eps=norm.eps, d=d, query=self.q_labels[0], squares=squares, rms=num(rms, 4),
                x1=num(qb[0, 0], 4), w1=num(norm.q_weight[0], 4), y1=num(qa[0, 0], 4),
            )  # fmt: skip
            k_caption = _("k rows of K/V head {g} the same way, with the k weights (column 1: {w1}).").format(
                g=g + 1, w1=num(norm.k_weight[0], 4)
            )
            parts += [
                self.table(qa, _("0g · q after QK-norm  [head {h}]").format(h=h + 1), caption, self.q_labels, _dims(d)),
                self.table(
                    norm.k_after[g], _("0h · k after QK-norm  [head {h}]").format(h=h + 1), k_caption,
                    self.k_labels, _dims(d),
                ),
            ]  # fmt: skip
        return _stack(parts)

    def rope(self) -> RenderableType | None:
        rope = self.r.rope
        if rope is None:
            return None
        d = self.r.d_head
        pairs = "(x_i, x_{i+d/2})" if rope.style == "half" else "(x_2i, x_2i+1)"
        second = d // 2 if rope.style == "half" else 1  # the partner of column 1 in the first rotated pair
        parts: list[RenderableType] = []
        for h in self.shown:
            qb, qa = rope.q_before[h], rope.q_after[h]
            m = min(1, qb.shape[0] - 1)  # work through position 1 (position 0 is not rotated)
            caption = _(
                "RoPE ({style}, base {base:g}): position m turns each pair {pairs} by m·θ_i, θ_i = base^(−2i/{d}).\n"
                "{query}, pair 1: ({x1}, {x2}) turned by {angle} rad → ({y1}, {y2})."
            ).format(
                style=rope.style, base=rope.base, pairs=pairs, d=d, query=self.q_labels[m],
                x1=num(qb[m, 0], 4), x2=num(qb[m, second], 4), angle=num(rope.q_angles[m, 0], 4),
                y1=num(qa[m, 0], 4), y2=num(qa[m, second], 4),
            )  # fmt: skip
            k_after = rope.k_after[self.r.head_map[h]]
            parts += [
                self.table(qa, _("0i · q after RoPE  [head {h}]").format(h=h + 1), caption, self.q_labels, _dims(d)),
                self.table(k_after, _("0j · k after RoPE  [head {h}]").format(h=h + 1), None, self.k_labels, _dims(d)),
            ]
        return _stack(parts)

    def alibi(self) -> RenderableType | None:
        r = self.r
        if r.alibi_slopes is None or r.alibi_bias is None:
            return None
        slopes = ", ".join(f"h{h + 1}: {num(sl, 6)}" for h, sl in enumerate(r.alibi_slopes))
        caption = _("Added to the scaled scores, so far-away keys lose weight. Slopes 2^(−8h/H): {slopes}.")
        caption = caption.format(slopes=slopes)
        return _stack(
            self.table(
                r.alibi_bias[h],
                _("0k · ALiBi bias −slope·|i − j|, added at step 3  [head {h}]").format(h=h + 1),
                caption,
                self.q_labels,
                self.k_labels,
            )
            for h in self.shown
        )

    def average(self) -> RenderableType:
        w = self.r.average_weights
        return matrix_table(
            w,
            title=_("average weights over heads"),
            caption=_("The mean of the {heads} heads' weights, which nn.MultiheadAttention returns by default.").format(
                heads=self.r.heads
            ),
            row_labels=self.q_labels,
            col_labels=self.k_labels,
            view=self.view,
            extra=[("Σ", w.sum(axis=1))],
        )

    def concat(self) -> RenderableType:
        r = self.r
        return self.table(
            r.concat,
            _("6 · concat"),
            _("The {heads} heads' outputs side by side: {t} × {heads}·{d_v}.").format(
                heads=r.heads, t=r.concat.shape[0], d_v=r.d_v
            ),
            self.q_labels,
            _head_dims(r.heads, r.d_v),
        )

    def projection(self) -> RenderableType:
        r = self.r
        caption = _projection_caption(r.weights, r.output.shape)
        return self.table(r.output, _("7 · output projection"), caption, self.q_labels, _dims(r.output.shape[1]))


def _projection_caption(weights: dict[str, NDArray[np.floating]], shape: tuple[int, ...]) -> str:
    """How the output came from the concatenated heads: concat·W_o (+ b_o), or the concatenation itself."""
    if "wo" in weights:
        return "output = concat·W_o" + (" + b_o" if "bo" in weights else "") + f" ({shape[0]} × {shape[1]})."
    return _("No W_o given: the output is the concatenation") + (" + b_o." if "bo" in weights else ".")


def render_multihead_output(result: MultiHeadOutput, view: View | None = None) -> Group:
    """The output of a multi-head attention computed without its stages (the blocked path, head by head)."""
    view = view or View()
    t, d_out = result.output.shape
    caption = ngettext(
        "Computed by the blocked path ({heads} head): the T×S weights were never stored,\n"
        "so only the output is shown. {how}",
        "Computed by the blocked path, head by head ({heads} heads): the T×S weights were never stored,\n"
        "so only the output is shown. {how}",
        result.heads,
    ).format(heads=result.heads, how=_projection_caption(result.weights, result.output.shape))
    hints = hints_of(view)
    if hints.other_stages is not None:
        caption += " " + hints.other_stages
    given = view.labels.get("q")
    rows = list(given) if given is not None and len(given) == t else [f"q{i + 1}" for i in range(t)]
    return Group(matrix_table(result.output, title=_("7 · output projection"), caption=caption, row_labels=rows,
                              col_labels=_dims(d_out), view=view))  # fmt: skip


def render_multihead(
    result: MultiHead,
    stages: Iterable[str] | None = None,
    view: View | None = None,
    head: int | None = None,
    average: bool = False,
) -> Group:
    """Every stage of a multi-head result; `head` (1-based) focuses the per-head stages on one head."""
    view = view or View()
    wanted = list(MULTIHEAD_STAGES if stages is None else stages)
    rd = _Renderer(result, view, head)
    parts: list[RenderableType] = []

    def add(part: RenderableType | None) -> None:
        if part is not None:
            parts.extend([part, Text("")])

    for stage in ("inputs", "positional", "projected", "heads", "qk_norm", "rope", "alibi"):
        if stage == "projected" and stages is None and result.projection == "none":
            continue  # q, k, v given: each head's "0 · inputs" below shows its columns
        if stage in wanted:
            add(getattr(rd, stage)())
    per_head = [s for s in wanted if s in STAGES and s != "inputs"]
    if result.attention.capped is None and "capped" in per_head:
        per_head.remove("capped")  # only with a softcap
    if stages is None and not result.attention.variants.any:
        per_head.remove("visible")  # the grid is drawn unasked for the structured masks only
    if "inputs" in wanted and result.projection == "none":
        per_head.insert(0, "inputs")
    if per_head:

        def name(idx: tuple[int, ...]) -> str:
            g = result.head_map[idx[0]]
            if result.kv_heads != result.heads:
                return _("head {h}, K/V head {g}").format(h=idx[0] + 1, g=g + 1)
            return _("head {h}").format(h=idx[0] + 1)

        head_view = View(
            precision=view.precision, width=view.width, labels=view.labels, explain_cell=view.explain_cell,
            slice_name=name, only_slices=tuple((h,) for h in rd.shown), max_slices=MAX_HEADS, heatmap=view.heatmap,
            hints=view.hints,
        )  # fmt: skip
        parts.append(render_attention(result.attention, per_head, head_view))
        if head is None and result.heads > MAX_HEADS:
            shown = ngettext("showing {shown} of {n} head", "showing {shown} of {n} heads", result.heads)
            note = cut_note([shown.format(shown=MAX_HEADS, n=result.heads)], hints_of(view).pick_head)
            parts.append(Text(note, style="dim"))
    if average:
        add(rd.average())
    for stage in ("concat", "projection"):
        if stage in wanted:
            add(getattr(rd, stage)())
    if parts and isinstance(parts[-1], Text) and not parts[-1].plain:
        parts.pop()
    return Group(*parts)
