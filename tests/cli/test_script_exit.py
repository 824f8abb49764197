"""The console script ends the process with os._exit after main() (attncli.cli.entry.script): the exit
status must be the one main() gave, everything printed must be out, and every file written complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attncli.cli import entry

from conftest import attn_process


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.mark.parametrize(("raised", "status"), [(None, 0), (0, 0), (2, 2), (70, 70), ("a message", 1)])
def test_the_status_is_main_s(
    raised: object, status: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def main() -> None:
        print("the result")
        raise SystemExit(raised)

    def exit_now(code: int) -> None:
        raise _Exited(code)

    monkeypatch.setattr(entry, "main", main)
    monkeypatch.setattr(entry.os, "_exit", exit_now)
    with pytest.raises(_Exited) as ended:
        entry.script()
    assert ended.value.code == status
    out, err = capsys.readouterr()
    assert out == "the result\n"
    assert err == ("a message\n" if isinstance(raised, str) else "")


def test_a_real_process_prints_everything_and_writes_its_files(tmp_path: Path) -> None:
    path = tmp_path / "stages.npz"
    q, k, v = "[[1,0]]", "[[0.5,0.5],[0.3,0.7]]", "[[1,0],[0.5,0.5]]"
    run = attn_process("compute", "--q", q, "--k", k, "--v", v, "--json", "--save", str(path))
    assert run.code == 0, run.err
    assert np.allclose(json.loads(run.out)["stages"]["weights"], [[0.5353, 0.4647]], atol=1e-4)
    with np.load(path) as saved:
        assert saved["weights"].shape == (1, 2)
    bad = attn_process("compute", "--q", "[[1,0", "--k", k, "--v", v)
    assert bad.code == 2 and bad.err.count("\n") == 1 and "--q" in bad.err
