"""`attn check --input 'answers/*.json' --summary`: grade a whole class, one gradebook row per file.

Every file is accounted for: a pattern that matches nothing and a file that cannot be graded are rows
with their one-line error. Submissions are untrusted: each is graded in a process of its own
(attncli.cli.submission, as many at once as there are CPUs) with a time limit and memory/CPU limits;
in the sandbox (on by default for several submissions) a document may name files only inside its own
folder, and nothing may block.
Exit 0 when every submission passed, 1 when some are wrong, 2 when some are invalid.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attncli.analysis.classroom import Row, invalid_row, summarize
from attncli.errors import InputError
from attncli.i18n import _, language

TIME_LIMIT = 20.0  # seconds of wall-clock time per submission (the CPU limit is the same)
MEMORY_LIMIT = 2**30  # bytes of address space per submission
OUTPUT_LIMIT = 2**20  # bytes of a row, at most, read back from a grading process
CLASS_FORMATS = ("table", "csv", "json")
_GLOB = set("*?[")


@dataclass(frozen=True)
class ClassRequest:
    inputs: Sequence[str]  # files and/or glob patterns
    tol: float | None  # None: the default rule (by the precision each answer was written to)
    format: str = "table"  # table, csv or json
    sandbox: bool | None = None  # None: on when several submissions are graded
    time_limit: float = TIME_LIMIT
    memory_limit: int = MEMORY_LIMIT
    given: tuple[str, ...] = ()  # flags given that describe one problem (refused: each file is its own)


def is_class_request(inputs: Sequence[str] | None, summary: bool, sandbox: bool | None) -> bool:
    """Whether `attn check` grades a class (several inputs, a pattern, --summary or --sandbox)."""
    inputs = inputs or []
    return summary or sandbox is not None or len(inputs) > 1 or any(_GLOB & set(i) for i in inputs)


def submissions(inputs: Sequence[str]) -> tuple[list[Path], list[Row]]:
    """The files to grade (patterns expanded, sorted, each once) and a row for each pattern matching nothing."""
    files: list[Path] = []
    missing: list[Row] = []
    for pattern in inputs:
        if pattern == "-":
            raise InputError(_("a class is graded from files, not from stdin"), argument="--input")
        if _GLOB & set(pattern):
            found = sorted(glob.glob(pattern))
            if not found:
                missing.append(invalid_row(pattern, "", _("no file matches this pattern")))
            files += [Path(f) for f in found]
        else:
            files.append(Path(pattern))
    unique = list(dict.fromkeys(files))
    return unique, missing


def grade_one(path: Path, request: ClassRequest, sandbox: bool) -> Row:
    """One submission graded in a limited process of its own."""
    limits = [repr(request.time_limit), str(request.memory_limit)]
    args = [
        sys.executable,
        "-m",
        "attncli.cli.submission",
        str(path),
        "default" if request.tol is None else repr(request.tol),
        "1" if sandbox else "0",
    ]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(
            [*args, language(), *limits],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=request.time_limit,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        message = _("took longer than {seconds:g} s to grade (the limit of one submission)")
        return invalid_row(str(path), path.stem, message.format(seconds=request.time_limit))
    try:
        if proc.returncode == 0 and len(proc.stdout) <= OUTPUT_LIMIT:
            return Row.from_json(json.loads(proc.stdout))
    except (ValueError, KeyError, TypeError):
        pass
    if proc.returncode < 0:
        message = _("grading was stopped by signal {signal} (a limit of one submission)")
        return invalid_row(str(path), path.stem, message.format(signal=-proc.returncode))
    last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    if "MemoryError" in last[0]:
        return invalid_row(str(path), path.stem, _("ran out of memory (the limit of one submission)"))
    return invalid_row(str(path), path.stem, _("could not be graded (exit {code})").format(code=proc.returncode))


def grade_class(request: ClassRequest) -> int:
    """Grade every submission, print the gradebook and the class summary; the exit code."""
    from attncli.render.gradebook import gradebook_csv, gradebook_json, gradebook_table, summary_text

    if request.format not in CLASS_FORMATS:
        message = _("must be one of {choices}, got {value!r}").format(
            choices=", ".join(CLASS_FORMATS), value=request.format
        )
        raise InputError(message, argument="--format")
    if request.given:
        message = _("each submission is graded from its own file; {flag} does not go with several inputs")
        raise InputError(message.format(flag=request.given[0]), argument=request.given[0])
    files, rows = submissions(request.inputs)
    sandbox = request.sandbox if request.sandbox is not None else len(files) + len(rows) > 1
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(len(files), os.cpu_count() or 1))) as pool:
        rows = list(pool.map(lambda path: grade_one(path, request, sandbox), files)) + rows
    summary = summarize(rows)
    if request.format == "csv":
        sys.stdout.write(gradebook_csv(rows))
    elif request.format == "json":
        sys.stdout.write(gradebook_json(rows, summary) + "\n")
    else:
        from rich.text import Text

        from attncli.cli.output import make_console

        console = make_console()
        console.print(gradebook_table(rows))
        console.print(Text(summary_text(summary)))
    return summary.exit_code
