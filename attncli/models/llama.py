"""A Llama-style decoder (SmolLM2-135M-Instruct) from a GGUF file, in NumPy.

    x₀ = token_embd[ids]
    per layer:  h = RMSNorm(x)·w_attn_norm
                Q = h·W_Qᵀ (H heads), K = h·W_Kᵀ, V = h·W_Vᵀ (G heads each, G < H: grouped-query attention)
                Q, K ← RoPE(Q, K) at positions 0…T−1
                a = attention(Q, K[head_map], V[head_map], causal)   ← the model's own causal mask
                x = x + concat_heads(a)·W_Oᵀ
                x = x + W_down·(SiLU(W_gate·RMSNorm(x)·w_ffn_norm) ⊙ W_up·(…))      (SwiGLU)
    logits = RMSNorm(x_T)·w_output_norm · token_embdᵀ   (the output layer is tied to the embeddings)

GGUF stores W_Q and W_K with the rows of each head permuted for llama.cpp: RoPE rotates adjacent pairs
(2i, 2i+1) of a head's columns where Hugging Face rotates column i with i + d/2 ("rotate half"). The
same permutation of the columns of Q and K leaves every Q·Kᵀ, and so the attention, unchanged; attncli
rotates the raw layout. Query head h reads K/V head head_map[h] = h // (H/G).

`step` continues a sentence one token at a time with a KV cache (the keys and values of the tokens
already seen), which `generate` uses; a test checks each step against a full recompute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.core.attention import attention
from attncli.core.positions import apply_rope
from attncli.core.settings import DType
from attncli.errors import ModelError
from attncli.i18n import _
from attncli.models.base import Architecture, LayerPass, Model, ModelInfo
from attncli.models.formats import GGUF_SUFFIX, gguf_path
from attncli.models.gguf import GGUFFile
from attncli.models.quant import TYPES

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.core.engine import Attention
    from attncli.models.bpe import ByteLevelBPE

    Array = NDArray[np.floating]

LLAMA = "llama"
SUFFIX = GGUF_SUFFIX
_LINEAR = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class LlamaConfig:
    """The numbers of the GGUF metadata the forward pass needs."""

    name: str
    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    context: int
    vocab: int
    eps: float
    rope_base: float
    quantization: str  # the linear layers' ggml type, e.g. "Q4_1"

    @property
    def head_size(self) -> int:
        return self.hidden // self.heads

    @property
    def head_map(self) -> tuple[int, ...]:
        """The K/V head each query head reads."""
        return tuple(h // (self.heads // self.kv_heads) for h in range(self.heads))

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            architecture=LLAMA,
            layers=self.layers,
            query_heads=self.heads,
            kv_heads=self.kv_heads,
            head_size=self.head_size,
            hidden_size=self.hidden,
            max_positions=self.context,
            vocab_size=self.vocab,
            causal=True,
        )

    @classmethod
    def read(cls, gguf: GGUFFile) -> LlamaConfig:
        meta, path = gguf.metadata, gguf.path
        arch = meta.get("general.architecture")
        if arch != LLAMA:
            message = _("{path} is a GGUF of the architecture {arch!r}; attncli runs 'llama' decoders")
            raise ModelError(message.format(path=path, arch=arch), argument="model")

        def number(key: str, kind: type = int) -> Any:
            value = meta.get(f"llama.{key}")
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                message = _("{path} lacks a positive llama.{key} in its metadata").format(path=path, key=key)
                raise ModelError(message, argument="model")
            return kind(value)

        if "token_embd.weight" not in gguf.tensors:
            message = _("{path} lacks the tensor '{name}' (incomplete model)")
            raise ModelError(message.format(path=path, name="token_embd.weight"), argument="model")
        config = cls(
            name=str(meta.get("general.name") or path.stem),
            layers=number("block_count"),
            hidden=number("embedding_length"),
            ffn=number("feed_forward_length"),
            heads=number("attention.head_count"),
            kv_heads=number("attention.head_count_kv") if "llama.attention.head_count_kv" in meta else 0,
            context=number("context_length"),
            vocab=gguf.tensors["token_embd.weight"].shape[0],
            eps=number("attention.layer_norm_rms_epsilon", float),
            rope_base=float(meta.get("llama.rope.freq_base", 10000.0)),
            quantization=gguf.tensors.get("blk.0.attn_q.weight", gguf.tensors["token_embd.weight"]).type_name,
        )
        if config.kv_heads == 0:
            config = LlamaConfig(**{**config.__dict__, "kv_heads": config.heads})
        if config.hidden % config.heads or config.heads % config.kv_heads or config.head_size % 2:
            message = _("{path}: {heads} query heads, {kv} key/value heads and hidden size {hidden} do not fit")
            raise ModelError(
                message.format(path=path, heads=config.heads, kv=config.kv_heads, hidden=config.hidden),
                argument="model",
            )
        config.check_shapes(gguf)
        return config

    def check_shapes(self, gguf: GGUFFile) -> None:
        d, kv = self.hidden, self.kv_heads * self.head_size
        shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (self.vocab, d), "output_norm.weight": (d,)}
        for i in range(self.layers):
            p = f"blk.{i}."
            shapes.update({p + "attn_norm.weight": (d,), p + "ffn_norm.weight": (d,)})
            shapes.update({p + "attn_q.weight": (d, d), p + "attn_k.weight": (kv, d), p + "attn_v.weight": (kv, d)})
            shapes.update({p + "attn_output.weight": (d, d), p + "ffn_down.weight": (d, self.ffn)})
            shapes.update({p + "ffn_gate.weight": (self.ffn, d), p + "ffn_up.weight": (self.ffn, d)})
        for name, shape in shapes.items():
            info = gguf.tensors.get(name)
            if info is None:
                message = _("{path} lacks the tensor '{name}' (incomplete model)")
                raise ModelError(message.format(path=gguf.path, name=name), argument="model")
            if info.shape != shape:
                message = _("{path}: tensor '{name}' has shape {actual}, the metadata implies {shape}")
                raise ModelError(
                    message.format(path=gguf.path, name=name, actual=info.shape, shape=shape), argument="model"
                )


def rms_norm(x: Array, weight: Array, eps: float) -> Array:
    """x / √(mean(x²) + eps) · weight over the last axis, as LlamaRMSNorm."""
    out: Array = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + x.dtype.type(eps)) * weight
    return out


def rope_angles(positions: NDArray[np.integer], head_size: int, base: float) -> NDArray[np.float64]:
    """(T, d/2) angles position · base^(−2i/d), i = 0…d/2−1, rounded through float32 as Hugging Face's
    Llama computes them (at position 8000 the float32 frequencies move an angle by ~1e-4 rad)."""
    inv = (1.0 / base ** (np.arange(0, head_size, 2, dtype=np.float64) / head_size)).astype(np.float32)
    out: NDArray[np.float64] = (np.asarray(positions, dtype=np.float32)[:, None] * inv).astype(np.float64)
    return out


def silu(x: Array) -> Array:
    out: Array = x / (1 + np.exp(-x))
    return out


@dataclass
class KVCache:
    """The keys (after RoPE) and values of every layer for the tokens seen so far: (B, G, S, d) each."""

    keys: list[Array] = field(default_factory=list)
    values: list[Array] = field(default_factory=list)

    @property
    def length(self) -> int:
        return 0 if not self.keys else int(self.keys[0].shape[-2])


@dataclass(frozen=True)
class RopeStage:
    """One layer's Q and K before and after the rotation: (B, H, T, d) and (B, G, T, d)."""

    q_before: Array
    k_before: Array
    q_after: Array
    k_after: Array


