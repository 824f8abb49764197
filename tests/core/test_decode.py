"""KV-cache decoding: the last N queries as one step against the cached keys and values equal the full
recompute's rows, for every variant, single- and multi-head; what the cache holds and its bytes.

Bit for bit or not: the step multiplies fewer rows of Q by Kᵀ (and fewer rows of weights by V), and
BLAS may add the terms of a one-row product in another order than those of a taller one, so the last
bit can differ (measured with OpenBLAS 0.3.31 Haswell, T = 2…39, d = 64, N = 1, 2, T: 57 of 113 steps
bit for bit, the others within 7.0e-16). The tests ask for ≤ 1e-12 in float64, and
for bit equality where the order cannot differ (N = T: the step is the full computation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.core.attention import attention
from attncli.core.decode import decode_step
from attncli.core.multihead import multi_head_attention
from attncli.core.positions import Positions
from attncli.core.settings import AttentionSettings, MaskSpec
from attncli.errors import ShapeError

SPECS = st.sampled_from(
    [MaskSpec(), MaskSpec(window=3), MaskSpec(window=2, window_rule="gym"), MaskSpec(chunk=3), MaskSpec(prefix=2),
     MaskSpec(window=2, sink_tokens=1), MaskSpec(softcap=2.0), MaskSpec(sinks=(0.5,)),
     MaskSpec(query_pre_attn_scalar=32.0), MaskSpec(window=3, softcap=5.0, sinks=(-1.0,))]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(t=st.integers(1, 10), extra=st.integers(0, 4), new=st.integers(1, 10), spec=SPECS, seed=st.integers(0, 999),
       dtype=st.sampled_from(["float64", "float32"]))  # fmt: skip
def test_the_step_equals_the_full_recompute(
    t: int, extra: int, new: int, spec: MaskSpec, seed: int, dtype: str
) -> None:
    rng = np.random.default_rng(seed)
    s, new = t + extra, min(new, t)
    q, k, v = rng.normal(size=(2, t, 8)), rng.normal(size=(2, s, 8)), rng.normal(size=(2, s, 3))
    cfg = AttentionSettings(causal=True, causal_align="bottom-right", dtype=dtype, variants=spec)  # type: ignore[arg-type]
    full = attention(q, k, v, settings=cfg)
    d = decode_step(full, new)
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(d.step.weights, full.weights[:, t - new :], atol=tol, rtol=0)
    np.testing.assert_allclose(d.step.output, full.output[:, t - new :], atol=tol, rtol=0)
    assert d.max_difference <= tol
    assert d.bit_equal == (d.max_difference == 0.0)
    if new == t and extra == 0:
        assert d.bit_equal  # the same product: the same order of operations
    item = 8 if dtype == "float64" else 4
    assert d.cache.nbytes == 2 * s * (8 + 3) * item and d.before.nbytes == 2 * (s - new) * (8 + 3) * item


def test_a_masked_decoding_step_takes_the_new_rows_of_the_mask() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4))
    mask = rng.random((5, 5)) > 0.3
    full = attention(x, x, x, settings=AttentionSettings(mask=mask, causal=True))
    d = decode_step(full, 2)
    np.testing.assert_allclose(d.step.weights, full.weights[3:], atol=1e-15)
    assert d.step.empty_rows == tuple((i - 3,) for (i,) in full.empty_rows if i >= 3)


@pytest.mark.parametrize("positions", [Positions(rope=True), Positions(alibi=True), Positions(qk_norm=True)])
def test_multihead_with_grouped_heads_rope_and_alibi(positions: Positions) -> None:
    x = np.random.default_rng(5).normal(size=(6, 8))
    mh = multi_head_attention(
        x, heads=4, kv_heads=2, random_weights_seed=1, settings=AttentionSettings(causal=True), positions=positions
    )
    d = decode_step(mh.attention, 3, kv_heads=mh.kv_heads)
    np.testing.assert_allclose(d.step.output, mh.attention.output[:, 3:], atol=1e-12, rtol=0)
    assert d.cache.kv_heads == 2 and d.cache.nbytes == 2 * 6 * (2 + 2) * 8  # G heads, not H: GQA's saving


@pytest.mark.parametrize("new", [0, 7, True])
def test_bad_step_sizes_are_named(new: int) -> None:
    full = attention(np.eye(6), np.eye(6), np.eye(6), causal=True)
    with pytest.raises(ShapeError) as e:
        decode_step(full, new)
    assert e.value.argument == "decode"


def test_a_top_left_cache_with_t_not_s_is_refused() -> None:
    full = attention(np.ones((2, 3)), np.ones((4, 3)), np.ones((4, 1)), causal=True)
    with pytest.raises(ShapeError) as e:
        decode_step(full, 1)
    assert e.value.argument == "causal_align"
