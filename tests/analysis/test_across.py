"""Head search, word-level aggregation and attention rollout, against hand-worked examples and
independent implementations (torch as the oracle for rollout, on random row-stochastic matrices and
on the real model's weights from Hugging Face transformers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.analysis.heads import aggregate, pick, query_rows, search, units
from attncli.analysis.rollout import mixed, rollout
from attncli.errors import InputError
from attncli.models.base import Tokens
from attncli.models.locate import package_folder
from attncli.models.registry import load
from attncli.models.tokenize import word_groups

SENTENCE = "The Eiffel tower"
PIECES = ("[CLS]", "the", "e", "##iff", "##el", "tower", "[SEP]")
SPECIAL = (True, False, False, False, False, False, True)
SPANS = ((0, 0), (0, 3), (4, 5), (5, 7), (7, 10), (11, 16), (0, 0))
TOKENS = Tokens(
    pieces=PIECES,
    ids=np.arange(7),
    words=(None, 0, 1, 1, 1, 2, None),
    spans=SPANS,
    special=SPECIAL,
    groups=tuple(tuple(g) for g in word_groups(PIECES, SPECIAL)),
)
T = len(PIECES)


def _stochastic(rng: np.random.Generator, *shape: int) -> np.ndarray:
    w = rng.random(shape) ** 3 + 1e-6
    return w / w.sum(axis=-1, keepdims=True)


def test_words_are_spelled_as_in_the_sentence_and_pieces_on_request() -> None:
    words = units(SENTENCE, TOKENS)
    assert words.labels == ("[CLS]", "The", "Eiffel", "tower", "[SEP]")
    assert words.special == (True, False, False, False, True)
    assert units(SENTENCE, TOKENS, words=False).labels == PIECES


def test_word_level_sums_key_pieces_and_averages_query_pieces() -> None:
    w = np.zeros((T, T))
    w[:, 0] = 1.0
    w[5] = [0.1, 0.0, 0.2, 0.3, 0.1, 0.3, 0.0]  # tower → e 0.2, ##iff 0.3, ##el 0.1: eiffel 0.6
    w[2] = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # e → the
    w[3] = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # ##iff → tower
    w[4] = [0.0, 0.5, 0.0, 0.0, 0.0, 0.5, 0.0]  # ##el → the, tower
    agg = aggregate(w, units(SENTENCE, TOKENS))
    assert agg[3, 2] == pytest.approx(0.6)
    assert agg[2].tolist() == pytest.approx([0.0, 0.5, 0.0, 0.5, 0.0])  # mean of three piece rows
    assert np.allclose(agg.sum(axis=-1), 1.0)


def test_pick_finds_words_pieces_and_says_what_there_is() -> None:
    words = units(SENTENCE, TOKENS)
    assert pick("eiffel", words, TOKENS, "query") == (2,)
    assert pick("##iff", words, TOKENS, "query") == (2,)  # a piece names its word
    assert pick("##iff", units(SENTENCE, TOKENS, words=False), TOKENS, "query") == (3,)
    with pytest.raises(InputError) as e:
        pick("toy", words, TOKENS, "key")
    assert e.value.argument == "key" and "The Eiffel tower" in str(e.value)


def test_search_ranks_heads_by_the_weight_and_ranks_the_key() -> None:
    rng = np.random.default_rng(0)
    w = _stochastic(rng, 3, 4, T, T)
    of = units(SENTENCE, TOKENS)
    links = search(w, of, (3,), (2,))
    assert len(links) == 12
    agg = aggregate(w, of)
    # independent: the weight of every head read off the aggregated matrix, sorted by hand
    expected = sorted(((float(agg[li, hi, 3, 2]), li, hi) for li in range(3) for hi in range(4)), reverse=True)
    assert [(x.layer, x.head) for x in links] == [(li, hi) for _w, li, hi in expected]
    for x in links:
        row = agg[x.layer, x.head, 3]
        assert x.weight == pytest.approx(row[2])
        assert x.rank == 1 + int((np.delete(row, 2) > row[2]).sum()) and x.keys == 5
    assert query_rows(w, of, (3,)).shape == (3, 4, 5)


def test_rollout_by_hand_one_and_two_layers() -> None:
    a = np.array([[[[1.0, 0.0], [1.0, 0.0]]]])  # one layer, one head: both look at token 1
    assert rollout(a, 0.5).tolist() == [[1.0, 0.0], [0.5, 0.5]]
    assert rollout(a, 0.0).tolist() == a[0, 0].tolist()  # no residual: the attention itself
    two = np.concatenate([a, a])
    assert rollout(two, 0.5) == pytest.approx(np.array([[1.0, 0.0], [0.75, 0.25]]))


def _torch_rollout(weights: np.ndarray, residual: float) -> np.ndarray:
    """The paper's recipe, written again with torch: joint_l = aug_l @ joint_{l-1}."""
    att = torch.tensor(weights, dtype=torch.float64).mean(dim=1)
    eye = torch.eye(att.shape[-1], dtype=torch.float64)
    aug = residual * eye + (1 - residual) * att
    aug = aug / aug.sum(dim=-1, keepdim=True)
    joint = aug[0]
    for layer in aug[1:]:
        joint = torch.matmul(layer, joint)
    return joint.numpy()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    layers=st.integers(1, 6),
    heads=st.integers(1, 4),
    t=st.integers(1, 9),
    residual=st.sampled_from([0.0, 0.25, 0.5, 0.9]),
    causal=st.booleans(),
)
def test_rollout_matches_torch_on_random_row_stochastic_weights(
    seed: int, layers: int, heads: int, t: int, residual: float, causal: bool
) -> None:
    w = _stochastic(np.random.default_rng(seed), layers, heads, t, t)
    if causal:
        w = np.tril(w)
        w /= w.sum(axis=-1, keepdims=True)
    r = rollout(w, residual)
    assert np.allclose(r, _torch_rollout(w, residual), atol=1e-12)
    assert np.allclose(r.sum(axis=-1), 1.0)  # still row-stochastic
    assert np.allclose(mixed(w, residual).sum(axis=-1), 1.0)
    if causal:
        assert (np.triu(r, 1) == 0).all()  # nothing draws on a later token


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0, float("nan")])
def test_rollout_refuses_a_residual_outside_0_1(bad: float) -> None:
    with pytest.raises(InputError) as e:
        rollout(np.ones((1, 1, 2, 2)) / 2, bad)
    assert e.value.argument == "residual"


