"""The pure parts of `attn explain`: head choice, pattern labels, reading, query lookup, word splitting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attncli.analysis.explanation import (
    choose_head,
    find_query,
    load_embeddings,
    parse_index,
    read_row,
    split_words,
    summarize_head,
)
from attncli.errors import InputError
from attncli.models.tokenize import word_groups

PIECES = ["[CLS]", "the", "e", "##iff", "##el", "tower", "is", "tall", "[SEP]"]
SPECIAL = [True, False, False, False, False, False, False, False, True]
T = len(PIECES)


def _rows(m: np.ndarray) -> np.ndarray:
    return m / m.sum(axis=-1, keepdims=True)


def test_word_groups_join_continuation_pieces() -> None:
    assert word_groups(PIECES, SPECIAL) == [[0], [1], [2, 3, 4], [5], [6], [7], [8]]


def test_reading_adds_up_the_pieces_of_a_word() -> None:
    w = np.full((T, T), 0.01)
    w[5, [2, 3, 4]] = [0.2, 0.1, 0.11]  # tower → e, ##iff, ##el
    w[5, 1] = 0.3
    w = _rows(w)
    reading = read_row(w, 5, PIECES, SPECIAL, top=2)
    assert [k for k, _ in reading.keys] == ["eiffel", "the"]
    assert reading.keys[0][1] == pytest.approx(w[5, 2:5].sum())


@pytest.mark.parametrize(
    ("build", "label"),
    [
        (lambda: np.eye(T) * 0.9 + 0.1 / T, "self"),
        (lambda: np.eye(T, k=-1) * 0.9 + 0.1 / T, "previous token"),
        (lambda: np.eye(T, k=1) * 0.9 + 0.1 / T, "next token"),
        (lambda: np.tile(np.eye(T)[-1], (T, 1)) * 0.9 + 0.1 / T, "[SEP]"),
        (lambda: np.tile(np.eye(T)[0], (T, 1)) * 0.9 + 0.1 / T, "[CLS]"),
        (lambda: np.ones((T, T)), "broad"),
    ],
)
def test_pattern_labels(build: object, label: str) -> None:
    w = _rows(build())  # type: ignore[operator]
    summary = summarize_head(w, 0, 0, SPECIAL, PIECES)
    assert summary.pattern == label
    assert summary.share is not None and summary.share > 0.5


def test_no_label_when_no_pattern_dominates() -> None:
    rng = np.random.default_rng(0)
    w = _rows(rng.random((T, T)) ** 6)
    summary = summarize_head(w, 0, 0, SPECIAL, PIECES)
    assert summary.pattern is None and summary.share is None
    # pairs name ordinary tokens, never a token and its neighbour or [CLS]/[SEP]
    for q, k, _ in summary.pairs:
        assert abs(q - k) > 1 and not SPECIAL[q] and not SPECIAL[k]


def test_choose_head_finds_the_head_that_links_distant_words() -> None:
    flat = _rows(np.ones((T, T)))
    weights = [np.stack([flat] * 4) for _ in range(3)]  # 3 layers × 4 heads, all uniform
    planted = np.full((T, T), 0.01)
    planted[7, 2] = planted[2, 7] = planted[5, 1] = planted[1, 5] = 5.0  # tall↔e, tower↔the
    weights[1] = weights[1].copy()
    weights[1][2] = _rows(planted)
    choice = choose_head(weights, SPECIAL, range(3), range(4))
    assert (choice.layer, choice.head) == (1, 2)
    assert "of the 12 heads" in choice.reason
    # restricted to layer 0, it can only pick there
    assert choose_head(weights, SPECIAL, [0], range(4)).layer == 0


def test_choose_head_for_a_one_word_sentence_says_why() -> None:
    w = [np.stack([_rows(np.ones((3, 3)))] * 2) for _ in range(4)]
    choice = choose_head(w, [True, False, True], range(4), range(2))
    assert (choice.layer, choice.head) == (2, 0)
    assert "too short" in choice.reason


def test_find_query_token_word_and_error() -> None:
    assert find_query("Tower", PIECES, PIECES, SPECIAL) == [5]
    assert find_query("eiffel", PIECES, PIECES, SPECIAL) == [2, 3, 4]
    assert find_query("##iff", PIECES, PIECES, SPECIAL) == [3]
    with pytest.raises(InputError, match=r"'dog' is not a token.*\[CLS\] the e ##iff ##el tower is tall \[SEP\]"):
        find_query("dog", PIECES, PIECES, SPECIAL)


def test_parse_index_states_the_valid_range() -> None:
    assert parse_index("3", "--layer", 6, "layers") == 2
    assert parse_index("ALL", "--layer", 6, "layers") == -1
    assert parse_index(None, "--layer", 6, "layers") is None
    with pytest.raises(InputError, match="layers 1…6"):
        parse_index("7", "--layer", 6, "layers")
    with pytest.raises(InputError, match="1…12 or 'all'"):
        parse_index("seven", "--head", 12, "heads")


@pytest.mark.parametrize(
    ("sentence", "words"),
    [
        ("Этот фильм потрясающий!", ["Этот", "фильм", "потрясающий"]),
        (
            "The animal didn't cross — it was too tired.",
            ["The", "animal", "didn't", "cross", "it", "was", "too", "tired"],
        ),
        ("well-known «ёлка», naïve café", ["well-known", "ёлка", "naïve", "café"]),
        ("Жар-птица - это сказка...", ["Жар-птица", "это", "сказка"]),
        ("日本語 text_2 x", ["日本語", "text_2", "x"]),
        ("  ,;! ", []),
    ],
)
def test_split_words_is_unicode_aware(sentence: str, words: list[str]) -> None:
    assert split_words(sentence) == words


def test_embeddings_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"a": [1, 2], "b": [1]}), encoding="utf-8")
    with pytest.raises(InputError, match="'b' has 1 numbers, the others 2"):
        load_embeddings(path)
    path.write_text(json.dumps({"a": [1, "x"]}), encoding="utf-8")
    with pytest.raises(InputError, match="should be a non-empty list of numbers"):
        load_embeddings(path)
    path.write_text(json.dumps({"Кот": [1, 0], "сидит": [0, 1]}), encoding="utf-8")
    table = load_embeddings(path)
    assert table.lookup(["кот", "Сидит"]).tolist() == [[1, 0], [0, 1]]  # case-insensitive fallback
    with pytest.raises(InputError, match=r"'пёс' is not in .*known words: Кот, сидит"):
        table.lookup(["пёс"])
