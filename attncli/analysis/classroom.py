"""A class's submissions as gradebook rows, and what the class got wrong. Pure: nothing here prints.

One Row per submitted file, whatever happened to it: graded (passed or failed, with the credited
stages, the first wrong stage and the mistakes named) or invalid (with its one-line error). The
summary counts, for each catalogued mistake, how many submissions made it: what to explain again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from attncli.analysis.grading import CheckReport

RowVerdict = Literal["passed", "failed", "invalid"]
ROW_FIELDS = ("file", "student", "verdict", "credited", "claimed", "first_wrong_stage", "mistakes", "error")


@dataclass(frozen=True)
class Row:
    file: str
    student: str
    verdict: RowVerdict
    credited: int | None = None  # stages that are correct or follow from the student's own numbers
    claimed: int | None = None
    first_wrong_stage: str | None = None
    mistakes: tuple[str, ...] = ()  # catalogue keys (attncli.analysis.grading.MISTAKE_KEYS)
    titles: tuple[str, ...] = ()  # the same mistakes in words, in the report's language
    error: str | None = None  # for an invalid submission: its one-line error

    def as_json(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in ROW_FIELDS if name != "mistakes"},
            "mistakes": [{"key": k, "title": t} for k, t in zip(self.mistakes, self.titles, strict=True)],
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Row:
        mistakes = value.get("mistakes") or []
        return cls(
            file=str(value["file"]),
            student=str(value["student"]),
            verdict=value["verdict"],
            credited=value.get("credited"),
            claimed=value.get("claimed"),
            first_wrong_stage=value.get("first_wrong_stage"),
            mistakes=tuple(str(m["key"]) for m in mistakes),
            titles=tuple(str(m["title"]) for m in mistakes),
            error=value.get("error"),
        )


def graded_row(file: str, student: str, report: CheckReport) -> Row:
    """The row of a submission that could be graded."""
    keys: dict[str, str] = {}
    for d in report.diagnoses:
        keys.setdefault(d.key, d.title)
    return Row(
        file=file,
        student=student,
        verdict="passed" if report.passed else "failed",
        credited=report.credited,
        claimed=len(report.stages),
        first_wrong_stage=report.first_wrong_stage,
        mistakes=tuple(keys),
        titles=tuple(keys.values()),
    )


def invalid_row(file: str, student: str, error: str) -> Row:
    return Row(file=file, student=student, verdict="invalid", error=error)


@dataclass(frozen=True)
class Summary:
    submissions: int
    passed: int
    failed: int
    invalid: int
    mistakes: tuple[tuple[str, str, int], ...]  # (key, title, how many submissions), most made first
    first_wrong: tuple[tuple[str, int], ...]  # (stage, how many submissions first went wrong there)

    @property
    def exit_code(self) -> int:
        """0 every submission passed, 1 some are wrong, 2 some are invalid."""
        return 2 if self.invalid else 1 if self.failed else 0


def summarize(rows: Sequence[Row]) -> Summary:
    verdicts = Counter(r.verdict for r in rows)
    made: Counter[str] = Counter()
    titles: dict[str, str] = {}
    for r in rows:
        made.update(set(r.mistakes))
        titles.update(zip(r.mistakes, r.titles, strict=True))
    first = Counter(r.first_wrong_stage for r in rows if r.verdict == "failed" and r.first_wrong_stage)
    return Summary(
        submissions=len(rows),
        passed=verdicts["passed"],
        failed=verdicts["failed"],
        invalid=verdicts["invalid"],
        mistakes=tuple((k, titles[k], n) for k, n in sorted(made.items(), key=lambda kv: (-kv[1], kv[0]))),
        first_wrong=tuple(sorted(first.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
