"""Write the structured-mask samples (sliding windows in three conventions, chunks, prefix-LM, packed
documents, StreamingLLM sinks) with expected values computed by PyTorch, not by attncli.

    .venv/bin/python samples/reference/make_variant_samples.py

Each mask is built from the formula as PyTorch's flex_attention mask_mod would write it (and, for the
Hugging Face conventions, by transformers.masking_utils itself), then torch's
scaled_dot_product_attention gives the weights and the output. Values are rounded to 6 decimals.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import masking_utils

from attncli.serialize.strict_json import dumps

OUT = Path(__file__).resolve().parent.parent
torch.set_default_dtype(torch.float64)
X = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 2.0], [2.0, 0.0], [1.0, -1.0]]
LABELS = ["the", "cat", "sat", "on", "a", "mat"]


def r6(t: torch.Tensor) -> list[list[float]]:
    return [[round(float(x), 6) for x in row] for row in t]


def grid(mod: Any, n: int) -> torch.Tensor:
    q_idx, kv_idx, zero = torch.arange(n)[:, None], torch.arange(n)[None, :], torch.tensor(0)
    return mod(zero, zero, q_idx, kv_idx).expand(n, n)


def write(name: str, title: str, description: str, keys: dict[str, Any], mod: Any) -> None:
    x = torch.tensor(X)
    allowed = grid(mod, len(X))
    scaled = x @ x.T / math.sqrt(x.shape[-1])
    if "softcap" in keys:  # Gemma 2's order: cap the scaled scores, then mask
        c = keys["softcap"]
        scaled = c * torch.tanh(scaled / c)
    logits = scaled.masked_fill(~allowed, -math.inf)
    if "sinks" in keys:  # gpt-oss: a sink column in the softmax, then dropped
        sink = torch.full((len(X), 1), keys["sinks"][0])
        weights = torch.softmax(torch.cat([logits, sink], dim=-1), dim=-1)[:, :-1]
    else:
        weights = torch.softmax(logits, dim=-1)
    output = weights @ x
    if "softcap" not in keys and "sinks" not in keys:
        sdpa = F.scaled_dot_product_attention(x[None], x[None], x[None], attn_mask=allowed[None])[0]
        assert torch.allclose(sdpa, output)
    doc = {
        "title": title,
        "description": description,
        "q": X,
        "k": X,
        "v": X,
        **keys,
        "labels": {"q": LABELS, "k": LABELS},
        "expected": {"weights": r6(weights), "output": r6(output)},
    }
    (OUT / f"{name}.json").write_text(dumps(json.loads(json.dumps(doc)), 1) + "\n", encoding="utf-8")


def main() -> None:
    write(
        "window-hf",
        "Sliding window W = 3, Hugging Face convention (Mistral, Gemma): i − 3 < j ≤ i",
        "Each word sees itself and the two before it: 3 keys, as transformers' sliding_window_causal_mask_function.",
        {"window": 3},
        masking_utils.sliding_window_causal_mask_function(3),
    )
    write(
        "window-gym",
        "Sliding window W = 3, attention-gym convention: 0 ≤ i − j ≤ 3",
        "The same W as window-hf, one key more: itself and the three before it.",
        {"window": 3, "window_rule": "gym"},
        lambda b, h, q, k: (q >= k) & (q - k <= 3),
    )
    write(
        "window-jax",
        "Two-sided window (1, 1), JAX convention local_window_size=(1, 1): i − 1 ≤ j ≤ i + 1",
        "Each word sees its neighbours on both sides, not causal.",
        {"window": 1, "window_rule": "jax", "window_right": 1},
        lambda b, h, q, k: (k >= q - 1) & (k <= q + 1),
    )
    write(
        "chunked",
        "Chunked attention C = 3 (Llama 4): ⌊j/3⌋ = ⌊i/3⌋ and j ≤ i",
        "Two chunks of three words; a word sees the earlier words of its own chunk only.",
        {"chunk": 3},
        masking_utils.chunked_causal_mask_function(3, torch.tensor([0])),
    )
    write(
        "prefix-lm",
        "Prefix-LM with a prefix of 3: j < 3 or j ≤ i",
        "The first three words see each other both ways; the rest is causal.",
        {"prefix": 3},
        lambda b, h, q, k: (k < 3) | (q >= k),
    )
    docs = [0, 0, 1, 1, 1, 2]
    write(
        "packed-documents",
        "Three packed documents, causal inside each",
        "Document ids 0 0 1 1 1 2: a word sees the earlier words of its own document only.",
        {"causal": True, "documents": docs},
        masking_utils.and_masks(
            masking_utils.causal_mask_function, masking_utils.packed_sequence_mask_function(torch.tensor([docs]))
        ),
    )
    write(
        "streaming-sinks",
        "StreamingLLM: one sink token beside a window of 2",
        "The first word stays visible to every query (the attention sink), beside an hf window W = 2.",
        {"window": 2, "sink_tokens": 1},
        lambda b, h, q, k: ((k > q - 2) | (k < 1)) & (k <= q),
    )
    write(
        "softcap",
        "Logit soft-capping c = 0.5 (Gemma 2), causal: c·tanh(s/c) before the mask",
        "The scaled scores are squeezed into (−0.5, 0.5) before the causal mask and the softmax.",
        {"causal": True, "softcap": 0.5},
        masking_utils.causal_mask_function,
    )
    write(
        "learned-sink",
        "A learned attention sink (gpt-oss) with logit 1, causal: rows sum to less than 1",
        "The sink is a virtual key column in the softmax, dropped afterwards; it takes part of every row's weight.",
        {"causal": True, "sinks": [1.0]},
        masking_utils.causal_mask_function,
    )


if __name__ == "__main__":
    main()
