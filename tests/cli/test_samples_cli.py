"""`attn samples`, `attn samples show` and `--sample NAME`."""

from __future__ import annotations

import json

import pytest

from attncli.problem.samples import list_samples, samples_dir

from conftest import SAMPLES, RunAttn


def test_the_samples_are_found_and_are_problems() -> None:
    names = {s.name for s in list_samples()}
    assert samples_dir().resolve() == SAMPLES.resolve()
    assert {"identity-2x2", "one-query-two-keys", "cat-sits", "causal-4x4", "cross-attention", "padding-mask"} <= names
    assert all(s.title and s.description for s in list_samples())


def test_list_shows_every_sample_with_its_title(attn: RunAttn) -> None:
    r = attn("samples", columns=200)
    assert r.code == 0, r.err
    for s in list_samples():
        assert s.name in r.out and s.title in r.out


def test_show_prints_the_document(attn: RunAttn) -> None:
    r = attn("samples", "show", "causal-4x4")
    assert json.loads(r.out) == json.loads((SAMPLES / "causal-4x4.json").read_text())


@pytest.mark.parametrize("name", [s.name for s in list_samples()])
def test_every_sample_runs_by_name(attn: RunAttn, name: str) -> None:
    by_name = attn("compute", "--sample", name, "--json")
    by_path = attn("compute", "--input", str(SAMPLES / f"{name}.json"), "--json")
    assert by_name.code == 0 and by_name.out == by_path.out
    assert attn("check", "--sample", name).code == 0


def test_unknown_sample_and_both_inputs_are_errors(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "nope")
    assert r.code == 2 and r.err.startswith("attn: error: --sample: no sample called 'nope' (samples: ")
    r = attn("samples", "show", "nope")
    assert r.code == 2 and r.err.count("\n") == 1
    r = attn("compute", "--sample", "cat-sits", "--input", "x.json")
    assert r.code == 2 and "give --input or --sample, not both" in r.err
