"""QK-norm (Gemma 3, Qwen 3): RMSNorm of every head's q and k rows before RoPE. By hand, its
checks, and against transformers' Gemma3Attention (eager, random weights: a test-time oracle)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from attncli.core.multihead import multi_head_attention
from attncli.core.positions import Positions
from attncli.core.settings import AttentionSettings, MaskSpec
from attncli.errors import NumericError, ShapeError


def test_by_hand() -> None:
    x = np.array([[3.0, 4.0, 1.0, 1.0], [0.0, 2.0, 2.0, 0.0]])
    r = multi_head_attention(x, heads=2, q_norm=[1.0, 2.0], k_norm=[0.5, 0.5], qk_norm_eps=0.0)
    assert r.qk_norm is not None and r.qk_norm.eps == 0.0
    # head 1, row 1: (3, 4), mean of squares 12.5, rms √12.5; times the weights (1, 2)
    rms = math.sqrt(12.5)
    np.testing.assert_allclose(r.qk_norm.q_rms[0, 0, 0], rms, rtol=1e-15)
    np.testing.assert_allclose(r.attention.q[0, 0], [3 / rms, 8 / rms], rtol=1e-15)
    np.testing.assert_allclose(r.attention.k[0, 0], [1.5 / rms, 2 / rms], rtol=1e-15)
    assert np.linalg.norm(r.qk_norm.q_after[..., :] / [1.0, 2.0], axis=-1) ** 2 / 2 == pytest.approx(1.0)


def test_ones_when_no_weights_and_every_row_at_rms_one() -> None:
    x = np.random.default_rng(1).normal(size=(4, 6)) * 7
    r = multi_head_attention(x, heads=3, positions=Positions(qk_norm=True))
    assert r.qk_norm is not None
    np.testing.assert_allclose(np.mean(r.qk_norm.q_after**2, axis=-1), 1.0, atol=1e-6)  # eps 1e-6 shifts it a hair


@pytest.mark.parametrize(("name", "value"), [("q_norm", [1.0, 2.0, 3.0]), ("k_norm", [1.0])])
def test_weights_of_the_wrong_length_are_named(name: str, value: list[float]) -> None:
    with pytest.raises(ShapeError, match="a head has d_head = 2 columns") as e:
        multi_head_attention(np.eye(4), heads=2, **{name: value})  # type: ignore[arg-type]
    assert e.value.argument == name


def test_a_zero_row_needs_eps() -> None:
    with pytest.raises(NumericError) as e:
        multi_head_attention(np.zeros((2, 2)), heads=1, qk_norm=True, qk_norm_eps=0.0)
    assert e.value.argument == "qk_norm_eps"
    with pytest.raises(ShapeError):
        Positions(qk_norm=True, qk_norm_eps=-1.0)


@pytest.mark.parametrize("seed", range(5))
def test_matches_gemma3_attention(seed: int) -> None:
    torch = importlib.import_module("torch")
    gemma3 = importlib.import_module("transformers.models.gemma3.modeling_gemma3")
    config_cls = importlib.import_module("transformers").Gemma3TextConfig
    torch.manual_seed(seed)
    t, d_model, heads, kv_heads, d_head = 6, 16, 4, 2, 8
    config = config_cls(
        hidden_size=d_model, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=d_head,
        query_pre_attn_scalar=d_head, num_hidden_layers=1, layer_types=["full_attention"], rms_norm_eps=1e-6,
        attn_implementation="eager",
    )  # fmt: skip
    module = gemma3.Gemma3Attention(config, layer_idx=0).double().eval()
    with torch.no_grad():  # Gemma's RMSNorm weight w scales by (1 + w); random, so the weights matter
        module.q_norm.weight.normal_()
        module.k_norm.weight.normal_()
    rotary = gemma3.Gemma3RotaryEmbedding(config)
    x = torch.randn(1, t, d_model, dtype=torch.float64) * 3
    cos, sin = rotary(x, torch.arange(t)[None], "full_attention")
    allowed = torch.tril(torch.ones(t, t, dtype=torch.bool))
    mask = torch.zeros(t, t, dtype=torch.float64).masked_fill(~allowed, -math.inf)[None, None]
    with torch.no_grad():
        out, weights = module(x, (cos.double(), sin.double()), mask)
    base = float(config.rope_parameters["full_attention"]["rope_theta"])
    w = {n: getattr(module, f"{n[1]}_proj").weight.detach().numpy().T for n in ("wq", "wk", "wv", "wo")}
    norms = {n: 1.0 + getattr(module, n).weight.detach().numpy() for n in ("q_norm", "k_norm")}
    ours = multi_head_attention(
        x[0].numpy(), heads=heads, kv_heads=kv_heads, **w, **norms,
        settings=AttentionSettings(causal=True, variants=MaskSpec(query_pre_attn_scalar=float(d_head))),
        positions=Positions(rope=True, rope_base=base, qk_norm_eps=1e-6),
    )  # fmt: skip
    # Gemma 3's RMSNorm and softmax run in float32: agreement to float32's precision
    np.testing.assert_allclose(ours.attention.weights, weights[0].numpy(), atol=5e-6)
    np.testing.assert_allclose(ours.output, out[0].numpy(), atol=5e-5)
    without = multi_head_attention(x[0].numpy(), heads=heads, kv_heads=kv_heads, **w, causal=True)
    assert np.abs(without.attention.weights - weights[0].numpy()).max() > 1e-2  # the norm changes the answer
