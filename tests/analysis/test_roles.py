"""Head roles: each score against a hand-built attention matrix that has exactly that role (it scores 1)
and a shuffled control (the same weights in other places score well below); induction and
duplicate-token on a constructed two-layer example, against the definition written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from attncli.analysis.roles import NAMED_FROM, is_punctuation, probe_ids, probe_roles, roles, sentence_roles
from attncli.models.base import Tokens
from attncli.models.tokenize import word_groups

SENTENCE = "The cat, the dog and the bird sat ."
PIECES = ("[CLS]", "the", "cat", ",", "the", "dog", "and", "the", "bird", "sat", ".", "[SEP]")
T = len(PIECES)
SPECIAL = tuple(p in ("[CLS]", "[SEP]") for p in PIECES)


def _spans() -> tuple[tuple[int, int], ...]:
    spans, at = [], 0
    for p, s in zip(PIECES, SPECIAL, strict=True):
        if s:
            spans.append((0, 0))
            continue
        at = SENTENCE.lower().index(p, at)
        spans.append((at, at + len(p)))
        at += len(p)
    return tuple(spans)


TOKENS = Tokens(
    pieces=PIECES,
    ids=np.arange(T),
    words=tuple(None if s else i for i, s in enumerate(SPECIAL)),
    spans=_spans(),
    special=SPECIAL,
    groups=tuple(tuple(g) for g in word_groups(PIECES, SPECIAL)),
)


def _head(rows: list[int] | np.ndarray, t: int = T) -> np.ndarray:
    """(1, 1, T, T): query i puts all its weight on key rows[i]."""
    a = np.zeros((t, t))
    a[np.arange(t), rows] = 1.0
    return a[None, None]


def _shuffled(a: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same rows, their weights moved to random keys (a control: the role should be gone)."""
    rng = np.random.default_rng(seed)
    out = a.copy()
    for i in range(a.shape[-2]):
        out[..., i, :] = out[..., i, rng.permutation(a.shape[-1])]
    return out


ENCODER_HEADS = {
    "previous": _head([0, *range(T - 1)]),
    "next": _head([*range(1, T), T - 1]),
    "self": _head(list(range(T))),
    "first": _head([0] * T),
    "end": _head([T - 1] * T),
    "punctuation": _head([3 if i < 6 else 10 for i in range(T)]),
}


def test_the_sentence_has_its_punctuation() -> None:
    assert [i for i in range(T) if is_punctuation(SENTENCE[slice(*TOKENS.spans[i])])] == [3, 10]
    assert not is_punctuation("") and is_punctuation("«»") and not is_punctuation("a.")


@pytest.mark.parametrize("role", sorted(ENCODER_HEADS))
def test_a_pure_head_scores_1_and_its_shuffled_control_does_not(role: str) -> None:
    a = ENCODER_HEADS[role]
    scores = sentence_roles(a, SENTENCE, TOKENS, causal=False)
    assert scores[role][0, 0] == pytest.approx(1.0)
    control = sentence_roles(_shuffled(a), SENTENCE, TOKENS, causal=False)
    assert control[role][0, 0] < 0.5
    assert roles(scores).strongest()[0][0] == (role, pytest.approx(1.0))  # named as what it is


def test_broad_is_1_for_uniform_rows_and_0_for_one_hot_rows() -> None:
    uniform = np.full((1, 1, T, T), 1 / T)
    assert sentence_roles(uniform, SENTENCE, TOKENS, causal=False)["broad"][0, 0] == pytest.approx(1.0)
    assert sentence_roles(ENCODER_HEADS["self"], SENTENCE, TOKENS, causal=False)["broad"][0, 0] == 0.0
    causal = np.tril(np.ones((T, T)))
    causal = (causal / causal.sum(axis=-1, keepdims=True))[None, None]
    got = sentence_roles(causal, SENTENCE, TOKENS, causal=True)
    assert got["broad"][0, 0] == pytest.approx(1.0)  # each row spread over the keys it can see
    assert "next" not in got and "end" not in got  # a decoder cannot look ahead


