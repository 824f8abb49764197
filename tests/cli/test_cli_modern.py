"""`attn compute` with QK-norm (flags, document keys, the stage, JSON that reads back, Russian, bad input)."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from conftest import ROOT, RunAttn

SCHEMA = json.loads((ROOT / "attncli" / "schema" / "result.schema.json").read_text())
X = "1 0 2 0; 0 1 0 3; 1 1 1 1"
QK = ("--x", X, "--heads", "2", "--q-norm", "1 2", "--k-norm", "0.5,1", "--rope")


def test_qk_norm_stage_states_the_rule_with_numbers(attn: RunAttn) -> None:
    r = attn("compute", *QK, "--stage", "qk_norm", "--head", "1")
    assert r.code == 0, r.err
    assert "1e · q after QK-norm  [head 1]" in r.out and "1f · k after QK-norm  [head 1]" in r.out
    assert "x / √(mean(x²) + ε) × w, ε = 1e-06, w: d_head = 2 learned weights." in r.out
    assert "q1: √((1.0² + 0.0²) / 2 + ε) = 0.7071; column 1: 1.0 / 0.7071 × 1.0 = 1.4142." in r.out
    ru = attn("compute", *QK, "--stage", "qk_norm", "--head", "1", "--lang", "ru")
    assert "QK-norm (Gemma 3, OLMo 2): RMSNorm строк q и k каждой головы до RoPE" in ru.out, ru.out


def test_qk_norm_json_validates_and_reads_back(attn: RunAttn) -> None:
    r = attn("compute", *QK, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["config"]["qk_norm"] is True and doc["config"]["qk_norm_eps"] == 1e-6
    assert doc["inputs"]["q_norm"] == [1.0, 2.0] and doc["inputs"]["k_norm"] == [0.5, 1.0]
    q = np.array(doc["stages"]["qk_norm"]["q"])
    np.testing.assert_allclose(np.mean((q / [1.0, 2.0]) ** 2, axis=-1), 1.0, atol=1e-5)
    assert json.loads(attn("compute", "--json", stdin=r.out).out) == doc
    by_key = {"x": X, "heads": 2, "q_norm": [1, 2], "k_norm": [0.5, 1], "rope": True}
    assert json.loads(attn("compute", "--json", stdin=json.dumps(by_key)).out) == doc
    plain = attn("compute", "--x", X, "--heads", "2", "--qk-norm", "--json")
    assert json.loads(plain.out)["inputs"]["q_norm"] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--q-norm", "1 2 3"), "--q-norm: has 3 values but a head has d_head = 2 columns"),
     (("--k-norm", "1"), "--k-norm: has 1 value but a head has d_head = 2 columns"),
     (("--qk-norm", "--qk-norm-eps", "-1"), "--qk-norm-eps"),
     (("--q-norm", "1 x"), "--q-norm")],
)  # fmt: skip
def test_bad_qk_norm_flags(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("compute", "--x", X, "--heads", "2", *args)
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1 and message in r.err, r.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [('"qk_norm": 1', "stdin: qk_norm: must be true or false"),
     ('"qk_norm": true, "qk_norm_eps": -2', "stdin: qk_norm_eps: must be a finite number ≥ 0"),
     ('"q_norm": [1, 2, 3]', "q_norm: has 3 values but a head has d_head = 2 columns")],
)  # fmt: skip
def test_bad_qk_norm_keys(attn: RunAttn, extra: str, message: str) -> None:
    r = attn("compute", stdin='{"x": [[1, 0], [0, 1]], "heads": 1, ' + extra + "}")
    assert r.code == 2 and r.err.count("\n") == 1 and message in r.err, r.err
