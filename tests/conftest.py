"""Shared fixtures: run the real `attn` entry point in-process or as a subprocess."""

from __future__ import annotations

import difflib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attncli.cli.entry import main

ROOT = Path(__file__).resolve().parent.parent
FUZZ_ENV = "ATTN_FUZZ"  # ATTN_FUZZ=slow (or pytest --slow) runs the long fuzzing campaign (tests/fuzzing.py)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="run the long fuzzing campaign (as ATTN_FUZZ=slow)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--slow"):
        os.environ[FUZZ_ENV] = "slow"  # read by tests/fuzzing.py when the test modules are imported


SAMPLES = ROOT / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = "ATTN_UPDATE_GOLDEN"  # ATTN_UPDATE_GOLDEN=1 rewrites tests/golden/ from the output (read the diff)


@dataclass
class Run:
    code: int
    out: str
    err: str


RunAttn = Callable[..., Run]


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts in English, whatever the developer's locale; tests ask for Russian explicitly."""
    from attncli.i18n import set_language

    for var in ("ATTN_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    set_language(None)
    yield
    set_language(None)


@pytest.fixture
def attn(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunAttn:
    """Call `attn ARGS…` in-process through attncli.cli.entry.main, as the console script does.

    stdin is empty (not a TTY) unless given (text, or bytes read through a binary buffer as a real
    stdin); the terminal is 80 columns wide, without colour.
    """

    def run(*args: str, stdin: str | bytes = "", columns: int = 80) -> Run:
        # Bytes arrive as a real stdin does: a UTF-8 text stream over a binary buffer.
        stream = (
            io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8") if isinstance(stdin, bytes) else io.StringIO(stdin)
        )
        monkeypatch.setattr(sys, "stdin", stream)
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.setenv("NO_COLOR", "1")
        monkeypatch.setenv("TERM", "dumb")
        monkeypatch.delenv("ATTN_QUIET", raising=False)  # --quiet sets it in-process; undone after the test
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def attn_process(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Run:
    """Run `python -m attncli ARGS…` as a real process."""
    full_env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "attncli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


Golden = Callable[[str, str], None]


@pytest.fixture
def golden() -> Golden:
    """golden(NAME, text): text must equal tests/golden/NAME.txt, character for character.

    With ATTN_UPDATE_GOLDEN set (to anything but the empty string) the file is first written from
    text, so the comparison passes; read `git diff tests/golden` before committing the change.
    Otherwise a difference fails the test with a unified diff of the file against the output.
    """

    def check(name: str, text: str) -> None:
        path = GOLDEN / f"{name}.txt"
        if os.environ.get(UPDATE_GOLDEN):
            path.write_text(text, encoding="utf-8")
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"tests/golden/{name}.txt",
                    tofile="output",
                )
            )
            pytest.fail(
                f"the output differs from tests/golden/{name}.txt ({len(expected)} characters expected, "
                f"{len(text)} given; after an intended change, rerun with {UPDATE_GOLDEN}=1):\n{diff}",
                pytrace=False,
            )

    return check
