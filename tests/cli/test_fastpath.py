"""The Typer-free reader of `attn compute` arguments agrees with Typer's, option by option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from attncli.cli.app import app
from attncli.cli.fastpath import COMPUTE_DEFAULTS, COMPUTE_OPTIONS, parse_compute

COMMAND = typer.main.get_command(app).commands["compute"]  # type: ignore[attr-defined]


def typer_params(args: list[str]) -> dict[str, Any]:
    """The parameters Typer hands to `compute` (enums as their values, no --stage as None)."""
    ctx = COMMAND.make_context("compute", list(args))
    params = {k: (v.value if hasattr(v, "value") else v) for k, v in ctx.params.items()}
    params["stage"] = list(params["stage"]) or None
    return params


def test_every_typer_option_is_known_to_the_fast_reader_and_nothing_else() -> None:
    typer_opts = {opt for p in COMMAND.params for opt in (*p.opts, *p.secondary_opts)} - {"--help", "-h"}
    assert typer_opts == set(COMPUTE_OPTIONS)
    assert set(COMPUTE_DEFAULTS) == {p.name for p in COMMAND.params}
    assert {p.name: p.default for p in COMMAND.params} == COMPUTE_DEFAULTS


AGREE = [
    [],
    ["--q", "[[1,0]]", "--k", "1 0; 0 1", "--v=1,0;0,1", "--json"],
    ["--q", "1", "--k", "1", "--v", "1", "--causal", "--no-causal", "--causal-align", "bottom-right"],
    ["--mask", "true false", "--scale", "0.5", "--empty-row", "uniform", "--dtype", "float32", "-i", "p.json"],
    ["--input", "-", "--stage", "scores", "--stage", "weights", "--precision", "6", "--explain-cell", "1,2"],
    ["--x", "[[1,0]]", "--q-input", "a", "--kv-input", "b", "--wq", "1", "--wk", "2", "--wv", "3", "--wo", "4"],
    ["--bq", "1", "--bk", "2", "--bv", "3", "--bo", "4", "--heads", "8", "--kv-heads", "2", "--head", "3"],
    ["--average-heads", "--random-weights", "--seed", "7", "--positional", "sinusoidal", "--rope"],
    ["--rope-style", "interleaved", "--rope-base", "1e4", "--alibi", "--threads", "2", "--save", "o.npy"],
    ["--max-memory", "2G", "--debug", "--scale", "-1.5e-3", "--format", "latex"],
    ["--save-svg", "a.svg", "--save-html", "b.html", "--no-color", "--quiet", "--sample", "cat-sits", "--heatmap"],
    ["--precision", "0", "--seed", "0", "--q", "-1 2", "--k=--v"],
    ["--lang", "ru", "--q", "1", "--lang=en"],
]


@pytest.mark.parametrize("args", AGREE)
def test_both_readers_give_the_same_parameters(args: list[str]) -> None:
    fast = parse_compute(args)
    assert fast is not None
    expected = typer_params(args)
    assert {k: (str(v) if isinstance(v, Path) else v) for k, v in fast.items()} == {
        k: (str(v) if isinstance(v, Path) else v) for k, v in expected.items()
    }


LEAVE_TO_TYPER = [
    ["--help"],
    ["--bogus"],
    ["--q"],
    ["--scale", "big"],
    ["--scale", "nan"],
    ["--precision", "16"],
    ["--heads", "0"],
    ["--heads", "2.5"],
    ["--dtype", "float16"],
    ["--lang", "de"],
    ["--json=yes"],
    ["positional"],
]


@pytest.mark.parametrize("args", LEAVE_TO_TYPER)
def test_anything_unusual_is_left_to_typer(args: list[str]) -> None:
    assert parse_compute(args) is None
