"""A BERT encoder (e.g. all-MiniLM-L6-v2) in NumPy: config, memory-mapped weights, forward pass.

The forward pass is that of Hugging Face's BertModel in eval mode (no dropout):

    x₀ = LayerNorm(word_emb[ids] + pos_emb[0…T−1] + type_emb[0])
    per layer:  Q, K, V = x·W_Qᵀ + b_Q, …   split into H heads of d_head = hidden/H columns
                a = attention(Q, K, V, mask = padding)      ← attncli.core.attention.attention, all heads at once
                h = LayerNorm(x + concat_heads(a)·W_Oᵀ + b_O)
                x = LayerNorm(h + GELU(h·W_1ᵀ + b_1)·W_2ᵀ + b_2)

Shape letters: B = batch, T = tokens, D = hidden size, H = heads, d = head size (D = H·d), F = the
feed-forward width. Linear weights are stored as PyTorch does, (out, in), so y = x·Wᵀ + b.
BertEncoder is one attncli.models.base.Model (the forward pass's loop, the thread limit and the kept
layers live there); BERT registers as the architecture "bert" in attncli.models.registry. Nothing here prints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from attncli.core.attention import attention
from attncli.core.settings import DType
from attncli.errors import ModelError
from attncli.i18n import _
from attncli.models.base import (
    Architecture,
    ForwardOutput,
    LayerPass,
    Model,
    ModelInfo,
    head_attention,
    map_stages,
)
from attncli.models.special import gelu
from attncli.models.tokenize import WordPiece

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
BERT = "bert"  # the architecture's registry key

# Checkpoints name the same tensors with different prefixes: plain BertModel (""), BertFor… ("bert."),
# sentence-transformers ("0.auto_model.").
_PREFIXES = ("", "bert.", "0.auto_model.", "model.")
_PROBE = "embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class BertConfig:
    """The few numbers of config.json that the forward pass needs."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    vocab_size: int
    type_vocab_size: int
    layer_norm_eps: float
    name: str

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            architecture=BERT,
            layers=self.num_layers,
            query_heads=self.num_heads,
            kv_heads=self.num_heads,
            head_size=self.head_size,
            hidden_size=self.hidden_size,
            max_positions=self.max_positions,
            vocab_size=self.vocab_size,
        )

    @classmethod
    def read(cls, folder: Path) -> BertConfig:
        path = folder / CONFIG_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            message = _("{path} is missing (the model folder is incomplete)").format(path=path)
            raise ModelError(message, argument="model") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelError(
                _("{path} is not readable JSON ({reason})").format(path=path, reason=e), argument="model"
            ) from None
        if not isinstance(raw, dict):
            raise ModelError(_("{path} should hold a JSON object").format(path=path), argument="model")
        kind = raw.get("model_type", "bert")
        if kind not in ("bert",):
            message = _("{path}: model_type {kind!r} is not a BERT encoder").format(path=path, kind=kind)
            raise ModelError(message, argument="model")
        act = raw.get("hidden_act", "gelu")
        if act != "gelu":
            message = _("{path}: hidden_act {act!r} is not supported (only the exact 'gelu')").format(
                path=path, act=act
            )
            raise ModelError(message, argument="model")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            message = _("{path}: only absolute position embeddings are supported").format(path=path)
            raise ModelError(message, argument="model")
        try:
            config = cls(
                hidden_size=int(raw["hidden_size"]),
                num_layers=int(raw["num_hidden_layers"]),
                num_heads=int(raw["num_attention_heads"]),
                intermediate_size=int(raw["intermediate_size"]),
                max_positions=int(raw["max_position_embeddings"]),
                vocab_size=int(raw["vocab_size"]),
                type_vocab_size=int(raw.get("type_vocab_size", 2)),
                layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
                name=str(raw.get("_name_or_path") or folder.name),
            )
        except KeyError as e:
            message = _("{path} lacks the key {key!r}").format(path=path, key=e.args[0])
            raise ModelError(message, argument="model") from None
        except (TypeError, ValueError) as e:
            message = _("{path} holds a value of the wrong type ({reason})").format(path=path, reason=e)
            raise ModelError(message, argument="model") from None
        for key, value in (
            ("hidden_size", config.hidden_size),
            ("num_hidden_layers", config.num_layers),
            ("num_attention_heads", config.num_heads),
            ("intermediate_size", config.intermediate_size),
            ("max_position_embeddings", config.max_positions),
            ("vocab_size", config.vocab_size),
            ("type_vocab_size", config.type_vocab_size),
        ):
            if value < 1:
                message = _("{path}: {key} must be at least 1, got {value}").format(path=path, key=key, value=value)
                raise ModelError(message, argument="model")
        if not (math.isfinite(config.layer_norm_eps) and config.layer_norm_eps >= 0):
            message = _("{path}: layer_norm_eps must be a small positive number, got {value}")
            raise ModelError(message.format(path=path, value=config.layer_norm_eps), argument="model")
        if config.hidden_size % config.num_heads:
            raise ModelError(
                message.format(path=path, hidden=config.hidden_size, heads=config.num_heads), argument="model"
            )
        return config


