"""Rich renderables for multi-head latent attention (attncli.core.mla): the latent, the shared RoPE key,
each head's scores as the no-RoPE part plus the RoPE part, the per-head stages, the output, and what
the cache holds against standard multi-head attention. Nothing here prints."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.text import Text

from attncli.core.mla import MLA
from attncli.i18n import _
from attncli.render.decode import cache_text
from attncli.render.format import View, num
from attncli.render.tables import STAGES, matrix_table, render_attention

MAX_HEADS = 8


def _dims(n: int, prefix: str = "d") -> list[str]:
    return [f"{prefix}{j + 1}" for j in range(n)]


def render_mla(r: MLA, stages: Iterable[str] | None = None, view: View | None = None, head: int | None = None) -> Group:
    """Every stage of an MLA result; `head` (1-based) focuses the per-head stages on one head."""
    view = view or View()
    t = r.x.shape[0]
    q_labels = list(view.labels.get("q") or [f"q{i + 1}" for i in range(t)])
    k_labels = list(view.labels.get("k") or [f"k{j + 1}" for j in range(t)])
    x_labels = list(view.labels.get("q") or [f"x{i + 1}" for i in range(t)])
    shown = [head - 1] if head is not None else list(range(min(r.heads, MAX_HEADS)))
    d, p = r.dims, view.precision

    def table(a: object, title: str, caption: str | None, rows: list[str], cols: list[str]) -> Group:
        return matrix_table(a, title=title, caption=caption, row_labels=rows, col_labels=cols, view=view)  # type: ignore[arg-type]

    norm = _(", then RMSNorm'd with c_norm (DeepSeek's kv_a_layernorm)") if "c_norm" in r.weights else ""
    parts: list[RenderableType] = [
        table(
            r.c,
            _("0c · latent c = x·W_DKV"),
            _(
                "One latent row per token, d_c = {d_c} columns{norm}: keys and values of every head come from it."
            ).format(d_c=d.d_c, norm=norm),
            x_labels,
            _dims(d.d_c, "c"),
        ),
        Text(""),
        table(
            r.k_rope,
            _("0d · k_rope = RoPE(x·W_KR), shared by every head"),
            _(
                "The decoupled RoPE key: d_rope = {d_rope} columns, rotated by position, one for all {heads} heads."
            ).format(d_rope=d.d_rope, heads=r.heads),
            k_labels,
            _dims(d.d_rope),
        ),
        Text(""),
    ]
    root = num(float(d.d_nope + d.d_rope) ** 0.5, 4)
    for h in shown:
        a, b = r.scores_nope[h, 0, min(1, t - 1)], r.scores_rope[h, 0, min(1, t - 1)]
        caption = _(
            "k_nope = c·W_UK and v = c·W_UV are up-projected from the latent; q = x·W_Q splits into q_nope ({d_nope}) "
            "and q_rope ({d_rope}).\n{query}·{key}: {a} + {b} = {total}; scaled by 1/√({d_nope} + {d_rope}) = 1/{root}."
        ).format(
            d_nope=d.d_nope, d_rope=d.d_rope, query=q_labels[0], key=k_labels[min(1, t - 1)],
            a=num(float(a), p), b=num(float(b), p), total=num(float(a + b), p), root=root,
        )  # fmt: skip
        title = _("1 · scores = q_nope·k_nopeᵀ + q_rope·k_ropeᵀ  [head {h}]").format(h=h + 1)
        parts += [table(r.attention.scores[h], title, caption, q_labels, k_labels), Text("")]
    wanted = [s for s in (stages or STAGES) if s in STAGES and s not in ("inputs", "scores")]
    if stages is None and r.attention.masked is None:
        wanted.remove("masked")
    if r.attention.capped is None and "capped" in wanted:
        wanted.remove("capped")
    if stages is None and not r.attention.variants.any and "visible" in wanted:
        wanted.remove("visible")
    head_view = View(
        precision=p, width=view.width, labels=view.labels, slice_name=lambda i: _("head {h}").format(h=i[0] + 1),
        only_slices=tuple((h,) for h in shown), max_slices=MAX_HEADS, hints=view.hints,
    )  # fmt: skip
    parts.append(render_attention(r.attention, wanted, head_view))
    out = _("output = concat·W_O") if "w_o" in r.weights else _("No W_O given: the output is the concatenation")
    parts.append(table(r.output, _("7 · output"), out, q_labels, _dims(r.output.shape[1])))
    mla, mha = r.cache, r.mha_cache
    lines = [
        _("The cache holds {mla}.").format(mla=cache_text(mla)),
        _("Standard multi-head attention would hold {mha}: {ratio:.1f}× more.").format(
            mha=cache_text(mha), ratio=mha.nbytes / mla.nbytes
        ),
    ]
    parts += [Text(""), Text(_("What a decoder caches"), style="bold"), Text("\n".join(lines), style="dim")]
    return Group(*parts)
