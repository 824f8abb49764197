"""Across heads: words as a person reads them, which head links two words, one query in many heads.

Word-level rule (used everywhere a person reads, pieces on request): the weight a query word gives a
key word is the *sum* over the key word's pieces (the key pieces share the row's weight) of the
*mean* over the query word's pieces (each piece of the query is a row of its own). Rows still sum to 1.
When a word occurs more than once, the query is the mean over its occurrences, the key their sum.

Pure NumPy over one forward pass's weights: per layer (H, T, T), or all layers as (L, H, T, T).
Errors name the parameters ("query", "key"); the CLI says which flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.analysis.explanation import find_query
from attncli.errors import InputError
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.models.base import Tokens

    Array = NDArray[np.floating]


@dataclass(frozen=True)
class Units:
    """What a person reads: words (default) or pieces, each a group of token positions with a label."""

    labels: tuple[str, ...]
    positions: tuple[tuple[int, ...], ...]
    special: tuple[bool, ...]
    words: bool  # True: words (pieces joined); False: one unit per piece

    def __len__(self) -> int:
        return len(self.labels)

    def membership(self, t: int) -> NDArray[np.float64]:
        """(T, U): 1 where token position i belongs to unit u."""
        m = np.zeros((t, len(self)))
        for u, group in enumerate(self.positions):
            m[list(group), u] = 1.0
        return m


def units(sentence: str, tokens: Tokens, *, words: bool = True) -> Units:
    """The sentence's words (as written in it, from the pieces' character spans) or its pieces."""
    if not words:
        n = len(tokens)
        return Units(tuple(tokens.pieces), tuple((i,) for i in range(n)), tuple(tokens.special), False)
    labels = []
    for n, group in enumerate(tokens.groups):
        first, last = group[0], group[-1]
        if tokens.texts and tokens.texts[n]:
            labels.append(tokens.texts[n])  # the tokenizer's own words as written
        elif tokens.special[first] or tokens.spans[first][1] <= tokens.spans[first][0]:
            labels.append(tokens.pieces[first])
        else:
            labels.append(sentence[tokens.spans[first][0] : tokens.spans[last][1]].strip())  # BPE: ' brown'
    special = tuple(all(tokens.special[i] for i in g) for g in tokens.groups)
    return Units(tuple(labels), tuple(tuple(g) for g in tokens.groups), special, True)


def aggregate(weights: Array, of: Units) -> NDArray[np.float64]:
    """(..., T, T) weights → (..., U, U): rows the mean over a unit's pieces, columns the sum."""
    t = weights.shape[-1]
    m = of.membership(t)
    rows = m / m.sum(axis=0, keepdims=True)
    out: NDArray[np.float64] = rows.T @ np.asarray(weights, dtype=np.float64) @ m
    return out


def pick(text: str, of: Units, tokens: Tokens, argument: str) -> tuple[int, ...]:
    """The units `text` names: a word (any case) or, failing that, a piece (then the word it is in)."""
    from attncli.models.words import same_word

    if of.words:
        hits = tuple(u for u, label in enumerate(of.labels) if same_word(text, label))
        if hits:
            return hits
    try:
        positions = find_query(text, tokens.pieces, tokens.pieces, tokens.special)
    except InputError:
        shown = " ".join(of.labels)
        if of.words:
            message = _("{text!r} is not a word of the sentence; the words are: {words}")
        else:
            message = _("{text!r} is not a token of the sentence; the tokens are: {words}")
        raise InputError(message.format(text=text, words=shown), argument=argument) from None
    return tuple(u for u, group in enumerate(of.positions) if set(group) & set(positions))


@dataclass(frozen=True)
class Link:
    """One head's weight from the query to the key (layer and head 0-based)."""

    layer: int
    head: int
    weight: float
    rank: int  # 1 = the key the query gives most weight to, in this head
    keys: int  # how many keys the key was ranked among


def query_rows(weights: Array, of: Units, query: Sequence[int]) -> NDArray[np.float64]:
    """(L, H, T, T) → (L, H, U): the query's word-level row in every head (mean over its occurrences)."""
    agg = aggregate(weights, of)
    out: NDArray[np.float64] = agg[..., list(query), :].mean(axis=-2)
    return out


def search(weights: Array, of: Units, query: Sequence[int], key: Sequence[int]) -> list[Link]:
    """Every layer × head of `weights` (L, H, T, T), ranked by the weight from `query` to `key` (units).

    The key's occurrences count as one key; its rank is 1 + the number of other units weighted more.
    """
    rows = query_rows(weights, of, query)  # (L, H, U)
    key_set = sorted(set(key))
    to_key = rows[..., key_set].sum(axis=-1)  # (L, H)
    others = np.delete(rows, key_set, axis=-1)  # (L, H, U - k)
    ranks = 1 + (others > to_key[..., None]).sum(axis=-1)
    n_keys = others.shape[-1] + 1
    links = [
        Link(li, hi, float(to_key[li, hi]), int(ranks[li, hi]), n_keys)
        for li in range(rows.shape[0])
        for hi in range(rows.shape[1])
    ]
    return sorted(links, key=lambda k: (-k.weight, k.layer, k.head))


MIN_PAIR = 0.01  # weaker word → word pairs are not worth naming


def word_pairs(weights: Array, of: Units, n: int = 3, sink: bool = False) -> tuple[tuple[int, int, float], ...]:
    """The n strongest (query unit, key unit, weight) of one head's (T, T) weights, read as `of` (words by
    default): neither unit special, not the same unit, nor neighbours. `sink`: the first unit is a
    decoder's attention sink, skipped as the special units are."""
    agg = aggregate(weights, of)
    u = len(of)
    content = ~np.asarray(of.special, dtype=bool)
    if sink:
        content[0] = False
    i, j = np.indices((u, u))
    flat = np.where(content[:, None] & content[None, :] & (np.abs(i - j) > 1), agg, -1.0).ravel()
    order = np.argsort(-flat, kind="stable")[:n]
    return tuple((int(k // u), int(k % u), float(flat[k])) for k in order if flat[k] >= MIN_PAIR)


__all__ = ["Link", "Units", "aggregate", "pick", "query_rows", "search", "units", "word_pairs"]
