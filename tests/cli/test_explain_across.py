"""`attn explain` across heads and layers, end to end: --key, --query with --head all, --rollout, --roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attncli.models.locate import package_folder
from attncli.models.registry import load

from conftest import SAMPLES, Golden, RunAttn

EIFFEL = "The miniature Eiffel tower is a toy"


def _json(r: Any) -> dict[str, Any]:
    assert r.code == 0, r.err
    doc: dict[str, Any] = json.loads(r.out)
    return doc


@pytest.fixture(scope="module")
def weights() -> np.ndarray:
    """(L, H, T, T) of EIFFEL, from the model directly (its weights are parity-tested against transformers)."""
    folder = package_folder()
    assert folder is not None
    model = load(folder)
    ids = model.tokenizer.encode(EIFFEL, 512).ids
    return np.stack([w[0] for w in model.forward(ids[None, :]).weights]).astype(np.float64)


def test_key_ranks_every_head_by_the_word_level_weight(attn: RunAttn, weights: np.ndarray) -> None:
    doc = _json(attn("explain", EIFFEL, "--query", "tower", "--key", "eiffel", "--json"))
    assert doc["mode"] == "head-search" and doc["level"] == "words" and doc["query"] == "tower"
    assert doc["key"] == "Eiffel" and doc["units"][3] == "Eiffel"
    heads = doc["heads"]
    assert len(heads) == 72 and heads == sorted(heads, key=lambda h: -h["weight"])
    for h in heads[:5] + heads[-5:]:
        # tower is piece 7; eiffel is pieces 4, 5, 6 (e ##iff ##el): the key's pieces added up
        assert h["weight"] == pytest.approx(weights[h["layer"] - 1, h["head"] - 1, 6, 3:6].sum(), abs=1e-6)
    pieces = _json(attn("explain", EIFFEL, "--query", "tower", "--key", "##iff", "--pieces", "--json"))
    assert pieces["level"] == "pieces" and pieces["key"] == "##iff"
    top = pieces["heads"][0]
    assert top["weight"] == pytest.approx(weights[:, :, 6, 4].max(), abs=1e-6)


def test_key_with_a_layer_keeps_that_layer_and_the_table_reads(attn: RunAttn, golden: Golden) -> None:
    doc = _json(attn("explain", EIFFEL, "--query", "tower", "--key", "miniature", "--layer", "2", "--json"))
    assert {h["layer"] for h in doc["heads"]} == {2} and len(doc["heads"]) == 12
    r = attn("explain", EIFFEL, "--query", "tower", "--key", "miniature")
    assert r.code == 0, r.err
    golden("explain_key", r.out)


def test_query_with_head_all_shows_the_query_in_every_head(attn: RunAttn, weights: np.ndarray) -> None:
    doc = _json(attn("explain", EIFFEL, "--query", "tower", "--layer", "3", "--head", "all", "--json"))
    assert doc["mode"] == "query-heads" and len(doc["heads"]) == 12
    h7 = doc["heads"][6]
    assert (h7["layer"], h7["head"]) == (3, 7)
    w = weights[2, 6, 6]
    assert h7["weights"] == pytest.approx([w[0], w[1], w[2], w[3:6].sum(), w[6], w[7], w[8], w[9], w[10]], abs=1e-6)
    r = attn("explain", EIFFEL, "--query", "tower", "--head", "all")
    assert r.code == 0, r.err
    assert "Where tower looks in every head" in r.out and "is the layer of the default head" in r.out
    every = attn("explain", EIFFEL, "--query", "Eiffel", "--layer", "all", "--head", "all")
    assert every.code == 0, every.err
    assert "L1 H1 " in every.out and "L6 H12 " in every.out and "of 72 query rows" in every.out


def test_overview_pairs_are_words_and_pieces_on_request(attn: RunAttn, weights: np.ndarray) -> None:
    doc = _json(attn("explain", EIFFEL, "--layer", "all", "--head", "all", "--json"))
    words = ["[CLS]", "The", "miniature", "Eiffel", "tower", "is", "a", "toy", "[SEP]"]
    groups = [[0], [1], [2], [3, 4, 5], [6], [7], [8], [9], [10]]
    named = {name for h in doc["heads"] for p in h["pairs"] for name in (p["query"], p["key"])}
    assert "Eiffel" in named and not named & {"e", "##iff", "##el", "[CLS]", "[SEP]"}
    for h in doc["heads"][:12]:
        w = weights[h["layer"] - 1, h["head"] - 1]
        for p in h["pairs"]:
            q, k = groups[words.index(p["query"])], groups[words.index(p["key"])]
            assert p["weight"] == pytest.approx(w[q][:, k].sum(axis=1).mean(), abs=1e-6)  # mean of rows, sum of keys
            assert abs(words.index(p["query"]) - words.index(p["key"])) > 1  # not itself, not a neighbour
    pieces = _json(attn("explain", EIFFEL, "--layer", "all", "--head", "all", "--pieces", "--json"))
    assert {p["key"] for h in pieces["heads"] for p in h["pairs"]} & {"e", "##iff", "##el"}


def test_words_heatmap_of_one_head(attn: RunAttn, weights: np.ndarray) -> None:
    r = attn("explain", EIFFEL, "--layer", "1", "--head", "3", "--words", "--stage", "weights", columns=120)
    assert r.code == 0, r.err
    heat = r.out.split("4 · weights")[1].split("Each row")[0]
    assert "##iff" not in heat and "Eiffel" in heat
    row = next(line for line in heat.splitlines() if line.startswith("tower "))
    w = weights[0, 2, 6]
    expected = [w[0], w[1], w[2], w[3:6].sum(), w[6], w[7], w[8], w[9], w[10]]
    assert [float(x) for x in row.split()[1:]] == pytest.approx(expected, abs=0.006)
    one_head = ("--layer", "1", "--head", "3", "--words", "--stage", "weights")
    focused = attn("explain", EIFFEL, *one_head, "--query", "eiffel")
    line = next(x for x in focused.out.split("4 · weights")[1].splitlines() if x.startswith("Eiffel "))
    e = weights[0, 2, 3:6].mean(axis=0)  # the three pieces' rows, averaged
    assert float(line.split()[4]) == pytest.approx(e[3:6].sum(), abs=0.006)


def test_rollout_json_and_text(attn: RunAttn, golden: Golden) -> None:
    doc = _json(attn("explain", EIFFEL, "--rollout", "--json"))
    r = np.array(doc["rollout"])
    assert doc["mode"] == "rollout" and doc["residual"] == 0.5 and r.shape == (9, 9)
    assert np.allclose(r.sum(axis=1), 1.0) and np.allclose(np.array(doc["last_layer"]).sum(axis=1), 1.0)
    none = _json(attn("explain", EIFFEL, "--rollout", "--residual", "0", "--json"))
    assert not np.allclose(np.array(none["rollout"]), r)
    out = attn("explain", EIFFEL, "--rollout", columns=100)
    assert out.code == 0, out.err
    golden("explain_rollout", out.out)


def test_flow_json_and_text(attn: RunAttn) -> None:
    from attncli.analysis.flow import attention_flow, normalised
    from attncli.analysis.heads import aggregate, units

    doc = _json(attn("explain", EIFFEL, "--flow", "--json"))
    assert doc["mode"] == "flow" and doc["residual"] == 0.5 and doc["level"] == "words"
    shares, raw = np.array(doc["flow"]), np.array(doc["max_flow"])
    assert shares.shape == (9, 9) and np.allclose(shares.sum(axis=1), 1.0)
    assert raw.shape == (11, 11) and (raw <= 1 + 1e-9).all()  # the flows themselves, per piece (≤ 1)
    # the same numbers as the analysis on the model's weights (pieces 11 × 11 read as 9 words)
    folder = package_folder()
    assert folder is not None
    model = load(folder)
    tokens = model.tokenizer.encode(EIFFEL, 512)
    w = np.stack([x[0] for x in model.forward(tokens.ids[None, :]).weights])
    flows = attention_flow(w)
    assert np.allclose(raw, flows, atol=1e-6)
    assert np.allclose(shares, aggregate(normalised(flows), units(EIFFEL, tokens)), atol=1e-6)
    out = attn("explain", EIFFEL, "--flow", "--residual", "0.3", columns=100)
    assert out.code == 0, out.err
    assert "Attention flow through all 6 layers" in out.out and "Â = 0.3·I + 0.7·(mean of the heads)" in out.out
    assert "it ignores the value vectors" in out.out and "For comparison, layer 6 alone" in out.out
    ru = attn("explain", EIFFEL, "--flow", "--lang", "ru")
    assert ru.code == 0 and "Поток внимания" in ru.out


def test_roles_json_and_text(attn: RunAttn, golden: Golden, weights: np.ndarray) -> None:
    doc = _json(attn("explain", EIFFEL + ".", "--roles", "--json"))
    assert doc["mode"] == "roles" and doc["probe"] is None
    roles = doc["roles"]
    assert list(roles) == ["previous", "next", "self", "first", "end", "punctuation", "broad"]
    assert np.array(roles["previous"]).shape == (6, 12)
    assert len(doc["strongest"]) == 6 and len(doc["strongest"][0]) == 12
    r = attn("explain", EIFFEL, "--roles", columns=100)
    assert r.code == 0, r.err
    golden("explain_roles", r.out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--key", "toy"), "--key: needs --query"),
        (("--query", "tower", "--key", "dog"), "--key: 'dog' is not a word of the sentence; the words are: [CLS] The"),
        (("--query", "dog", "--key", "toy"), "--query: 'dog' is not a word of the sentence"),
        (("--query", "dog", "--head", "all"), "--query: 'dog' is not a word"),
        (("--query", "##iff", "--key", "zz", "--pieces"), "--key: 'zz' is not a token of the sentence"),
        (("--rollout", "--query", "tower"), "--query: does not go with --rollout"),
        (("--rollout", "--layer", "2"), "--layer: does not go with --rollout"),
        (("--roles", "--head", "2"), "--head: does not go with --roles"),
        (("--roles", "--rollout"), "--roles: does not go with --rollout"),
        (("--rollout", "--residual", "1"), "--residual: the residual weight must lie in 0 ≤ w < 1"),
        (("--rollout", "--residual", "-0.5"), "--residual: the residual weight must lie in 0 ≤ w < 1"),
        (("--residual", "0.3"), "--residual: applies to --rollout and --flow"),
        (("--flow", "--rollout"), "--flow: does not go with --rollout: ask for one at a time"),
        (("--flow", "--query", "tower"), "--query: does not go with --flow"),
        (("--flow", "--view", "page.html"), "--view: shows every head, and with --roles or --query/--key"),
        (("--words", "--roles"), "--words: shows one head's heatmap in words; it does not go with --roles"),
        (("--words", "--pieces"), "--words: shows one head's heatmap in words; it does not go with --pieces"),
        (("--words", "--embeddings", str(SAMPLES / "embeddings-en.json")), "--words: applies to the pretrained"),
        (
            ("--rollout", "--embeddings", str(SAMPLES / "embeddings-en.json")),
            "--rollout: applies to the pretrained model",
        ),
    ],
)
def test_bad_combinations_are_one_line_and_exit_2(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("explain", EIFFEL, *args)
    assert r.code == 2, r.out
    assert r.err.startswith("attn: error: ") and r.err.count("\n") == 1
    assert message in r.err
    assert r.out == ""


def test_roles_and_rollout_save_svg_and_html(attn: RunAttn, tmp_path: Path) -> None:
    svg, html = tmp_path / "roles.svg", tmp_path / "roles.html"
    r = attn("explain", EIFFEL, "--roles", "--save-svg", str(svg), "--save-html", str(html))
    assert r.code == 0, r.err
    assert svg.read_text(encoding="utf-8").startswith("<svg") and "first-token sink" in html.read_text(encoding="utf-8")
    r = attn("explain", EIFFEL, "--flow", "--save-svg", str(svg), "--save-html", str(html))
    assert r.code == 0, r.err
    assert svg.read_text(encoding="utf-8").startswith("<svg") and "Attention flow" in html.read_text(encoding="utf-8")


def test_russian(attn: RunAttn) -> None:
    r = attn("explain", EIFFEL, "--query", "tower", "--key", "toy", "--lang", "ru")
    assert r.code == 0, r.err
    assert "Какие головы связывают" in r.out
    r = attn("explain", EIFFEL, "--roles", "--lang", "ru")
    assert r.code == 0 and "Что делает каждая голова" in r.out