@pytest.fixture(scope="module")
def real() -> tuple[Any, Tokens, np.ndarray, Any]:
    folder = package_folder()
    assert folder is not None, "the model package is not installed (make test installs it)"
    model = load(folder)
    tokens = model.tokenizer.encode("The miniature Eiffel tower is a toy", 512)
    ours = np.stack([w[0] for w in model.forward(tokens.ids[None, :]).weights])
    hf = transformers.BertModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    return model, tokens, ours, hf


def test_rollout_and_search_on_the_real_model_match_transformers(real: tuple[Any, Tokens, np.ndarray, Any]) -> None:
    _model, tokens, ours, hf = real
    with torch.no_grad():
        out = hf(input_ids=torch.tensor(tokens.ids[None, :]), output_attentions=True)
    theirs = np.stack([a[0].numpy() for a in out.attentions]).astype(np.float64)
    assert np.allclose(rollout(ours), _torch_rollout(theirs, 0.5), atol=1e-5)
    of = units("The miniature Eiffel tower is a toy", tokens)
    tower, miniature = of.labels.index("tower"), of.labels.index("miniature")
    best = search(ours, of, (tower,), (miniature,))[0]
    # the weight from tower (one piece, position 7) to miniature (one piece, position 3), in HF's weights
    assert best.weight == pytest.approx(float(theirs[best.layer, best.head, 6, 2]), abs=1e-5)
    assert best.weight == pytest.approx(float(theirs[:, :, 6, 2].max()), abs=1e-5)
