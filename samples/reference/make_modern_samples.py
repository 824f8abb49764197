"""Write the samples of Gemma 2's scale rule, QK-norm, KV-cache decoding and multi-head latent attention,
with expected values computed by PyTorch and transformers (not by attncli).

    .venv/bin/python samples/reference/make_modern_samples.py

Needs torch and transformers (the test extra). QK-norm's expected values come from transformers'
Gemma3Attention and MLA's from DeepseekV3Attention, with the samples' weights loaded into them; the
scale rule and the decoding step from the formulas in torch. Rounded to 6 decimals. Those modules
upcast their softmax and RMSNorms to float32, and their rotary modules work in float32; here all run
in float64 (float64_softmax, float64_norm, rotary), so that the expected values hold to the 6
decimals written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as ds
from transformers.models.gemma3 import modeling_gemma3 as gemma3

from attncli.serialize.strict_json import dumps

OUT = Path(__file__).resolve().parent.parent
torch.set_default_dtype(torch.float64)
X = [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0]]
LABELS = ["the", "cat", "sat", "on", "a"]


def r6(t: torch.Tensor) -> Any:
    t = t.detach()
    return round(float(t), 6) if t.dim() == 0 else [r6(s) for s in t]


def grid(seed: int, rows: int, cols: int) -> list[list[float]]:
    """Small weights with two decimals, so that a document shows them readably."""
    g = torch.Generator().manual_seed(seed)
    return [[round(float(x), 2) for x in row] for row in torch.randn(rows, cols, generator=g) * 0.6]


def causal_mask(t: int) -> torch.Tensor:
    allowed = torch.tril(torch.ones(t, t, dtype=torch.bool))
    return torch.zeros(t, t).masked_fill(~allowed, -math.inf)[None, None]


@contextmanager
def float64_softmax() -> Iterator[None]:
    """torch's softmax with its dtype argument ignored: the eager attention's float32 upcast stays float64."""
    original = torch.nn.functional.softmax
    torch.nn.functional.softmax = lambda x, dim=None, dtype=None, **kw: original(x, dim=dim)  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.nn.functional.softmax = original


def float64_norm(norm: torch.nn.Module, scale: Any) -> None:
    """An RMSNorm module computed in float64: x / √(mean(x²) + eps) × scale(weight)."""
    eps = getattr(norm, "eps", getattr(norm, "variance_epsilon", 1e-6))
    norm.forward = lambda h: h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * scale(norm.weight)  # type: ignore[method-assign]


def rotary(t: int, d: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary embedding in float64 (transformers' own rotary modules work in float32)."""
    inv_freq = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    freqs = torch.arange(t, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)[None]
    return emb.cos(), emb.sin()


def write(name: str, doc: dict[str, Any]) -> None:
    (OUT / f"{name}.json").write_text(dumps(json.loads(json.dumps(doc)), 1) + "\n", encoding="utf-8")


def gemma2_scale() -> None:
    x = torch.tensor(X)
    weights = torch.softmax(
        (x @ x.T * 8**-0.5).masked_fill(~torch.tril(torch.ones(5, 5, dtype=torch.bool)), -math.inf), -1
    )
    write("gemma2-scale", {
        "title": "Gemma 2's scale rule: query_pre_attn_scalar 8, scale 8^−½ (not 1/√d_k = 1/2)",
        "description": "Gemma 2 scales the scores by query_pre_attn_scalar^−½; here 8 against d_k = 4.",
        "q": X, "k": X, "v": X, "causal": True, "query_pre_attn_scalar": 8,
        "labels": {"q": LABELS, "k": LABELS},
        "expected": {"scaled": r6(x @ x.T * 8**-0.5), "weights": r6(weights), "output": r6(weights @ x)},
    })  # fmt: skip


