"""`attn explain --embeddings` with --positional, --rope, --heads and --permute, through the real entry point
(issue 15, item 7): the same sentence in another word order, without and with positions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, SAMPLES, Golden, RunAttn

RU = ("Этот фильм потрясающий", "--embeddings", str(SAMPLES / "embeddings-ru.json"))
FILM = "0.1 0.2; 0.2 0.9; 0.9 0.3"  # the three words' vectors in samples/embeddings-ru.json
TOP_KEYS = {"schema_version", "mode", "embeddings", "sentence", "tokens", "heads", "permutation",
            "without_positions", "with_positions", "notes"}  # fmt: skip
RUN_KEYS = {"positions", "output", "new_order_output", "change_per_word", "max_change", "rows_permuted"}


def test_permute_json_is_strict_and_shows_the_point(attn: RunAttn) -> None:
    r = attn("explain", *RU, "--permute", "3 1 2", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert set(doc) == TOP_KEYS and set(doc["without_positions"]) == RUN_KEYS == set(doc["with_positions"])
    assert doc["permutation"] == {"order": [3, 1, 2], "words": ["потрясающий", "Этот", "фильм"], "spec": "3 1 2",
                                  "seed": None}  # fmt: skip
    order = [2, 0, 1]
    plain, placed = doc["without_positions"], doc["with_positions"]
    assert plain["positions"] == {"positional": "none", "rope": False} and plain["rows_permuted"] is True
    np.testing.assert_allclose(plain["new_order_output"], np.array(plain["output"])[order], atol=1e-15)
    assert placed["positions"] == {"positional": "sinusoidal", "rope": False} and placed["rows_permuted"] is False
    moved_back = np.array(placed["new_order_output"])[np.argsort(order)]
    np.testing.assert_allclose(placed["change_per_word"], np.abs(moved_back - placed["output"]).max(axis=1))
    assert placed["max_change"] == max(placed["change_per_word"]) > 0.1
    note = "--permute compares with sinusoidal positions unless --positional or --rope says otherwise."
    assert doc["notes"] == [note]


def test_positions_match_attn_compute(attn: RunAttn) -> None:
    """The same projections and conventions as `attn compute --x`: the same final output, to the last digit."""
    for flags in (("--positional", "sinusoidal"), ("--rope",), ("--positional", "sinusoidal", "--rope"),
                  ("--heads", "2"), ("--heads", "2", "--positional", "sinusoidal")):  # fmt: skip
        mine = json.loads(attn("explain", *RU, *flags, "--json").out)
        theirs = json.loads(attn("compute", "--x", FILM, *flags, "--json").out)
        assert mine["output"] == theirs["output"] and mine["config"] == theirs["config"], flags
        assert mine["tokens"] == mine["labels"]["q"] == ["Этот", "фильм", "потрясающий"]
        compared = json.loads(attn("explain", *RU, *flags, "--permute", "reverse", "--json").out)
        if "--heads" not in flags or len(flags) > 2:
            assert compared["with_positions"]["output"] == theirs["output"]
    wq = "1 0 1 0; 0 1 1 1"
    mine = json.loads(attn("explain", *RU, "--wq", wq, "--wk", wq, "--rope", "--json").out)
    theirs = json.loads(attn("compute", "--x", FILM, "--wq", wq, "--wk", wq, "--wv", "1 0; 0 1", "--rope",
                             "--json").out)  # fmt: skip
    assert mine["output"] == theirs["output"]


def test_positions_show_the_multi_head_stages_in_words(attn: RunAttn) -> None:
    r = attn("explain", *RU, "--positional", "sinusoidal", "--rope", columns=120)
    assert r.code == 0, r.err
    assert "0a · sinusoidal position encodings PE" in r.out and "0i · q after RoPE" in r.out
    assert "потрясающий   0.9093   -0.4161" in r.out  # PE(2) = [sin 2, cos 2] in the row of the third word
    assert "Reading: where each word looks" in r.out
    two = attn("explain", *RU, "--heads", "2")
    assert "head 2" in two.out and "Reading: where each word looks (the heads' average)" in two.out


def test_permute_in_english_and_russian(attn: RunAttn) -> None:
    r = attn("explain", *RU, "--permute", "reverse", columns=200)
    assert r.code == 0, r.err
    en = " ".join(r.out.split())  # the captions as one line
    assert "The same words in another order: потрясающий фильм Этот" in en
    assert "Without positions every word's output is the same in both orders" in en
    assert "(largest |Δ| < 1e-12, rounding); “Этот” gives [0.4045, 0.4781] at place 1 and at place 3" in en
    assert "“потрясающий” moves from place 3 to place 1 (its embedding gets PE(2) = [0.9093, -0.4161]" in en
    assert "Even “фильм”, which keeps place 2, changes by 0.1656" in en
    ru = " ".join(attn("explain", *RU, "--permute", "reverse", "--lang", "ru", columns=200).out.split())
    assert "Те же слова в другом порядке: потрясающий фильм Этот" in ru
    assert "«потрясающий» переходит с места 3 на место 1" in ru and "«фильм»" in ru
    rope = attn("explain", *RU, "--permute", "2 1 3", "--rope", columns=200)
    assert "RoPE turns its q and k by m·θ_i" in rope.out


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_permute_golden(
    attn: RunAttn, golden: Golden, columns: int, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the output names the samples file by the path given
    r = attn("explain", RU[0], "--embeddings", "samples/embeddings-ru.json", "--permute", "reverse", "--lang", lang,
             columns=columns)  # fmt: skip
    assert r.code == 0, r.err
    assert max(len(line) for line in r.out.splitlines()) <= columns
    golden(f"explain-permute-{columns}-{lang}", r.out)


def test_permute_with_more_dimensions_cuts_columns_at_80(attn: RunAttn) -> None:
    en = ("The cat sat", "--embeddings", str(SAMPLES / "embeddings-en.json"))
    wide = attn("explain", *en, "--wq", "1 0 0 0 0 0; 0 1 0 0 0 0", "--wk", "1 0 0 0 0 0; 0 1 0 0 0 0",
                "--wv", "1 0 1 0 1 0; 0 1 0 1 0 1", "--permute", "random", "--seed", "3")  # fmt: skip
    assert wide.code == 0, wide.err
    assert "…" in wide.out and max(len(line) for line in wide.out.splitlines()) <= 80


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--permute", "3 1"), "--permute: has 2 places for 3 words: give each place 1…3 once"),
        (("--permute", "3 1 1"), "--permute: is not a permutation: 1 appears twice and 2 not at all; give each place "
                                 "once"),
        (("--permute", "1 2 3"), "--permute: 1 2 3 leaves every word in its place: give another order (e.g. 3 2 1)"),
        (("--permute", "sideways"), "--permute: got 'sideways': give reverse, random, or the new order of the 3 "
                                    "words' places (e.g. 3 2 1)"),
        (("--seed", "3"), "--seed: goes with --permute random"),
        (("--permute", "reverse", "--seed", "3"), "--seed: goes with a random order only"),
        (("--permute", "reverse", "--causal"), "--causal: does not go with --permute: a causal mask depends on the "
                                               "order itself, so the outputs would change without positions too"),
        (("--permute", "reverse", "--query", "фильм"), "--query: does not go with --permute (it shows each word's "
                                                       "output in both orders)"),
        (("--heads", "2", "--rope"), "--rope: RoPE rotates pairs of columns; d_head = 1 is odd"),
        (("--heads", "3"), "--heads: d_model = 2 is not divisible by heads = 3"),
        (("--rope", "--query", "фильм"), "--query: goes with plain own embeddings, not yet with --heads, "
                                         "--positional or --rope"),
        (("--positional", "cosine"), "--positional"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_flag(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("explain", *RU, *args)
    assert r.code == 2 and r.out == "", r.out
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    assert lines[0].startswith("attn: error: " + message) or message in lines[0], r.err


def test_model_mode_refuses_them(attn: RunAttn) -> None:
    for args in (("--heads", "2"), ("--rope",), ("--permute", "reverse"), ("--positional", "sinusoidal")):
        r = attn("explain", "The cat", *args)
        assert r.code == 2 and r.err.strip().endswith(
            f"{args[0]}: goes with --embeddings (a pretrained model has its own positions and heads)"
        ), r.err
