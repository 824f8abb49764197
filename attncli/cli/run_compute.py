"""What the commands do, without Typer: reading problems from flags, documents and stdin, solving,
warnings, the blocked path, saving, and printing tables or JSON.

attncli.cli.app declares the Typer commands and calls these; attncli.cli.entry calls run_compute directly for
plain `attn compute` invocations, so they start without importing Typer (see attncli.cli.fastpath).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from attncli.cli.inputs import (
    blas_threads,
    load_cli_fields,
    multihead_nbytes,
    named_after_flags,
    only_the_output,
    output_only_needed,
    refuse_over_budget,
    resolve_sample,
    solve_cli,
    solve_output_cli,
    warn_empty_rows,
    warn_mask,
)
from attncli.cli.output import Presentation, output_settings, use_language
from attncli.errors import AttnError, InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from pathlib import Path

    from attncli.core.engine import Attention
    from attncli.problem.document import MultiHeadProblem
    from attncli.render.format import View
    from attncli.serialize.export import StageTable


def _parse_cell(text: str) -> tuple[int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        i, j = (int(p) for p in parts)
    except ValueError:
        message = _("expected ROW,COLUMN like 1,2 (1-based), got {text!r}").format(text=text)
        raise InputError(message, argument="--explain-cell") from None
    return i, j


def run_compute(
    *,
    q: Any,
    k: Any,
    v: Any,
    mask: Any,
    causal: Any,
    causal_align: Any,
    scale: Any,
    empty_row: Any,
    dtype: Any,
    input: Any,
    sample: Any,
    json_out: Any,
    stage: Any,
    precision: Any,
    explain_cell: Any,
    x: Any,
    q_input: Any,
    kv_input: Any,
    wq: Any,
    wk: Any,
    wv: Any,
    wo: Any,
    bq: Any,
    bk: Any,
    bv: Any,
    bo: Any,
    heads: Any,
    kv_heads: Any,
    head: Any,
    average_heads: Any,
    random_weights: Any,
    seed: Any,
    positional: Any,
    rope: Any,
    rope_style: Any,
    rope_base: Any,
    alibi: Any,
    threads: Any,
    save: Any,
    max_memory: Any,
    format: Any,
    heatmap: Any,
    save_svg: Any,
    save_html: Any,
    no_color: Any,
    quiet: Any,
    lang: Any,
    debug: Any,
) -> None:
    """`attn compute`: parse the problem, compute, then render tables or print JSON (see attncli.cli.app)."""
    use_language(lang)
    input = resolve_sample(sample, input)

    from attncli.problem.document import build_multihead, build_problem, is_multihead

    cell = _parse_cell(explain_cell) if explain_cell else None
    pres = Presentation(json_out, format, precision, cell, save_svg, save_html, bool(heatmap))
    pres.check()
    output_settings(no_color, quiet)
    matrices = {
        "q": q, "k": k, "v": v, "mask": mask, "x": x, "q_input": q_input, "kv_input": kv_input,
        "wq": wq, "wk": wk, "wv": wv, "wo": wo, "bq": bq, "bk": bk, "bv": bv, "bo": bo,
    }  # fmt: skip
    settings = {
        "causal": causal,
        "causal_align": causal_align,
        "scale": scale,
        "empty_row": empty_row,
        "dtype": dtype,
        "heads": heads,
        "kv_heads": kv_heads,
        "random_weights": random_weights,
        "seed": seed,
        "positional": positional,
        "rope": rope,
        "rope_style": rope_style,
        "rope_base": rope_base,
        "alibi": alibi,
    }
    fields, source = load_cli_fields(matrices=matrices, input=input, settings=settings)
    flags = {**matrices, **settings}
    stages = list(stage) if stage else None
    if is_multihead(fields) or head is not None or average_heads:
        _compute_multihead(build_multihead(fields, source), flags, stages, pres, head, average_heads, max_memory)
        return
    from attncli.core.stages import TABLE_STAGES as STAGES

    for name in stages or ():
        if name not in STAGES:
            message = _("unknown stage {name!r} (choose from {stages})").format(name=name, stages=", ".join(STAGES))
            raise InputError(message, argument="--stage")
    if save is not None and save.suffix not in (".npy", ".npz"):
        message = _("unknown file type '{suffix}' (use .npy or .npz)").format(suffix=save.suffix or save.name)
        raise InputError(message, argument="--save")
    problem = build_problem(fields, source)
    try:
        output_only = output_only_needed(problem, stages, max_memory)
    except AttnError as e:
        raise named_after_flags(e, flags) from None
    with blas_threads(threads):
        if output_only:
            out = solve_output_cli(problem, flags, threads)
        else:
            result = solve_cli(problem, flags)
    if save is not None:
        _save(save, out.output if output_only else result)
        if not json_out and not pres.format:
            return
    from attncli.serialize import strict_json as serialize
    from attncli.serialize.export import stage_tables

    # rich (through attncli.render.tables) is imported only when tables are drawn
    def draw_output(view: View) -> Any:
        from attncli.render.tables import render_output

        return render_output(out, view)

    def draw_stages(view: View) -> Any:
        from attncli.render.tables import render_attention

        return render_attention(result, stages, view)

    if output_only:
        json_text = lambda: serialize.dumps(serialize.output_dict(out, problem))  # noqa: E731
        pres.show(title=problem.title, labels=problem.labels, json_text=json_text, tables=None, render=draw_output)
    else:
        pres.show(
            title=problem.title,
            labels=problem.labels,
            json_text=lambda: serialize.to_json(result, problem, stages),
            tables=lambda: stage_tables(result, stages, problem.labels),
            render=draw_stages,
        )


def _save(path: Path, result: Any) -> None:
    """Write the output (.npy) or every kept stage (.npz)."""
    import numpy as np

    from attncli.core.engine import Attention

    try:
        if path.suffix == ".npy":
            np.save(path, result.output if isinstance(result, Attention) else result)
        else:
            arrays = _stage_arrays(result) if isinstance(result, Attention) else {"output": result}
            np.savez(path, **arrays)
    except OSError as e:
        message = _("cannot write '{path}': {reason}").format(path=path, reason=e.strerror)
        raise InputError(message, argument="--save") from None
    saved = _("attn: saved the output to {path}") if path.suffix == ".npy" else _("attn: saved the stages to {path}")
    print(saved.format(path=path), file=sys.stderr)


def _stage_arrays(result: Attention) -> dict[str, Any]:
    names = ("q", "k", "v", "scores", "scaled", "masked", "row_max", "shifted", "exp", "row_sum", "weights", "output")
    return {n: getattr(result, n) for n in names if getattr(result, n) is not None}


def _compute_multihead(
    problem: MultiHeadProblem,
    flags: dict[str, Any],
    stages: list[str] | None,
    pres: Presentation,
    head: int | None,
    average_heads: bool,
    max_memory: str | None,
) -> None:
    from attncli.core.stages import MULTIHEAD_STAGES

    for name in stages or ():
        if name not in MULTIHEAD_STAGES:
            message = _("unknown stage {name!r} (choose from {stages})")
            raise InputError(message.format(name=name, stages=", ".join(MULTIHEAD_STAGES)), argument="--stage")
    refuse_over_budget(multihead_nbytes(problem), max_memory, _("the multi-head stage tables"), only_the_output())
    try:
        result = problem.solve()
    except AttnError as e:
        raise named_after_flags(e, flags) from None
    if head is not None and head > result.heads:
        message = ngettext("there is {n} head; choose 1…{n}", "there are {n} heads; choose 1…{n}", result.heads)
        raise InputError(message.format(n=result.heads), argument="--head")
    warn_mask(problem.mask)
    warn_empty_rows(result.attention, "head")
    from attncli.serialize import strict_json as serialize
    from attncli.serialize.export import stage_tables

    def tables() -> list[StageTable]:
        from attncli.core.stages import TABLE_STAGES

        shown = [s for s in (stages or TABLE_STAGES) if s in TABLE_STAGES]
        per_head = stage_tables(result.attention, shown, problem.labels, slice_name="head")
        return [t for t in per_head if head is None or t.slice_index == (head - 1,)]

    def render(view: View) -> Any:
        from attncli.render.multihead import render_multihead

        return render_multihead(result, stages, view, head=head, average=average_heads)

    pres.show(
        title=problem.title,
        labels=problem.labels,
        json_text=lambda: serialize.dumps(serialize.multihead_dict(result, problem, stages, average_heads)),
        tables=tables,
        render=render,
    )
