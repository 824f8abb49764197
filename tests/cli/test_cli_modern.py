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
    assert "0g · q after QK-norm  [head 1]" in r.out and "0h · k after QK-norm  [head 1]" in r.out
    assert "x / √(mean(x²) + ε) × w, ε = 1e-06, w: d_head = 2 learned weights." in r.out
    assert "q1: √((1.0² + 0.0²) / 2 + ε) = 0.7071; column 1: 1.0 / 0.7071 × 1.0 = 1.4142." in r.out
    ru = attn("compute", *QK, "--stage", "qk_norm", "--head", "1", "--lang", "ru")
    assert "QK-norm (Gemma 3, Qwen 3): RMSNorm строк q и k каждой головы до RoPE" in ru.out, ru.out


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


def test_decode_shows_the_step_beside_the_full_recompute(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "causal-4x4", "--decode", "2")
    assert r.code == 0, r.err
    assert "KV-cache decoding: 2 new queries against a cache of 2 keys (4 after the step)" in r.out
    assert "q3 step   0.2483   0.2483   0.5035   0.0000" in r.out and "q3 full   0.2483   0.2483   0.5035" in r.out
    assert "K (2×2) and V (2×3) per head, × 1 K/V head, " in r.out and "160 bytes" in r.out
    assert "1 · scores" not in r.out  # the step alone, unless --stage asks for more
    both = attn("compute", "--sample", "causal-4x4", "--decode", "1", "--stage", "weights")
    assert "4 · weights" in both.out and "KV-cache decoding" in both.out
    ru = attn("compute", "--sample", "causal-4x4", "--decode", "1", "--lang", "ru")
    assert "KV-кэш" in ru.out, ru.out


def test_decode_json_validates_and_reads_back(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "mha-gqa", "--decode", "1", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    step = doc["decode_step"]
    assert doc["config"]["decode"] == 1 and step["new"] == 1
    assert step["cached"] == step["cache"]["holds"][0]["shape"][0] - 1
    assert step["cache"]["kv_heads"] == 2 and step["cache"]["bytes"] == 2 * 8 * sum(
        int(np.prod(h["shape"])) for h in step["cache"]["holds"]
    )
    np.testing.assert_allclose(step["output"], step["full_output"], atol=1e-12, rtol=0)
    assert step["bit_equal"] == (step["max_difference"] == 0)
    assert json.loads(attn("compute", "--json", stdin=r.out).out) == doc
    by_key = attn("compute", "--json", stdin=json.dumps({"q": "1 0; 0 1", "k": "1 0; 0 1", "v": "1; 2", "decode": 1}))
    assert json.loads(by_key.out)["decode_step"]["cache"]["bytes"] == 48


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--sample", "causal-4x4", "--decode", "9"), "--decode: must be a whole number of new queries, 1…4"),
     (("--sample", "causal-4x4", "--decode", "0"), "'--decode'"),
     (("--q", "1 0", "--k", "1 0; 0 1", "--v", "1; 2", "--causal", "--decode", "1"), "--causal-align: a KV cache")],
)  # fmt: skip
def test_bad_decode_flags(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("compute", *args)
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1 and message in r.err, r.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [('"decode": 0', "stdin: decode: must be a whole number ≥ 1"),
     ('"decode": 3', "stdin: decode: must be a whole number of new queries, 1…2"),
     ('"decode": 1, "causal": true, "q": [[1, 0]]', "stdin: causal_align: a KV cache aligns")],
)  # fmt: skip
def test_bad_decode_keys(attn: RunAttn, extra: str, message: str) -> None:
    r = attn("compute", stdin='{"q": [[1, 0], [0, 1]], "k": [[1, 0], [0, 1]], "v": [[1], [2]], ' + extra + "}")
    assert r.code == 2 and r.err.count("\n") == 1 and message in r.err, r.err


MLA = ("--x", "1 0 1 0; 0 1 0 1; 1 1 0 0", "--heads", "2", "--mla", "4,2,2,2", "--causal")


def test_mla_shows_the_latent_the_shared_key_the_score_parts_and_the_cache(attn: RunAttn) -> None:
    r = attn("compute", *MLA, "--head", "1", columns=120)
    assert r.code == 0, r.err
    assert "0c · latent c = x·W_DKV" in r.out and "0d · k_rope = RoPE(x·W_KR), shared by every head" in r.out
    assert "1 · scores = q_nope·k_nopeᵀ + q_rope·k_ropeᵀ  [head 1]" in r.out
    assert "q1·k2: -0.5041 + -0.4764 = -0.9805; scaled by 1/√(2 + 2) = 1/2.0." in r.out
    assert "The cache holds c (3×4) and k_rope (3×2) once for every head, float64: 144 bytes." in r.out
    assert "K (3×4) and V (3×2) per head, × 2 K/V heads, float64: 288 bytes: 2.0× more." in r.out
    ru = attn("compute", *MLA, "--head", "1", "--lang", "ru", columns=120)
    assert "0c · латент c = x·W_DKV" in ru.out, ru.out


