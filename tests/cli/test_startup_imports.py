"""What a small `attn compute` imports: only what it uses (start-up is a target of issue #20; see
benchmarks/explain_speed.py). Each module below costs milliseconds at every start (a dataclass takes
about 1.5 ms to create on the project's VM) and belongs to work this command does not do."""

from __future__ import annotations

import subprocess
import sys

import pytest

SMALL = ["compute", "--q", "1 0", "--k", "1 0; 0 1", "--v", "1 2; 3 4"]
NOT_NEEDED = (
    "attncli.core.multihead",  # one head
    "attncli.core.blocked",  # small: the stages are kept
    "attncli.serialize.files",  # no file written
    "tempfile",
    "typer",
)


@pytest.mark.parametrize("extra", [["--json"], []], ids=["json", "tables"])
def test_a_small_compute_imports_only_what_it_uses(extra: list[str]) -> None:
    code = (
        "import sys, attncli.cli.entry as e\n"
        f"try: e.main({[*SMALL, *extra]!r})\n"
        "except SystemExit: pass\n"
        f"print(sorted(m for m in {NOT_NEEDED!r} if m in sys.modules), file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.stderr.strip().splitlines()[-1] == "[]", run.stderr
    if extra:  # and --json draws no table
        assert "'attncli.serialize.export'" not in subprocess.run(
            [sys.executable, "-c", code.replace(repr(NOT_NEEDED), repr(("attncli.serialize.export",)))],
            capture_output=True, text=True, check=False,
        ).stderr  # fmt: skip
