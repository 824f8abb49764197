"""Own embeddings with positions, and the same words in another order (issue 15, item 7).

The oracle is PyTorch: scaled_dot_product_attention over E + PE (the encoding written out here from
"Attention Is All You Need"), and RoPE as Hugging Face writes it (rotate_half), never attncli's own code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch  # test-time reference only
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from attncli.analysis.wordorder import compare_orders, embeddings_attention, permutation
from attncli.core.positions import Positions
from attncli.errors import InputError

FILM = np.array([[0.1, 0.2], [0.2, 0.9], [0.9, 0.3]])  # «Этот фильм потрясающий», samples/embeddings-ru.json


def _pe(n: int, d: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), cell by cell."""
    pe = torch.zeros(n, d, dtype=torch.float64)
    for pos in range(n):
        for c in range(d):
            angle = pos / 10000 ** ((c - c % 2) / d)
            pe[pos, c] = math.sin(angle) if c % 2 == 0 else math.cos(angle)
    return pe


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _torch_output(e: np.ndarray, heads: int, sinusoidal: bool, rope: bool, w: dict[str, np.ndarray]) -> np.ndarray:
    """Self-attention of E (n, d) with identity (or given) projections split into heads, by PyTorch."""
    x = torch.tensor(e, dtype=torch.float64)
    n, d = x.shape
    if sinusoidal:
        x = x + _pe(n, d)
    q, k, v = (x @ torch.tensor(w[name]) if name in w else x for name in ("wq", "wk", "wv"))
    split = [t.reshape(n, heads, -1).transpose(0, 1) for t in (q, k, v)]  # (H, n, d_head)
    q, k, v = split
    if rope:
        d_head = q.shape[-1]
        inv_freq = 10000.0 ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
        angles = torch.arange(n, dtype=torch.float64)[:, None] * inv_freq[None, :]
        emb = torch.cat((angles, angles), dim=-1)
        q = q * emb.cos() + _rotate_half(q) * emb.sin()
        k = k * emb.cos() + _rotate_half(k) * emb.sin()
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # (H, n, d_v)
    return out.transpose(0, 1).reshape(n, -1).numpy()


def test_the_notes_sentence_against_pytorch() -> None:
    for sinusoidal, rope in ((False, False), (True, False), (False, True), (True, True)):
        positions = Positions(positional="sinusoidal" if sinusoidal else "none", rope=rope)
        mine = embeddings_attention(FILM, positions).output
        np.testing.assert_allclose(mine, _torch_output(FILM, 1, sinusoidal, rope, {}), rtol=1e-12, atol=1e-12)
    # hand-worked: «Этот» at place 1 gets PE(0) = [sin 0, cos 0] = [0, 1]
    mh = embeddings_attention(FILM, Positions(positional="sinusoidal"))
    assert mh.positional is not None
    np.testing.assert_allclose(mh.positional.q_after[0], [0.1, 1.2])
    np.testing.assert_allclose(mh.positional.q_after[2], [0.9 + math.sin(2), 0.3 + math.cos(2)])


def test_given_projections_and_identity_for_the_missing_ones() -> None:
    wq = np.array([[1.0, 0.5, 0.0, 2.0], [0.0, 1.0, 1.0, 0.0]])
    wk = np.array([[0.3, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.2]])
    w = {"wq": wq, "wk": wk}  # W_V not given: V = E
    mine = embeddings_attention(FILM, Positions(rope=True), {"wq": wq, "wk": wk, "wv": None}, heads=2).output
    assert mine.shape == (3, 2)  # two heads of d_head 2 over V = E, one value column each
    x = torch.tensor(FILM)
    q, k = (x @ torch.tensor(w[n]) for n in ("wq", "wk"))
    heads = []
    for h in range(2):
        qh, kh, vh = q[:, 2 * h : 2 * h + 2], k[:, 2 * h : 2 * h + 2], x[:, h : h + 1]
        angles = torch.arange(3, dtype=torch.float64)[:, None] * torch.ones(1, dtype=torch.float64)
        emb = torch.cat((angles, angles), dim=-1)
        qh, kh = qh * emb.cos() + _rotate_half(qh) * emb.sin(), kh * emb.cos() + _rotate_half(kh) * emb.sin()
        heads.append(torch.nn.functional.scaled_dot_product_attention(qh[None], kh[None], vh[None])[0])
    np.testing.assert_allclose(mine, torch.cat(heads, dim=-1).numpy(), rtol=1e-12, atol=1e-12)


