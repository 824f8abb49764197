"""What every model architecture provides, so that `attn explain` and the analysis never name one.

A model is a folder on disk that an `Architecture` (registered in attncli.models.registry) can open:

    Architecture.inspect(folder) -> ModelInfo      the model's description, reading headers only
    Architecture.load(folder)    -> Model          ready to tokenize and run

    Model.info                                     name, architecture, layers, heads, head size, …
    Model.tokenizer.encode(sentence, limit, truncate) -> Tokens   pieces, ids, which pieces form a word
    Model.forward(ids (B, T), padding (B, T)) -> ForwardOutput     every layer's weights (B, H, T, T),
                                                                   the kept layers' full Attention
An architecture implements `embed` (token ids → the first hidden state) and `layer` (one block: its
per-head Q, K, V and mask go to attncli.core.attention.attention, all heads at once); `Model.layers`
walks the blocks and yields one `LayerPass` each, `Model.forward` collects them. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from attncli.core.engine import Attention
from attncli.core.settings import DType
from attncli.errors import InputError, ModelError
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]

# Up to this many tokens (batch × length) the matrix products are tiny: a second BLAS thread only
# costs its start-up and spinning (about 0.1 s of a 0.4 s run on a busy 2-core machine), so use one.
SINGLE_THREAD_UP_TO = 64


@dataclass(frozen=True)
class ModelInfo:
    """A model's description: what `attn model list` and the explain header show."""

    name: str  # the checkpoint's own name (config.json's _name_or_path), else the folder's
    architecture: str  # the registry key of its Architecture: "bert", …
    layers: int  # L, attention blocks
    query_heads: int  # H, heads of Q per layer
    kv_heads: int  # G, heads of K and V per layer (= H without grouped-query attention)
    head_size: int  # d, columns of each head's Q, K and V
    hidden_size: int  # D, numbers per token between the layers
    max_positions: int  # the longest input, in tokens
    vocab_size: int  # pieces the tokenizer knows
    causal: bool = False  # True: a decoder trained with its own causal mask (every forward pass keeps it);
    # the analysis reads this (never the model's name): no next-token role, a probe for induction heads


@dataclass(frozen=True)
class Tokens:
    """A tokenized sentence: the pieces, their ids, and which pieces form each word."""

    pieces: tuple[str, ...]
    ids: NDArray[np.int64]
    words: tuple[int | None, ...]  # the word (0-based) each piece belongs to; None for special pieces
    spans: tuple[tuple[int, int], ...]  # (start, end) character offsets of each piece in the sentence
    special: tuple[bool, ...]  # True for pieces the tokenizer adds ([CLS], [SEP], <s>, …)
    groups: tuple[tuple[int, ...], ...]  # the positions of each word, in order (one per special piece too)
    truncated_from: int | None = None  # the full length, when the sentence was cut to fit
    texts: tuple[str, ...] = ()  # each group's word as written in the sentence ('' for a special piece);
    # empty: the tokenizer's pieces spell the words (WordPiece: attncli.models.tokenize.word_text)

    def __len__(self) -> int:
        return len(self.pieces)

    def is_special(self, i: int) -> bool:
        return self.special[i]


class SentenceTooLong(InputError):
    """A sentence of more tokens than the model takes, which it was not allowed to cut."""

    tokens: int = 0  # how many tokens the sentence has
    limit: int = 0  # how many the model takes

    @classmethod
    def of(cls, tokens: int, limit: int) -> SentenceTooLong:
        message = _("the sentence is {n} tokens long; the model takes at most {limit}").format(n=tokens, limit=limit)
        error = cls(message, argument="sentence")
        error.tokens, error.limit = tokens, limit
        return error


class Tokenizer(Protocol):
    """A model's own tokenizer."""

    kind: str  # how its pieces mark words: attncli.models.words' WORDPIECE, BPE or SENTENCEPIECE

    def encode(self, sentence: str, max_tokens: int, truncate: bool = False) -> Tokens:
        """The sentence's tokens; more than `max_tokens` is an error unless `truncate` (then cut)."""
        ...

    def spelled_out(self, sentence: str, tokens: Tokens) -> list[tuple[str, tuple[str, ...]]]:
        """(word, pieces) for the words the vocabulary could only spell out piece by piece, or not at all."""
        ...


@dataclass(frozen=True)
class LayerPass:
    """One layer's part of a forward pass."""

    input: Array  # (B, T, D), what the layer read: the embeddings' or the previous layer's output
    attention: Attention  # every head at once: (B, H, T, T) weights, q/k/v (B, H, T, d), …
    hidden: Array  # (B, T, D), the layer's output


@dataclass(frozen=True)
class ForwardOutput:
    """What one forward pass produced.

    hidden_states: L + 1 arrays (B, T, D): the embeddings' output, then each layer's output.
    weights: L arrays (B, H, T, T), the attention weights of every layer and head.
    attentions: layer index (0-based) → the engine's full Attention (B, H, T, T) for the layers kept.
    """

    hidden_states: tuple[Array, ...]
    weights: tuple[Array, ...]
    attentions: Mapping[int, Attention]


