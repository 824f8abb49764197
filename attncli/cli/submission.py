"""Grading one untrusted submission, in a process of its own (`python -m attncli.cli.submission`).

attncli.cli.classgrade starts one such process per submitted file and kills it after its time limit;
the process first limits its own memory, CPU time and file writes (resource.setrlimit), so that one bad file can neither
hang nor exhaust the run, and no submission's numbers live in the process that grades another. The
process prints one gradebook row (attncli.analysis.classroom.Row) as JSON on stdout and exits 0; every
problem with the file becomes the row's one-line error.

    python -m attncli.cli.submission FILE TOL SANDBOX(0|1) LANG SECONDS BYTES
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from attncli.errors import AttnError, InputError
from attncli.i18n import _, set_language


def read_submission(path: Path, confined: bool) -> str:
    """The text of a submitted file: a regular file, opened without blocking (a FIFO or a device is
    refused, not waited on); with `confined`, not a symbolic link either."""
    from attncli.parse.matrix import decode_text, max_text_bytes

    argument = str(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_NOFOLLOW if confined else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(_("file '{path}' not found").format(path=path), argument=argument) from None
    except OSError as e:
        if confined and path.is_symlink():
            raise InputError(
                _("is a symbolic link; a submission must be a file of its own"), argument=argument
            ) from None
        message = _("cannot read '{path}': {reason}").format(path=path, reason=e.strerror)
        raise InputError(message, argument=argument) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError(_("is not a regular file (a FIFO, a device or a socket is not graded)"), argument=argument)
        limit = max_text_bytes()
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(_("holds more than {limit} bytes of text").format(limit=limit), argument=argument)
    return decode_text(data, argument)


def grade_file(path: Path, tol: float | None, confined: bool) -> dict[str, Any]:
    """The gradebook row of one submission, as JSON."""
    from attncli.analysis.classroom import graded_row, invalid_row

    student = path.stem
    try:
        from attncli.analysis.grading import check
        from attncli.problem.document import (
            build_multihead,
            build_problem,
            document_fields,
            is_multihead,
            read_document,
        )

        doc = read_document(read_submission(path, confined), str(path))
        student = doc["student"] if isinstance(doc.get("student"), str) else student
        fields = document_fields(doc, str(path), path.parent, confined=confined)
        problem = build_multihead(fields, str(path)) if is_multihead(fields) else build_problem(fields, str(path))
        if not problem.expected:
            raise InputError(_('holds no answers: add an "expected" object with your stages'), argument=str(path))
        try:
            report = check(problem, tol=tol)
        except AttnError as e:
            raise e.with_argument(f"{path}: {e.argument}" if e.argument else str(path)) from None
        return graded_row(str(path), student, report).as_json()
    except AttnError as e:
        return invalid_row(str(path), student, str(e)).as_json()
    except MemoryError:
        return invalid_row(str(path), student, _("ran out of memory (the limit of one submission)")).as_json()
    except RecursionError:
        return invalid_row(str(path), student, _("is nested too deeply")).as_json()


def limit_resources(seconds: float, memory: int) -> None:
    """CPU time, address space and written files of this process, limited before any submission is read."""
    import resource

    cpu = int(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # grading writes no file (stdout is a pipe)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> int:
    path, confined, lang = Path(argv[0]), argv[2] == "1", argv[3]
    tol = None if argv[1] == "default" else float(argv[1])
    limit_resources(float(argv[4]), int(argv[5]))
    set_language(lang)
    row = grade_file(path, tol, confined)
    sys.stdout.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
