"""What `attn explain` says about attention weights, as plain data. Nothing here prints.

- which layer and head to show when the user does not say, and why
- the plain-language reading: for a query token, the tokens that get the most weight
- a pattern label per head (self, previous, next, [CLS], [SEP], broad) for the overview
- own-embeddings mode: Unicode-aware word splitting and the word → vector file
- the one path from a model and a sentence to what is shown: `plan` (tokens, the layer and head asked
  for, the query rows), then `run` (the forward pass, the head chosen and why, its Attention and
  readings, or the overview of many heads); `explain` is that path for Python callers

Errors name the parameters ("sentence", "query", "layer", "embeddings"); the CLI says which flag.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.core.display import Displayable
from attncli.errors import InputError
from attncli.i18n import _, ngettext
from attncli.models.tokenize import word_groups, word_text

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.core.engine import Attention
    from attncli.core.settings import DType
    from attncli.models.base import Model, Tokens

    Array = NDArray[np.floating]


PATTERN_SHARE = 0.5  # a head gets a label when at least this share of its weight follows one pattern
BROAD_ENTROPY = 0.8  # …or "broad" when its rows' entropy is at least this share of the uniform maximum
MIN_PAIR = 0.01  # weaker word → word pairs are not worth naming in the overview
CLS, SEP = "[CLS]", "[SEP]"
FIRST_TOKEN = "first token"  # the overview's pattern of a head whose weight goes to a prompt's first word

# A word: letters/digits/marks of any script, joined by inner apostrophes or hyphens (don't, well-known,
# Жар-птица). Everything else (spaces, punctuation, symbols) separates words.
_WORD = re.compile(r"[^\W_](?:[\w\u0300-\u036f]|['’\-](?=[^\W_]))*")


@dataclass(frozen=True)
class Choice:
    """A layer and head (0-based) and why they were picked."""

    layer: int
    head: int
    reason: str


@dataclass(frozen=True)
class Reading:
    """One query token and its most-weighted keys, best first."""

    query: int
    keys: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class HeadSummary:
    """One head in the overview: its pattern (or None) and its strongest word-to-word pairs."""

    layer: int
    head: int
    pattern: str | None
    share: float | None  # how much of the weight follows the pattern (mean over query rows); None without one
    pairs: tuple[tuple[int, int, float], ...]  # (query, key, weight)


Words = Sequence[tuple[str, Sequence[int]]]  # (a word as written, its token positions), in order


def pieces_words(pieces: Sequence[str], special: Sequence[bool]) -> list[tuple[str, list[int]]]:
    """The words of WordPiece pieces ('##' continues a word), each with its positions."""
    return [(word_text(pieces, g), g) for g in word_groups(pieces, special)]


def read_row(
    weights: Array, query: int, pieces: Sequence[str], special: Sequence[bool], top: int = 3, words: Words | None = None
) -> Reading:
    """The `top` keys that `query` gives most weight to, pieces of one word added up into the word
    (`words`: the tokenizer's own words; else WordPiece's)."""
    row = weights[query]
    groups = words if words is not None else pieces_words(pieces, special)
    scored = [(text or pieces[g[0]], float(row[list(g)].sum())) for text, g in groups]
    scored = sorted((kv for kv in scored if kv[1] > 0), key=lambda kv: -kv[1])  # masked keys get 0: skip them
    return Reading(query=query, keys=tuple(scored[:top]))


def _content_mask(special: Sequence[bool], t: int) -> NDArray[np.bool_]:
    """(T, T) True where query i and key j are both ordinary tokens, not the same and not neighbours."""
    content = ~np.asarray(special, dtype=bool)
    i, j = np.indices((t, t))
    out: NDArray[np.bool_] = content[:, None] & content[None, :] & (np.abs(i - j) > 1)
    return out


def special_names(pieces: Sequence[str], special: Sequence[bool]) -> str:
    """The special pieces of a sentence as the head choice names them: '[CLS]/[SEP]', '<s>/</s>'."""
    names = list(dict.fromkeys(p for p, sp in zip(pieces, special, strict=True) if sp))
    return "/".join(names) if names else f"{CLS}/{SEP}"


def choose_head(
    weights: Sequence[Array],
    special: Sequence[bool],
    layers: Sequence[int],
    heads: Sequence[int],
    skipped: Sequence[str] = (CLS, SEP),
) -> Choice:
    """Of the given layers × heads, the head whose ordinary tokens look hardest at other words.

    "Other words" excludes the `special` tokens ([CLS]/[SEP]; a decoder's first token), the token itself
    and its neighbours: most heads park their weight there whatever the sentence says, while a head that
    links distant words shows something about this sentence. `weights`: per layer (H, T, T) for one
    sentence; `skipped`: how the reason names the special tokens.
    """
    t = weights[0].shape[-1]
    links = _content_mask(special, t)
    rows = links.any(axis=1)
    if not rows.any():
        layer = layers[len(layers) // 2]
        return Choice(
            layer,
            heads[0],
            _("the sentence is too short for word-to-word links, so layer {layer}, head {head}").format(
                layer=layer + 1, head=heads[0] + 1
            ),
        )
    best: tuple[float, int, int] = (-1.0, 0, 0)
    for li in layers:
        for hi in heads:
            # the largest weight each query row puts on a linked word, averaged over those rows
            score = float(np.where(links, weights[li][hi], 0.0).max(axis=-1)[rows].mean())
            if score > best[0]:
                best = (score, li, hi)
    score, layer, head = best
    n = len(layers) * len(heads)
    if n > 1:
        reason = ngettext(
            "of the {n} head, its words put the most weight on another word of the sentence "
            "(not {special}themselves or a neighbour): {score:.2f} on average",
            "of the {n} heads, its words put the most weight on another word of the sentence "
            "(not {special}themselves or a neighbour): {score:.2f} on average",
            n,
        )
    else:
        reason = _(
            "the only candidate, its words put the most weight on another word of the sentence "
            "(not {special}themselves or a neighbour): {score:.2f} on average"
        )
    return Choice(layer, head, reason.format(n=n, score=score, special="".join(f"{name}, " for name in skipped)))


def summarize_head(
    weights: Array,
    layer: int,
    head: int,
    special: Sequence[bool],
    pieces: Sequence[str],
    pairs: int = 3,
    first: str | None = None,
) -> HeadSummary:
    """Pattern label and strongest word-to-word pairs of one head's (T, T) weights; the pairs skip the
    `special` tokens. `first`: the name of the pattern of the first token (default: its special piece)."""
    t = weights.shape[-1]
    sp = np.asarray(special, dtype=bool)
    idx = np.arange(t)
    shares = {
        "self": float(weights[idx, idx].mean()),
        "previous token": float(weights[idx[1:], idx[1:] - 1].mean()) if t > 1 else 0.0,
        "next token": float(weights[idx[:-1], idx[:-1] + 1].mean()) if t > 1 else 0.0,
        # the sentence's ends, named after their special piece ([CLS], <s>, [SEP], </s>); a decoder's prompt
        # starts with a word, where its heads park their weight: "first token"
        first or (pieces[0] if sp[0] else FIRST_TOKEN): float(weights[:, 0].mean()),
    }
    if t > 1 and sp[-1]:
        shares[pieces[-1]] = float(weights[:, -1].mean())
    name, best = max(shares.items(), key=lambda kv: kv[1])
    pattern: str | None = None
    share: float | None = None
    if best >= PATTERN_SHARE:
        pattern, share = name, best
    elif t > 1:
        # entropy of each row as a share of the uniform row's log T: 1 = weight spread evenly
        entropy = -(weights * np.log(np.where(weights > 0, weights, 1.0))).sum(axis=-1)
        spread = float(entropy.mean() / math.log(t))
        if spread >= BROAD_ENTROPY:
            pattern, share = "broad", spread
    links = _content_mask(special, t)
    flat = np.where(links, weights, -1.0).ravel()
    order = np.argsort(-flat, kind="stable")[:pairs]
    top = tuple((int(k // t), int(k % t), float(flat[k])) for k in order if flat[k] >= MIN_PAIR)
    return HeadSummary(layer, head, pattern, share, top)


def find_query(
    query: str, labels: Sequence[str], pieces: Sequence[str], special: Sequence[bool], words: Words | None = None
) -> list[int]:
    """Token positions that `query` names: a token ('tower', '##iff', '[CLS]') or a whole word ('eiffel',
    or with `words` any word as written in the sentence: 'фильм', typed in NFC or NFD).

    Matching ignores case; every occurrence counts. Unknown → InputError listing the tokens.
    """
    from attncli.models.words import same_word

    wanted = query.strip().casefold()
    hits = [i for i, label in enumerate(labels) if label.casefold() == wanted]
    if not hits:
        for text, group in words if words is not None else pieces_words(pieces, special):
            if (len(group) > 1 or words is not None) and same_word(query, text):
                hits.extend(group)
    if not hits:
        message = _("{query!r} is not a token of the sentence; the tokens are: {tokens}")
        raise InputError(message.format(query=query, tokens=" ".join(labels)), argument="query")
    return hits


def parse_index(text: str | None, name: str, count: int, unit: str) -> int | None:
    """A layer or head as the user wrote it: a 1-based number, 'all' (→ ALL) or None (choose for me);
    errors name `name`."""
    if text is None:
        return None
    if text.strip().lower() == "all":
        return ALL
    try:
        value = int(text)
    except ValueError:
        message = _("expected a number 1…{count} or 'all', got {text!r}").format(count=count, text=text)
        raise InputError(message, argument=name) from None
    if not 1 <= value <= count:
        message = _("{value} is out of range: this model has {unit} 1…{count}")
        raise InputError(message.format(value=value, unit=unit, count=count), argument=name)
    return value - 1


# ---- own embeddings -------------------------------------------------------------------------------


def split_words(sentence: str) -> list[str]:
    """Words of any script; punctuation and spaces separate them ('Этот фильм, правда!' → 3 words). The
    sentence is read in Unicode's composed form (NFC), so that a combining mark stays in its word."""
    import unicodedata

    return _WORD.findall(unicodedata.normalize("NFC", sentence))


@dataclass(frozen=True)
class Embeddings:
    """A word → vector table read from a JSON file."""

    vectors: dict[str, tuple[float, ...]]
    dim: int
    title: str | None
    path: Path

    def lookup(self, words: Sequence[str]) -> NDArray[np.float64]:
        """(n_words, dim): each word's vector, matched exactly or else ignoring case, in Unicode's composed
        form (NFC) either way: и + U+0306 is й."""
        import unicodedata

        def nfc(text: str) -> str:
            return unicodedata.normalize("NFC", text)

        composed = {nfc(w): w for w in self.vectors}
        folded = {nfc(w).casefold(): w for w in self.vectors}
        rows = []
        for word in words:
            key = composed.get(nfc(word)) or folded.get(nfc(word).casefold())
            if key is None:
                known = ", ".join(sorted(self.vectors))
                message = _("the word {word!r} is not in {path}; known words: {known}")
                raise InputError(message.format(word=word, path=self.path, known=known), argument="sentence")
            rows.append(self.vectors[key])
        return np.array(rows, dtype=np.float64)


def load_embeddings(path: Path, arg: str = "embeddings") -> Embeddings:
    """{"word": [numbers…], …} or {"title": …, "embeddings": {"word": [numbers…], …}}; errors name `arg`."""
    from attncli.parse.matrix import json_number, loads_json, read_text

    doc: Any = loads_json(read_text(path, arg), f"{arg} ({path})")
    title = None
    if isinstance(doc, dict) and isinstance(doc.get("embeddings"), dict):
        title = doc.get("title") if isinstance(doc.get("title"), str) else None
        doc = doc["embeddings"]
    if not isinstance(doc, dict) or not doc:
        raise InputError(_("{path}: expected a JSON object mapping words to vectors").format(path=path), argument=arg)
    vectors: dict[str, tuple[float, ...]] = {}
    dim: int | None = None
    for word, vector in doc.items():
        ok = (
            isinstance(vector, list)
            and vector
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector)
        )
        if not ok:
            message = _("{path}: the vector of {word!r} should be a non-empty list of numbers")
            raise InputError(message.format(path=path, word=word), argument=arg)
        numbers = [json_number(x) for x in vector]  # None: out of float range (JSON integers are unbounded)
        if any(x is None for x in numbers):
            message = _("{path}: the vector of {word!r} holds a non-finite number").format(path=path, word=word)
            raise InputError(message, argument=arg)
        values = tuple(x for x in numbers if x is not None)
        if dim is not None and len(values) != dim:
            message = _("{path}: {word!r} has {n} numbers, the others {dim}")
            raise InputError(message.format(path=path, word=word, n=len(values), dim=dim), argument=arg)
        dim = len(values)
        vectors[word] = values
    assert dim is not None
    return Embeddings(vectors, dim, title, path)


