"""The report of `attn check` as rich renderables (tables) and as strict JSON. Nothing here prints.

Per claimed stage: a verdict line, "you wrote" (✓/✗ per cell) next to "correct", then the
diagnosis of a wrong stage; a summary with the partial credit and the tolerance closes the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from attncli.analysis.cellnames import CellNames
from attncli.analysis.grading import CheckReport, StageCheck, tolerance_text
from attncli.i18n import _, ngettext
from attncli.render.format import MAX_SLICES, View, fmt, hints_of, num, slices_note, window
from attncli.serialize.strict_json import dumps, jsonable

if TYPE_CHECKING:
    from attncli.core.engine import Array


def stage_title(stage: str, logits: str) -> str:
    """The title of a claimed stage, as the tables of `attn compute` have it."""
    return {
        "scores": _("1 · scores = Q·Kᵀ"),
        "scaled": _("2 · scaled = scores × scale"),
        "capped": _("2b · capped = c·tanh(scaled / c)"),
        "masked": _("3 · masked"),
        "weights": _("4 · weights = softmax({logits})"),
        "output": _("5 · output = weights · V"),
    }[stage].format(logits=logits)


def step_name(stage: str) -> str:
    """The step of the computation that produces `stage`."""
    return {
        "scores": _("scores"),
        "scaled": _("scaling"),
        "capped": _("soft-capping"),
        "masked": _("masking"),
        "weights": _("softmax"),
        "output": _("weighted sum"),
    }[stage]


MAX_ROWS = 12  # taller stages show their first and last rows
CHECK_SCHEMA_VERSION = 1


def _cell_name(s: StageCheck, labels: Mapping[str, Sequence[str]]) -> str:
    """Where the worst cell is: "row 1, column 3", or with the problem's labels its query and key
    ("Этот → потрясающий"; an output cell: its query and column)."""
    t, n = s.claimed.shape[-2:] if s.claimed.ndim >= 2 else (1, s.claimed.shape[-1])
    names = CellNames.of(labels, t, 0 if s.stage == "output" else n)
    return names.cell(s.worst_cell, s.claimed.ndim, s.stage)


def _verdict_lines(
    s: StageCheck, logits: str, previous_correct: bool, labels: Mapping[str, Sequence[str]] | None = None
) -> list[Text]:
    title = stage_title(s.stage, logits)
    if s.coincidence:
        line = _("≈ {title}: close, but by coincidence: your {previous} were wrong")
        return [Text(line.format(title=title, previous=s.previous), style="bold yellow")]
    if s.verdict == "correct":
        return [Text(_("✓ {title}: correct").format(title=title), style="bold green")]
    cell, big = _cell_name(s, labels or {}), s.max_difference
    values = {"cell": cell, "yours": num(s.claimed[s.worst_cell], 4), "correct": num(s.correct[s.worst_cell], 4)}
    if np.isfinite(big):
        worst_text = _("  largest difference {size} at {cell} (you wrote {yours}, correct {correct})")
    else:  # −∞ against a number: no size to give
        worst_text = _("  largest difference at {cell} (you wrote {yours}, correct {correct})")
    worst = Text(worst_text.format(size=fmt(big, 4), **values), style="dim")
    if s.verdict == "consistent" and previous_correct:
        # Their earlier numbers were within the tolerance, but the small error grew in this step.
        line = _("≈ {title}: off, but it follows from your {previous} (their rounding grows here)")
        return [Text(line.format(title=title, previous=s.previous), style="bold yellow"), worst]
    if s.verdict == "consistent":
        line = _("≈ {title}: wrong, but consistent with your {previous}").format(title=title, previous=s.previous)
        return [Text(line, style="bold yellow"), worst]
    return [Text(_("✗ {title}: wrong").format(title=title), style="bold red"), worst]


def _table(
    title: str,
    cells: Sequence[Sequence[str | Text]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    width: int,
) -> Group:
    """A small titled table of prepared cells; wide or tall ones are cut with '…' and '⋮'."""
    n_rows, n_cols = len(cells), len(cells[0])
    cell_w = max(len(str(c)) for row in cells for c in row)
    col_w = max(cell_w, *(len(c) for c in col_labels)) + 2
    cols = window(n_cols, max(3, (width - max(len(r) for r in row_labels) - 2) // col_w))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    for j in cols:
        table.add_column("…" if j is None else col_labels[j], justify="right", no_wrap=True)
    for i in window(n_rows, MAX_ROWS):
        if i is None:
            table.add_row("⋮", *["⋮" for _ in cols])
        else:
            table.add_row(row_labels[i], *["…" if j is None else cells[i][j] for j in cols])
    return Group(Text(title, style="italic"), table)


def _stage_tables(s: StageCheck, index: tuple[int, ...], view: View, labels: Mapping[str, Sequence[str]]) -> Columns:
    """'you wrote' next to 'correct' (and 'from your <previous>' for a consistent stage) for one slice."""
    claimed, correct, matches = s.claimed[index], s.correct[index], s.matches[index]
    t, n = claimed.shape
    rows = _labels(labels, "q", t, "q")
    cols = [f"d{j + 1}" for j in range(n)] if s.stage == "output" else _labels(labels, "k", n, "k")
    p = view.precision

    def fixed(a: Array) -> list[list[str]]:
        return [[fmt(x, p) for x in row] for row in a]

    yours = [
        [
            Text("—", style="dim")  # a row not claimed
            if np.isnan(claimed[i, j])
            else Text(f"{num(claimed[i, j], p)} ✓")
            if matches[i, j]
            else Text(f"{num(claimed[i, j], p)} ✗", style="red")
            for j in range(n)
        ]
        for i in range(t)
    ]
    tables = [
        _table(_("you wrote"), yours, rows, cols, view.width),
        _table(_("correct"), fixed(correct), rows, cols, view.width),
    ]
    if s.verdict == "consistent" and s.implied is not None:
        implied_title = _("from your {previous}").format(previous=s.previous)
        tables.append(_table(implied_title, fixed(s.implied[index]), rows, cols, view.width))
    return Columns(tables, padding=(0, 4))


def _labels(labels: Mapping[str, Sequence[str]], key: str, n: int, prefix: str) -> list[str]:
    given = labels.get(key)
    return list(given) if given is not None and len(given) == n else [f"{prefix}{i + 1}" for i in range(n)]


def _indented(text: Text) -> Padding:
    return Padding(text, (0, 0, 0, 2), expand=False)


def _diagnosis_lines(s: StageCheck) -> list[RenderableType]:
    if s.unexplained is not None:
        return [_indented(Text(_("Diagnosis: {text}.").format(text=s.unexplained)))]
    lines: list[RenderableType] = []
    if len(s.diagnoses) > 1:
        n = len(s.diagnoses)
        known = ngettext("{n} known mistake gives your numbers:", "{n} known mistakes give your numbers:", n)
        lines.append(_indented(Text(known.format(n=n))))
    for fix in dict.fromkeys(d.fix for d in s.diagnoses):  # each fix after its diagnoses (a step's share one)
        for d in (d for d in s.diagnoses if d.fix == fix):
            title = d.title
            if d.stage != s.stage:
                title = _("{title} (in the {step})").format(title=d.title, step=step_name(d.stage))
            label, rest = _("Diagnosis: "), _(": {mistake}.").format(mistake=d.mistake)
            lines.append(_indented(Text.assemble(label, (title, "bold"), rest)))
        lines.append(_indented(Text(_("Correct: {fix}.").format(fix=fix), style="dim")))
    return lines


def _summary(report: CheckReport, hint: str | None) -> list[Text]:
    n = len(report.stages)
    if report.passed:
        if n == 1:
            text = _("the claimed stage is correct.")
        else:
            text = ngettext("all {n} claimed stage is correct.", "all {n} claimed stages are correct.", n).format(n=n)
        head = Text.assemble((_("PASSED:"), "bold green"), " ", text)
    else:
        correct = sum(s.verdict == "correct" for s in report.stages)
        consistent = sum(s.verdict == "consistent" for s in report.stages)
        text = ngettext("{correct} of {n} claimed stage correct", "{correct} of {n} claimed stages correct", n)
        text = text.format(correct=correct, n=n)
        if consistent:
            more = ngettext(
                "{text}, {consistent} more follows from your own earlier numbers (credit {credited} of {n})",
                "{text}, {consistent} more follow from your own earlier numbers (credit {credited} of {n})",
                consistent,
            )
            text = more.format(text=text, consistent=consistent, credited=report.credited, n=n)
        text = _("{text}; the first wrong stage is {stage}.").format(text=text, stage=report.first_wrong_stage)
        head = Text.assemble((_("FAILED:"), "bold red"), " ", text)
    tolerance = _("Tolerance {rule}.") if hint is None else _("Tolerance {rule}; {hint}.")
    return [head, Text(tolerance.format(rule=tolerance_text(report.tol), hint=hint), style="dim")]


def render_check(report: CheckReport, view: View | None = None) -> Group:
    """The whole report: per claimed stage its verdict, tables and diagnosis, then the summary."""
    view = view or View()
    hints = hints_of(view)
    parts: list[RenderableType] = []
    r = report.result
    logits = "masked" if r.masked is not None else "scaled" if r.capped is None else "capped"
    verdicts = {s.stage: s.verdict for s in report.stages}
    for s in report.stages:
        previous_correct = s.previous is not None and verdicts[s.previous] == "correct"
        parts.extend(_verdict_lines(s, logits, previous_correct, view.labels))
        lead = s.claimed.shape[:-2]
        indices = [tuple(int(i) for i in idx) for idx in np.ndindex(*lead)] if lead else [()]
        for index in indices[:MAX_SLICES]:
            if index:
                parts.append(Text(_("slice {index}").format(index=", ".join(str(i) for i in index)), style="dim"))
            parts.append(_stage_tables(s, index, view, view.labels))
        if len(indices) > MAX_SLICES:
            parts.append(Text(slices_note(MAX_SLICES, len(indices), hints.all_graded_slices), style="dim"))
        parts.extend(_diagnosis_lines(s))
        parts.append(Text(""))
    parts.extend(_summary(report, hints.tolerance))
    return Group(*parts)


def _index(cell: tuple[int, ...] | None) -> list[int] | None:
    return None if cell is None else list(cell)


def _values(a: Array | None) -> Any:
    return None if a is None else jsonable(a)


def report_dict(report: CheckReport, source: str | None = None, title: str | None = None) -> dict[str, Any]:
    """The report as a JSON-able dict: `passed`, per-stage results and every diagnosis."""
    stages: dict[str, Any] = {}
    for s in report.stages:
        stages[s.stage] = {
            "verdict": s.verdict,
            "max_difference": jsonable(np.array(s.max_difference)),
            "worst_cell": list(s.worst_cell),
            "first_wrong_cell": _index(s.first_wrong_cell),
            "consistent_with": s.previous if s.verdict == "consistent" else None,
            "coincidence": s.coincidence,
            "rows_claimed": None
            if s.claimed.ndim != 2
            else [i for i, r in enumerate(s.claimed) if not np.isnan(r).all()],
            "claimed": jsonable(s.claimed),
            "correct": jsonable(s.correct),
            "matches": s.matches.tolist(),
            "implied": _values(s.implied),
            "diagnoses": [d.key for d in s.diagnoses],
            "unexplained": s.unexplained,
        }
    return {
        "schema_version": CHECK_SCHEMA_VERSION,
        "source": source,
        "title": title,
        "passed": report.passed,
        "tolerance": report.tol,
        "tolerance_rule": tolerance_text(report.tol),
        "first_wrong_stage": report.first_wrong_stage,
        "credit": {
            "claimed": len(report.stages),
            "correct": sum(s.verdict == "correct" for s in report.stages),
            "consistent": sum(s.verdict == "consistent" for s in report.stages),
            "credited": report.credited,
        },
        "stages": stages,
        "diagnoses": [
            {
                "stage": s.stage,  # the claimed stage it explains
                "made_in": d.stage,  # the step where the mistake happens
                "mistake": d.key,
                "title": d.title,
                "explanation": d.mistake,
                "fix": d.fix,
                **({"decimals": list(d.decimals)} if d.decimals else {}),
            }
            for s in report.stages
            for d in s.diagnoses
        ],
    }


def report_json(report: CheckReport, source: str | None = None, title: str | None = None) -> str:
    """Strict JSON of `report_dict`, one matrix row per line."""
    return dumps(report_dict(report, source, title))
