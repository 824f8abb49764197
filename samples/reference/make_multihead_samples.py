"""Write the multi-head samples with expected values computed by PyTorch (not by attncli).

    .venv/bin/python samples/reference/make_multihead_samples.py

Needs torch==2.13.0 (the test extra). The expected values are rounded to 6 decimals; tests compare
attncli's results with them, so this script is the independent reference for those samples.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from attncli.serialize.strict_json import dumps

OUT = Path(__file__).resolve().parent.parent
torch.set_default_dtype(torch.float64)


def r6(t: torch.Tensor) -> list:  # type: ignore[type-arg]
    t = t.detach()
    return (
        [[round(float(x), 6) for x in row] for row in t.reshape(-1, t.shape[-1])]
        if t.dim() <= 2
        else [r6(s) for s in t]
    )


def mat(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def write(name: str, doc: dict) -> None:  # type: ignore[type-arg]
    (OUT / f"{name}.json").write_text(dumps(doc, 1) + "\n", encoding="utf-8")


def two_heads() -> None:
    x = mat([[1, 0, 1, 0], [0, 2, 0, 2], [1, 1, 1, 1]])
    wq = mat([[0.5, 0, 0.1, 0], [0, 0.5, 0, 0.2], [0.3, 0, 0.5, 0], [0, 0.1, 0, 0.5]])
    wk = mat([[0.4, 0.1, 0, 0], [0, 0.4, 0.1, 0], [0, 0, 0.4, 0.1], [0.1, 0, 0, 0.4]])
    wv = mat([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    wo = mat([[0.5, 0.5, 0, 0], [0.5, -0.5, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 0.5, -0.5]])
    m = torch.nn.MultiheadAttention(4, 2, bias=False, batch_first=True)
    with torch.no_grad():  # nn.MultiheadAttention computes x·Wᵀ: its weights are ours transposed
        m.in_proj_weight.copy_(torch.cat([wq.T, wk.T, wv.T]))
        m.out_proj.weight.copy_(wo.T)
    out, w = m(x[None], x[None], x[None], average_attn_weights=False)
    write(
        "mha-2heads",
        {
            "title": "Two-head self-attention with given projection weights",
            "description": "X (3 tokens × d_model 4) projected by W_q, W_k, W_v into 2 heads of 2 columns; "
            "the heads' outputs are concatenated and projected by W_o. "
            "Expected values from torch nn.MultiheadAttention.",
            "x": x.tolist(),
            "wq": wq.tolist(),
            "wk": wk.tolist(),
            "wv": wv.tolist(),
            "wo": wo.tolist(),
            "heads": 2,
            "expected": {"weights": r6(w[0]), "output": r6(out[0])},
        },
    )


def cross() -> None:
    dec = mat([[1, 0], [0, 1]])
    enc = mat([[1, 1], [0, 1], [2, 0]])
    wq, wk, wv = mat([[1, 0], [0, 1]]), mat([[0.5, 1], [1, -0.5]]), mat([[1, 2], [0, 1]])
    m = torch.nn.MultiheadAttention(2, 2, bias=False, batch_first=True)
    with torch.no_grad():
        m.in_proj_weight.copy_(torch.cat([wq.T, wk.T, wv.T]))
        m.out_proj.weight.copy_(torch.eye(2))
    out, w = m(dec[None], enc[None], enc[None], average_attn_weights=False)
    write(
        "mha-cross-attention",
        {
            "title": "Cross-attention with 2 heads: 2 decoder tokens attend over 3 encoder tokens",
            "description": "Queries are projected from the decoder side (q_input), keys and values from the encoder "
            "side (kv_input): T = 2, S = 3. Expected values from torch nn.MultiheadAttention.",
            "q_input": dec.tolist(),
            "kv_input": enc.tolist(),
            "wq": wq.tolist(),
            "wk": wk.tolist(),
            "wv": wv.tolist(),
            "wo": torch.eye(2).tolist(),
            "heads": 2,
            "expected": {"weights": r6(w[0]), "output": r6(out[0])},
        },
    )


def gqa() -> None:
    # 4 query heads share 2 K/V heads; q/k/v are given already projected (heads side by side).
    q = mat([[1, 0, 0, 1, 1, 1, 0.5, -0.5], [0, 1, 1, 0, -1, 1, 0, 1], [1, 1, 0, 0, 0.5, 0.5, 1, 0]])
    k = mat([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, -1, 1]])
    v = mat([[1, 0, 2, 0], [0, 1, 0, 2], [1, 1, 1, 1]])
    qh = q.reshape(3, 4, 2).transpose(0, 1)
    kh, vh = k.reshape(3, 2, 2).transpose(0, 1), v.reshape(3, 2, 2).transpose(0, 1)
    per_head = F.scaled_dot_product_attention(qh, kh, vh, enable_gqa=True, is_causal=True)  # (4, 3, 2)
    weights = torch.softmax(
        (qh @ kh.repeat_interleave(2, 0).transpose(-1, -2) / math.sqrt(2)).masked_fill(
            ~torch.ones(3, 3, dtype=torch.bool).tril(), float("-inf")
        ),
        dim=-1,
    )
    write(
        "mha-gqa",
        {
            "title": "Grouped-query attention: 4 query heads share 2 K/V heads (causal)",
            "description": "Query heads 1–2 use K/V head 1 and heads 3–4 use K/V head 2, as PyTorch SDPA's "
            "enable_gqa. q, k and v are given already projected, heads side by side. Expected values from torch.",
            "q": q.tolist(),
            "k": k.tolist(),
            "v": v.tolist(),
            "heads": 4,
            "kv_heads": 2,
            "causal": True,
            "expected": {"weights": r6(weights), "output": r6(per_head.transpose(0, 1).reshape(3, 8))},
        },
    )


def rope() -> None:
    x = mat([[1, 0, 0.5, 0.5], [0, 1, 0.5, -0.5], [1, 1, 0, 0], [0.5, 0.5, 1, 0]])
    t, d, base = 4, 4, 10000.0
    # RoPE, rotate-half convention, written independently as complex multiplication per pair (x_i, x_{i+d/2}).
    theta = base ** (-torch.arange(0, d, 2) / d)
    z = torch.complex(x[:, : d // 2], x[:, d // 2 :]) * torch.polar(
        torch.ones(t, d // 2), torch.arange(t)[:, None] * theta
    )
    rotated = torch.cat([z.real, z.imag], dim=-1)
    out = F.scaled_dot_product_attention(rotated, rotated, x, is_causal=True)
    weights = torch.softmax(
        (rotated @ rotated.T / math.sqrt(d)).masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf")),
        -1,
    )
    write(
        "mha-rope",
        {
            "title": "RoPE: rotary position embedding on q and k (one head, causal)",
            "description": "Q = K = V = X with no projection weights; RoPE (rotate-half, base 10000) turns q and k by "
            "their positions before the dot products, so scores depend on relative position. "
            "Expected values from torch.",
            "x": x.tolist(),
            "rope": True,
            "causal": True,
            "expected": {"weights": r6(weights[None]), "output": r6(out)},
        },
    )


if __name__ == "__main__":
    two_heads()
    cross()
    gqa()
    rope()
    print(json.dumps(sorted(p.name for p in OUT.glob("mha-*.json"))))