class LlamaDecoder(Model):
    """A loaded Llama decoder: GGUF + its byte-level BPE tokenizer, weights dequantized on first use."""

    tokenizer: ByteLevelBPE

    def __init__(self, path: Path) -> None:
        from attncli.models.bpe import ByteLevelBPE
        from attncli.models.cache import WeightCache

        self.folder = path
        self.cache = WeightCache(path)
        header, tokenizer = self.cache.json("header.json", None), self.cache.json("tokenizer.json", None)
        if header is not None and tokenizer is not None:  # checked when they were cached, the file unchanged
            self.gguf = GGUFFile(path, header)
            self.tokenizer = ByteLevelBPE.from_json(tokenizer)
            self.config = LlamaConfig.read(self.gguf)
        else:
            self.gguf = GGUFFile(path)
            self.config = LlamaConfig.read(self.gguf)
            self.tokenizer = ByteLevelBPE.from_gguf(self.gguf)
            self.cache.json("tokenizer.json", self.tokenizer.to_json)
            self.cache.json("header.json", self.gguf.header)
        self.info = self.config.info
        self._weights: dict[str, Array] = {}
        self.rope_stages: dict[int, RopeStage] = {}  # of the last forward pass, per layer

    def weight(self, name: str, ftype: type) -> Array:
        key = f"{name}/{np.dtype(ftype).name}"
        if key not in self._weights:
            value = self.cache.array(name, lambda: self.gguf.tensor(name))
            self._weights[key] = np.asarray(value, dtype=ftype)
        return self._weights[key]

    def embed(self, ids: NDArray[np.integer], ftype: type[np.floating]) -> Array:
        rows = self.gguf.rows("token_embd.weight", ids).astype(ftype, copy=False)
        if not np.isfinite(rows).all():
            message = _("{path}: tensor '{name}' holds NaN or ∞ values (the file is corrupt)")
            raise ModelError(message.format(path=self.folder, name="token_embd.weight"), argument="model")
        return rows

    def layer(self, index: int, x: Array, mask: NDArray[np.bool_] | None, dtype: DType, causal: bool) -> LayerPass:
        """Layer `index` over the whole sentence; `causal` is ignored: the decoder always has its own mask."""
        step, self.rope_stages[index] = self.block(index, x, np.arange(x.shape[1]), mask, dtype, None)
        return step

    def block(
        self,
        index: int,
        x: Array,
        positions: NDArray[np.integer],
        mask: NDArray[np.bool_] | None,
        dtype: DType,
        cache: KVCache | None,
    ) -> tuple[LayerPass, RopeStage]:
        """Layer `index` on x (B, T, D) at `positions`; with `cache`, after the keys and values cached
        for this layer (which it then extends)."""
        c = self.config
        ftype = x.dtype.type
        b, t, _d = x.shape
        p = f"blk.{index}."

        def w(name: str) -> Array:
            return self.weight(p + name + ".weight", ftype)

        def heads(y: Array, n: int) -> Array:
            return y.reshape(b, t, n, c.head_size).transpose(0, 2, 1, 3)

        x_in = x
        h = rms_norm(x, w("attn_norm"), c.eps)
        q0 = heads(h @ w("attn_q").T, c.heads)
        k0, v = heads(h @ w("attn_k").T, c.kv_heads), heads(h @ w("attn_v").T, c.kv_heads)
        angles = rope_angles(positions, c.head_size, c.rope_base)  # GGUF's layout: adjacent pairs
        q, k = apply_rope(q0, angles, "interleaved"), apply_rope(k0, angles, "interleaved")
        stage = RopeStage(q0, k0, q, k)
        if cache is not None:
            if len(cache.keys) > index:
                k = np.concatenate([cache.keys[index], k], axis=-2)
                v = np.concatenate([cache.values[index], v], axis=-2)
                cache.keys[index], cache.values[index] = k, v
            else:
                cache.keys.append(k)
                cache.values.append(v)
        head_map = list(c.head_map)
        # the model's own causal mask; bottom-right: the last query sees every cached key
        att = attention(
            q, k[:, head_map], v[:, head_map], mask=mask, causal=True, causal_align="bottom-right", dtype=dtype
        )
        context = att.output.transpose(0, 2, 1, 3).reshape(b, t, c.hidden)
        x = x + context @ w("attn_output").T
        g = rms_norm(x, w("ffn_norm"), c.eps)
        x = x + (silu(g @ w("ffn_gate").T) * (g @ w("ffn_up").T)) @ w("ffn_down").T
        return LayerPass(input=x_in, attention=att, hidden=x), stage

    def logits(self, hidden: Array) -> Array:
        """The next-token scores (…, vocab) of the last layer's output (…, D)."""
        ftype = hidden.dtype.type
        normed = rms_norm(hidden, self.weight("output_norm.weight", ftype), self.config.eps)
        out: Array = normed @ self.weight("token_embd.weight", ftype).T
        return out

    def step(self, ids: NDArray[np.integer], cache: KVCache, dtype: DType = "float32") -> tuple[list[Attention], Array]:
        """Run the new tokens `ids` (B, T) after the `cache` (extended in place): every layer's Attention
        (queries = the new tokens, keys = all tokens) and the logits (B, T, vocab)."""
        ftype: type[np.floating] = np.float64 if dtype == "float64" else np.float32
        ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
        start = cache.length
        if start + ids.shape[1] > self.info.max_positions:
            message = _("{t} tokens is more than the model's {limit} positions")
            raise ModelError(message.format(t=start + ids.shape[1], limit=self.info.max_positions), argument="sentence")
        positions = np.arange(start, start + ids.shape[1])
        x = self.embed(ids, ftype)
        atts = []
        for i in range(self.info.layers):
            step, _stage = self.block(i, x, positions, None, dtype, cache)
            atts.append(step.attention)
            x = step.hidden
        return atts, self.logits(x)


