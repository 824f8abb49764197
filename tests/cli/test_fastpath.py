"""The Typer-free reader of `attn compute` and `attn explain` arguments agrees with Typer's, option by option."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import typer

from attncli.cli import explain_command
from attncli.cli.app import app
from attncli.cli.explain import run
from attncli.cli.fastpath import (
    COMPUTE_DEFAULTS,
    COMPUTE_OPTIONS,
    EXPLAIN_DEFAULTS,
    EXPLAIN_OPTIONS,
    parse_compute,
    parse_explain,
)

COMMAND = typer.main.get_command(app).commands["compute"]  # type: ignore[attr-defined]


def typer_params(args: list[str], command: Any = COMMAND) -> dict[str, Any]:
    """The parameters Typer hands to the command (enums as their values, no --stage as None), as
    compute passes them to ComputeRequest and explain to explain.run."""
    ctx = command.make_context(command.name, list(args))
    params = {k: (v.value if hasattr(v, "value") else v) for k, v in ctx.params.items()}
    params["stage"] = list(params["stage"] or []) or None
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
    assert_same(parse_compute(args), typer_params(args))


def assert_same(fast: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    assert fast is not None
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


# ---- attn explain ----------------------------------------------------------------------------------

EXPLAIN = typer.main.get_command(app).commands["explain"]  # type: ignore[attr-defined]


def test_every_explain_option_is_known_to_the_fast_reader_and_nothing_else() -> None:
    typer_opts = {opt for p in EXPLAIN.params for opt in (*p.opts, *p.secondary_opts)} - {"--help", "-h", "sentence"}
    assert typer_opts == set(EXPLAIN_OPTIONS)
    assert set(EXPLAIN_DEFAULTS) | {"sentence"} == {p.name for p in EXPLAIN.params}
    assert {p.name: p.default for p in EXPLAIN.params if p.name != "sentence"} == EXPLAIN_DEFAULTS


def test_the_typer_command_and_the_fast_path_call_the_same_function() -> None:
    """explain_command.explain passes its parameters by name to explain.run, the fast path's function."""
    command = inspect.signature(explain_command.explain).parameters
    assert list(inspect.signature(run).parameters) == list(command)
    assert {n: p.default for n, p in inspect.signature(run).parameters.items() if n != "sentence"} == EXPLAIN_DEFAULTS


EXPLAIN_AGREE = [
    ["The cat sat"],
    ["The cat sat", "--json"],
    ["--json", "Этот фильм потрясающий", "--model", "multilingual-e5-small", "--lang", "ru", "--query", "фильм"],
    ["", "--layer", "all", "--head=3", "--key", "mat", "--pieces", "--rollout", "--words", "--roles", "--flow"],
    ["s", "--residual", "0.25", "--embeddings", "e.json", "--wq", "1", "--wk=2", "--wv", "3", "--causal"],
    ["s", "--dtype", "float64", "--truncate", "--generate", "8", "--text-prefix", "query: ", "--stage", "scores"],
    ["s", "--stage", "weights", "--stage=output", "--top", "20", "--precision", "0", "--max-memory", "2G"],
    ["s", "--save-svg", "a.svg", "--save-html", "b.html", "--view", "v.html", "--no-color", "--quiet", "--debug"],
    ["s", "--text-prefix", "", "--query", "-x", "--lang=en", "--generate", "256", "--top", "1"],
]


@pytest.mark.parametrize("args", EXPLAIN_AGREE)
def test_both_explain_readers_give_the_same_parameters(args: list[str]) -> None:
    assert_same(parse_explain(args), typer_params(args, EXPLAIN))


EXPLAIN_LEAVE_TO_TYPER = [
    [],
    ["--help"],
    ["s", "-h"],
    ["s", "t"],
    ["-x"],
    ["--", "-x"],
    ["s", "--top", "0"],
    ["s", "--top", "21"],
    ["s", "--generate", "257"],
    ["s", "--precision", "16"],
    ["s", "--residual", "nan"],
    ["s", "--dtype", "float16"],
    ["s", "--lang", "de"],
    ["s", "--json=yes"],
    ["s", "--layer"],
    ["s", "--bogus"],
]


@pytest.mark.parametrize("args", EXPLAIN_LEAVE_TO_TYPER)
def test_anything_unusual_in_explain_is_left_to_typer(args: list[str]) -> None:
    assert parse_explain(args) is None