class BertWeights:
    """The tensors of model.safetensors, read through safetensors' NumPy API.

    The file is memory-mapped by safetensors; a tensor is copied out only when the forward pass asks
    for it, and of the word-embedding matrix (vocab × D, the largest tensor) only the rows of the
    sentence's token ids are read.
    """

    def __init__(self, folder: Path, config: BertConfig) -> None:
        from safetensors import SafetensorError, safe_open

        self.path = folder / WEIGHTS_FILE
        self.config = config
        if not self.path.is_file():
            message = _("{path} is missing (the model folder is incomplete)").format(path=self.path)
            raise ModelError(message, argument="model")
        try:
            self._file: Any = cast(Any, safe_open(str(self.path), framework="np"))
            names: set[str] = set(self._file.keys())
        except (SafetensorError, OSError, ValueError) as e:
            message = _("{path} is corrupt or truncated ({reason})").format(path=self.path, reason=e)
            raise ModelError(message, argument="model") from None
        self.prefix = next((p for p in _PREFIXES if p + _PROBE in names), None)
        if self.prefix is None:
            message = _("{path} holds no BERT tensor named '{name}'").format(path=self.path, name=_PROBE)
            raise ModelError(message, argument="model")
        self._names = names
        self._check_shapes()

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.config
        d, f = c.hidden_size, c.intermediate_size
        shapes: dict[str, tuple[int, ...]] = {
            "embeddings.word_embeddings.weight": (c.vocab_size, d),
            "embeddings.position_embeddings.weight": (c.max_positions, d),
            "embeddings.token_type_embeddings.weight": (c.type_vocab_size, d),
            "embeddings.LayerNorm.weight": (d,),
            "embeddings.LayerNorm.bias": (d,),
        }
        for i in range(c.num_layers):
            layer = f"encoder.layer.{i}."
            for part in ("query", "key", "value"):
                shapes[f"{layer}attention.self.{part}.weight"] = (d, d)
                shapes[f"{layer}attention.self.{part}.bias"] = (d,)
            shapes[f"{layer}attention.output.dense.weight"] = (d, d)
            shapes[f"{layer}attention.output.dense.bias"] = (d,)
            shapes[f"{layer}intermediate.dense.weight"] = (f, d)
            shapes[f"{layer}intermediate.dense.bias"] = (f,)
            shapes[f"{layer}output.dense.weight"] = (d, f)
            shapes[f"{layer}output.dense.bias"] = (d,)
            for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
                shapes[f"{layer}{ln}.weight"] = (d,)
                shapes[f"{layer}{ln}.bias"] = (d,)
        return shapes

    def _check_shapes(self) -> None:
        """Every tensor the forward pass needs is there with the shape config.json implies (header only)."""
        for name, shape in self._expected_shapes().items():
            full = f"{self.prefix}{name}"
            if full not in self._names:
                message = _("{path} lacks the tensor '{name}' (incomplete model)").format(path=self.path, name=full)
                raise ModelError(message, argument="model")
            actual = tuple(self._file.get_slice(full).get_shape())
            if actual != shape:
                message = _("{path}: tensor '{name}' has shape {actual}, config.json implies {shape}")
                raise ModelError(
                    message.format(path=self.path, name=full, actual=actual, shape=shape), argument="model"
                )

    def get(self, name: str, dtype: type[np.floating]) -> Array:
        try:
            tensor = self._file.get_tensor(f"{self.prefix}{name}")
        except Exception as e:  # safetensors raises its own error types for a damaged body
            message = _("{path}: cannot read tensor '{name}' ({reason})").format(path=self.path, name=name, reason=e)
            raise ModelError(message, argument="model") from None
        out: Array = np.asarray(tensor, dtype=dtype)
        self._check_finite(out, name)
        return out

    def _check_finite(self, values: Array, name: str) -> None:
        """A damaged file can hold NaN or ∞ in a tensor: say so rather than carry it into every number."""
        if not np.isfinite(values).all():
            message = _("{path}: tensor '{name}' holds NaN or ∞ values (the file is corrupt)")
            raise ModelError(message.format(path=self.path, name=name), argument="model")

    def embedding_rows(self, ids: NDArray[np.integer], dtype: type[np.floating]) -> Array:
        """word_embeddings[ids] for a (B, T) array of ids, reading only those rows of the file."""
        table = self._file.get_slice(f"{self.prefix}embeddings.word_embeddings.weight")
        # set(), not np.unique: NumPy 2's unique imports numpy.ma (tens of ms of every `attn explain`)
        rows = {i: np.asarray(table[i : i + 1], dtype=dtype)[0] for i in sorted(set(ids.ravel().tolist()))}
        out: Array = np.stack([rows[int(i)] for i in ids.ravel()]).reshape(*ids.shape, -1)
        self._check_finite(out, "embeddings.word_embeddings.weight")
        return out


def layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    """LayerNorm over the last axis with the biased variance, as torch.nn.LayerNorm."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + x.dtype.type(eps)) * weight + bias
    return out


EncoderOutput = ForwardOutput  # the name before there was more than one kind of model


class BertEncoder(Model):
    """A loaded BERT encoder: config + weights + WordPiece tokenizer, ready to run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = BertConfig.read(folder)
        self.weights = BertWeights(folder, self.config)
        self.info = self.config.info
        self.tokenizer = WordPiece(folder / TOKENIZER_FILE)

    def embed(self, ids: NDArray[np.integer], ftype: type[np.floating]) -> Array:
        # (B, T, D): word + position + token type (every token is of type 0: one segment)
        w = self.weights.get
        t = ids.shape[-1]
        x = (
            self.weights.embedding_rows(ids, ftype)
            + w("embeddings.position_embeddings.weight", ftype)[:t]
            + w("embeddings.token_type_embeddings.weight", ftype)[0]
        )
        ln_weight, ln_bias = w("embeddings.LayerNorm.weight", ftype), w("embeddings.LayerNorm.bias", ftype)
        return layer_norm(x, ln_weight, ln_bias, self.config.layer_norm_eps)

    def layer(self, index: int, x: Array, mask: NDArray[np.bool_] | None, dtype: DType, causal: bool) -> LayerPass:
        c = self.config
        ftype = x.dtype.type
        b, t, _d = x.shape
        h, d = c.num_heads, c.head_size
        eps = c.layer_norm_eps
        p = f"encoder.layer.{index}."

        def w(name: str) -> Array:
            return self.weights.get(p + name, ftype)

        def heads(y: Array) -> Array:
            # (B, T, D) -> (B, T, H, d) -> (B, H, T, d)
            return y.reshape(b, t, h, d).transpose(0, 2, 1, 3)

        q, k, v = (
            heads(x @ w(f"attention.self.{n}.weight").T + w(f"attention.self.{n}.bias"))
            for n in ("query", "key", "value")
        )
        att = attention(q, k, v, mask=mask, causal=causal, dtype=dtype)
        # (B, H, T, d) -> (B, T, H, d) -> (B, T, D)
        context = att.output.transpose(0, 2, 1, 3).reshape(b, t, c.hidden_size)
        attn_out = context @ w("attention.output.dense.weight").T + w("attention.output.dense.bias")
        y = layer_norm(x + attn_out, w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias"), eps)
        # (B, T, D) -> (B, T, F) -> (B, T, D)
        inner = gelu(y @ w("intermediate.dense.weight").T + w("intermediate.dense.bias"))
        ffn = inner @ w("output.dense.weight").T + w("output.dense.bias")
        out = layer_norm(y + ffn, w("output.LayerNorm.weight"), w("output.LayerNorm.bias"), eps)
        return LayerPass(input=x, attention=att, hidden=out)


class Bert(Architecture):
    """Hugging Face BERT folders: config.json (model_type "bert"), model.safetensors, tokenizer.json."""

    name = BERT
    files = MODEL_FILES

    def recognizes(self, folder: Path) -> bool:
        try:
            raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(raw, dict) and raw.get("model_type", "bert") == "bert"

    def inspect(self, folder: Path) -> ModelInfo:
        config = BertConfig.read(folder)
        BertWeights(folder, config)  # checks every tensor's name and shape (reads headers only)
        return config.info

    def load(self, folder: Path) -> BertEncoder:
        return BertEncoder(folder)


__all__ = [
    "MODEL_FILES",
    "Bert",
    "BertConfig",
    "BertEncoder",
    "BertWeights",
    "EncoderOutput",
    "head_attention",
    "layer_norm",
    "map_stages",
]
