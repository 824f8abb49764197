"""Rich renderables for the stages of an attention result. Nothing here prints.

`render_attention(result)` returns a `rich.console.Group`: one table per stage, each with a title,
row/column labels and a caption that states what happened with the real numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich import box
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attncli.core.engine import Attention
from attncli.core.settings import MaskSpec
from attncli.core.stages import TABLE_STAGES, check_stages
from attncli.errors import InputError
from attncli.i18n import _, ngettext
from attncli.render.format import View, cut_note, fmt, hints_of, num, slices_note, vec, window
from attncli.render.heatmap import heatmap

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.core.blocked import AttentionOutput

STAGES = TABLE_STAGES
MAX_ROWS = 20  # taller matrices show their first and last rows around a ⋮ row
EXPAND_TERMS = 8  # a dot product with more terms is abbreviated in captions


def _labels(view: View, key: str, n: int, prefix: str) -> list[str]:
    given = view.labels.get(key)
    if given is not None and len(given) == n:
        return list(given)
    return [f"{prefix}{i + 1}" for i in range(n)]


def matrix_table(
    a: NDArray[np.floating],
    *,
    title: str,
    caption: str | None,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    view: View,
    extra: Sequence[tuple[str, NDArray[np.floating]]] = (),
    bold_row_max: bool = False,
) -> Group:
    """A titled, labelled 2-D table with its caption below; big matrices are cut with '…' and a note."""
    p = view.precision
    n_rows, n_cols = a.shape
    sample = a[: min(n_rows, 50), : min(n_cols, 50)]
    cell_w = max((len(fmt(float(x), p)) for x in sample.ravel()), default=1)
    for _name, values in extra:  # (not `_`: that is the translator)
        cell_w = max(cell_w, *(len(fmt(x, p)) for x in values[:50]))
    label_w = max(len(s) for s in row_labels[:50])
    col_w = max(cell_w, *(len(s) for s in col_labels[:50])) + 3
    room = view.width - label_w - 4 - len(extra) * col_w
    max_cols = max(3, room // col_w)
    cols = window(n_cols, max_cols)
    rows = window(n_rows, MAX_ROWS)

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    for j in cols:
        table.add_column("…" if j is None else col_labels[j], justify="right", no_wrap=True)
    for name, _values in extra:
        table.add_column(name, justify="right", no_wrap=True, style="italic")
    row_max = a.max(axis=1) if bold_row_max else None
    for i in rows:
        if i is None:
            table.add_row("⋮", *["⋮" for _ in cols], *["⋮" for _ in extra])
            continue
        cells: list[str | Text] = []
        for j in cols:
            if j is None:
                cells.append("…")
                continue
            text = fmt(a[i, j], p)
            if row_max is not None and a[i, j] == row_max[i] and np.isfinite(a[i, j]) and a[i, j] > 0:
                cells.append(Text(text, style="bold"))
            else:
                cells.append(text)
        cells.extend(fmt(values[i], p) for _, values in extra)
        table.add_row(row_labels[i], *cells)

    notes = []
    if None in cols:
        shown = ngettext("showing {shown} of {n} column", "showing {shown} of {n} columns", n_cols)
        notes.append(shown.format(shown=max_cols - 1, n=n_cols))
    if None in rows:
        notes.append(ngettext("{shown} of {n} row", "{shown} of {n} rows", n_rows).format(shown=MAX_ROWS - 1, n=n_rows))
    text = caption or ""
    if notes:
        text += ("\n" if text else "") + cut_note(notes, hints_of(view).every_value)
    parts: list[RenderableType] = [Text(title, style="bold"), table]
    if text:
        parts.append(Text(text, style="dim"))
    return Group(*parts)


def _dims(n: int) -> list[str]:
    return [f"d{j + 1}" for j in range(n)]


def dot_expansion(q: NDArray[np.floating], k: NDArray[np.floating], i: int, j: int, qi: str, kj: str, p: int) -> str:
    terms = [f"{num(a, p)}×{num(b, p)}" for a, b in zip(q[i], k[j], strict=True)]
    if len(terms) > EXPAND_TERMS:
        terms = [*terms[:3], ngettext("… ({n} term)", "… ({n} terms)", len(terms)).format(n=len(terms))]
    return f"{qi}·{kj} = {' + '.join(terms)} = {num(float(q[i] @ k[j]), p)}"


def _scale_text(result: Attention, p: int) -> str:
    d = result.d_k
    scalar = result.variants.query_pre_attn_scalar
    if not result.scale_is_default and scalar is not None:
        rule = _("scale = query_pre_attn_scalar^−½ (Gemma 2): 1/√{n} = × {scale}, not 1/√d_k = 1/√{d}")
        return rule.format(n=f"{scalar:g}", scale=num(result.scale, p), d=d)
    if not result.scale_is_default:
        return _("scale = {scale} (given)").format(scale=num(result.scale, p))
    root = round(float(np.sqrt(d)))
    exact = f" = ÷ {root}" if root * root == d else ""
    return f"scale = 1/√d_k: ÷ √{d}{exact} = × {num(result.scale, p)}"


def _mask_text(result: Attention) -> str:
    return "; ".join(_mask_parts(result))


def _mask_parts(result: Attention) -> list[str]:
    parts = []
    if result.mask is not None:
        if result.mask.dtype == np.bool_:
            parts.append(_("the boolean mask hides its False cells"))
        else:
            parts.append(_("the additive mask is added to the scaled scores"))
    if result.causal and result.variants.prefix is None:
        if result.causal_align == "top-left":
            parts.append(_("the causal rule hides later keys (query i sees keys 1…i, top-left)"))
        else:
            parts.append(_("the causal rule hides later keys (query i sees keys 1…i+S−T, bottom-right)"))
    return [*parts, *variant_texts(result.variants)]


def variant_texts(spec: MaskSpec) -> list[str]:
    """The rule of each structured mask, with its numbers (positions i, j from 0, as the formulas)."""
    parts = []
    w, r = spec.window, spec.window_right
    if w is not None and spec.window_rule == "hf":
        rule = _("sliding window W = {w} (hf, default): i − {w} < j ≤ i, keys per query: at most {w}")
        parts.append(rule.format(w=w))
    elif w is not None and spec.window_rule == "gym":
        rule = _("sliding window W = {w} (gym): 0 ≤ i − j ≤ {w}, keys per query: at most {n}")
        parts.append(rule.format(w=w, n=w + 1))
    elif w is not None:
        rule = _("two-sided window ({w}, {r}) (jax): i − {w} ≤ j ≤ i + {r}, keys per query: at most {n}")
        parts.append(rule.format(w=w, r=r, n=w + r + 1))
    if spec.sink_tokens is not None:
        sinks = ngettext(
            "the first {k} key stays visible beside the window (StreamingLLM sink)",
            "the first {k} keys stay visible beside the window (StreamingLLM sinks)",
            spec.sink_tokens,
        )
        parts.append(sinks.format(k=spec.sink_tokens))
    if spec.chunk is not None:
        rule = _("chunks of {c}: ⌊j/{c}⌋ = ⌊i/{c}⌋ and j ≤ i (the earlier keys of the query's own chunk)")
        parts.append(rule.format(c=spec.chunk))
    if spec.prefix is not None:
        rule = _("prefix-LM: j < {p} or j ≤ i (the first {p} keys seen by every query, causal after)")
        parts.append(rule.format(p=spec.prefix))
    if spec.documents is not None:
        n = len(set(spec.documents))
        docs = ngettext(
            "{n} packed document: a query sees the keys of its own document only",
            "{n} packed documents: a query sees the keys of its own document only",
            n,
        )
        parts.append(docs.format(n=n))
    if parts and (w is not None or spec.chunk is not None or spec.prefix is not None):
        parts.append(_("positions i, j count from 0 (q1 is i = 0)"))
    return parts


class _SliceRenderer:
    """Renders the stages of one (T, S) slice of a result."""

    def __init__(self, result: Attention, index: tuple[int, ...], view: View) -> None:
        self.r = result
        self.idx = index
        self.view = view
        self.p = view.precision
        t, s = result.scores.shape[-2:]
        self.q_labels = _labels(view, "q", t, "q")
        self.k_labels = _labels(view, "k", s, "k")
        self.logits = "masked" if result.masked is not None else "scaled" if result.capped is None else "capped"
        i, j = view.explain_cell or (1, min(2, s))
        self.cell = (i, j)  # the 1-based score cell that captions work through
        name = (
            view.slice_name(index) if view.slice_name else _("slice {index}").format(index=", ".join(map(str, index)))
        )
        self.suffix = f"  [{name}]" if index else ""

    def part(self, a: NDArray[np.floating]) -> NDArray[np.floating]:
        """The slice `index` of an array, broadcasting leading dimensions it lacks or has as 1."""
        lead = a.shape[:-2]
        idx = tuple(0 if n == 1 else i for i, n in zip(self.idx[len(self.idx) - len(lead) :], lead, strict=True))
        part: NDArray[np.floating] = a[idx]
        return part

    def table(self, a: NDArray[np.floating], title: str, caption: str | None, **kw: object) -> Group:
        kw.setdefault("row_labels", self.q_labels)
        kw.setdefault("col_labels", self.k_labels)
        return matrix_table(self.part(a), title=title + self.suffix, caption=caption, view=self.view, **kw)  # type: ignore[arg-type]

    def inputs(self) -> RenderableType:
        r = self.r
        tables = [
            matrix_table(
                self.part(m),
                title=name,
                caption=None,
                row_labels=rows,
                col_labels=_dims(m.shape[-1]),
                view=self.view,  # cut only to the whole width: stacked, they fit where side by side they would not
            )
            for m, name, rows in (
                (r.q, _("Q (queries)"), self.q_labels),
                (r.k, _("K (keys)"), self.k_labels),
                (r.v, _("V (values)"), self.k_labels),
            )
        ]
        return Group(Text(_("0 · inputs") + self.suffix, style="bold"), Columns(tables, padding=(0, 3)))

    def scores(self) -> RenderableType:
        q, k = self.part(self.r.q), self.part(self.r.k)
        t, s = self.r.scores.shape[-2:]
        i, j = self.cell
        example = dot_expansion(q, k, i - 1, j - 1, self.q_labels[i - 1], self.k_labels[j - 1], self.p)
        queries = ngettext("{n} query", "{n} queries", t).format(n=t)
        keys = ngettext("{n} key", "{n} keys", s).format(n=s)
        caption = _("Each cell: a query row · a key row ({queries} × {keys}, d_k = {d_k}).\n{example}").format(
            queries=queries, keys=keys, d_k=self.r.d_k, example=example
        )
        return self.table(self.r.scores, _("1 · scores = Q·Kᵀ"), caption)

    def scaled(self) -> RenderableType:
        scores = self.part(self.r.scores)
        i, j = self.cell
        a, b = scores[i - 1, j - 1], self.part(self.r.scaled)[i - 1, j - 1]
        qi, kj = self.q_labels[i - 1], self.k_labels[j - 1]
        caption = _("{rule} (keeps scores from growing with d_k).\n{example}").format(
            rule=_scale_text(self.r, self.p),
            example=f"{qi}·{kj}: {num(a, self.p)} × {num(self.r.scale, self.p)} = {num(b, self.p)}",
        )
        return self.table(self.r.scaled, _("2 · scaled = scores × scale"), caption)

    def capped(self) -> RenderableType:
        assert self.r.capped is not None
        cap = self.r.variants.softcap
        i, j = self.cell
        a, b = self.part(self.r.scaled)[i - 1, j - 1], self.part(self.r.capped)[i - 1, j - 1]
        qi, kj = self.q_labels[i - 1], self.k_labels[j - 1]
        p = self.p
        caption = _(
            "Soft-capping (Gemma 2), c = {c}, applied before the mask:\n"
            "scores are squeezed into (−{c}, {c}), nearly unchanged where |s| ≪ c.\n{example}"
        ).format(
            c=num(cap or 0.0, p),
            example=f"{qi}·{kj}: {num(cap or 0.0, p)} × tanh({num(a, p)} / {num(cap or 0.0, p)}) = {num(b, p)}",
        )
        return self.table(self.r.capped, _("2b · capped = c·tanh(scaled / c)"), caption)

    def masked(self) -> RenderableType:
        assert self.r.masked is not None
        masked = self.part(self.r.masked)
        hidden = int(np.isneginf(masked).sum())
        rule = _mask_text(self.r)
        cells = ngettext(
            "{hidden} of {n} cells is −∞: it gets weight 0.", "{hidden} of {n} cells are −∞: they get weight 0.", hidden
        )
        caption = f"{rule[0].upper()}{rule[1:]}.\n" + cells.format(hidden=hidden, n=masked.size)
        return self.table(self.r.masked, _("3 · masked"), caption)

    def visible(self) -> RenderableType:
        """Which keys each query sees: ✓ and ·, with the count of visible keys per query."""
        assert self.r.allowed is not None
        allowed = self.part(self.r.allowed.astype(np.float64)) > 0
        t, s = allowed.shape
        counts = allowed.sum(axis=1)
        room = self.view.width - max(len(x) for x in self.q_labels[:50]) - 10
        col_w = max(2, *(len(x) for x in self.k_labels[:50])) + 1
        cols, rows = window(s, max(3, room // col_w)), window(t, MAX_ROWS)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("", style="bold", no_wrap=True)
        for j in cols:
            table.add_column("…" if j is None else self.k_labels[j], justify="center", no_wrap=True)
        table.add_column(_("seen"), justify="right", no_wrap=True, style="italic")
        for i in rows:
            if i is None:
                table.add_row("⋮", *["⋮" for _ in cols], "⋮")
                continue
            marks = ["…" if j is None else ("✓" if allowed[i, j] else "·") for j in cols]
            table.add_row(self.q_labels[i], *marks, str(int(counts[i])))
        lo, hi = int(counts.min()), int(counts.max())
        if lo != hi:
            seen = _("✓ = seen, · = hidden; each query sees {lo}…{hi} of {s} keys ({n} cells in all).")
        else:
            seen = _("✓ = seen, · = hidden; every query sees {lo} of {s} keys ({n} cells in all).")
        lines = [seen.format(lo=lo, hi=hi, s=s, n=int(counts.sum()))]
        lines.extend(f"{rule[0].upper()}{rule[1:]}." for rule in _mask_parts(self.r))
        blind = [self.q_labels[i] for i in range(t) if counts[i] == 0]
        if blind:
            lines.append(_("Fully masked, seeing no key: {queries}.").format(queries=", ".join(blind[:8])))
        title = _("3b · visible: which keys each query sees")
        return Group(Text(title + self.suffix, style="bold"), table, Text("\n".join(lines), style="dim"))

    def softmax(self) -> RenderableType:
        r = self.r
        row_max, row_sum = self.part(r.row_max)[:, 0], self.part(r.row_sum)[:, 0]
        shifted = self.table(
            r.shifted,
            _("4a · softmax, step 1: shifted = {logits} − row max").format(logits=self.logits),
            _(
                "Subtracting each row's max makes its largest value 0, so exp cannot overflow;\n"
                "the weights come out the same."
            ),
            extra=[(_("row max"), row_max)],
        )
        exp = self.table(
            r.exp,
            _("4b · softmax, step 2: exp(shifted)"),
            _("exp of every shifted value (a masked −∞ gives 0); the row sum is at the right."),
            extra=[(_("row sum"), row_sum)],
        )
        return Group(shifted, Text(""), exp, Text(""), self.weights(step=True))

    def weights(self, step: bool = False) -> RenderableType:
        w = self.part(self.r.weights)
        s = w.shape[1]
        i = 0
        top = int(np.nanargmax(w[i])) if np.isfinite(w[i]).any() and w[i].max() > 0 else None
        lines = [_("Every row sums to 1 (Σ at the right).")]
        if step:
            lines = [_("weights = exp ÷ row sum: every row sums to 1 (Σ at the right).")]
        if top is not None:
            most = _("{query} gives most weight to {key} ({weight}).")
            lines.append(most.format(query=self.q_labels[i], key=self.k_labels[top], weight=fmt(w[i, top], self.p)))
        if self.r.sink_weight is not None:
            sink = self.part(self.r.sink_weight)[:, 0]
            lines[0] = _("Rows sum to less than 1 (Σ at the right): the learned sink took the rest.")
            took = _("The sink (logit {logit}) took {weight} of the weight of {query}, {low}…{high} over the rows.")
            logit = self.r.variants.sinks or (0.0,)
            which = logit[self.idx[-1]] if len(logit) > 1 and self.idx else logit[0]
            lines.insert(1, took.format(
                logit=num(which, self.p), weight=fmt(sink[0], self.p), query=self.q_labels[0],
                low=fmt(float(sink.min()), self.p), high=fmt(float(sink.max()), self.p),
            ))  # fmt: skip
        empty = [e for e in self.r.empty_rows if e[:-1] == self.idx]
        hint = hints_of(self.view).empty_row
        for e in empty[:4]:
            policy = {
                "zero": _("its weights and output are 0"),
                "uniform": _("its weights are uniform (1/{s})").format(s=s),
                "nan": _("its weights and output are NaN"),
            }[self.r.empty_row]
            masked = (
                _("{query} is fully masked: {policy}.")
                if hint is None
                else _("{query} is fully masked: {policy} ({hint}).")
            )
            where = None if hint is None else hint.format(empty_row=self.r.empty_row)
            lines.append(masked.format(query=self.q_labels[e[-1]], policy=policy, hint=where))
        title = _("4c · softmax, step 3: weights") if step else _("4 · weights = softmax({logits})")
        title = title.format(logits=self.logits)
        table = self.table(
            self.r.weights, title, "\n".join(lines), extra=[("Σ", np.nansum(w, axis=1))], bold_row_max=True
        )
        if not self.view.heatmap:
            return table

        picture = heatmap(
            w,
            self.q_labels,
            self.k_labels,
            title=_("the weights as a heatmap{where}: rows = queries, columns = keys").format(where=self.suffix),
            caption=_("Brighter = more weight (colour-blind-safe scale); bold = the row's largest weight."),
            width=self.view.width,
            precision=min(self.p, 2),
            hints=hints_of(self.view),
        )
        return Group(table, Text(""), picture)

    def output(self) -> RenderableType:
        w, v = self.part(self.r.weights), self.part(self.r.v)
        out = self.part(self.r.output)
        t, s = w.shape
        lines = [_("Each output row mixes the value rows, weighted by that query's weights.")]
        if s <= 4 and v.shape[1] <= 4:
            for i in range(min(t, 4)):
                # Keys with weight 0 (masked) add nothing; leaving them out keeps the sum readable.
                terms = " + ".join(f"{num(w[i, j], self.p)}×{vec(v[j], self.p)}" for j in range(s) if w[i, j] != 0)
                lines.append(f"{self.q_labels[i]} = {terms or '0'} = {vec(out[i], self.p)}")
            if t > 4:
                lines.append(ngettext("(and {n} more row)", "(and {n} more rows)", t - 4).format(n=t - 4))
        title = _("5 · output = weights · V")
        return self.table(self.r.output, title, "\n".join(lines), col_labels=_dims(v.shape[1]))


def check_cell(cell: tuple[int, int] | None, result: Attention, argument: str = "explain_cell") -> None:
    """An InputError when the 1-based score `cell` is outside the scores matrix of `result`."""
    t, s = result.scores.shape[-2:]
    if cell is not None and not (1 <= cell[0] <= t and 1 <= cell[1] <= s):
        message = _("{i},{j} is outside the {t}×{s} scores matrix (rows 1…{t}, columns 1…{s})")
        raise InputError(message.format(i=cell[0], j=cell[1], t=t, s=s), argument=argument)


def render_attention(result: Attention, stages: Iterable[str] | None = None, view: View | None = None) -> Group:
    """A Group of tables, one per requested stage (default: all that apply), for each leading slice.

    Unknown `stages` and a `view.explain_cell` outside the scores are InputErrors naming the argument
    ("stages", "explain_cell"); the CLI checks its flags first (check_stages, check_cell)."""
    view = view or View()
    wanted = list(STAGES if stages is None else stages)
    check_stages(wanted, STAGES, argument="stages")
    check_cell(view.explain_cell, result)
    hints = hints_of(view)
    lead = result.scores.shape[:-2]
    parts: list[RenderableType] = []
    indices = [tuple(int(i) for i in idx) for idx in np.ndindex(*lead)] if lead else [()]
    if view.only_slices is not None:
        indices = [idx for idx in indices if idx in view.only_slices]
    for idx in indices[: view.max_slices]:
        sr = _SliceRenderer(result, tuple(int(i) for i in idx), view)
        for stage in STAGES:
            if stage not in wanted:
                continue
            if stage == "capped" and result.capped is None:
                continue  # only with a softcap
            if stage == "visible" and stages is None and not result.variants.any:
                continue  # drawn unasked for the structured masks only
            if stage == "visible" and result.allowed is None:
                if stages is not None:
                    parts.append(Text(_("3b · visible: nothing is masked, every query sees every key."), style="dim"))
                continue
            if stage == "masked" and result.masked is None:  # said in one line, so the numbers run 0…5
                if hints.causal is None:
                    nothing = _("3 · masked: no mask given, so nothing is masked.")
                else:
                    nothing = _("3 · masked: no mask and no {causal} given, so nothing is masked.")
                parts.extend([Text(nothing.format(causal=hints.causal), style="dim"), Text("")])
                continue
            if stage == "weights" and "softmax" in wanted:
                continue  # the softmax steps end with the weights
            parts.append(getattr(sr, stage)())
            parts.append(Text(""))
    if len(indices) > view.max_slices:
        shown = ngettext(
            "showing {shown} of {n} slice of the leading dimensions {lead}",
            "showing {shown} of {n} slices of the leading dimensions {lead}",
            len(indices),
        )
        note = cut_note([shown.format(shown=view.max_slices, n=len(indices), lead=lead)], hints.all_slices)
        parts.append(Text(note, style="dim"))
    return Group(*parts)


def render_output(out: AttentionOutput, view: View | None = None) -> Group:
    """The output of the blocked path (no stages were kept), one table per leading slice."""
    view = view or View()
    lead = out.output.shape[:-2]
    t, d_v = out.output.shape[-2:]
    indices = [tuple(int(i) for i in idx) for idx in np.ndindex(*lead)] if lead else [()]
    rows = _labels(view, "q", t, "q")
    hints = hints_of(view)
    caption = _(
        "Computed by the blocked path (online softmax over key blocks): the T×S weights were never stored,\n"
        "so only the output is shown."
    )
    if hints.other_stages is not None:
        caption += " " + hints.other_stages
    parts: list[RenderableType] = []
    for idx in indices[: view.max_slices]:
        suffix = "  [" + _("slice {index}").format(index=", ".join(str(i) for i in idx)) + "]" if idx else ""
        parts.append(
            matrix_table(
                out.output[idx],
                title=_("5 · output = weights · V") + suffix,
                caption=caption,
                row_labels=rows,
                col_labels=_dims(d_v),
                view=view,
            )
        )
    if len(indices) > view.max_slices:
        parts.append(Text(slices_note(view.max_slices, len(indices), hints.all_outputs)))
    return Group(*parts)


def html(renderable: RenderableType, width: int = 100) -> str:
    """A renderable as a self-contained HTML fragment (for Jupyter's _repr_html_)."""
    import io

    from rich.console import Console

    console = Console(record=True, file=io.StringIO(), width=width, color_system="truecolor")
    console.print(renderable)
    return console.export_html(inline_styles=True, code_format='<pre style="font-family:monospace">{code}</pre>')