@dataclass(frozen=True)
class Generated:
    """A greedy continuation: the new token ids, each step's attentions (per layer, (B, H, 1, S)) and
    logits (vocab,), and the prompt's own pass (its logits at the last position predict the first new id)."""

    prompt_ids: NDArray[np.int64]
    new_ids: tuple[int, ...]
    step_attentions: tuple[tuple[Attention, ...], ...]  # [step][layer]; step 0 is the prompt itself
    step_logits: tuple[Array, ...]  # [step] the logits that chose new_ids[step]


def generate(
    model: LlamaDecoder, ids: NDArray[np.integer], count: int, dtype: DType = "float32", stop: int | None = None
) -> Generated:
    """`count` new tokens chosen greedily (the most probable each time), with a KV cache; stops early
    at the token `stop` (the end-of-text token) once generated."""
    from threadpoolctl import threadpool_limits

    ids = np.asarray(ids, dtype=np.int64).reshape(1, -1)
    cache = KVCache()
    new: list[int] = []
    attentions: list[tuple[Attention, ...]] = []
    logits: list[Array] = []
    with threadpool_limits(limits=1, user_api="blas"):
        atts, out = model.step(ids, cache, dtype)
        for _n in range(count):
            attentions.append(tuple(atts))
            logits.append(out[0, -1])
            token = int(np.argmax(out[0, -1]))
            new.append(token)
            if token == stop or len(new) == count:
                break
            atts, out = model.step(np.array([[token]]), cache, dtype)
    return Generated(ids[0], tuple(new), tuple(attentions), tuple(logits))


