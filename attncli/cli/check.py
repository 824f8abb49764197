"""`attn check`: grade a hand calculation stage by stage and name the mistake.

Exit codes: 0 every claimed stage is correct, 1 something is not, 2 bad input (as every command).
Registered by the import at the bottom of attncli.cli.app; rich is imported only when tables are printed.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from attncli.analysis.grading import DEFAULT_TOL
from attncli.cli.inputs import (
    load_cli_fields,
    multihead_nbytes,
    named_after_flags,
    only_the_output,
    refuse_over_budget,
    resolve_sample,
    solve_cli,
)
from attncli.cli.options import (
    AlignOpt,
    CausalOpt,
    DebugOpt,
    DTypeOpt,
    EmptyRowOpt,
    InputOpt,
    JsonOpt,
    KOpt,
    LangOpt,
    MaskOpt,
    MaxMemoryOpt,
    NoColorOpt,
    QOpt,
    QuietOpt,
    SampleOpt,
    SaveHtmlOpt,
    SaveSvgOpt,
    ScaleOpt,
    VOpt,
)
from attncli.cli.output import escape, make_console, output_settings, save_recording, start_recording, use_language
from attncli.core.memory import stages_nbytes
from attncli.core.stages import STAGE_NAMES
from attncli.errors import AttnError, InputError
from attncli.i18n import _
from attncli.problem.document import MultiHeadProblem, Problem, build_multihead, build_problem, is_multihead

# Claimed values, one flag per stage (parsed like --q; a masked claim may hold −∞).
ExpectScoresOpt = Annotated[str | None, typer.Option(help="Your scores Q·Kᵀ (T×S), same forms as --q.")]
ExpectScaledOpt = Annotated[str | None, typer.Option(help="Your scaled scores (T×S).")]
ExpectMaskedOpt = Annotated[str | None, typer.Option(help="Your masked scores (T×S; −∞ as -inf or null).")]
ExpectWeightsOpt = Annotated[str | None, typer.Option(help="Your attention weights (T×S).")]
ExpectOutputOpt = Annotated[str | None, typer.Option(help="Your output weights·V (T×d_v).")]


EPILOG = (
    "Examples:\n\n"
    "  attn check --q '[[1,0]]' --k '[[0.5,0.5],[0.3,0.7]]' --v '[[1,0],[0.5,0.5]]' --expect-output '[[0.75,0.25]]'\n\n"
    "  attn check --input homework/ivanov.json\n\n"
    "  for f in homework/*.json; do attn check --input \"$f\" --json; done | jq -s 'map(.passed)'"
)


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
    input: InputOpt = None,
    sample: SampleOpt = None,
    expect_scores: ExpectScoresOpt = None,
    expect_scaled: ExpectScaledOpt = None,
    expect_masked: ExpectMaskedOpt = None,
    expect_weights: ExpectWeightsOpt = None,
    expect_output: ExpectOutputOpt = None,
    tol: Annotated[
        float,
        typer.Option(min=0.0, help="A cell matches within ±TOL (±TOL×100% for values above 1)."),
    ] = DEFAULT_TOL,
    json_out: JsonOpt = False,
    precision: Annotated[int, typer.Option(min=0, max=15, help="Decimals shown for the correct values.")] = 4,
    lang: LangOpt = None,
    save_svg: SaveSvgOpt = None,
    save_html: SaveHtmlOpt = None,
    max_memory: MaxMemoryOpt = None,
    no_color: NoColorOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Grade a hand calculation stage by stage and name the mistake (exit 0 right, 1 wrong, 2 bad input).

    Claimed values come from --expect-STAGE flags and/or the "expected" object of a problem document.
    """
    from attncli.analysis.grading import check as grade

    use_language(lang.value if lang is not None else None)
    output_settings(no_color, quiet)
    if (save_svg or save_html) and json_out:
        message = _("records the tables of the terminal; it does not go with --json")
        raise InputError(message, argument="--save-svg")

    input = resolve_sample(sample, input)
    from attncli.parse.matrix import parse_matrix

    settings: dict[str, object] = {"causal": causal, "scale": scale}
    for name, choice in (("causal_align", causal_align), ("empty_row", empty_row), ("dtype", dtype)):
        settings[name] = choice.value if choice is not None else None
    fields, source_name = load_cli_fields(
        matrices={"q": q, "k": k, "v": v, "mask": mask}, input=input, settings=settings
    )
    flags = {"q": q, "k": k, "v": v, "mask": mask, "scale": scale}
    problem: Problem | MultiHeadProblem
    # Grading keeps the correct stages and tries the catalogue's mistakes on them: about twice the tables.
    what = _("grading (twice the stage tables)")
    instead = _("check a smaller problem; {instead}").format(instead=only_the_output())
    if is_multihead(fields):  # e.g. samples/mha-*.json: per-head stages and the final output are graded
        problem = build_multihead(fields, source_name)
        refuse_over_budget(2 * multihead_nbytes(problem), max_memory, what, instead)
    else:
        problem = build_problem(fields, source_name)
        try:
            need = 2 * stages_nbytes(problem.q.shape, problem.k.shape, problem.v.shape, problem.dtype)
        except AttnError as e:
            raise named_after_flags(e, flags) from None
        refuse_over_budget(need, max_memory, what, instead)
        solve_cli(problem, flags)

    # Each claim remembers where it came from, so that an error names the flag or the document key.
    source = None if input is None and not problem.expected else ("stdin" if input in (None, "-") else input)
    expected = dict(problem.expected)
    origin = {"tol": "--tol", **{stage: f"{source}: expected.{stage}" for stage in expected}}
    claims = (expect_scores, expect_scaled, expect_masked, expect_weights, expect_output)
    for stage, text in zip(STAGE_NAMES, claims, strict=True):
        if text is not None:
            origin[stage] = f"--expect-{stage}"
            expected[stage] = parse_matrix(text, origin[stage], "mask" if stage == "masked" else "matrix")
    if not expected:
        raise InputError(
            _(
                "nothing to check: give your values with --expect-scores, --expect-scaled, --expect-masked, "
                '--expect-weights or --expect-output, or an "expected" object in the problem document'
            ),
            argument="check",
        )
    try:
        report = grade(problem, expected, tol=tol)
    except AttnError as e:
        stage = (e.argument or "").removeprefix("expected.")
        raise e.with_argument(origin.get(stage, e.argument or "check")) from None

    if json_out:
        from attncli.render.check import report_json

        sys.stdout.write(report_json(report, source, problem.title) + "\n")
    else:
        from attncli.render.check import render_check
        from attncli.render.format import View

        start_recording(save_svg, save_html)
        console = make_console()
        if problem.title:
            console.print(f"[bold]{escape(problem.title)}[/bold]")
        console.print(render_check(report, View(precision=precision, width=console.width, labels=problem.labels)))
        save_recording(console, save_svg, save_html, problem.title)
    if not report.passed:
        raise typer.Exit(1)
