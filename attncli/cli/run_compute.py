"""`attn compute` without Typer: the request, reading the problem from flags, documents and stdin,
solving (the blocked path when only the output is wanted or the tables would not fit), saving, and
showing tables or JSON.

attncli.cli.compute declares the Typer command; attncli.cli.entry runs plain `attn compute`
invocations directly (attncli.cli.fastpath reads their arguments), so they start without Typer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from attncli.cli.inputs import (
    apply_labels,
    blas_threads,
    load_cli_fields,
    multihead_from,
    multihead_output_only,
    named_after_flags,
    output_only_needed,
    problem_from,
    resolve_sample,
    solve_cli,
    solve_output_cli,
    warn_empty_rows,
    warn_mask,
    warn_output_empty_rows,
)
from attncli.cli.output import Presentation, ProgressBar, output_settings, use_language, warn
from attncli.cli.view import check_view, compute_page, head_slice
from attncli.core.stages import MULTIHEAD_STAGES, TABLE_STAGES, check_stages
from attncli.errors import AttnError, InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from pathlib import Path

    from attncli.core.blocked import AttentionOutput
    from attncli.core.decode import DecodeStep
    from attncli.core.engine import Attention
    from attncli.core.multihead import MultiHead
    from attncli.problem.document import MultiHeadProblem, Problem
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


MATRIX_FLAGS = (
    *("q", "k", "v", "mask", "x", "q_input", "kv_input", "wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo"),
    *("q_norm", "k_norm"),
)
SETTING_FLAGS = (
    *("causal", "causal_align", "scale", "empty_row", "dtype", "heads", "kv_heads", "random_weights", "seed"),
    *("positional", "rope", "rope_style", "rope_base", "alibi", "qk_norm", "qk_norm_eps"),
    *("window", "window_rule", "window_right", "chunk", "prefix", "documents", "sink_tokens", "softcap", "sinks"),
    "query_pre_attn_scalar",
    "decode",
    "mla",
)


@dataclass(frozen=True)
class ComputeRequest:
    """What `attn compute` was asked, as its options say (None: not given). Made by the Typer command
    and by the fast path alike (from_options), so that both run the same request."""

    matrices: Mapping[str, str | None]  # q, k, v, mask, x, q_input, …, bo: the text of each flag
    settings: Mapping[str, Any]  # causal, causal_align, scale, …, alibi: parsed values
    input: str | None  # --input (or --sample's file, once resolved)
    sample: str | None
    stages: list[str] | None
    head: int | None
    average_heads: bool
    threads: int | None
    save: Path | None
    max_memory: str | None
    presentation: Presentation
    explain_cell: str | None
    no_color: bool
    quiet: bool
    lang: str | None
    view: Path | None = None  # --view FILE.html: the interactive page
    labels: tuple[str | None, str | None] = (None, None)  # --labels, --k-labels

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ComputeRequest:
        """From the options by parameter name (choices as enums or as their values)."""
        o: dict[str, Any] = {k: v.value if isinstance(v, StrEnum) else v for k, v in options.items()}
        presentation = Presentation(
            o["json_out"], o["format"], o["precision"], None, o["save_svg"], o["save_html"], bool(o["heatmap"])
        )
        return cls(
            matrices={name: o[name] for name in MATRIX_FLAGS},
            settings={name: o[name] for name in SETTING_FLAGS},
            input=o["input"], sample=o["sample"], stages=list(o["stage"]) if o["stage"] else None,
            head=o["head"], average_heads=bool(o["average_heads"]), threads=o["threads"], save=o["save"],
            max_memory=o["max_memory"], presentation=presentation, explain_cell=o["explain_cell"],
            no_color=bool(o["no_color"]), quiet=bool(o["quiet"]), lang=o["lang"], view=o["view"],
            labels=(o["labels"], o["k_labels"]),
        )  # fmt: skip


def _documents(text: str | None) -> tuple[int, ...] | None:
    """--documents 0,0,1,1 (spaces allowed) as document ids."""
    if text is None:
        return None
    parts = [p for p in text.replace(",", " ").split()]
    try:
        ids = tuple(int(p) for p in parts)
    except ValueError:
        ids = ()
    if not ids:
        message = _("expected document ids like 0,0,0,1,1 (one whole number per token), got {text!r}")
        raise InputError(message.format(text=text), argument="--documents")
    return ids


def _sinks(text: str | None) -> tuple[float, ...] | None:
    """--sinks 0.5,-1 (one learned sink logit per head) as numbers."""
    if text is None:
        return None
    import math

    try:
        values = tuple(float(p) for p in text.replace(",", " ").split())
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(x) for x in values):
        message = _("expected sink logits like 0.5,-1 (one finite number per head), got {text!r}")
        raise InputError(message.format(text=text), argument="--sinks")
    return values


def variant_settings(**flags: Any) -> dict[str, Any]:
    """The variant flags' values as problem fields: --documents and --sinks parsed, the rest as given."""
    return {**flags, "documents": _documents(flags.get("documents")), "sinks": _sinks(flags.get("sinks"))}