def qk_norm() -> None:
    config = transformers.Gemma3TextConfig(
        hidden_size=4, num_attention_heads=2, num_key_value_heads=2, head_dim=2, query_pre_attn_scalar=2,
        num_hidden_layers=1, layer_types=["full_attention"], rms_norm_eps=1e-6, attn_implementation="eager",
    )  # fmt: skip
    module = gemma3.Gemma3Attention(config, layer_idx=0).double().eval()
    w = {n: grid(i, 4, 4) for i, n in enumerate(("wq", "wk", "wv", "wo"))}
    q_norm, k_norm = [1.0, 0.5], [2.0, 1.0]
    with torch.no_grad():
        for n, layer in (("wq", module.q_proj), ("wk", module.k_proj), ("wv", module.v_proj), ("wo", module.o_proj)):
            layer.weight.copy_(torch.tensor(w[n]).T)
        module.q_norm.weight.copy_(torch.tensor(q_norm) - 1)  # Gemma's RMSNorm multiplies by (1 + weight)
        module.k_norm.weight.copy_(torch.tensor(k_norm) - 1)
        for norm in (module.q_norm, module.k_norm):
            float64_norm(norm, lambda w: 1.0 + w)  # Gemma's (1 + weight)
        x = torch.tensor(X)[None]
        cos, sin = rotary(5, 2, config.rope_parameters["full_attention"]["rope_theta"])
        with float64_softmax():
            out, weights = module(x, (cos, sin), causal_mask(5))
    base = config.rope_parameters["full_attention"]["rope_theta"]
    write("qk-norm", {
        "title": "QK-norm (Gemma 3): RMSNorm of each head's q and k before RoPE",
        "description": "Two heads of width 2; q_norm and k_norm are the learned weights of the RMSNorms.",
        "x": X, **w, "heads": 2, "q_norm": q_norm, "k_norm": k_norm, "rope": True, "rope_base": base,
        "causal": True, "labels": {"q": LABELS, "k": LABELS},
        "expected": {"weights": r6(weights[0]), "output": r6(out[0])},
    })  # fmt: skip


def kv_cache() -> None:
    x = torch.tensor(X)
    full = torch.softmax((x @ x.T / 2).masked_fill(~torch.tril(torch.ones(5, 5, dtype=torch.bool)), -math.inf), -1)
    step = torch.softmax(x[3:] @ x.T / 2 + causal_mask(5)[0, 0, 3:], -1)  # the two new queries, bottom-right
    assert torch.allclose(step, full[3:])
    write("kv-cache-decode", {
        "title": "KV-cache decoding: the last two queries against a cache of three tokens",
        "description": "The step computes only the new rows, against cached keys and values; they equal the full run.",
        "q": X, "k": X, "v": X, "causal": True, "decode": 2, "labels": {"q": LABELS, "k": LABELS},
        "expected": {"weights": r6(full), "output": r6(full @ x)},
    })  # fmt: skip


def mla() -> None:
    heads, d_c, d_rope, d_nope, d_v = 2, 3, 2, 2, 2
    config = transformers.DeepseekV3Config(
        hidden_size=4, num_attention_heads=heads, num_key_value_heads=heads, q_lora_rank=None, kv_lora_rank=d_c,
        qk_rope_head_dim=d_rope, qk_nope_head_dim=d_nope, v_head_dim=d_v, head_dim=d_rope, num_hidden_layers=1,
        attn_implementation="eager", rope_interleave=True,
    )  # fmt: skip
    module = ds.DeepseekV3Attention(config, layer_idx=0).double().eval()
    w = {"w_dkv": grid(10, 4, d_c), "w_kr": grid(11, 4, d_rope), "w_uk": grid(12, d_c, heads * d_nope),
         "w_uv": grid(13, d_c, heads * d_v), "w_q": grid(14, 4, heads * (d_nope + d_rope)),
         "w_o": grid(15, heads * d_v, 4), "c_norm": [1.0, 0.5, 2.0]}  # fmt: skip
    t = torch.tensor
    kv_b = torch.cat([t(w["w_uk"]).reshape(d_c, heads, d_nope), t(w["w_uv"]).reshape(d_c, heads, d_v)], -1)
    with torch.no_grad():
        module.kv_a_proj_with_mqa.weight.copy_(torch.cat([t(w["w_dkv"]), t(w["w_kr"])], 1).T)
        module.kv_b_proj.weight.copy_(kv_b.reshape(d_c, -1).T)
        module.q_proj.weight.copy_(t(w["w_q"]).T)
        module.o_proj.weight.copy_(t(w["w_o"]).T)
        module.kv_a_layernorm.weight.copy_(t(w["c_norm"]))
        float64_norm(module.kv_a_layernorm, lambda w: w)
        x = torch.tensor(X)[None]
        cos, sin = rotary(5, d_rope, config.rope_parameters["rope_theta"])
        with float64_softmax():
            out, weights = module(x, (cos, sin), causal_mask(5))
    write("mla", {
        "title": "Multi-head latent attention (DeepSeek-V3): two heads from a latent of 3",
        "description": "Keys and values come from the latent c = x·W_DKV; the RoPE key is shared by both heads.",
        "x": X, "heads": heads, "mla": w, "rope_base": config.rope_parameters["rope_theta"], "causal": True,
        "labels": {"q": LABELS, "k": LABELS},
        "expected": {"weights": r6(weights[0]), "output": r6(out[0])},
    })  # fmt: skip


def main() -> None:
    gemma2_scale()
    qk_norm()
    kv_cache()
    mla()


if __name__ == "__main__":
    main()