def test_scores_by_hand_on_a_mixed_head() -> None:
    a = 0.5 * ENCODER_HEADS["previous"] + 0.5 * ENCODER_HEADS["first"]
    got = sentence_roles(a, SENTENCE, TOKENS, causal=False)
    # previous: rows 2…T get 0.5 (row 2's previous is [CLS], which "first" also names: 1.0)
    assert got["previous"][0, 0] == pytest.approx((1.0 + 0.5 * (T - 2)) / (T - 1))
    assert got["first"][0, 0] == pytest.approx((1.0 + 0.5 * (T - 2)) / (T - 1))
    assert got["self"][0, 0] == pytest.approx(1.0 / T)  # only [CLS] → [CLS]


def _two_layer_probe(n: int, bos: bool) -> np.ndarray:
    """(2, 2, P, P) on [BOS] + r + r: layer 1 = a previous-token head and a duplicate-token head,
    layer 2 = an induction head and a BOS sink; every row causal and summing to 1."""
    off = int(bos)
    p = off + 2 * n
    prev = _head([0, *range(p - 1)], p)[0, 0]
    dup = _head([i - n if i >= off + n else i for i in range(p)], p)[0, 0]
    ind = _head([i - n + 1 if i >= off + n else i for i in range(p)], p)[0, 0]
    sink = _head([0] * p, p)[0, 0]
    return np.array([[prev, dup], [ind, sink]])


@pytest.mark.parametrize("bos", [True, False])
def test_induction_and_duplicate_on_a_constructed_two_layer_example(bos: bool) -> None:
    n = 7
    w = _two_layer_probe(n, bos)
    assert (np.triu(w, 1) == 0).all()  # causal
    got = probe_roles(w, n, int(bos))
    assert got["induction"].tolist() == [[0.0, 0.0], [1.0, 0.0]]
    # without a BOS the sink's first token is the earlier copy of the second copy's first token
    assert got["duplicate"].tolist() == [[0.0, 1.0], [0.0, 0.0 if bos else pytest.approx(1 / n)]]
    # the definition, written out: queries of the second copy, the key after the earlier copy
    off = int(bos)
    mixed = np.random.default_rng(3).dirichlet(np.ones(off + 2 * n), size=(2, 2, off + 2 * n))
    by_hand = np.mean([mixed[..., q, q - n + 1] for q in range(off + n, off + 2 * n)], axis=0)
    assert np.allclose(probe_roles(mixed, n, off)["induction"], by_hand)
    control = probe_roles(_shuffled(w), n, off)["induction"]
    assert control[1, 0] < NAMED_FROM


def test_probe_repeats_distinct_random_tokens_after_the_bos() -> None:
    ids = probe_ids(range(100, 200), bos=1, n=10, seed=5)
    assert ids[0] == 1 and len(ids) == 21 and (ids[1:11] == ids[11:]).all()
    assert len(set(ids[1:11].tolist())) == 10 and all(100 <= i < 200 for i in ids[1:])
    assert len(probe_ids(range(50), bos=None, n=4)) == 8


def test_top_and_strongest_over_layers_and_heads() -> None:
    w = np.concatenate([ENCODER_HEADS["self"], ENCODER_HEADS["previous"]], axis=1)  # (1, 2, T, T)
    w = np.concatenate([w, np.full((1, 2, T, T), 1 / T)])  # layer 2: two uniform heads
    r = roles(sentence_roles(w, SENTENCE, TOKENS, causal=False))
    assert r.top("self", 1) == [(0, 0, 1.0)]
    assert r.top("previous", 1) == [(0, 1, 1.0)]
    grid = r.strongest()
    assert grid[0][0] == ("self", 1.0) and grid[0][1] == ("previous", 1.0)
    assert grid[1][0] == ("broad", pytest.approx(1.0))


def test_the_role_grid_of_many_heads_wraps_to_the_width() -> None:
    from rich.console import Console

    from attncli.analysis.roles import Roles
    from attncli.render.across import roles_grid

    scores = np.zeros((2, 3, 32))
    scores[0, :, 5] = 0.9  # head 6 of every layer: previous token
    console = Console(width=80, record=True, color_system=None)
    console.print(roles_grid(Roles(("previous", "broad"), scores), 80))
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    assert all(f" {h} " in text or text.rstrip().endswith(f" {h}") for h in (1, 6, 13, 32))
    assert text.count("prev") == 3