def test_mla_json_validates_and_reads_back(attn: RunAttn) -> None:
    r = attn("compute", *MLA, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["config"]["mla"] == {"d_c": 4, "d_rope": 2, "d_nope": 2, "d_v": 2, "c_norm_eps": 1e-6}
    mla = doc["stages"]["mla"]
    assert (mla["cache"]["bytes"], mla["mha_cache"]["bytes"]) == (144, 288)
    np.testing.assert_allclose(
        np.array(mla["scores_nope"]) + np.array(mla["scores_rope"]), doc["stages"]["scores"], atol=1e-14
    )
    again = json.loads(attn("compute", "--json", stdin=r.out).out)  # the drawn weights read back as given ones
    assert again["output"] == doc["output"] and again["inputs"]["mla"] == doc["inputs"]["mla"]
    step = json.loads(attn("compute", *MLA, "--decode", "1", "--json").out)["decode_step"]
    assert [h["name"] for h in step["cache"]["holds"]] == ["c", "k_rope"] and step["cache"]["bytes"] == 144
    np.testing.assert_allclose(step["output"], step["full_output"], atol=1e-12, rtol=0)


BAD_MLA = [
    (("--mla", "4,3,2,2"), "--mla: RoPE rotates pairs of columns; d_rope = 3 is odd"),
    (("--mla", "4,2"), "--mla: expected the widths d_c,d_rope,d_nope,d_v like 4,2,2,2"),
    (("--mla", "4,0,2,2"), "--mla: must be a positive whole number, got 0"),
]


@pytest.mark.parametrize(("args", "message"), BAD_MLA, ids=[m for _, m in BAD_MLA])
def test_bad_mla_flags(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("compute", "--x", "1 0; 0 1", "--heads", "1", *args)
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1 and message in r.err, r.err


W = '"w_dkv": [[1, 0], [0, 1]], "w_kr": [[1, 0], [0, 1]], "w_uv": [[1], [0]]'
BAD_MLA_KEYS = [
    ('{"d_c": 2}', "stdin: mla.d_rope: missing d_rope, d_nope, d_v"),
    ('{"d_c": 2, "d_rope": 2, "d_nope": 1, "d_v": 1, "w_q": [[1]]}', "stdin: mla.d_c: give the dimensions"),
    ("{" + W + ', "w_uk": [[1], [0], [0]], "w_q": [[1, 0, 0], [0, 1, 0]]}',
     "stdin: mla.w_uk: has 3 rows, but w_dkv (d_c) gives 2 columns: they must chain"),
    ("{" + W + ', "w_uk": [[1], [0]], "w_q": [[1, 0], [0, 1]]}',
     "stdin: mla.w_q: has 2 columns, but heads·(d_nope + d_rope) = 1·(1 + 2) = 3"),
    ("{" + W + ', "w_uk": [[1], [0]]}', "stdin: mla.w_q: missing w_q"),
    ('{"w_dkv": "1 x"}', "stdin: mla.w_dkv"),
    ('[1]', "stdin: mla: must be an object"),
    ('{"d_c": 2, "d_rope": 2, "d_nope": 1, "d_v": 1, "rank": 3}', "stdin: mla: unknown key 'rank'"),
]  # fmt: skip


@pytest.mark.parametrize(("mla", "message"), BAD_MLA_KEYS, ids=[m for _, m in BAD_MLA_KEYS])
def test_bad_mla_keys(attn: RunAttn, mla: str, message: str) -> None:
    r = attn("compute", stdin='{"x": [[1, 0], [0, 1]], "heads": 1, "mla": ' + mla + "}")
    assert r.code == 2 and r.err.count("\n") == 1 and message in r.err, r.err


def test_mla_refuses_the_keys_of_other_attention(attn: RunAttn) -> None:
    r = attn("compute", "--x", "1 0; 0 1", "--heads", "1", "--mla", "2,2,1,1", "--rope")
    assert r.code == 2 and "multi-head latent attention takes x, heads and its own weights; not rope" in r.err


@pytest.mark.parametrize("name", ["gemma2-scale", "qk-norm", "kv-cache-decode", "mla"])
def test_the_modern_samples_match_their_reference_values(attn: RunAttn, name: str) -> None:
    """Expected values by PyTorch and transformers (samples/reference/make_modern_samples.py)."""
    sample = json.loads((ROOT / "samples" / f"{name}.json").read_text())
    r = attn("compute", "--sample", name, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    for stage, values in sample["expected"].items():
        got = doc["output"] if stage == "output" else doc["stages"][stage]
        np.testing.assert_allclose(got, values, atol=2e-6, rtol=0)
    if name == "kv-cache-decode":  # the step's rows are the expected rows of the full run
        step = doc["decode_step"]
        np.testing.assert_allclose(step["output"], sample["expected"]["output"][-2:], atol=2e-6, rtol=0)
        np.testing.assert_allclose(step["weights"], sample["expected"]["weights"][-2:], atol=2e-6, rtol=0)
    assert attn("check", "--sample", name).code == 0


def test_the_readme_bad_input_block_is_what_the_commands_print(attn: RunAttn) -> None:
    """Every `$ attn compute …` line of the README's Bad input block prints the line under it."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Bad input", 1)[1].split("```console", 1)[1].split("```", 1)[0]
    pairs = re.findall(r"^\$ (.+)\n(attn: error: .+)$", block, flags=re.M)
    assert len(pairs) >= 7
    for command, error in pairs:
        stdin = ""
        if "| attn" in command:
            echo, command = command.split(" | ", 1)
            stdin = shlex.split(echo)[1]
        r = attn(*shlex.split(command)[1:], stdin=stdin, columns=400)
        assert r.code == 2 and r.err.strip() == error, (command, r.err)


def test_mla_is_refused_over_the_memory_budget(attn: RunAttn) -> None:
    r = attn("compute", "--x", "1 0; 0 1", "--heads", "1", "--mla", "2,2,1,1", "--max-memory", "10")
    assert r.code == 2 and r.err.count("\n") == 1 and "--max-memory: the MLA stage tables would need" in r.err
