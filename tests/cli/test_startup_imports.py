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
    "typer",
)
NOT_FOR_JSON = ("attncli.serialize.export", "rich")  # no table drawn


@pytest.mark.parametrize(("extra", "absent"), [(["--json"], NOT_NEEDED + NOT_FOR_JSON), ([], NOT_NEEDED)])
def test_a_small_compute_imports_only_what_it_uses(extra: list[str], absent: tuple[str, ...]) -> None:
    code = (
        "import sys, attncli.cli.entry as e\n"
        f"try: e.main({[*SMALL, *extra]!r})\n"
        "except SystemExit as x: assert not x.code, x.code\n"
        f"print('imported:', sorted(m for m in {absent!r} if m in sys.modules), file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "imported: []", run.stderr