class Model(ABC):
    """A loaded model: its description, its tokenizer and a forward pass through attncli's engine."""

    folder: Path
    info: ModelInfo
    tokenizer: Tokenizer
    text_prefix = ""  # what the model expects before a text (E5: "passage: "); `attn explain` shows it

    @abstractmethod
    def embed(self, ids: NDArray[np.integer], ftype: type[np.floating]) -> Array:
        """(B, T) token ids → (B, T, D), the input of the first layer."""

    @abstractmethod
    def layer(self, index: int, x: Array, mask: NDArray[np.bool_] | None, dtype: DType, causal: bool) -> LayerPass:
        """Layer `index` (0-based) on x (B, T, D); `mask` (B, 1, 1, T) is True for keys that take part."""

    def layers(
        self, ids: NDArray[np.integer], padding: NDArray[np.bool_] | None, dtype: DType, causal: bool
    ) -> Iterator[LayerPass]:
        """Embed the token ids (B, T), then run the layers in order, yielding each one's LayerPass."""
        ftype: type[np.floating] = np.float64 if dtype == "float64" else np.float32
        x = self.embed(ids, ftype)
        # (B, 1, 1, T): every query of every head may attend to the real (non-padding) keys
        mask = None if padding is None else np.asarray(padding, dtype=bool)[:, None, None, :]
        for i in range(self.info.layers):
            step = self.layer(i, x, mask, dtype, causal)
            x = step.hidden
            yield step

    def attention_nbytes(self, tokens: int, dtype: str, kept_layers: int) -> int:
        """Bytes of one forward pass's attention arrays: every layer's weights (H, T, T), and every stage
        of the `kept_layers` whose stages are returned."""
        from attncli.core.memory import tables_nbytes

        cells = self.info.query_heads * tokens * tokens
        return self.info.layers * cells * np.dtype(dtype).itemsize + kept_layers * tables_nbytes(cells, dtype)

    def forward(
        self,
        ids: NDArray[np.integer],
        padding: NDArray[np.bool_] | None = None,
        *,
        dtype: DType = "float32",
        causal: bool = False,
        keep: Container[int] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> ForwardOutput:
        """Run the model on token ids (B, T); `padding` (B, T) is True for real tokens, False for padding.

        `progress(layers done, layers)` is called after every layer (for a progress bar on long input).

        `keep` names the layers (0-based) whose every attention stage is returned; the others keep
        only their weights, so a long sentence does not hold L × 10 stages of (B, H, T, T) in memory.
        `causal` adds a causal mask (which an encoder was not trained with: for demonstration).
        """
        info = self.info
        ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
        b, t = ids.shape
        if t > info.max_positions:
            message = _("{t} tokens is more than the model's {limit} positions").format(t=t, limit=info.max_positions)
            raise ModelError(message, argument="sentence")
        if ids.min() < 0 or ids.max() >= info.vocab_size:
            raise ModelError(_("token ids must lie in 0…{last}").format(last=info.vocab_size - 1), argument="sentence")
        if b * t <= SINGLE_THREAD_UP_TO:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="blas"):
                return self._collect(ids, padding, dtype, causal, keep, progress)
        return self._collect(ids, padding, dtype, causal, keep, progress)

    def _collect(
        self,
        ids: NDArray[np.integer],
        padding: NDArray[np.bool_] | None,
        dtype: DType,
        causal: bool,
        keep: Container[int],
        progress: Callable[[int, int], None] | None,
    ) -> ForwardOutput:
        hidden: list[Array] = []
        weights: list[Array] = []
        kept: dict[int, Attention] = {}
        for i, step in enumerate(self.layers(ids, padding, dtype, causal)):
            if not hidden:
                hidden.append(step.input)
            weights.append(step.attention.weights)
            if i in keep:
                kept[i] = step.attention
            hidden.append(step.hidden)
            if progress is not None:
                progress(i + 1, self.info.layers)
        return ForwardOutput(hidden_states=tuple(hidden), weights=tuple(weights), attentions=kept)


class Architecture(ABC):
    """One kind of model: how to recognise its folder, describe it and load it."""

    name: str  # the registry key, as in ModelInfo.architecture
    files: tuple[str, ...]  # the files a folder of this kind must hold

    @abstractmethod
    def recognizes(self, folder: Path) -> bool:
        """Whether `folder` looks like a model of this kind (cheap: file names, a header)."""

    @abstractmethod
    def inspect(self, folder: Path) -> ModelInfo:
        """The model's description, every weight's name and shape checked (headers only, no tensor read)."""

    @abstractmethod
    def load(self, folder: Path) -> Model:
        """The model, ready to run (ModelError naming the file when something is wrong)."""


def map_stages(att: Attention, part: Callable[[Any], Any], **fixed: Any) -> Attention:
    """A copy of `att` with `part` applied to every array stage; `fixed` overrides fields (mask, q, …)."""
    names: tuple[str, ...] = ("q", "k", "v", "allowed", "scores", "scaled", "capped", "masked", "row_max")
    names = (*names, "shifted", "exp", "row_sum", "sink_weight")
    arrays = {n: None if getattr(att, n) is None else part(getattr(att, n)) for n in (*names, "weights", "output")}
    return dataclasses.replace(att, **{**arrays, **fixed})


def head_attention(att: Attention, batch: int, head: int) -> Attention:
    """One (batch, head) slice of a batched Attention (B, H, T, S), as a 2-D Attention the renderers show."""

    def part(a: Any) -> Any:
        lead = a.shape[:-2]
        # leading dims of size 1 (a (B, 1, 1, S) mask) broadcast: take their only entry
        idx = tuple(0 if n == 1 else i for i, n in zip((batch, head)[2 - len(lead) :], lead, strict=True))
        return a[idx] if lead else a

    t = att.scores.shape[-2]
    return map_stages(
        att,
        part,
        mask=None if att.mask is None else part(att.mask),
        empty_rows=tuple((e[-1],) for e in att.empty_rows if tuple(e[:2]) == (batch, head) and e[-1] < t),
    )
