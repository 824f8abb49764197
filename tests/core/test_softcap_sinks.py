"""Logit soft-capping (Gemma 2) and learned attention sinks (gpt-oss): by hand, against transformers'
eager attention of those models (test-time oracles), and the blocked path against the stage path."""

from __future__ import annotations

import importlib
import math
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.core.attention import attention, attention_output
from attncli.core.settings import AttentionSettings, MaskSpec
from attncli.errors import ShapeError


def test_softcap_and_a_sink_by_hand() -> None:
    # one query, two keys, scale 1: scores 2 and 0; c = 1 caps 2 to tanh(2) = 0.9640
    r = attention([[1.0]], [[2.0], [0.0]], [[1.0], [0.0]], settings=AttentionSettings(
        scale=1.0, variants=MaskSpec(softcap=1.0, sinks=(0.0,))
    ))  # fmt: skip
    assert r.capped is not None and r.sink_weight is not None
    np.testing.assert_allclose(r.capped, [[math.tanh(2.0), 0.0]], atol=1e-15)
    total = math.exp(math.tanh(2.0)) + 1 + 1  # two keys and the sink (logit 0)
    np.testing.assert_allclose(r.weights, [[math.exp(math.tanh(2.0)) / total, 1 / total]], atol=1e-15)
    np.testing.assert_allclose(r.sink_weight, [[1 / total]], atol=1e-15)
    assert r.weights.sum() < 1


def test_the_softcap_comes_before_the_mask_and_a_masked_row_gives_all_to_the_sink() -> None:
    mask = np.array([[True, False], [False, False]])
    r = attention(np.eye(2), np.eye(2), np.eye(2), settings=AttentionSettings(
        mask=mask, variants=MaskSpec(softcap=5.0, sinks=(1.0,))
    ))  # fmt: skip
    assert r.masked is not None and np.isneginf(r.masked[0, 1])
    assert r.empty_rows == ((1,),)
    assert (r.weights[1] == 0).all() and r.sink_weight is not None and r.sink_weight[1, 0] == 1.0


def test_extreme_softcaps_and_sinks_stay_finite_and_quiet() -> None:
    import warnings

    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny = attention(x, x, x, settings=AttentionSettings(variants=MaskSpec(softcap=1e-320)))
        low = attention(x, x, x, settings=AttentionSettings(scale=1e300, variants=MaskSpec(sinks=(-1.7e308,))))
    assert np.isfinite(tiny.output).all() and np.isfinite(low.output).all()
    assert low.sink_weight is not None and (low.sink_weight == 0).all()


@pytest.mark.parametrize(
    ("changes", "argument"),
    [({"softcap": 0.0}, "softcap"), ({"softcap": -1.0}, "softcap"), ({"softcap": math.inf}, "softcap"),
     ({"sinks": ()}, "sinks"), ({"sinks": (math.nan,)}, "sinks")],
)  # fmt: skip
def test_bad_values_name_the_field(changes: dict[str, object], argument: str) -> None:
    with pytest.raises(ShapeError) as e:
        MaskSpec(**changes)  # type: ignore[arg-type]
    assert e.value.argument == argument


def test_sinks_need_one_logit_per_head() -> None:
    x = np.ones((2, 3, 4))
    with pytest.raises(ShapeError, match=r"one sink logit per head \(2 heads\) or one for all, got 3") as e:
        attention(x, x, x, settings=AttentionSettings(variants=MaskSpec(sinks=(1.0, 2.0, 3.0))))
    assert e.value.argument == "sinks"