@dataclass(frozen=True)
class Explanation(Displayable):
    """One head's attention over a sentence, as `attn explain` shows it (layer and head 1-based)."""

    sentence: str
    tokens: tuple[str, ...]  # WordPiece pieces, [CLS] and [SEP] included
    layer: int
    head: int
    reason: str | None  # why this layer and head, when they were chosen for you
    attention: Any  # attncli.core.engine.Attention of that head: q, k, v, scores, …, weights, output (T × ·)
    readings: tuple[Reading, ...]  # for every token, the words it gives most weight to


# ---- the model path: plan, then run --------------------------------------------------------------

ALL = -1  # a layer or head of ALL: every one (an overview)
KEEP_EVERY_LAYER_UP_TO = 128  # tokens: longer sentences keep the stages of one layer only


def check_sentence(sentence: str) -> None:
    if not sentence.strip():
        raise InputError(_("the sentence is empty"), argument="sentence")


@dataclass(frozen=True)
class Plan:
    """What to compute for one sentence: the model, its tokens, the layer and head asked for (0-based,
    ALL for every one, None to choose) and the query rows to focus on (None: every token)."""

    model: Model
    sentence: str  # as the model reads it: the prefix, then the sentence
    tokens: Tokens
    layer: int | None
    head: int | None
    rows: tuple[int, ...] | None = None
    prefix: str = ""  # the text put before the user's sentence (E5's "passage: "), part of `sentence`

    @property
    def pieces(self) -> list[str]:
        return list(self.tokens.pieces)

    @property
    def special(self) -> list[bool]:
        return list(self.tokens.special)

    @property
    def overview(self) -> bool:
        return ALL in (self.layer, self.head)

    @property
    def words(self) -> Words | None:
        """The tokenizer's own words (as written) with their positions; None: WordPiece's from the pieces."""
        return tuple(zip(self.tokens.texts, self.tokens.groups, strict=True)) if self.tokens.texts else None

    def focus(self, query: str) -> Plan:
        """The plan for the query token(s) `query` names (a token, or a whole word)."""
        return replace(self, rows=tuple(find_query(query, self.pieces, self.pieces, self.special, self.words)))

    def keep(self) -> Container[int]:
        """The layers whose every stage the forward pass keeps: all of them only while that is small (a
        long sentence runs a second pass for the one layer shown)."""
        if self.overview:
            return ()
        if len(self.tokens) <= KEEP_EVERY_LAYER_UP_TO:
            return range(self.model.info.layers)
        return {self.layer} if self.layer is not None else ()

    def attention_nbytes(self, dtype: str) -> int:
        """Bytes of the attention arrays the forward pass will hold."""
        kept = 0 if self.overview else self.model.info.layers if len(self.tokens) <= KEEP_EVERY_LAYER_UP_TO else 1
        return self.model.attention_nbytes(len(self.tokens), dtype, kept)


