"""Gemma 2's scale rule, scale = query_pre_attn_scalar^−½ instead of 1/√d_k: by hand, in the settings'
checks, and against transformers' Gemma2Attention (eager, random weights; a test-time oracle) with a
config where the two rules differ (head_dim 8, query_pre_attn_scalar 32)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from attncli.core.attention import attention, attention_output
from attncli.core.multihead import multi_head_attention
from attncli.core.positions import Positions
from attncli.core.settings import AttentionSettings, MaskSpec
from attncli.errors import ShapeError


def test_the_rule_replaces_one_over_root_d_k() -> None:
    q = np.array([[1.0, 2.0, 0.0, 1.0]])
    k = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    spec = MaskSpec(query_pre_attn_scalar=16.0)
    r = attention(q, k, k, settings=AttentionSettings(variants=spec))
    assert r.scale == 0.25 and not r.scale_is_default  # 16^−½, where 1/√d_k would be 1/2
    np.testing.assert_array_equal(r.scaled, r.scores * 0.25)
    out = attention_output(q, k, k, AttentionSettings(variants=spec))
    assert out.scale == 0.25
    np.testing.assert_allclose(out.output, r.output, atol=1e-15)


@pytest.mark.parametrize("value", [0.0, -4.0, math.inf, math.nan])
def test_a_bad_scalar_is_named(value: float) -> None:
    with pytest.raises(ShapeError) as e:
        MaskSpec(query_pre_attn_scalar=value)
    assert e.value.argument == "query_pre_attn_scalar"


def test_the_rule_and_a_scale_are_not_both_given() -> None:
    with pytest.raises(ShapeError, match="a scale is given too") as e:
        AttentionSettings(scale=0.5, variants=MaskSpec(query_pre_attn_scalar=16.0))
    assert e.value.argument == "query_pre_attn_scalar"


@pytest.mark.parametrize("seed", range(6))
def test_matches_gemma2_attention_where_the_rules_differ(seed: int) -> None:
    torch = importlib.import_module("torch")
    gemma2 = importlib.import_module("transformers.models.gemma2.modeling_gemma2")
    config_cls = importlib.import_module("transformers").Gemma2Config
    torch.manual_seed(seed)
    t, d_model, heads, kv_heads, d_head, scalar, cap = 5, 16, 4, 2, 8, 32, 20.0
    config = config_cls(
        hidden_size=d_model, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=d_head,
        query_pre_attn_scalar=scalar, attn_logit_softcapping=cap, attention_bias=False, num_hidden_layers=1,
        layer_types=["full_attention"], attn_implementation="eager",
    )  # fmt: skip
    module = gemma2.Gemma2Attention(config, layer_idx=0).double().eval()
    rotary = gemma2.Gemma2RotaryEmbedding(config)
    x = torch.randn(1, t, d_model, dtype=torch.float64) * 2
    cos, sin = rotary(x, torch.arange(t)[None])
    allowed = torch.tril(torch.ones(t, t, dtype=torch.bool))
    mask = torch.zeros(t, t, dtype=torch.float64).masked_fill(~allowed, -math.inf)[None, None]
    with torch.no_grad():
        out, weights = module(x, (cos.double(), sin.double()), mask)
    base = float(config.rope_parameters["rope_theta"])
    w = {n: getattr(module, f"{n[1]}_proj").weight.detach().numpy().T for n in ("wq", "wk", "wv", "wo")}
    spec = MaskSpec(softcap=cap, query_pre_attn_scalar=float(scalar))
    ours = multi_head_attention(
        x[0].numpy(), heads=heads, kv_heads=kv_heads, **w,
        settings=AttentionSettings(causal=True, variants=spec), positions=Positions(rope=True, rope_base=base),
    )  # fmt: skip
    assert ours.attention.scale == scalar**-0.5 != d_head**-0.5
    # Gemma 2's eager softmax runs in float32 (and its RoPE frequencies too): float32's precision
    np.testing.assert_allclose(ours.attention.weights, weights[0].numpy(), atol=2e-6)
    np.testing.assert_allclose(ours.output, out[0].numpy(), atol=2e-5)
    # and with 1/√d_k instead the weights do differ: the test can tell the rules apart
    plain_settings = AttentionSettings(causal=True, variants=MaskSpec(softcap=cap))
    plain = multi_head_attention(
        x[0].numpy(), heads=heads, kv_heads=kv_heads, **w,
        settings=plain_settings, positions=Positions(rope=True, rope_base=base),
    )  # fmt: skip
    assert np.abs(plain.attention.weights - weights[0].numpy()).max() > 1e-3