def _mla(text: str | None) -> dict[str, Any] | None:
    """--mla 4,2,2,2: the dimensions d_c, d_rope, d_nope, d_v of multi-head latent attention (random weights)."""
    if text is None:
        return None
    from attncli.problem.mla import DIM_KEYS, dims_of

    try:
        values = [int(p) for p in text.replace(",", " ").split()]
    except ValueError:
        values = []
    if len(values) != 4:
        message = _("expected the widths d_c,d_rope,d_nope,d_v like 4,2,2,2 (four whole numbers), got {text!r}")
        raise InputError(message.format(text=text), argument="--mla")
    try:
        dims = dims_of(dict(zip(DIM_KEYS, values, strict=True)), "mla")
    except AttnError as e:
        raise e.with_argument("--mla") from None
    return {"dims": dims, "weights": {}, "c_norm_eps": 1e-6}


def check_variants(fields: dict[str, Any], source: str | None, flags: dict[str, Any]) -> None:
    """The structured masks fit together (window_right with the jax rule, sink tokens with a window);
    an error names the flag, or the document's key."""
    from attncli.problem.document import variants_of

    try:
        variants_of(fields, None)
    except AttnError as e:
        if flags.get(e.argument or "") is not None or source is None:
            raise named_after_flags(e, flags) from None
        raise e.with_argument(f"{source}: {e.argument}") from None


def run_compute(request: ComputeRequest) -> None:
    """`attn compute`: read the problem, compute, then render tables or print JSON (see attncli.cli.compute)."""
    use_language(request.lang)
    input = resolve_sample(request.sample, request.input)

    from attncli.problem.document import is_multihead

    cell = _parse_cell(request.explain_cell) if request.explain_cell else None
    pres = replace(request.presentation, explain_cell=cell)
    pres.check()
    output_settings(request.no_color, request.quiet)
    check_view(request.view, (input, *request.matrices.values()))
    settings = {
        **request.settings,
        "documents": _documents(request.settings["documents"]),
        "sinks": _sinks(request.settings["sinks"]),
        "mla": _mla(request.settings["mla"]),
    }
    fields, source = load_cli_fields(matrices=dict(request.matrices), input=input, settings=settings)
    apply_labels(fields, *request.labels)
    _check_outputs(request.save, pres)  # after reading the inputs (none may be overwritten), before the work
    flags: dict[str, Any] = {**request.matrices, **request.settings}
    check_variants(fields, source, flags)
    if fields.get("mla") is not None:
        from attncli.cli.mla import MLARequest, compute_mla

        compute_mla(
            fields,
            source,
            flags,
            MLARequest(request.stages, request.head, request.threads, request.view, request.max_memory),
            pres,
        )
        return
    if is_multihead(fields) or request.head is not None or request.average_heads:
        _compute_multihead(multihead_from(fields, source), flags, request, pres)
        return
    try:
        check_stages(request.stages, TABLE_STAGES)
    except AttnError as e:
        raise e.with_argument("--stage") from None
    save = request.save
    problem = problem_from(fields, source)
    try:
        # --view keeps every stage (the page's head view needs the weights) unless they do not fit
        asked = None if request.view is not None else request.stages
        output_only = output_only_needed(problem, asked, request.max_memory, pres.json_out)
    except AttnError as e:
        raise named_after_flags(e, flags) from None
    if output_only and problem.decode is not None:
        message = _("a decoding step shows its weights beside the full recompute; the stages do not fit in memory")
        raise InputError(message, argument="--decode")
    if output_only and request.view is not None:
        message = _("the page needs every stage, and this problem's stages do not fit in memory (see --max-memory)")
        raise InputError(message, argument="--view")
    with blas_threads(request.threads):
        result = solve_output_cli(problem, flags, request.threads) if output_only else solve_cli(problem, flags)
    decode = None if output_only else _decoded(cast("Attention", result), problem.decode, flags, source)
    if request.view is not None:  # the page of every stage, also with --save
        from attncli.serialize.strict_json import to_json

        att = cast("Attention", result)
        json_text = lambda: to_json(att, problem, request.stages, decode=decode)  # noqa: E731
        compute_page(request.view, [[att]], problem, request.stages, pres.precision, json_text)
    if save is not None:
        _save(save, result.output if output_only else result)
        if not (pres.json_out or pres.format or pres.save_svg or pres.save_html):
            return  # --save alone: the file is the result (--save-svg/--save-html record the tables as well)
    _show_single(problem, result, request.stages, pres, decode)