def plan(
    model: Model,
    sentence: str,
    *,
    layer: int | None,
    head: int | None,
    truncate: bool = False,
    prefix: str | None = None,
) -> Plan:
    """Tokenize `prefix` + `sentence` for `model` (`prefix` None: the model's own, E5's "passage: ");
    `layer` and `head` are 0-based, ALL, or None (choose)."""
    check_sentence(sentence)
    before = model.text_prefix if prefix is None else prefix
    text = before + sentence
    tokens = model.tokenizer.encode(text, model.info.max_positions, truncate)
    return Plan(model, text, tokens, layer, head, prefix=before)


@dataclass(frozen=True)
class HeadView:
    """One head of the model over the sentence: which (0-based) and why, its Attention, the readings."""

    plan: Plan
    layer: int
    head: int
    reason: str | None  # why this layer and head, when they were chosen; None when both were given
    attention: Attention  # that head's stages, every query row (T × ·)
    readings: tuple[Reading, ...]  # for the focused rows, or every token
    last_hidden: Array | None = None  # (D,) the last layer's output at the last token (a decoder predicts from it)


@dataclass(frozen=True)
class Overview:
    """Many heads at once: a pattern and the strongest pairs of each."""

    plan: Plan
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    layer_chosen: bool  # the one layer is that of the default head (no layer was asked for)
    summaries: tuple[HeadSummary, ...]
    weights: tuple[Array, ...]  # per layer (H, T, T)