def softmax(logits: Array) -> NDArray[np.float64]:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out: NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


def top_tokens(logits: Array, n: int = 5) -> list[tuple[int, float]]:
    """The `n` most probable next token ids with their probabilities (softmax of the logits)."""
    probs = softmax(logits)
    order = np.argsort(-probs, kind="stable")[:n]
    return [(int(i), float(probs[i])) for i in order]


class Llama(Architecture):
    """A GGUF file of the 'llama' architecture (SmolLM2 and its kin): the file itself, or a folder
    holding exactly one .gguf."""

    name = LLAMA
    files = ()

    gguf_path = staticmethod(gguf_path)

    def recognizes(self, folder: Path) -> bool:
        return self.gguf_path(folder) is not None

    def inspect(self, folder: Path) -> ModelInfo:
        return LlamaConfig.read(GGUFFile(self._path(folder))).info

    def load(self, folder: Path) -> LlamaDecoder:
        return LlamaDecoder(self._path(folder))

    def _path(self, folder: Path) -> Path:
        path = self.gguf_path(folder)
        if path is None:
            message = _("{path} is not a .gguf file, nor a folder holding one").format(path=folder)
            raise ModelError(message, argument="model")
        return path


def quantization(gguf: GGUFFile) -> str:
    """The ggml types of the file's tensors, most weights first: 'Q4_1, Q8_0, F32'."""
    counts: dict[str, int] = {}
    for t in gguf.tensors.values():
        counts[t.type_name] = counts.get(t.type_name, 0) + t.count
    return ", ".join(sorted(counts, key=lambda k: -counts[k]))


__all__ = [
    "TYPES",
    "Generated",
    "KVCache",
    "Llama",
    "LlamaConfig",
    "LlamaDecoder",
    "generate",
    "rope_angles",
    "top_tokens",
]
