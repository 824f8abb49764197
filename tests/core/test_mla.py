"""Multi-head latent attention (DeepSeek-V2/V3): by hand, the dimension checks, and against
transformers' DeepseekV3Attention (eager, random weights: a test-time oracle)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from attncli.core.mla import MLADims, mla_attention, random_mla_weights
from attncli.core.settings import AttentionSettings
from attncli.errors import ShapeError


def test_scores_are_the_nope_part_plus_the_shared_rope_part() -> None:
    rng = np.random.default_rng(0)
    w = random_mla_weights(8, 2, MLADims(d_c=4, d_rope=2, d_nope=2, d_v=3), 0)
    r = mla_attention(rng.normal(size=(5, 8)), w, heads=2)
    np.testing.assert_allclose(r.attention.scores, r.scores_nope + r.scores_rope, atol=1e-14)
    assert r.attention.scale == 1 / math.sqrt(2 + 2)  # 1/√(d_nope + d_rope)
    np.testing.assert_array_equal(r.attention.k[0, :, 2:], r.attention.k[1, :, 2:])  # k_rope: one for all heads
    np.testing.assert_allclose(r.k_nope[1], (r.c @ w["w_uk"])[:, 2:], atol=1e-15)  # up-projected from c
    assert r.cache.nbytes == 5 * (4 + 2) * 8 and r.mha_cache.nbytes == 2 * 5 * (4 + 3) * 8


BAD = [
    ({"w_dkv": np.ones((7, 4))}, "w_dkv", "has 7 rows, but x (d_model) gives 8 columns"),
    ({"w_uk": np.ones((3, 4))}, "w_uk", "has 3 rows, but w_dkv (d_c) gives 4 columns"),
    ({"w_uv": np.ones((4, 5))}, "w_uv", "has 5 columns, not divisible by heads = 2"),
    ({"w_q": np.ones((8, 6))}, "w_q", "has 6 columns, but heads·(d_nope + d_rope) = 2·(2 + 2) = 8"),
    ({"w_kr": np.ones((8, 3))}, "d_rope", "d_rope = 3 is odd"),
    ({"w_o": np.ones((5, 8))}, "w_o", "has 5 rows, but concat (heads·d_v = 2·3) gives 6 columns"),
    ({"c_norm": np.ones(3)}, "c_norm", "has 3 values, but the latent has d_c = 4 columns"),
    ({"w_q": None}, "w_q", "missing w_q"),
]


@pytest.mark.parametrize(("change", "argument", "message"), BAD, ids=[b[1] for b in BAD])
def test_dimensions_that_do_not_chain_are_named(change: dict[str, object], argument: str, message: str) -> None:
    w: dict[str, object] = {**random_mla_weights(8, 2, MLADims(4, 2, 2, 3), 0), **change}
    with pytest.raises(ShapeError) as e:
        mla_attention(np.ones((3, 8)), w, heads=2)  # type: ignore[arg-type]
    assert e.value.argument == argument and message in str(e.value)


@pytest.mark.parametrize("seed", range(5))
def test_matches_deepseek_v3_attention(seed: int) -> None:
    torch = importlib.import_module("torch")
    ds = importlib.import_module("transformers.models.deepseek_v3.modeling_deepseek_v3")
    config_cls = importlib.import_module("transformers").DeepseekV3Config
    torch.manual_seed(seed)
    t, d_model, heads, d_c, d_rope, d_nope, d_v = 6, 16, 4, 8, 4, 6, 5
    config = config_cls(
        hidden_size=d_model, num_attention_heads=heads, num_key_value_heads=heads, q_lora_rank=None,
        kv_lora_rank=d_c, qk_rope_head_dim=d_rope, qk_nope_head_dim=d_nope, v_head_dim=d_v,
        head_dim=d_rope, num_hidden_layers=1, attn_implementation="eager", rope_interleave=True,
    )  # fmt: skip
    module = ds.DeepseekV3Attention(config, layer_idx=0).double().eval()
    with torch.no_grad():
        module.kv_a_layernorm.weight.normal_()
    rotary = ds.DeepseekV3RotaryEmbedding(config)
    x = torch.randn(1, t, d_model, dtype=torch.float64)
    cos, sin = rotary(x, torch.arange(t)[None])
    allowed = torch.tril(torch.ones(t, t, dtype=torch.bool))
    mask = torch.zeros(t, t, dtype=torch.float64).masked_fill(~allowed, -math.inf)[None, None]
    with torch.no_grad():
        out, weights = module(x, (cos.double(), sin.double()), mask)

    def np_t(layer: object) -> np.ndarray:
        return layer.weight.detach().numpy().T  # type: ignore[attr-defined, no-any-return]

    kv_a = np_t(module.kv_a_proj_with_mqa)  # (d_model, d_c + d_rope): the latent, then the RoPE key
    kv_b = np_t(module.kv_b_proj).reshape(d_c, heads, d_nope + d_v)  # per head: k_nope, then v
    w = {
        "w_dkv": kv_a[:, :d_c], "w_kr": kv_a[:, d_c:], "w_q": np_t(module.q_proj), "w_o": np_t(module.o_proj),
        "w_uk": kv_b[..., :d_nope].reshape(d_c, -1), "w_uv": kv_b[..., d_nope:].reshape(d_c, -1),
        "c_norm": module.kv_a_layernorm.weight.detach().numpy(),
    }  # fmt: skip
    base = float(config.rope_parameters["rope_theta"])
    ours = mla_attention(x[0].numpy(), w, heads=heads, settings=AttentionSettings(causal=True), rope_base=base)
    assert math.isclose(ours.attention.scale, module.scaling, rel_tol=1e-15)
    # the eager softmax runs in float32 there (and the latent's RMSNorm): float32's precision
    np.testing.assert_allclose(ours.attention.weights, weights[0].numpy(), atol=5e-6)
    np.testing.assert_allclose(ours.output, out[0].numpy(), atol=5e-5)