def run(
    plan: Plan,
    *,
    dtype: DType = "float32",
    causal: bool = False,
    top: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> HeadView | Overview:
    """The forward pass of the plan's model, then the head (chosen when not given) or the overview."""
    ids = plan.tokens.ids[None, :]
    out = plan.model.forward(ids, None, dtype=dtype, causal=causal, keep=plan.keep(), progress=progress)
    weights = tuple(w[0] for w in out.weights)  # per layer (H, T, T)
    # a decoder parks its weight on the first token (an "attention sink") as an encoder does on [SEP]:
    # set it aside as special when choosing a head
    decoder = plan.model.info.causal
    special = [True, *plan.special[1:]] if decoder else plan.special
    named = [special_names(plan.pieces, plan.special)] if any(plan.special) else []
    skipped = ([_("the first token")] if decoder else []) + named
    every_layer, every_head = range(plan.model.info.layers), range(plan.model.info.query_heads)
    layer, head = plan.layer, plan.head
    if plan.overview:
        chosen = layer is None
        if layer is None:  # every head: of the layer the default choice lands in
            layer = choose_head(weights, special, every_layer, every_head, skipped).layer
        layers = tuple(every_layer) if layer == ALL else (layer,)
        heads = tuple(every_head) if head in (ALL, None) else (head,)
        summaries = tuple(
            summarize_head(weights[li][hi], li, hi, special, plan.pieces, first=FIRST_TOKEN if decoder else None)
            for li in layers
            for hi in heads
        )
        return Overview(plan, layers, heads, chosen, summaries, weights)
    reason = None
    if layer is None or head is None:
        choice = choose_head(
            weights,
            special,
            [layer] if layer is not None else list(every_layer),
            [head] if head is not None else list(every_head),
            skipped,
        )
        layer, head, reason = choice.layer, choice.head, choice.reason
    if layer not in out.attentions:
        out = plan.model.forward(ids, None, dtype=dtype, causal=causal, keep={layer})
    from attncli.models.base import head_attention

    att = head_attention(out.attentions[layer], 0, head)
    rows = plan.rows if plan.rows is not None else range(len(plan.tokens))
    readings = tuple(read_row(att.weights, i, plan.pieces, plan.special, top, plan.words) for i in rows)
    return HeadView(plan, layer, head, reason, att, readings, out.hidden_states[-1][0, -1])


def explain(
    sentence: str,
    *,
    layer: int | None = None,
    head: int | None = None,
    model: str | Path | None = None,
    dtype: str = "float32",
    causal: bool = False,
    truncate: bool = False,
    top: int = 3,
    prefix: str | None = None,
) -> Explanation:
    """Run the pretrained encoder (all-MiniLM-L6-v2, or the model folder `model`) on `sentence` and
    return one head's attention with a reading. `layer` and `head` are 1-based; when not given they
    are chosen as `attn explain` chooses them (the head whose words look hardest at other words).
    `prefix` goes before the sentence (None: the model's own: "passage: " for multilingual-e5-small,
    nothing for the others); `Explanation.sentence` is the text the model read.

    >>> e = explain("The miniature Eiffel tower is a toy")      # doctest: +SKIP
    >>> e.layer, e.head, e.readings[6]                           # doctest: +SKIP
    """
    from attncli.models.locate import resolve
    from attncli.models.registry import load

    check_sentence(sentence)
    loaded = load(resolve(None if model is None else str(model)).folder)
    for value, name, count in ((layer, "layer", loaded.info.layers), (head, "head", loaded.info.query_heads)):
        if value is not None and not 1 <= value <= count:
            raise InputError(_("must be 1…{count}, got {value}").format(count=count, value=value), argument=name)
    asked = plan(
        loaded,
        sentence,
        layer=None if layer is None else layer - 1,
        head=None if head is None else head - 1,
        truncate=truncate,
        prefix=prefix,
    )
    shown = run(asked, dtype=dtype, causal=causal, top=top)  # type: ignore[arg-type]
    assert isinstance(shown, HeadView)
    return Explanation(
        asked.sentence,
        asked.tokens.pieces,
        shown.layer + 1,
        shown.head + 1,
        shown.reason,
        shown.attention,
        shown.readings,
    )


__all__ = [
    "ALL",
    "Choice",
    "Embeddings",
    "Explanation",
    "HeadSummary",
    "HeadView",
    "Overview",
    "Plan",
    "Reading",
    "choose_head",
    "explain",
    "find_query",
    "load_embeddings",
    "parse_index",
    "plan",
    "read_row",
    "run",
    "special_names",
    "split_words",
    "summarize_head",
    "word_groups",
    "word_text",
]
