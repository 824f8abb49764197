"""--labels and --k-labels: the words of the notes instead of q1, k2, in tables, captions and JSON, for
compute (single- and multi-head) and check; a count that does not match is one line naming the flag."""

from __future__ import annotations

import json

import pytest

from conftest import RunAttn

FILM = "0.1 0.2; 0.9 0.4; 0.5 0.8"  # the notes' 2-D embeddings of «Этот фильм потрясающий»
WORDS = "Этот фильм потрясающий"


def test_self_attention_names_queries_and_keys(attn: RunAttn) -> None:
    r = attn("compute", "--q", FILM, "--k", FILM, "--v", FILM, "--labels", WORDS, "--stage", "weights")
    assert r.code == 0, r.err
    header = r.out.splitlines()[1].split()
    assert header == ["Этот", "фильм", "потрясающий", "Σ"] and "q1" not in r.out and "k2" not in r.out
    assert "Этот gives most weight to потрясающий" in r.out  # the caption speaks the words too
    doc = json.loads(attn("compute", "--q", FILM, "--k", FILM, "--v", FILM, "--labels", WORDS, "--json").out)
    assert doc["labels"] == {"q": WORDS.split(), "k": WORDS.split()}


def test_cross_attention_names_each_side_and_flags_win_over_the_document(attn: RunAttn) -> None:
    doc = {"q": "0.1 0.2", "k": FILM, "v": FILM, "labels": {"q": ["q"], "k": ["a", "b", "c"]}}
    r = attn("compute", "--labels", "потрясающий", "--k-labels", '["Этот", "фильм", "потрясающий"]', "--json",
             stdin=json.dumps(doc))  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["labels"] == {"q": ["потрясающий"], "k": WORDS.split()}
    kept = json.loads(attn("compute", "--labels", "потрясающий", "--json", stdin=json.dumps(doc)).out)
    assert kept["labels"] == {"q": ["потрясающий"], "k": ["a", "b", "c"]}  # one query: the keys keep theirs


def test_check_and_multi_head_use_them(attn: RunAttn) -> None:
    claim = "0.3 0.3 0.4; 0.2 0.4 0.4; 0.24 0.36 0.4"
    r = attn("check", "--q", FILM, "--k", FILM, "--v", FILM, "--labels", WORDS, "--expect-weights", claim)
    assert r.code == 1 and "потрясающий   0.24 ✓" in r.out  # the tables; the diagnoses still say q1, k1
    assert "largest difference 0.0510 at Этот → потрясающий" in r.out
    mh = attn("compute", "--sample", "mha-2heads", "--labels", "a b c", "--stage", "weights", "--head", "1")
    assert mh.code == 0 and mh.out.splitlines()[2].split()[:4] == ["a", "b", "c", "Σ"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--labels", "a b"), "--labels: one name per query: 3 needed, 2 given"),
        (("--k-labels", "a"), "--k-labels: one name per key: 3 needed, 1 given"),
        (("--labels", '["a", 1, "c"]'), "--labels: expected words separated by spaces or a JSON list of strings"),
        (("--labels", "  "), "--labels: is empty"),
    ],
)
def test_bad_labels(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    for command in ("compute", "check"):
        r = attn(command, "--q", FILM, "--k", FILM, "--v", FILM, *args)
        assert r.code == 2 and r.err.strip().splitlines()[-1] == f"attn: error: {message}", r.err