def _decoded(result: Attention, new: int | None, flags: dict[str, Any], source: str | None, kv_heads: int | None = None
             ) -> DecodeStep | None:  # fmt: skip
    """The KV-cache decoding step of the last `new` queries, if asked; errors name --decode or the key."""
    if new is None:
        return None
    from attncli.core.decode import decode_step

    try:
        return decode_step(result, new, kv_heads)
    except AttnError as e:
        argument = e.argument or "decode"
        if flags.get(argument) is None and source is not None:
            raise e.with_argument(f"{source}: {argument}") from None
        raise e.with_argument("--" + argument.replace("_", "-")) from None  # (decode, causal_align: both flags)


def _show_single(
    problem: Problem,
    result: Attention | AttentionOutput,
    stages: list[str] | None,
    pres: Presentation,
    decode: DecodeStep | None = None,
) -> None:
    """Tables, text or JSON of a single-head result (rich, through attncli.render, only when tables are drawn)."""
    from attncli.core.engine import Attention
    from attncli.serialize import strict_json as serialize

    if not isinstance(result, Attention):
        out = result

        def draw_output(view: View) -> Any:
            from attncli.render.tables import render_output

            return render_output(out, view)

        json_text = lambda: serialize.dumps(serialize.output_dict(out, problem))  # noqa: E731
        pres.show(title=problem.title, labels=problem.labels, json_text=json_text, tables=None, render=draw_output)
        return
    stages_result = result

    def tables() -> list[StageTable]:  # (the text formats' tables: --json starts without them)
        from attncli.serialize.export import stage_tables

        return stage_tables(stages_result, stages, problem.labels)

    def draw_stages(view: View) -> Any:
        from rich.console import Group
        from rich.text import Text

        from attncli.render.tables import render_attention

        if decode is None:
            return render_attention(stages_result, stages, view)
        from attncli.render.decode import render_decode

        shown = render_attention(stages_result, stages, view) if stages else Text("")  # the step alone by default
        return Group(shown, render_decode(decode, view))

    pres.show(
        title=problem.title,
        labels=problem.labels,
        json_text=lambda: serialize.to_json(stages_result, problem, stages, decode=decode),
        tables=tables,
        render=draw_stages,
    )


def _check_outputs(save: Path | None, pres: Presentation) -> None:
    """Every output file, checked before the work is done: a known type, writable, not one of the inputs."""
    if save is None and pres.save_svg is None and pres.save_html is None:
        return  # (and a command that writes no file starts without attncli.serialize.files)
    from attncli.serialize.files import check_output

    if save is not None:
        check_output(save, "--save")  # first: that it is one of the inputs matters more than its type
        if save.suffix not in (".npy", ".npz"):
            message = _("unknown file type '{suffix}' (use .npy or .npz)").format(suffix=save.suffix or save.name)
            raise InputError(message, argument="--save")
    for path, flag in ((pres.save_svg, "--save-svg"), (pres.save_html, "--save-html")):
        if path is not None:
            check_output(path, flag)


def _save(path: Path, result: Any, arrays: dict[str, Any] | None = None) -> None:
    """Write the output (.npy) or every kept stage (.npz, or `arrays` when given), atomically."""
    import numpy as np

    from attncli.core.engine import Attention
    from attncli.serialize.files import write_atomic

    output = result.output if isinstance(result, Attention) else result
    if path.suffix == ".npy":
        write_atomic(path, lambda f: np.save(f, output), "--save")
    else:
        if arrays is None:
            arrays = _stage_arrays(result) if isinstance(result, Attention) else {"output": result}
        write_atomic(path, lambda f: np.savez(f, **arrays), "--save")
    saved = _("saved the output to {path}") if path.suffix == ".npy" else _("saved the stages to {path}")
    warn(saved.format(path=path), note=True)


def _stage_arrays(result: Attention) -> dict[str, Any]:
    names = ("q", "k", "v", "scores", "scaled", "masked", "row_max", "shifted", "exp", "row_sum", "weights", "output")
    return {n: getattr(result, n) for n in names if getattr(result, n) is not None}


