"""A class's gradebook: a table and the class summary on the terminal, or CSV or JSON for a
spreadsheet. CSV headers and verdicts are in the current language; JSON keys and verdicts are the
fixed English codes (translated titles and errors beside them)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from attncli.analysis.classroom import Row, Summary
from attncli.i18n import _, ngettext

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _verdicts() -> dict[str, str]:
    return {"passed": _("passed"), "failed": _("wrong"), "invalid": _("invalid")}


def spreadsheet_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a leading quote."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _credit(r: Row) -> str:
    return "" if r.credited is None else f"{r.credited}/{r.claimed}"


def gradebook_csv(rows: Sequence[Row]) -> str:
    """One line per submission: student, file, verdict, credited/claimed, first wrong stage, mistakes, error."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [_("student"), _("file"), _("verdict"), _("credited"), _("first wrong stage"), _("mistakes"), _("error")]
    )
    verdicts = _verdicts()
    for r in rows:
        cells = [
            r.student,
            r.file,
            verdicts[r.verdict],
            _credit(r),
            r.first_wrong_stage or "",
            "; ".join(r.titles),
            r.error or "",
        ]
        w.writerow([spreadsheet_cell(c) for c in cells])
    return buf.getvalue()


def gradebook_json(rows: Sequence[Row], summary: Summary) -> str:
    from attncli.serialize.strict_json import dumps

    return dumps(
        {
            "submissions": [r.as_json() for r in rows],
            "summary": {
                "submissions": summary.submissions,
                "passed": summary.passed,
                "failed": summary.failed,
                "invalid": summary.invalid,
                "mistakes": [{"key": k, "title": t, "submissions": n} for k, t, n in summary.mistakes],
                "first_wrong_stage": [{"stage": s, "submissions": n} for s, n in summary.first_wrong],
            },
        }
    )


def gradebook_table(rows: Sequence[Row]) -> Table:
    """The gradebook as a rich table: a row per submission."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in (_("student"), _("verdict"), _("credited"), _("first wrong stage"), _("mistakes or error")):
        table.add_column(name)
    style = {"passed": "green", "failed": "yellow", "invalid": "red"}
    verdicts = _verdicts()
    for r in rows:
        detail = r.error if r.verdict == "invalid" else "; ".join(r.titles)
        table.add_row(
            Text(r.student or r.file),
            Text(verdicts[r.verdict], style=style[r.verdict]),
            _credit(r),
            r.first_wrong_stage or "",
            Text(detail or ""),
        )
    return table


def summary_text(summary: Summary) -> str:
    """The class summary in sentences: how many passed, and how many made each mistake."""
    lines = [
        ngettext(
            "{n} submission: {passed} passed, {failed} wrong, {invalid} invalid.",
            "{n} submissions: {passed} passed, {failed} wrong, {invalid} invalid.",
            summary.submissions,
        ).format(n=summary.submissions, passed=summary.passed, failed=summary.failed, invalid=summary.invalid)
    ]
    if summary.mistakes:
        lines.append(_("Mistakes to explain again:"))
        for _key, title, n in summary.mistakes:
            lines.append(
                "  " + ngettext("{title}: {n} submission", "{title}: {n} submissions", n).format(title=title, n=n)
            )
    if summary.first_wrong:
        where = ", ".join(f"{stage} ({n})" for stage, n in summary.first_wrong)
        lines.append(_("First wrong stage: {where}.").format(where=where))
    return "\n".join(lines)
