"""`attn check`: grade a hand calculation stage by stage and name the mistake.

Exit codes: 0 every claimed stage is correct, 1 something is not, 2 bad input (as every command).
Registered by the import at the bottom of attncli.cli.app; rich is imported only when tables are printed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attncli.cli.inputs import (
    apply_labels,
    json_cost,
    load_cli_fields,
    multihead_from,
    multihead_nbytes,
    named_after_flags,
    only_the_output,
    problem_from,
    refuse_over_budget,
    resolve_sample,
    said_notes,
    solve_cli,
)
from attncli.cli.options import (
    AlignOpt,
    CausalOpt,
    ChunkOpt,
    DebugOpt,
    DocumentsOpt,
    DTypeOpt,
    EmptyRowOpt,
    JsonOpt,
    KLabelsOpt,
    KOpt,
    LabelsOpt,
    LangOpt,
    MaskOpt,
    MaxMemoryOpt,
    NoColorOpt,
    PrefixOpt,
    QOpt,
    QueryPreAttnScalarOpt,
    QuietOpt,
    SampleOpt,
    SaveHtmlOpt,
    SaveSvgOpt,
    ScaleOpt,
    SinksOpt,
    SinkTokensOpt,
    SoftcapOpt,
    VOpt,
    WindowOpt,
    WindowRightOpt,
    WindowRuleOpt,
)
from attncli.cli.output import (
    cli_hints,
    escape,
    make_console,
    output_settings,
    save_recording,
    start_recording,
    terminal_labels,
    use_language,
)
from attncli.core.memory import stages_nbytes
from attncli.core.stages import STAGE_NAMES
from attncli.errors import AttnError, InputError
from attncli.i18n import _
from attncli.problem.document import MultiHeadProblem, Problem, is_multihead

if TYPE_CHECKING:
    from attncli.analysis.grading import CheckReport
    from attncli.core.engine import Array
    from attncli.problem.mla import MLAProblem

# Claimed values, one flag per stage (parsed like --q; a masked claim may hold −∞).
ExpectScoresOpt = Annotated[str | None, typer.Option(help="Your scores Q·Kᵀ (T×S), same forms as --q.")]
ExpectScaledOpt = Annotated[str | None, typer.Option(help="Your scaled scores (T×S).")]
ExpectCappedOpt = Annotated[str | None, typer.Option(help="Your soft-capped scores c·tanh(scaled/c) (T×S; --softcap).")]
ExpectMaskedOpt = Annotated[str | None, typer.Option(help="Your masked scores (T×S; −∞ as -inf or null).")]
ExpectWeightsOpt = Annotated[str | None, typer.Option(help="Your attention weights (T×S).")]
ExpectOutputOpt = Annotated[str | None, typer.Option(help="Your output weights·V (T×d_v).")]
# Grading a class (attncli.cli.classgrade): several --input files or a pattern, one gradebook row each.
InputsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        "-i",
        help="A JSON problem document; '-' reads stdin. Several, or a pattern such as 'answers/*.json', grade a class.",
    ),
]
SummaryOpt = Annotated[bool, typer.Option("--summary", help="Grade a class: a row per submission and a summary.")]
ClassFormatOpt = Annotated[str, typer.Option("--format", help="The class's gradebook as table, csv or json.")]
SandboxOpt = Annotated[
    bool | None,
    typer.Option(
        "--sandbox/--no-sandbox",
        help="Documents may name files only in their own folder (default: on for several submissions).",
    ),
]


EPILOG = (
    "Examples:\n\n"
    "  attn check --q '[[1,0]]' --k '[[0.5,0.5],[0.3,0.7]]' --v '[[1,0],[0.5,0.5]]' --expect-output '[[0.75,0.25]]'\n\n"
    "  attn check --input homework/ivanov.json\n\n"
    "  for f in homework/*.json; do attn check --input \"$f\" --json; done | jq -s 'map(.passed)'"
)


TolOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        help="A cell matches within ±TOL (±TOL×100% for values above 1). Default: ±1 in the last decimal "
        "written, at most 1% (±0.01 up to 1).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG)(check)


def check(
    q: QOpt = None,
    k: KOpt = None,
    v: VOpt = None,
    mask: MaskOpt = None,
    causal: CausalOpt = None,
    causal_align: AlignOpt = None,
    scale: ScaleOpt = None,
    empty_row: EmptyRowOpt = None,
    dtype: DTypeOpt = None,
    window: WindowOpt = None,
    window_rule: WindowRuleOpt = None,
    window_right: WindowRightOpt = None,
    chunk: ChunkOpt = None,
    prefix: PrefixOpt = None,
    documents: DocumentsOpt = None,
    sink_tokens: SinkTokensOpt = None,
    softcap: SoftcapOpt = None,
    sinks: SinksOpt = None,
    query_pre_attn_scalar: QueryPreAttnScalarOpt = None,
    input: InputsOpt = None,
    sample: SampleOpt = None,
    labels: LabelsOpt = None,
    k_labels: KLabelsOpt = None,
    expect_scores: ExpectScoresOpt = None,
    expect_scaled: ExpectScaledOpt = None,
    expect_capped: ExpectCappedOpt = None,
    expect_masked: ExpectMaskedOpt = None,
    expect_weights: ExpectWeightsOpt = None,
    expect_output: ExpectOutputOpt = None,
    tol: TolOpt = None,
    row: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="The --expect-STAGE values are the row of this query only (its label, q3 or 3); "
            "the other rows are not graded.",
        ),
    ] = None,
    json_out: JsonOpt = False,
    precision: Annotated[int, typer.Option(min=0, max=15, help="Decimals shown for the correct values.")] = 4,
    lang: LangOpt = None,
    save_svg: SaveSvgOpt = None,
    save_html: SaveHtmlOpt = None,
    max_memory: MaxMemoryOpt = None,
    no_color: NoColorOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    summary: SummaryOpt = False,
    format: ClassFormatOpt = "table",
    sandbox: SandboxOpt = None,
) -> None:
    """Grade a hand calculation stage by stage and name the mistake (exit 0 right, 1 wrong, 2 bad input).

    Claimed values come from --expect-STAGE flags and/or the "expected" object of a problem document.
    """
    use_language(lang.value if lang is not None else None)
    output_settings(no_color, quiet)
    claims = (expect_scores, expect_scaled, expect_capped, expect_masked, expect_weights, expect_output)
    from attncli.cli.classgrade import ClassRequest, grade_class, is_class_request

    if is_class_request(input, summary, sandbox):
        given = [
            name
            for name, value in (("--q", q), ("--k", k), ("--v", v), ("--mask", mask), ("--sample", sample))
            if value is not None
        ] + [f"--expect-{s}" for s, c in zip(STAGE_NAMES, claims, strict=True) if c]
        raise typer.Exit(
            grade_class(ClassRequest(input or [], tol, "json" if json_out else format, sandbox, given=tuple(given)))
        )
    from attncli.cli.run_compute import variant_settings

    settings: dict[str, object] = {"causal": causal, "scale": scale}
    for name, choice in (("causal_align", causal_align), ("empty_row", empty_row), ("dtype", dtype)):
        settings[name] = choice.value if choice is not None else None
    settings.update(variant_settings(
        window=window, window_rule=window_rule.value if window_rule is not None else None,
        window_right=window_right, chunk=chunk, prefix=prefix, documents=documents, sink_tokens=sink_tokens,
        softcap=softcap, sinks=sinks, query_pre_attn_scalar=query_pre_attn_scalar,
    ))  # fmt: skip
    request = CheckRequest(
        matrices={"q": q, "k": k, "v": v, "mask": mask},
        settings=settings,
        input=input[0] if input else None,
        sample=sample,
        labels=(labels, k_labels),
        claims=dict(zip(STAGE_NAMES, claims, strict=True)),
        tol=tol,
        row=row,
        json_out=json_out,
        precision=precision,
        save_svg=save_svg,
        save_html=save_html,
        max_memory=max_memory,
    )
    if not run_check(request):
        raise typer.Exit(1)


@dataclass(frozen=True)
class CheckRequest:
    """What `attn check` was asked for, from its flags (matrices and claims still as the text given)."""

    matrices: Mapping[str, str | None]  # q, k, v, mask
    settings: Mapping[str, object]  # causal, causal_align, scale, empty_row, dtype, the variants (None: not given)
    input: str | None = None  # a problem document ('-': stdin)
    sample: str | None = None  # a bundled sample, instead of input
    claims: Mapping[str, str | None] = field(default_factory=dict)  # --expect-STAGE, by stage
    tol: float | None = None  # None: the default rule (attncli.analysis.grading)
    row: str | None = None  # --row: the claims are the row of this query only
    json_out: bool = False
    precision: int = 4
    save_svg: Path | None = None
    save_html: Path | None = None
    max_memory: str | None = None
    labels: tuple[str | None, str | None] = (None, None)  # --labels, --k-labels


def run_check(request: CheckRequest) -> bool:
    """Grade the request's claims and show the report; True when every claimed stage is correct."""
    from attncli.analysis.grading import check as grade

    if (request.save_svg or request.save_html) and request.json_out:
        message = _("records the tables of the terminal; it does not go with --json")
        raise InputError(message, argument="--save-svg")
    input = resolve_sample(request.sample, request.input)
    problem = _load_problem(request, input)
    expected, origin = _claims(request, problem, input)
    from attncli.serialize.files import check_output

    for path, flag in ((request.save_svg, "--save-svg"), (request.save_html, "--save-html")):
        if path is not None:  # before grading: not one of the inputs, and writable
            check_output(path, flag)
    # The messages name cells by the labels: on the terminal with their control characters written out.
    shown = {key: tuple(names) for key, names in terminal_labels(problem.labels).items()}
    graded = problem if request.json_out else replace(problem, labels=shown)
    try:
        report = grade(graded, expected, tol=request.tol)
    except AttnError as e:
        stage = (e.argument or "").removeprefix("expected.")
        raise e.with_argument(origin.get(stage, e.argument or "check")) from None
    _show(request, problem, report, _source(problem, input))
    return report.passed


