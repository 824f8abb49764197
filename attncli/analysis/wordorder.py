"""Own embeddings through (multi-head) attention with positions, and the same sentence in another word order.

Without positions attention is permutation-equivariant: Q·Kᵀ, the softmax along each row and weights·V
only move rows and columns when the words move, so each word's output is the same in any order (its
row has moved). Sinusoidal encodings are added by place, RoPE rotates q and k by place: with either,
a word's output depends on where it stands.

    >>> import numpy as np
    >>> from attncli.core.positions import Positions
    >>> emb = np.array([[0.1, 0.2], [0.2, 0.9], [0.9, 0.3]])
    >>> w = compare_orders(emb, (2, 1, 0), Positions(positional="sinusoidal"))
    >>> w.plain.rows_permuted, w.placed is not None and w.placed.rows_permuted
    (True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.multihead import MultiHead, multi_head_attention
from attncli.core.positions import Positions
from attncli.errors import InputError
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.core.settings import DType

    Array = NDArray[np.floating]

PERMUTATIONS = ("reverse", "random")  # the named word orders; otherwise the positions, "3 1 2"


def permutation(spec: str, n: int, seed: int | None = None) -> tuple[int, ...]:
    """The new word order as 0-based indices (the word at new place p is old word order[p]), from
    "3 1 2" (1-based places, each once; commas allowed), "reverse" or "random" (with `seed`, default 0).
    Errors name `permute` (and `seed`)."""
    text = spec.strip()
    if seed is not None and text.casefold() != "random":
        raise InputError(_("goes with a random order only"), argument="seed")
    if n < 2:
        raise InputError(_("needs a sentence of at least 2 words: one word has no other order"), argument="permute")
    if text.casefold() == "reverse":
        return tuple(range(n - 1, -1, -1))
    if text.casefold() == "random":
        rng = np.random.default_rng(0 if seed is None else seed)
        order = tuple(range(n))
        while order == tuple(range(n)):  # another order, always: drawn again while every word keeps its place
            order = tuple(int(i) for i in rng.permutation(n))
        return order
    parts = text.replace(",", " ").split()
    named = _("reverse, random, or the new order of the {n} words' places (e.g. {example})").format(
        n=n, example=" ".join(str(i) for i in range(n, 0, -1))
    )
    if not parts:
        raise InputError(_("is empty: give {named}").format(named=named), argument="permute")
    if len(parts) == 1 and not parts[0].isdigit():
        raise InputError(_("got {value!r}: give {named}").format(value=parts[0], named=named), argument="permute")
    places: list[int] = []
    for k, part in enumerate(parts, 1):
        if not part.isdigit() or not 1 <= int(part) <= n:
            message = _("item {k} is {value!r}, not a place 1…{n}: give {named}")
            raise InputError(message.format(k=k, value=part, n=n, named=named), argument="permute")
        places.append(int(part))
    if len(places) != n:
        message = _("has {given} places for {n} words: give each place 1…{n} once")
        raise InputError(message.format(given=len(places), n=n), argument="permute")
    repeated = sorted({p for p in places if places.count(p) > 1})
    if repeated:
        missing = sorted(set(range(1, n + 1)) - set(places))
        message = _("is not a permutation: {repeated} appears twice and {missing} not at all; give each place once")
        raise InputError(message.format(repeated=repeated[0], missing=", ".join(map(str, missing))), argument="permute")
    if places == sorted(places):
        message = _("{order} leaves every word in its place: give another order (e.g. {example})")
        raise InputError(
            message.format(order=text, example=" ".join(str(i) for i in range(n, 0, -1))), argument="permute"
        )
    return tuple(p - 1 for p in places)


def embeddings_attention(
    emb: Array,
    positions: Positions,
    weights: Mapping[str, Array | None] | None = None,
    heads: int = 1,
    dtype: DType = "float64",
    causal: bool = False,
) -> MultiHead:
    """Multi-head self-attention over the embeddings (n, d), as `attn compute --x` does it: the given
    projections (wq, wk, wv; a missing one is the identity, Q = E), else identity projections split into
    `heads`; sinusoidal encodings added to E, RoPE on q and k, as `positions` say; a causal mask."""
    given = {n: w for n, w in (weights or {}).items() if w is not None}
    if given:
        eye = np.eye(emb.shape[1])
        given = {n: given.get(n, eye) for n in ("wq", "wk", "wv")}
    wq, wk, wv = (given.get(n) for n in ("wq", "wk", "wv"))
    return multi_head_attention(emb, heads=heads, positions=positions, dtype=dtype, causal=causal, wq=wq, wk=wk, wv=wv)


@dataclass(frozen=True)
class OrderRun:
    """One setting (without or with positions) in both word orders."""

    positions: Positions
    original: MultiHead  # the sentence as given
    moved: MultiHead  # the words in the new order
    order: tuple[int, ...]

    @property
    def per_word(self) -> Array:
        """For each word of the sentence as given: the largest |change| of its output when it moves."""
        back = self.moved.output[np.argsort(self.order)]  # the moved outputs, back in the words' first order
        change: Array = np.abs(back - self.original.output).max(axis=-1)
        return change

    @property
    def max_difference(self) -> float:
        return float(self.per_word.max())

    @property
    def rows_permuted(self) -> bool:
        """The moved sentence's outputs are the first sentence's rows, permuted (to rounding)."""
        scale = max(1.0, float(np.abs(self.original.output).max()))
        return self.max_difference <= 1e3 * float(np.finfo(self.original.output.dtype).eps) * scale


@dataclass(frozen=True)
class WordOrder:
    """The same words in two orders, without positions and (when asked) with them."""

    order: tuple[int, ...]
    plain: OrderRun
    placed: OrderRun | None


def compare_orders(
    emb: Array,
    order: tuple[int, ...],
    positions: Positions,
    weights: Mapping[str, Array | None] | None = None,
    heads: int = 1,
    dtype: DType = "float64",
) -> WordOrder:
    """Attention over `emb` and over its rows in `order`, without positions and with `positions` (None
    when they hold none)."""
    moved = emb[list(order)]

    def run(p: Positions) -> OrderRun:
        return OrderRun(
            positions=p,
            original=embeddings_attention(emb, p, weights, heads, dtype),
            moved=embeddings_attention(moved, p, weights, heads, dtype),
            order=order,
        )

    none = replace(positions, positional="none", rope=False)
    placed = run(positions) if positions.positional != "none" or positions.rope else None
    return WordOrder(order=order, plain=run(none), placed=placed)


__all__ = ["PERMUTATIONS", "OrderRun", "WordOrder", "compare_orders", "embeddings_attention", "permutation"]
