"""`attn compute` with the structured masks: flags and document keys, the visible-keys grid, JSON that
reads back, the blocked path, and every bad input as one line with exit 2."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from conftest import ROOT, Golden, RunAttn

SCHEMA = json.loads((ROOT / "attncli" / "schema" / "result.schema.json").read_text())
X = "1 0; 0 1; 1 1; 0 2; 2 0"
QKV = ["--q", X, "--k", X, "--v", X]


def test_window_grid_golden(attn: RunAttn, golden: Golden) -> None:
    r = attn("compute", *QKV, "--window", "2", "--stage", "visible", "--stage", "weights")
    assert r.code == 0, r.err
    golden("variants-window-hf", r.out)
    assert "i − 2 < j ≤ i" in r.out and "keys per query: at most 2" in r.out


@pytest.mark.parametrize(
    ("flags", "seen"),
    [
        (["--window", "2"], [1, 2, 2, 2, 2]),
        (["--window", "2", "--window-rule", "gym"], [1, 2, 3, 3, 3]),
        (["--window", "1", "--window-rule", "jax", "--window-right", "1"], [2, 3, 3, 3, 2]),
        (["--chunk", "2"], [1, 2, 1, 2, 1]),
        (["--prefix", "3"], [3, 3, 3, 4, 5]),
        (["--documents", "0,0,1,1,1"], [2, 2, 3, 3, 3]),
        (["--documents", "0 0 1 1 1", "--causal"], [1, 2, 1, 2, 3]),
        (["--window", "1", "--sink-tokens", "1"], [1, 2, 2, 2, 2]),
    ],
)
def test_flags_give_the_visible_counts(attn: RunAttn, flags: list[str], seen: list[int]) -> None:
    r = attn("compute", *QKV, *flags, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["stages"]["visible"]["counts"] == seen
    weights = np.array(doc["stages"]["weights"])
    assert ((weights > 0).sum(axis=1) == seen).all()
    again = attn("compute", "--json", stdin=r.out)  # the result reads back as a problem document
    assert again.code == 0, again.err
    assert json.loads(again.out)["output"] == doc["output"]


def test_document_keys_equal_the_flags(attn: RunAttn) -> None:
    doc = {"q": X, "k": X, "v": X, "window": 2, "window_rule": "gym", "documents": [0, 0, 0, 1, 1]}
    by_doc = attn("compute", "--json", stdin=json.dumps(doc))
    by_flags = attn("compute", *QKV, "--window", "2", "--window-rule", "gym", "--documents", "0,0,0,1,1", "--json")
    assert by_doc.code == 0 and json.loads(by_doc.out) == json.loads(by_flags.out)


def test_the_blocked_path_takes_the_variants(attn: RunAttn) -> None:
    full = attn("compute", *QKV, "--chunk", "2", "--json")
    blocked = attn("compute", *QKV, "--chunk", "2", "--stage", "output", "--json")
    assert blocked.code == 0, blocked.err
    assert json.loads(blocked.out)["config"]["chunk"] == 2
    np.testing.assert_allclose(json.loads(blocked.out)["output"], json.loads(full.out)["output"], atol=1e-12)


def test_multihead_takes_the_variants(attn: RunAttn) -> None:
    r = attn("compute", "--x", X, "--heads", "2", "--window", "2", "--stage", "visible", "--head", "1")
    assert r.code == 0, r.err
    assert "3b · visible" in r.out and "keys per query: at most 2" in r.out


def test_a_plain_mask_grid_on_request_and_in_russian(attn: RunAttn) -> None:
    r = attn("compute", *QKV, "--mask", "true true false false true", "--stage", "visible")
    assert r.code == 0 and "✓" in r.out and "·" in r.out
    r = attn("compute", *QKV, "--stage", "visible")
    assert "nothing is masked" in r.out
    r = attn("compute", *QKV, "--window", "2", "--stage", "visible", "--lang", "ru")
    assert r.code == 0 and "Скользящее окно W = 2 (hf, по умолчанию)" in r.out


BAD = [
    (["--window", "0"], "'--window'"),
    (["--chunk", "x"], "'--chunk'"),
    (["--prefix", "-1"], "'--prefix'"),
    (["--window-rule", "left", "--window", "2"], "'--window-rule'"),
    (["--documents", "a,b"], "--documents: expected document ids like 0,0,0,1,1"),
    (["--documents", "0,0,1"], "--documents: needs one document id per key (5 keys), got 3"),
    (["--window", "2", "--window-right", "1"], "--window-right: applies to the jax window rule only"),
    (["--sink-tokens", "1"], "--sink-tokens: keep keys visible beside a window: give a window too"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_flags_are_one_line_exit_2(attn: RunAttn, args: list[str], message: str) -> None:
    r = attn("compute", *QKV, *args)
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("attn: error: "), r.err
    assert message in r.err


BAD_DOCUMENTS = [
    ('"window": 0', "stdin: window: must be a whole number ≥ 1, got 0"),
    ('"chunk": 1.5', "stdin: chunk: must be a whole number ≥ 1, got 1.5"),
    ('"prefix": true', "stdin: prefix: must be a whole number ≥ 1, got True"),
    ('"window": 2, "window_rule": "mistral"', "stdin: window_rule: must be one of hf, gym, jax"),
    ('"documents": [0, "a"]', "stdin: documents: must be a list of whole numbers"),
    ('"documents": [0, 1]', "documents: needs one document id per key (1 key), got 2"),
    ('"window": 2, "window_right": 1', "stdin: window_right: applies to the jax window rule only"),
    ('"sink_tokens": 2', "stdin: sink_tokens: keep keys visible beside a window"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_DOCUMENTS, ids=[m for _, m in BAD_DOCUMENTS])
def test_bad_document_keys_are_one_line_exit_2(attn: RunAttn, extra: str, message: str) -> None:
    r = attn("compute", stdin='{"q": [[1]], "k": [[1]], "v": [[1]], ' + extra + "}")
    assert r.code == 2
    assert r.err.count("\n") == 1 and message in r.err, r.err


def test_softcap_and_sinks_from_flags_golden(attn: RunAttn, golden: Golden) -> None:
    r = attn("compute", *QKV, "--softcap", "0.5", "--sinks", "1", "--causal", "--stage", "capped", "--stage", "weights")
    assert r.code == 0, r.err
    golden("variants-softcap-sink", r.out)
    assert "0.5 × tanh(" in r.out and "The sink (logit 1.0) took" in r.out
    doc = json.loads(attn("compute", *QKV, "--softcap", "0.5", "--sinks", "1", "--causal", "--json").out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["config"]["softcap"] == 0.5 and doc["config"]["sinks"] == [1.0]
    weights, sink = np.array(doc["stages"]["weights"]), np.array(doc["stages"]["sink_weight"])
    np.testing.assert_allclose(weights.sum(axis=1) + sink, 1.0, atol=1e-12)
    assert json.loads(attn("compute", "--json", stdin=json.dumps(doc)).out)["output"] == doc["output"]


def test_sinks_per_head_in_multihead(attn: RunAttn) -> None:
    r = attn("compute", "--x", X, "--heads", "2", "--sinks", "0.5,-1", "--json")
    assert r.code == 0, r.err
    r = attn("compute", "--x", X, "--heads", "2", "--sinks", "0.5,-1,2")
    assert r.code == 2 and "--sinks: needs one sink logit per head (2 heads) or one for all, got 3" in r.err


BAD_SCORE_FLAGS = [
    (["--softcap", "0"], "--softcap: must be a positive finite number, got 0.0"),
    (["--softcap", "-2"], "--softcap: must be a positive finite number"),
    (["--sinks", "a"], "--sinks: expected sink logits like 0.5,-1"),
    (["--sinks", "1,nan"], "--sinks: expected sink logits like 0.5,-1"),
    (["--sinks", "1,2"], "--sinks: needs one sink logit per head (1 head) or one for all, got 2"),
]


@pytest.mark.parametrize(("args", "message"), BAD_SCORE_FLAGS, ids=[m for _, m in BAD_SCORE_FLAGS])
def test_bad_softcap_and_sinks_are_one_line_exit_2(attn: RunAttn, args: list[str], message: str) -> None:
    r = attn("compute", *QKV, *args)
    assert r.code == 2 and r.err.count("\n") == 1 and message in r.err, r.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [('"softcap": 0', "stdin: softcap: must be a positive finite number, got 0"),
     ('"sinks": [1, "x"]', "stdin: sinks: must be a list of finite numbers"),
     ('"sinks": []', "stdin: sinks: must be a list of finite numbers")],
)  # fmt: skip
def test_bad_softcap_and_sinks_keys(attn: RunAttn, extra: str, message: str) -> None:
    r = attn("compute", stdin='{"q": [[1]], "k": [[1]], "v": [[1]], ' + extra + "}")
    assert r.code == 2 and r.err.count("\n") == 1 and message in r.err, r.err


def test_multihead_json_with_every_variant_validates_and_reads_back(attn: RunAttn) -> None:
    r = attn("compute", "--x", X, "--heads", "2", "--sinks", "0.5,-1", "--window", "2", "--softcap", "3", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    assert {"capped", "visible", "sink_weight"} <= set(doc["stages"])
    assert json.loads(attn("compute", "--json", stdin=r.out).out)["output"] == doc["output"]


def test_gemma2_scale_rule_by_name(attn: RunAttn) -> None:
    r = attn("compute", *QKV, "--query-pre-attn-scalar", "16", "--stage", "scaled")
    assert r.code == 0, r.err
    assert "scale = query_pre_attn_scalar^−½ (Gemma 2): 1/√16 = × 0.25, not 1/√d_k = 1/√2" in r.out
    doc = json.loads(attn("compute", *QKV, "--query-pre-attn-scalar", "16", "--json").out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["config"]["scale"] == 0.25 and doc["config"]["scale_rule"] == "1/sqrt(query_pre_attn_scalar)"
    assert doc["config"]["query_pre_attn_scalar"] == 16.0
    again = attn("compute", "--json", stdin=json.dumps(doc))  # reads back: the rule, not a given scale as well
    assert again.code == 0 and json.loads(again.out) == doc, again.err
    by_key = attn("compute", "--json", stdin=json.dumps({"q": X, "k": X, "v": X, "query_pre_attn_scalar": 16}))
    assert json.loads(by_key.out) == doc
    ru = attn("compute", *QKV, "--query-pre-attn-scalar", "16", "--stage", "scaled", "--lang", "ru")
    assert "Gemma 2" in ru.out and "не 1/√d_k" in ru.out


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--query-pre-attn-scalar", "16", "--scale", "0.5"], "--query-pre-attn-scalar: a scale is given too"),
     (["--query-pre-attn-scalar", "0"], "--query-pre-attn-scalar: must be a positive finite number, got 0.0"),
     (["--query-pre-attn-scalar", "-1"], "--query-pre-attn-scalar: must be a positive finite number")],
)  # fmt: skip
def test_bad_scale_rule_flags(attn: RunAttn, args: list[str], message: str) -> None:
    r = attn("compute", *QKV, *args)
    assert r.code == 2 and r.err.count("\n") == 1 and message in r.err, r.err


def test_bad_scale_rule_key(attn: RunAttn) -> None:
    r = attn("compute", stdin='{"q": [[1]], "k": [[1]], "v": [[1]], "query_pre_attn_scalar": "x"}')
    assert r.code == 2 and "stdin: query_pre_attn_scalar: must be a positive finite number" in r.err, r.err
