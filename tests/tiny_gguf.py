"""A tiny Llama GGUF made here (2 layers, hidden 64, 4 query heads sharing 2 key/value heads, a
byte-level vocabulary of the 256 bytes and a few merges), for fast CLI tests and damaged files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attncli.models.bpe import _BYTES
from attncli.models.gguf import write_gguf
from attncli.models.quant import F32, Q4_1, Q8_0, quantize_q4_1, quantize_q8_0

HIDDEN, FFN, HEADS, KV, LAYERS = 64, 128, 4, 2, 2
MERGES = ["Ġ t", "h e", "Ġt he", "Ġ c", "a t", "Ġc at"]


def tiny_metadata(**changes: Any) -> dict[str, Any]:
    alphabet = sorted(_BYTES, key=lambda ch: _BYTES[ch])
    tokens = ["<|endoftext|>", *alphabet, *(m.replace(" ", "") for m in MERGES)]
    meta: dict[str, Any] = {
        "general.architecture": "llama",
        "general.name": "tiny",
        "llama.block_count": LAYERS,
        "llama.context_length": 64,
        "llama.embedding_length": HIDDEN,
        "llama.feed_forward_length": FFN,
        "llama.attention.head_count": HEADS,
        "llama.attention.head_count_kv": KV,
        "llama.rope.freq_base": 10000.0,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [3] + [1] * (len(tokens) - 1),
        "tokenizer.ggml.merges": MERGES,
        "tokenizer.ggml.eos_token_id": 0,
    }
    meta.update(changes)
    return meta


def tiny_tensors(seed: int = 0) -> dict[str, tuple[int, tuple[int, ...], bytes]]:
    rng = np.random.default_rng(seed)
    vocab = len(tiny_metadata()["tokenizer.ggml.tokens"])
    kv = KV * HIDDEN // HEADS

    def q41(*shape: int) -> tuple[int, tuple[int, ...], bytes]:
        return Q4_1, shape, quantize_q4_1(rng.normal(0, 0.2, shape)).tobytes()

    def norm() -> tuple[int, tuple[int, ...], bytes]:
        return F32, (HIDDEN,), (1 + 0.1 * rng.normal(size=HIDDEN)).astype(np.float32).tobytes()

    out = {"token_embd.weight": (Q8_0, (vocab, HIDDEN), quantize_q8_0(rng.normal(0, 1, (vocab, HIDDEN))).tobytes())}
    for i in range(LAYERS):
        p = f"blk.{i}."
        out.update({p + "attn_norm.weight": norm(), p + "ffn_norm.weight": norm()})
        out.update({p + "attn_q.weight": q41(HIDDEN, HIDDEN), p + "attn_k.weight": q41(kv, HIDDEN)})
        out.update({p + "attn_v.weight": q41(kv, HIDDEN), p + "attn_output.weight": q41(HIDDEN, HIDDEN)})
        out.update({p + "ffn_gate.weight": q41(FFN, HIDDEN), p + "ffn_up.weight": q41(FFN, HIDDEN)})
        out[p + "ffn_down.weight"] = q41(HIDDEN, FFN)
    out["output_norm.weight"] = norm()
    return out


def write_tiny(path: Path, **changes: Any) -> Path:
    write_gguf(path, tiny_metadata(**changes), tiny_tensors())
    return path