@st.composite
def sentences(draw: st.DrawFn) -> tuple[np.ndarray, int, bool, bool]:
    heads = draw(st.sampled_from([1, 2]))
    d = heads * draw(st.sampled_from([2, 4]))
    n = draw(st.integers(2, 6))
    e = draw(arrays(np.float64, (n, d), elements=st.floats(-2, 2, allow_nan=False, width=32)))
    return e, heads, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(sentences())
def test_positions_on_random_embeddings_agree_with_pytorch(case: tuple[np.ndarray, int, bool, bool]) -> None:
    e, heads, sinusoidal, rope = case
    positions = Positions(positional="sinusoidal" if sinusoidal else "none", rope=rope)
    mine = embeddings_attention(e, positions, heads=heads).output
    np.testing.assert_allclose(mine, _torch_output(e, heads, sinusoidal, rope, {}), rtol=1e-9, atol=1e-12)


def _distinct(e: np.ndarray) -> bool:
    gaps = [np.abs(a - b).max() for i, a in enumerate(e) for b in e[i + 1 :]]
    return min(gaps) > 0.2


@settings(max_examples=60, deadline=None)
@given(sentences(), st.data())
def test_without_positions_the_rows_are_permuted_exactly_and_with_them_not(
    case: tuple[np.ndarray, int, bool, bool], data: st.DataObject
) -> None:
    e, heads, sinusoidal, rope = case
    assume(_distinct(e) and (sinusoidal or rope))
    order = list(data.draw(st.permutations(range(len(e)))))
    assume(order != sorted(order))
    positions = Positions(positional="sinusoidal" if sinusoidal else "none", rope=rope)
    w = compare_orders(e, tuple(order), positions, heads=heads)
    plain = w.plain
    np.testing.assert_allclose(plain.moved.output, plain.original.output[order], rtol=0, atol=1e-12)
    assert plain.rows_permuted and plain.max_difference <= 1e-12
    assert w.placed is not None
    np.testing.assert_allclose(w.placed.original.output, _torch_output(e, heads, sinusoidal, rope, {}), atol=1e-9)
    np.testing.assert_allclose(w.placed.moved.output, _torch_output(e[order], heads, sinusoidal, rope, {}), atol=1e-9)
    if sinusoidal:  # PE by place: a moved word gets another encoding, so its output changes
        assert not w.placed.rows_permuted and w.placed.max_difference > 1e-9


def test_per_word_change_follows_each_word() -> None:
    w = compare_orders(FILM, (2, 0, 1), Positions(positional="sinusoidal"))
    placed = w.placed
    assert placed is not None
    back = placed.moved.output[[1, 2, 0]]  # «Этот» is at new place 2, «фильм» 3, «потрясающий» 1
    np.testing.assert_allclose(placed.per_word, np.abs(back - placed.original.output).max(axis=1))


@pytest.mark.parametrize(
    ("spec", "n", "seed", "order"),
    [("3 1 2", 3, None, (2, 0, 1)), ("3,1,2", 3, None, (2, 0, 1)), ("reverse", 4, None, (3, 2, 1, 0)),
     ("REVERSE", 2, None, (1, 0))],
)  # fmt: skip
def test_permutations(spec: str, n: int, seed: int | None, order: tuple[int, ...]) -> None:
    assert permutation(spec, n, seed) == order


def test_random_is_reproducible_and_never_the_same_order() -> None:
    assert permutation("random", 5, 7) == permutation("random", 5, 7)
    for seed in range(30):
        assert permutation("random", 2, seed) == (1, 0)
        assert sorted(permutation("random", 4, seed)) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("spec", "n", "seed", "argument", "message"),
    [
        ("3 1", 3, None, "permute", "has 2 places for 3 words: give each place 1…3 once"),
        ("3 1 1", 3, None, "permute", "is not a permutation: 1 appears twice and 2 not at all; give each place once"),
        ("0 1 2", 3, None, "permute", "item 1 is '0', not a place 1…3"),
        ("1 2 x", 3, None, "permute", "item 3 is 'x', not a place 1…3"),
        ("sideways", 3, None, "permute", "got 'sideways': give reverse, random, or the new order of the 3 words'"),
        ("", 3, None, "permute", "is empty"),
        ("1 2 3", 3, None, "permute", "1 2 3 leaves every word in its place: give another order (e.g. 3 2 1)"),
        ("reverse", 1, None, "permute", "needs a sentence of at least 2 words"),
        ("reverse", 3, 4, "seed", "goes with a random order only"),
    ],
)
def test_bad_permutations(spec: str, n: int, seed: int | None, argument: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        permutation(spec, n, seed)
    assert e.value.argument == argument and message in str(e.value)
