"""The finish a command-line user expects: completion, version, help examples, notebook display."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from attncli import attention
from attncli.core.multihead import multi_head_attention

from conftest import RunAttn, attn_process


def test_version(attn: RunAttn) -> None:
    from attncli import __version__

    assert attn("--version").out == f"attn {__version__}\n"


def test_completion_scripts_and_answers_for_bash_and_zsh(tmp_path: Path) -> None:
    for shell in ("bash", "zsh"):
        r = attn_process("--show-completion", shell)
        assert r.code == 0 and "_ATTN_COMPLETE" in r.out, r.err
    bash = attn_process(env={"_ATTN_COMPLETE": "complete_bash", "COMP_WORDS": "attn comp", "COMP_CWORD": "1"})
    assert bash.out.split() == ["compute"]
    zsh = attn_process(env={"_ATTN_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "attn compute --dt"})
    assert "--dtype" in zsh.out
    installed = attn_process("--install-completion", "bash", env={"HOME": str(tmp_path), "SHELL": "/bin/bash"})
    assert installed.code == 0, installed.err
    assert "_ATTN_COMPLETE" in "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_every_command_help_has_examples(attn: RunAttn) -> None:
    for command in (
        ["compute"],
        ["check"],
        ["samples"],
        ["samples", "show"],
        ["explain"],
        ["model", "list"],
        ["model", "download"],
    ):
        r = attn(*command, "--help", columns=120)
        assert r.code == 0
        examples = [line for line in r.out.splitlines() if line.strip().startswith("attn ")]
        assert len(examples) >= 2, (command, r.out)


def test_results_display_as_tables_in_rich_and_jupyter() -> None:
    r = attention([[1, 0]], [[0.5, 0.5], [0.3, 0.7]], [[1, 0], [0.5, 0.5]])
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(r)
    assert "4c · softmax, step 3: weights" in console.file.getvalue()  # type: ignore[attr-defined]
    html = r._repr_html_()
    assert html.startswith("<pre") and "0.5353" in html
    assert "6 · concat" in multi_head_attention([[1.0, 0.0], [0.0, 1.0]], heads=2)._repr_html_()


def test_python_api_explain_matches_the_cli(attn: RunAttn) -> None:
    import json

    import numpy as np

    from attncli import explain

    e = explain("The miniature Eiffel tower is a toy", layer=3, head=7)
    doc = json.loads(
        attn("explain", "The miniature Eiffel tower is a toy", "--layer", "3", "--head", "7", "--json").out
    )
    assert list(e.tokens) == doc["tokens"] and (e.layer, e.head) == (doc["layer"], doc["head"])
    np.testing.assert_allclose(e.attention.weights, doc["stages"]["weights"], rtol=0, atol=1e-6)
    assert e.readings[6].keys[0][0] == "[CLS]"
    chosen = explain("The miniature Eiffel tower is a toy")
    assert chosen.reason and 1 <= chosen.layer <= 6 and 1 <= chosen.head <= 12
    assert "4 · weights" in chosen._repr_html_()