def _multihead_arrays(result: MultiHead) -> dict[str, Any]:
    """What a multi-head .npz holds: the per-head stages (a leading head axis), the projections and the output."""
    arrays = {f"heads_{name}": value for name, value in _stage_arrays(result.attention).items()}
    q, k, v = result.projected
    arrays.update(projected_q=q, projected_k=k, projected_v=v, concat=result.concat, output=result.output)
    arrays.update({name: value for name, value in result.weights.items()})
    return arrays


def _compute_multihead(
    problem: MultiHeadProblem, flags: dict[str, Any], request: ComputeRequest, pres: Presentation
) -> None:
    stages, head, average_heads, max_memory = request.stages, request.head, request.average_heads, request.max_memory
    try:
        check_stages(stages, MULTIHEAD_STAGES)
    except AttnError as e:
        raise e.with_argument("--stage") from None
    try:
        needs_stages = next((flag for flag, given in (
            ("--head", head is not None), ("--average-heads", average_heads),
            ("--decode", problem.decode is not None), ("--view", request.view is not None),
        ) if given), None)  # fmt: skip
        output_only = multihead_output_only(problem, stages, max_memory, pres.json_out, request.threads, needs_stages)
    except AttnError as e:
        raise named_after_flags(e, flags) from None
    if output_only:
        _multihead_output(problem, flags, request, pres)
        return
    try:
        result = problem.solve()
    except AttnError as e:
        raise named_after_flags(e, flags) from None
    if head is not None and head > result.heads:
        message = ngettext("there is {n} head; choose 1…{n}", "there are {n} heads; choose 1…{n}", result.heads)
        raise InputError(message.format(n=result.heads), argument="--head")
    warn_mask(problem.mask)
    warn_empty_rows(result.attention, "head")
    decode = _decoded(result.attention, problem.decode, flags, None, result.kv_heads)
    if request.save is not None:
        _save(request.save, result.output, _multihead_arrays(result))
        if not (pres.json_out or pres.format or pres.save_svg or pres.save_html):
            return
    from attncli.serialize import strict_json as serialize
    from attncli.serialize.export import stage_tables

    def tables() -> list[StageTable]:
        shown = [s for s in (stages or TABLE_STAGES) if s in TABLE_STAGES]
        per_head = stage_tables(result.attention, shown, problem.labels, slice_name="head")
        return [t for t in per_head if head is None or t.slice_index == (head - 1,)]

    def render(view: View) -> Any:
        from rich.console import Group

        from attncli.render.decode import render_decode
        from attncli.render.multihead import render_multihead

        if decode is None:
            return render_multihead(result, stages, view, head=head, average=average_heads)
        shown = [render_multihead(result, stages, view, head=head, average=average_heads)] if stages else []
        return Group(*shown, render_decode(decode, view, head=0 if head is None else head - 1))

    def json_text() -> str:
        return serialize.dumps(
            serialize.with_decode(serialize.multihead_dict(result, problem, stages, average_heads), decode)
        )

    pres.show(
        title=problem.title,
        labels=problem.labels,
        json_text=json_text,
        tables=tables,
        render=render,
    )
    if request.view is not None:
        per_head = [[head_slice(result.attention, h) for h in range(result.heads)]]
        compute_page(request.view, per_head, problem, stages, pres.precision, json_text, head=head)


def _multihead_output(problem: MultiHeadProblem, flags: dict[str, Any], request: ComputeRequest, pres: Presentation
                      ) -> None:  # fmt: skip
    """A multi-head problem's output alone: every head by the blocked path, then concat and W_o."""
    from attncli.core.blocked import Tiling
    from attncli.serialize import strict_json as serialize

    progress = ProgressBar(_("attention"))
    try:
        with blas_threads(request.threads):
            result = problem.solve_output(Tiling(threads=request.threads, progress=progress))
    except AttnError as e:
        raise named_after_flags(e, flags) from None
    finally:
        progress.close()
    warn_mask(problem.mask)
    warn_output_empty_rows(result.attention, per_head=True)
    if request.save is not None:
        _save(request.save, result.output, {"heads_output": result.attention.output, "output": result.output})
        if not (pres.json_out or pres.format or pres.save_svg or pres.save_html):
            return

    def render(view: View) -> Any:
        from attncli.render.multihead import render_multihead_output

        return render_multihead_output(result, view)

    json_text = lambda: serialize.dumps(serialize.multihead_output_dict(result, problem))  # noqa: E731
    pres.show(title=problem.title, labels=problem.labels, json_text=json_text, tables=None, render=render)