def _source(problem: Problem | MultiHeadProblem | MLAProblem, input: str | None) -> str | None:
    """Where the problem and its claims came from, for the report: a file, stdin, or None (flags only)."""
    return None if input is None and not problem.expected else ("stdin" if input in (None, "-") else input)


def _load_problem(request: CheckRequest, input: str | None) -> Problem | MultiHeadProblem | MLAProblem:
    """The problem to grade, from the flags and/or the document, refused when grading would not fit."""
    from attncli.cli.run_compute import check_variants

    # Grading keeps the correct stages and tries the catalogue's mistakes on them: about twice the tables.
    what = _("grading (twice the stage tables)")
    instead = _("check a smaller problem; {instead}").format(instead=only_the_output())

    def before_loading(shapes: dict[str, tuple[int, ...]], dtype: str) -> None:  # the estimate, from the headers
        if {"q", "k", "v"} <= set(shapes):
            try:
                need = 2 * stages_nbytes(shapes["q"], shapes["k"], shapes["v"], dtype)
            except AttnError:
                return  # shapes that do not fit: loading them says so, with the flags
            refuse_over_budget(need, request.max_memory, what, instead)

    fields, source_name = load_cli_fields(
        matrices=dict(request.matrices), input=input, settings=dict(request.settings), before_loading=before_loading
    )
    apply_labels(fields, *request.labels)
    flags = {**request.matrices, **request.settings}
    check_variants(fields, source_name, flags)
    problem: Problem | MultiHeadProblem | MLAProblem
    if fields.get("mla") is not None:  # multi-head latent attention: graded as multi-head
        from attncli.problem.document import variants_of
        from attncli.problem.mla import build_mla

        mla = build_mla(fields, source_name, variants_of(fields, source_name))
        refuse_over_budget(4 * 8 * mla.score_cells(), request.max_memory, what, instead)
        return mla
    if is_multihead(fields):  # e.g. samples/mha-*.json: per-head stages and the final output are graded
        problem = multihead_from(fields, source_name)
        need = 2 * multihead_nbytes(problem)
        refuse_over_budget(need + _json_cost(request, need // 2, problem.dtype), request.max_memory, what, instead)
    else:
        problem = problem_from(fields, source_name)
        try:
            need = 2 * stages_nbytes(problem.q.shape, problem.k.shape, problem.v.shape, problem.dtype)
        except AttnError as e:
            raise named_after_flags(e, flags) from None
        refuse_over_budget(need + _json_cost(request, need // 2, problem.dtype), request.max_memory, what, instead)
        solve_cli(problem, flags)
    return problem


def _json_cost(request: CheckRequest, tables: int, dtype: str) -> int:
    """--json: printing the report's tables (the correct and the claimed stages) takes memory as well."""
    return json_cost(tables, dtype) if request.json_out else 0


def _claims(
    request: CheckRequest, problem: Problem | MultiHeadProblem | MLAProblem, input: str | None
) -> tuple[dict[str, Array], dict[str, str]]:
    """The claimed stages (the flags' over the document's), and where each came from, so that an error
    names the flag or the document key."""
    from attncli.parse.matrix import parse_claim

    source = _source(problem, input)
    expected = dict(problem.expected)
    origin = {"tol": "--tol", **{stage: f"{source}: expected.{stage}" for stage in expected}}
    for stage in STAGE_NAMES:
        text = request.claims.get(stage)
        if text is not None:
            origin[stage] = f"--expect-{stage}"
            with said_notes():
                expected[stage] = parse_claim(text, origin[stage], "mask" if stage == "masked" else "matrix")
            if request.row is not None:
                expected[stage] = _one_row(expected[stage], request.row, problem, origin[stage])
    if not expected:
        raise InputError(
            _(
                "nothing to check: give your values with --expect-scores, --expect-scaled, --expect-capped, "
                '--expect-masked, --expect-weights or --expect-output, or an "expected" object in the problem '
                "document"
            ),
            argument="check",
        )
    return expected, origin


def _one_row(claim: Array, row: str, problem: Problem | MultiHeadProblem | MLAProblem, argument: str) -> Array:
    """--row NAME: the claim is the row of that query only (NAME: a query's label, q3, or 3)."""
    import numpy as np

    if not isinstance(problem, Problem) or problem.q.ndim != 2:
        raise InputError(_("grades one row of a single-head problem with one Q matrix"), argument="--row")
    names = list(problem.labels.get("q", ())) or [f"q{i + 1}" for i in range(problem.q.shape[0])]
    index = names.index(row) if row in names else None
    if index is None and row.removeprefix("q").isdigit() and 1 <= int(row.removeprefix("q")) <= len(names):
        index = int(row.removeprefix("q")) - 1
    if index is None:
        message = _("no query {row!r} (the queries: {names})").format(row=row, names=", ".join(names))
        raise InputError(message, argument="--row")
    if claim.ndim != 2 or claim.shape[0] != 1:
        message = _("with --row, give the one row of query {row!r}, not {rows} rows").format(
            row=row, rows=claim.shape[0]
        )
        raise InputError(message, argument=argument)
    out: Array = np.full((len(names), claim.shape[1]), np.nan)
    out[index] = claim[0]
    return out


def _show(
    request: CheckRequest, problem: Problem | MultiHeadProblem | MLAProblem, report: CheckReport, source: str | None
) -> None:
    """The report as strict JSON, or as tables (recorded for --save-svg/--save-html)."""
    if request.json_out:
        from attncli.render.check import report_json

        sys.stdout.write(report_json(report, source, problem.title) + "\n")
        return
    from attncli.render.check import render_check
    from attncli.render.format import View

    start_recording(request.save_svg, request.save_html)
    console = make_console()
    if problem.title:
        console.print(f"[bold]{escape(problem.title)}[/bold]")
    view = View(
        precision=request.precision, width=console.width, labels=terminal_labels(problem.labels), hints=cli_hints()
    )
    console.print(render_check(report, view))
    save_recording(console, request.save_svg, request.save_html, problem.title)
