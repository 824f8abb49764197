"""`attn check` with the variants of `attn compute` (window, chunk, prefix, documents, sink tokens,
softcap, sinks, Gemma 2's scale rule) and the capped stage as a claim: its verdicts and mistakes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from conftest import RunAttn

X = "1 0; 0 1; 1 1; 0 2; 2 0"
QKV = ("--q", X, "--k", X, "--v", X)
VARIANTS = ("--softcap", "0.5", "--window", "2", "--sinks", "1")


def _stages(attn: RunAttn, *flags: str) -> dict[str, Any]:
    r = attn("compute", *QKV, *flags, "--json")
    assert r.code == 0, r.err
    stages: dict[str, Any] = json.loads(r.out)["stages"]
    return stages


def _text(a: Any) -> str:
    return json.dumps(np.asarray(a, dtype=float).tolist())


def test_correct_claims_of_every_variant_pass(attn: RunAttn) -> None:
    s = _stages(attn, *VARIANTS)
    masked = json.dumps([[x if x is not None else "-inf" for x in row] for row in s["masked"]])
    r = attn("check", *QKV, *VARIANTS, "--expect-capped", _text(s["capped"]), "--expect-masked", masked,
             "--expect-weights", _text(s["weights"]), "--expect-output", _text(s["output"]))  # fmt: skip
    assert r.code == 0, r.out + r.err
    assert "✓ 2b · capped = c·tanh(scaled / c): correct" in r.out and "PASSED: all 4 claimed stages" in r.out


@pytest.mark.parametrize(
    "flags",
    [("--chunk", "2"), ("--prefix", "2"), ("--documents", "0,0,1,1,1", "--causal"),
     ("--window", "1", "--sink-tokens", "1"), ("--window", "1", "--window-rule", "jax", "--window-right", "1"),
     ("--query-pre-attn-scalar", "16")],
)  # fmt: skip
def test_the_masks_and_the_scale_rule_are_those_of_compute(attn: RunAttn, flags: tuple[str, ...]) -> None:
    s = _stages(attn, *flags)
    r = attn("check", *QKV, *flags, "--expect-weights", _text(s["weights"]), "--expect-output", _text(s["output"]))
    assert r.code == 0, r.out + r.err
    wrong = attn("check", *QKV, "--expect-weights", _text(s["weights"]))  # without the flags: not these weights
    assert wrong.code == 1


def test_a_wrong_scale_carried_through_the_window_is_consistent(attn: RunAttn) -> None:
    s = _stages(attn, "--window", "2")
    scaled = np.asarray(s["scaled"]) * 2  # scaled twice too much: the masked stage follows from it, by the window
    masked = np.where(np.asarray(s["visible"]["allowed"]), scaled, -np.inf)
    claim = json.dumps([[("-inf" if np.isneginf(x) else x) for x in row] for row in masked.tolist()])
    r = attn("check", *QKV, "--window", "2", "--expect-scaled", _text(scaled), "--expect-masked", claim)
    assert r.code == 1
    assert "3 · masked: wrong, but consistent with your scaled" in r.out, r.out


@pytest.mark.parametrize(
    ("claim", "diagnosis"),
    [("scaled", "soft-capping left out"), ("before", "soft-capping before the scale")],
)
def test_capped_mistakes_are_named(attn: RunAttn, claim: str, diagnosis: str) -> None:
    s = _stages(attn, "--softcap", "0.5")
    scores, scale = np.asarray(s["scores"]), 1 / np.sqrt(2)
    value = np.asarray(s["scaled"]) if claim == "scaled" else 0.5 * np.tanh(scores / 0.5) * scale
    r = attn("check", *QKV, "--softcap", "0.5", "--expect-capped", _text(value), columns=200)
    assert r.code == 1 and f"Diagnosis: {diagnosis}" in r.out, r.out
    assert "c = 0.5, on the scaled scores and before the mask" in r.out


def test_capped_claims_in_a_document_and_in_russian(attn: RunAttn) -> None:
    s = _stages(attn, "--softcap", "0.5")
    doc = {"q": X, "k": X, "v": X, "softcap": 0.5, "expected": {"capped": s["capped"]}}
    r = attn("check", "--lang", "ru", stdin=json.dumps(doc))
    assert r.code == 0, r.out + r.err
    assert "✓ 2b · capped = c·tanh(scaled / c) — мягкое ограничение: верно" in r.out, r.out


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--expect-capped", "[[1]]"), "--expect-capped: this problem has no softcap, so there is no capped stage"),
     (("--window", "0", "--expect-output", "[[1, 0]]"), "'--window'"),
     (("--documents", "0,1", "--expect-output", "[[1, 0]]"), "--documents: needs one document id per key (5 keys)"),
     (("--softcap", "-1", "--expect-output", "[[1, 0]]"), "--softcap: must be a positive finite number"),
     (("--sink-tokens", "1", "--expect-output", "[[1, 0]]"), "--sink-tokens: keep keys visible beside a window")],
)  # fmt: skip
def test_bad_variant_input_is_one_line_exit_2(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("check", *QKV, *args)
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1 and message in r.err, r.err