CASES = st.fixed_dictionaries(
    {
        "heads": st.sampled_from([(2, 1), (2, 2), (4, 2)]),
        "t": st.integers(1, 12),
        "extra": st.integers(0, 6),
        "causal": st.booleans(),
        "softcap": st.one_of(st.none(), st.floats(0.5, 50)),
        "sinks": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


def _case(c: dict[str, object]) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(int(c["seed"]))  # type: ignore[call-overload]
    (h, g), t = c["heads"], int(c["t"])  # type: ignore[misc, call-overload]
    s = t + int(c["extra"])  # type: ignore[call-overload]
    q = rng.normal(size=(h, t, 8)) * 2
    k, v = rng.normal(size=(g, s, 8)) * 2, rng.normal(size=(g, s, 8))
    sinks = rng.normal(size=h) if c["sinks"] else None
    return q, k, v, sinks  # type: ignore[return-value]


def _torch_mask(t: int, s: int, causal: bool) -> object:
    import torch

    if not causal:
        return None
    allowed = torch.arange(s)[None, :] <= torch.arange(t)[:, None] + (s - t)
    return torch.zeros(t, s, dtype=torch.float64).masked_fill(~allowed, -math.inf)[None, None]


@settings(max_examples=40, deadline=None)
@given(c=CASES)
def test_softcap_matches_gemma2_eager_attention(c: dict[str, object]) -> None:
    torch = importlib.import_module("torch")
    gemma2 = importlib.import_module("transformers.models.gemma2.modeling_gemma2")
    q, k, v, _sinks = _case(c)
    (h, g), t, s, causal = c["heads"], q.shape[1], k.shape[1], bool(c["causal"])  # type: ignore[misc]
    module = types.SimpleNamespace(num_key_value_groups=h // g, training=False, head_dim=8)
    cap = c["softcap"] or 30.0  # Gemma 2's attn_logit_softcapping is 50; any c > 0 will do
    scaling = 1 / math.sqrt(256)  # Gemma 2's scale rule: query_pre_attn_scalar ** -0.5 (256 for 9B)
    tq, tk, tv = (torch.tensor(a)[None] for a in (q, k, v))
    out, weights = gemma2.eager_attention_forward(
        module, tq, tk, tv, _torch_mask(t, s, causal), scaling=scaling, softcap=cap
    )
    cfg = AttentionSettings(causal=causal, causal_align="bottom-right", scale=scaling, variants=MaskSpec(softcap=cap))
    ours = attention(q, np.repeat(k, h // g, axis=0), np.repeat(v, h // g, axis=0), settings=cfg)
    # Gemma 2's eager softmax runs in float32, so agreement is to float32's precision
    np.testing.assert_allclose(ours.weights, weights[0].numpy(), atol=2e-7)
    np.testing.assert_allclose(ours.output, out[0].transpose(0, 1).numpy(), atol=2e-6)


@settings(max_examples=40, deadline=None)
@given(c=CASES)
def test_sinks_match_gpt_oss_eager_attention(c: dict[str, object]) -> None:
    torch = importlib.import_module("torch")
    gpt_oss = importlib.import_module("transformers.models.gpt_oss.modeling_gpt_oss")
    q, k, v, sinks = _case(c)
    sinks = np.zeros(q.shape[0]) + 0.5 if sinks is None else sinks
    (h, g), t, s, causal = c["heads"], q.shape[1], k.shape[1], bool(c["causal"])  # type: ignore[misc]
    module = types.SimpleNamespace(num_key_value_groups=h // g, training=False, sinks=torch.tensor(sinks))
    tq, tk, tv = (torch.tensor(a)[None] for a in (q, k, v))
    scaling = 8**-0.5
    out, weights = gpt_oss.eager_attention_forward(module, tq, tk, tv, _torch_mask(t, s, causal), scaling=scaling)
    cfg = AttentionSettings(causal=causal, causal_align="bottom-right", variants=MaskSpec(sinks=tuple(sinks)))
    ours = attention(q, np.repeat(k, h // g, axis=0), np.repeat(v, h // g, axis=0), settings=cfg)
    np.testing.assert_allclose(ours.weights, weights[0].numpy(), atol=1e-14)
    np.testing.assert_allclose(ours.output, out[0].transpose(0, 1).numpy(), atol=1e-13)
    assert ours.sink_weight is not None
    np.testing.assert_allclose(ours.weights.sum(axis=-1) + ours.sink_weight[..., 0], 1.0, atol=1e-14)
    # the blocked path, with the grouped K/V heads unrepeated
    blocked = attention_output(q, k, v, cfg, block_q=4, block_k=4, threads=2)
    np.testing.assert_allclose(blocked.output, ours.output, atol=1e-12, rtol=0)


@settings(max_examples=40, deadline=None)
@given(c=CASES, window=st.one_of(st.none(), st.integers(1, 6)))
def test_blocked_equals_the_stage_path(c: dict[str, object], window: int | None) -> None:
    q, k, v, sinks = _case(c)
    h, g = c["heads"]  # type: ignore[misc]
    spec = MaskSpec(
        softcap=c["softcap"],  # type: ignore[arg-type]
        sinks=None if sinks is None else tuple(sinks),
        window=window,
    )
    cfg = AttentionSettings(causal=bool(c["causal"]), causal_align="bottom-right", variants=spec)
    full = attention(q, np.repeat(k, h // g, axis=0), np.repeat(v, h // g, axis=0), settings=cfg)
    out = attention_output(q, k, v, cfg, block_q=3, block_k=4, threads=1)
    np.testing.assert_allclose(out.output, full.output, atol=1e-12, rtol=0)
    assert out.empty_rows == full.empty_rows
