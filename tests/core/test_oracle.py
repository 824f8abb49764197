"""The engine against an independent oracle in plain Python loops, and its invariants, on random inputs."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli import attention

values = st.floats(min_value=-4, max_value=4, allow_nan=False, allow_infinity=False)


def oracle(
    q: list[list[float]], k: list[list[float]], v: list[list[float]], allowed: list[list[bool]] | None, scale: float
) -> tuple[list[list[float]], list[list[float]]]:
    """Textbook attention, one cell at a time with math only. Fully masked rows give zeros."""
    weights, output = [], []
    for i, qi in enumerate(q):
        logits = []
        for j, kj in enumerate(k):
            s = sum(a * b for a, b in zip(qi, kj, strict=True)) * scale
            logits.append(s if allowed is None or allowed[i][j] else -math.inf)
        top = max(logits)
        if top == -math.inf:
            row = [0.0] * len(k)
        else:
            e = [math.exp(x - top) for x in logits]
            row = [x / math.fsum(e) for x in e]
        weights.append(row)
        output.append([math.fsum(w * v[j][c] for j, w in enumerate(row)) for c in range(len(v[0]))])
    return weights, output


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, float | None, bool]:
    t, s = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    d_k, d_v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    q = np.array(draw(st.lists(st.lists(values, min_size=d_k, max_size=d_k), min_size=t, max_size=t)))
    k = np.array(draw(st.lists(st.lists(values, min_size=d_k, max_size=d_k), min_size=s, max_size=s)))
    v = np.array(draw(st.lists(st.lists(values, min_size=d_v, max_size=d_v), min_size=s, max_size=s)))
    mask = draw(st.none() | st.lists(st.lists(st.booleans(), min_size=s, max_size=s), min_size=t, max_size=t))
    scale = draw(st.none() | st.floats(min_value=0.01, max_value=3))
    causal = draw(st.booleans())
    return q, k, v, None if mask is None else np.array(mask, dtype=bool), scale, causal


@settings(max_examples=200, deadline=None)
@given(problems())
def test_engine_matches_plain_python_oracle(
    p: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, float | None, bool],
) -> None:
    q, k, v, mask, scale, causal = p
    r = attention(q, k, v, mask=mask, scale=scale, causal=causal)
    t, s = len(q), len(k)
    allowed = np.ones((t, s), dtype=bool) if mask is None else mask.copy()
    if causal:
        allowed &= np.tril(np.ones((t, s), dtype=bool))
    weights, output = oracle(q.tolist(), k.tolist(), v.tolist(), allowed.tolist(), r.scale)
    np.testing.assert_allclose(r.weights, weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(r.output, output, rtol=1e-12, atol=1e-12)

    # Invariants: weights are ≥ 0, masked cells are 0, rows sum to 1 (or 0 when fully masked).
    assert (r.weights >= 0).all()
    assert (r.weights[~allowed] == 0).all()
    sums = r.weights.sum(axis=-1)
    expected_sums = np.where(allowed.any(axis=-1), 1.0, 0.0)
    np.testing.assert_allclose(sums, expected_sums, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_permuting_keys_and_values_together_changes_no_output(
    p: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, float | None, bool], rnd: object
) -> None:
    q, k, v, mask, scale, _ = p
    perm = np.random.default_rng(len(k) * 7 + len(q)).permutation(len(k))
    a = attention(q, k, v, mask=mask, scale=scale)
    b = attention(q, k[perm], v[perm], mask=None if mask is None else mask[:, perm], scale=scale)
    np.testing.assert_allclose(b.output, a.output, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.weights, a.weights[:, perm], rtol=1e-12, atol=1e-14)


@settings(max_examples=100, deadline=None)
@given(problems(), st.floats(min_value=-50, max_value=50))
def test_adding_a_constant_to_a_row_of_scores_changes_nothing(
    p: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, float | None, bool], c: float
) -> None:
    q, k, v, mask, scale, causal = p
    a = attention(q, k, v, mask=mask, scale=scale, causal=causal)
    # An additive mask of one constant per query row shifts each row of scores by that constant.
    shift = np.full((len(q), 1), c) * np.arange(1, len(q) + 1)[:, None]
    additive = np.broadcast_to(shift, (len(q), len(k))).copy()
    if mask is not None:
        additive[~mask] = -np.inf
    b = attention(q, k, v, mask=additive, scale=scale, causal=causal)
    np.testing.assert_allclose(b.weights, a.weights, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.output, a.output, rtol=1e-9, atol=1e-12)
