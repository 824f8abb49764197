"""--labels and --k-labels: the words of the notes instead of q1, k2, in tables, captions and JSON, for
compute (single- and multi-head) and check; a count that does not match is one line naming the flag."""

from __future__ import annotations

import json
import re

import numpy as np
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
    assert r.code == 1 and "потрясающий   0.24 ✓" in r.out  # the tables, and the diagnoses below
    assert "largest difference 0.0510 at Этот → потрясающий" in r.out
    mh = attn("compute", "--sample", "mha-2heads", "--labels", "a b c", "--stage", "weights", "--head", "1")
    assert mh.code == 0 and mh.out.splitlines()[2].split()[:4] == ["a", "b", "c", "Σ"]


NOTES = "0.1 0.3; 0.2 0.4; 0.9 0.8"  # the notes' «Этот фильм потрясающий» of the check exercise
NOTES_CLAIMS = ("--expect-scores", "0.1 0.2 0.9", "--expect-weights", "0.25 0.25 0.5", "--expect-output", "0.525 0.575")


def _messages(out: str) -> str:
    """The diagnoses and fixes of a report as one line (the terminal wraps them)."""
    lines = [line.strip() for line in out.splitlines() if not line.startswith(("у вас", "you wrote"))]
    return " ".join(lines)


def test_check_messages_name_cells_by_the_labels(attn: RunAttn) -> None:
    """Issue 15, item 6: with --labels every cell position in check's messages (diagnoses, fixes, the
    largest difference) is a word of the notes, not q1, k1 or "row 3"."""
    base = ("check", "--q", NOTES, "--k", NOTES, "--v", NOTES, "--row", "потрясающий", *NOTES_CLAIMS)
    en = attn(*base, "--labels", WORDS, columns=200)
    assert en.code == 1, en.err
    text = _messages(en.out)
    assert (
        "row “потрясающий” of your scores is what the query [1.0, 0.0] gives, not the given потрясающий = [0.9, 0.8]"
    ) in text
    assert (
        "row “потрясающий” is потрясающий dotted with each key, e.g. потрясающий·Этот = 0.9×0.1 + 0.8×0.3 = 0.33"
    ) in text
    assert "so in row “потрясающий” w(потрясающий) ÷ w(фильм) must be exp(0.6364 − 0.1414) = 1.64; yours is 2.0" in text
    assert "e.g. Этот → Этот: exp(0.0707) = 1.0733" in text
    assert "largest difference 0.0084 at потрясающий → d1 (you wrote 0.525, correct 0.5334)" in text
    assert not re.search(r"\b[qk]\d\b|row \d", text), text
    ru = _messages(attn(*base, "--labels", WORDS, "--lang", "ru", columns=200).out)
    assert (
        "строка «потрясающий» ваших scores получается из запроса [1.0, 0.0], а не из данного потрясающий = [0.9, 0.8]"
    ) in ru
    assert (
        "строка «потрясающий» — скалярные произведения запроса потрясающий с каждым ключом, например потрясающий·Этот"
    ) in ru
    assert "в строке «потрясающий» отношение w(потрясающий) ÷ w(фильм) должно быть exp(0.6364 − 0.1414) = 1.64" in ru
    assert "например Этот → Этот: exp(0.0707)" in ru
    assert not re.search(r"\b[qk]\d\b|строк[аие] \d", ru), ru
    plain = _messages(attn(*base[:-6], "--row", "3", *NOTES_CLAIMS, columns=200).out)  # no labels: by position
    assert "row 3 of your scores is what the query [1.0, 0.0] gives, not the given q3 = [0.9, 0.8]" in plain
    assert "row 3 is q3 dotted with each key, e.g. q3·k1 = 0.9×0.1 + 0.8×0.3 = 0.33" in plain
    assert "in row 3 w(k3) ÷ w(k2) must be" in plain and "e.g. q1, k1: exp(0.0707)" in plain
    assert "largest difference 0.0084 at row 3, column 1" in plain


def test_unexplained_and_output_fixes_name_cells_by_the_labels(attn: RunAttn) -> None:
    base = ("check", "--q", NOTES, "--k", NOTES, "--v", NOTES, "--expect-output", "0.5 0.5; 0.5 0.5; 0.525 0.575")
    en = _messages(attn(*base, "--labels", WORDS, columns=200).out)
    assert "the first wrong cell is Этот → d1: you wrote 0.5, the correct value is 0.4258" in en
    ru = _messages(attn(*base, "--labels", WORDS, "--lang", "ru", columns=200).out)
    assert "первая неверная ячейка — Этот → d1: у вас 0.5, верное значение 0.4258" in ru
    assert "row 1, column 1" in _messages(attn(*base, columns=200).out)
    square = ("check", "--q", "1 0; 0 1", "--k", "1 2; 3 4", "--labels", "a b", "--v", "1 0; 0 1")
    wrong = _messages(attn(*square, "--k-labels", "x y", "--expect-scores", "1 2; 3 4", columns=200).out)
    assert "e.g. a·y = 1.0×3.0 + 0.0×4.0 = 3.0" in wrong  # K not transposed: the fix's worked example
    scores = np.array([[1.0, 3.0], [2.0, 4.0]]) / np.sqrt(2)
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    v = np.array([[1.0, 2.0], [5.0, 3.0]])
    claim = "; ".join(" ".join(f"{x:.4f}" for x in row) for row in weights @ v.T)  # V transposed
    out = _messages(attn(*square[:-2], "--v", "1 2; 5 3", "--expect-output", claim, columns=200).out)
    assert "Diagnosis: V transposed" in out and "e.g. a: " in out and "q1:" not in out


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


def test_check_messages_write_out_control_characters_of_labels(attn: RunAttn) -> None:
    """A document's label reaches the diagnoses too: on the terminal its control characters are written out."""
    doc = {"q": "1 0; 0 1", "k": "1 0; 0 1", "v": "1 0; 0 1", "labels": {"q": ["\x1b[2Ja", "b"]},
           "expected": {"output": [[1, 2], [3, 4]]}}  # fmt: skip
    r = attn("check", "--input", "-", stdin=json.dumps(doc), columns=200)
    assert r.code == 1 and "\x1b" not in r.out
    assert "the first wrong cell is \\x1b[2Ja → d1" in _messages(r.out)
    raw = json.loads(attn("check", "--input", "-", "--json", stdin=json.dumps(doc)).out)
    assert "\x1b[2Ja → d1" in raw["stages"]["output"]["unexplained"]
