"""Which cells take part: the causal rule and a given mask, as a boolean "allowed" part and an additive
part, checked to broadcast to the scores' shape (..., T, S)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.checks import first_bad
from attncli.core.settings import CausalAlign, MaskSpec
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.floating]


def causal_allowed(t: int, s: int, align: CausalAlign = "top-left") -> NDArray[np.bool_]:
    """(T, S) boolean matrix, True where query i may see key j.

    top-left (PyTorch `is_causal`): j ≤ i.  bottom-right (KV cache, the last query sees every key):
    j ≤ i + (S − T).
    """
    offset = 0 if align == "top-left" else s - t
    rows = np.arange(t)[:, None]
    cols = np.arange(s)[None, :]
    allowed: NDArray[np.bool_] = cols <= rows + offset
    return allowed


def mask_parts(
    mask: ArrayLike | None, score_shape: tuple[int, ...], ftype: type[np.floating]
) -> tuple[NDArray[np.bool_] | None, Array | None, NDArray[np.generic] | None]:
    """Split a mask into (allowed, additive, the mask as an array), checking it broadcasts."""
    if mask is None:
        return None, None, None
    m = np.array(mask)
    if m.ndim == 1:
        m = m[None, :]
    try:
        np.broadcast_to(m, score_shape)
    except ValueError:
        message = _("shape {shape} does not broadcast to the scores' shape {scores} ({axes})")
        raise ShapeError(message.format(shape=m.shape, scores=score_shape, axes="…, T, S"), argument="mask") from None
    if m.dtype == np.bool_:
        return m, None, m
    if not np.issubdtype(m.dtype, np.number) or np.iscomplexobj(m):
        raise ShapeError(_("must be boolean or real numbers, got {dtype}").format(dtype=m.dtype), argument="mask")
    with np.errstate(over="ignore"):  # a number past float32's range becomes ±inf: reported just below
        additive = np.array(m, dtype=ftype)
    if np.isnan(m).any() or np.isposinf(m).any():
        message = _("may hold finite numbers or −∞ only: {where}").format(where=first_bad(m))
        raise NumericError(message, argument="mask")
    if np.isposinf(additive).any():
        message = _("overflows {dtype}: {where}").format(dtype=np.dtype(ftype).name, where=first_bad(additive))
        raise NumericError(message, argument="mask")
    return None, additive, m


def combine_with_bias(mask: NDArray[np.generic], bias: Array) -> Array:
    """A user mask and the ALiBi bias as one additive mask: False cells become −∞."""
    try:
        np.broadcast_shapes(mask.shape, bias.shape)
    except ValueError:
        raise ShapeError(
            _("shape {shape} does not broadcast to the scores' shape {scores} ({axes})").format(
                shape=mask.shape, scores=bias.shape, axes="H, T, S"
            ),
            argument="mask",
        ) from None
    if mask.dtype == np.bool_:
        additive: Array = np.where(mask, 0.0, -np.inf).astype(bias.dtype)
    else:
        additive = mask.astype(bias.dtype)
    if additive.ndim == 1:
        additive = additive[None, :]
    combined: Array = additive + bias
    return combined


class MaskRule:
    """The cells the causal rule and the structured masks (MaskSpec) allow, tile by tile.

    Query i stands at key position p = i + offset (offset 0 top-left, S − T bottom-right). A cell
    (p, j) is allowed when every part given allows it: causal j ≤ p, or with a prefix P, j ≤ p or
    j < P; the window (hf: p − W < j ≤ p; gym: 0 ≤ p − j ≤ W; jax: p − W ≤ j ≤ p + R), or with sink
    tokens k, the window or j < k; the chunk ⌊j/C⌋ = ⌊p/C⌋ and j ≤ p; the same document.
    """

    def __init__(self, t: int, s: int, causal: bool, align: CausalAlign, spec: MaskSpec) -> None:
        self.causal = causal
        self.offset = 0 if align == "top-left" else s - t
        # A window, chunk, prefix or sink count past every position acts as that bound: clamp it, so that
        # a huge number (a JSON integer of 80 digits) never reaches NumPy's int64 arithmetic.
        bound = s + t + abs(self.offset) + 1
        sizes = ("window", "window_right", "chunk", "prefix", "sink_tokens")
        clamped = {n: min(getattr(spec, n), bound) for n in sizes if getattr(spec, n) is not None}
        self.t, self.s, self.spec = t, s, replace(spec, **clamped)
        self.documents: NDArray[np.int64] | None = None
        if spec.documents is not None:
            docs = np.asarray(spec.documents, dtype=np.int64)
            if docs.shape != (s,):
                message = ngettext(
                    "needs one document id per key ({s} key), got {n}",
                    "needs one document id per key ({s} keys), got {n}",
                    s,
                )
                raise ShapeError(message.format(s=s, n=len(spec.documents)), argument="documents")
            if self.offset < 0 or t + self.offset > s:
                message = _("need a key position for every query: {t} queries against {s} keys")
                raise ShapeError(message.format(t=t, s=s), argument="documents")
            self.documents = docs
            # per document id, its first and last key: the keys a block of queries can reach
            order = np.unique(docs)
            self._first = {int(d): int(np.argmax(docs == d)) for d in order}
            self._last = {int(d): int(s - 1 - np.argmax(docs[::-1] == d)) for d in order}

    def cells(self, i0: int, i1: int, j0: int, j1: int) -> NDArray[np.bool_]:
        """(i1 − i0, j1 − j0) booleans, True where query i may see key j."""
        spec = self.spec
        p = np.arange(i0, i1)[:, None] + self.offset
        j = np.arange(j0, j1)[None, :]
        allowed = np.ones((i1 - i0, j1 - j0), dtype=bool)
        if spec.prefix is not None:
            allowed &= (j <= p) | (j < spec.prefix)
        elif self.causal:
            allowed &= j <= p
        if spec.window is not None:
            w = spec.window
            if spec.window_rule == "hf":
                near = (j > p - w) & (j <= p)
            elif spec.window_rule == "gym":
                near = (p - j <= w) & (j <= p)
            else:
                near = (j >= p - w) & (j <= p + spec.window_right)
            if spec.sink_tokens is not None:  # the sinks relax the window's reach back, never its causality
                sinks = (j < spec.sink_tokens) if spec.window_rule == "jax" else (j < spec.sink_tokens) & (j <= p)
                near = near | sinks
            allowed &= near
        if spec.chunk is not None:
            allowed &= (j // spec.chunk == p // spec.chunk) & (j <= p)
        if self.documents is not None:
            pos = np.clip(p[:, 0], 0, self.s - 1)
            allowed &= self.documents[pos][:, None] == self.documents[j0:j1][None, :]
        return allowed

    def key_spans(self, i0: int, i1: int) -> list[tuple[int, int]]:
        """Key ranges [lo, hi) outside which queries i0…i1 − 1 see nothing (at most two: sinks, the rest)."""
        spec = self.spec
        p0, p1 = i0 + self.offset, i1 - 1 + self.offset
        lo, hi = 0, self.s
        if self.causal or spec.implies_causal:
            hi = p1 + 1
            if spec.prefix is not None:
                hi = max(hi, spec.prefix)
        if spec.window is not None:
            if spec.window_rule == "jax":
                hi = min(hi, p1 + spec.window_right + 1)
            lo = max(lo, p0 - spec.window + (1 if spec.window_rule == "hf" else 0))
        if spec.chunk is not None:
            lo = max(lo, (max(p0, 0) // spec.chunk) * spec.chunk)
        if self.documents is not None:
            docs = {int(d) for d in self.documents[max(p0, 0) : min(p1, self.s - 1) + 1]}
            if docs:
                lo = max(lo, min(self._first[d] for d in docs))
                hi = min(hi, max(self._last[d] for d in docs) + 1)
        hi = min(max(hi, 0), self.s)
        lo = max(lo, 0)
        # the sink tokens are spanned whatever the rest allows (cells() says exactly which are seen)
        sinks = min(spec.sink_tokens or 0, self.s)
        spans = sorted([*([(0, sinks)] if sinks else []), *([(lo, hi)] if lo < hi else [])])
        if len(spans) == 2 and spans[1][0] <= spans[0][1]:  # overlapping or touching: one span
            spans = [(spans[0][0], max(spans[0][1], spans[1][1]))]
        return spans

    def allowed(self) -> NDArray[np.bool_]:
        """The (T, S) cells."""
        return self.cells(0, self.t, 0, self.s)


def rule_of(t: int, s: int, causal: bool, align: CausalAlign, spec: MaskSpec) -> MaskRule | None:
    """The rule of these settings, or None when neither causal nor a structured mask is given."""
    if not causal and not spec.any:
        return None
    return MaskRule(t, s, causal, align, spec)


def sink_logits(spec: MaskSpec, score_shape: tuple[int, ...], ftype: type[np.floating]) -> Array | None:
    """The learned sink logits as (..., 1, 1) beside the scores (..., T, S): one for every head (the
    last leading dimension), or one for all; None without sinks."""
    if spec.sinks is None:
        return None
    lead = score_shape[:-2]
    n = len(spec.sinks)
    if n > 1 and (not lead or lead[-1] != n):
        heads = lead[-1] if lead else 1
        message = ngettext(
            "needs one sink logit per head ({h} head) or one for all, got {n}",
            "needs one sink logit per head ({h} heads) or one for all, got {n}",
            heads,
        )
        raise ShapeError(message.format(h=heads, n=n), argument="sinks")
    values = np.asarray(spec.sinks, dtype=ftype)
    return values.reshape(n, 1, 1) if n > 1 else values.reshape(1, 1)


def softcapped(scaled: Array, cap: float) -> Array:
    """c·tanh(s/c): the scores squeezed into (−c, c), nearly unchanged where |s| ≪ c (Gemma 2)."""
    with np.errstate(over="ignore"):  # s/c past the float range is ±∞, and tanh(±∞) = ±1, as it should
        out: Array = np.tanh(scaled / scaled.dtype.type(cap)) * scaled.dtype.type(cap)
    return out
