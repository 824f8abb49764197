"""KV-cache decoding: the last N queries computed as one decoding step against cached keys and values,
beside the full recompute of every query.

A decoder that generates token by token keeps the keys and values of the tokens it has seen (the KV
cache) and computes attention for the new queries only: their rows of Q against every cached key,
with the causal rule aligned bottom-right (query i of the N new ones stands at key position
S − N + i). Nothing else changes, so the step's weights and output are the last N rows of the
full computation. The cache holds K (S × d_k) and V (S × d_v) per K/V head, in the dtype used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.attention import attention
from attncli.core.engine import Attention
from attncli.core.settings import AttentionSettings
from attncli.errors import ShapeError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from numpy.typing import NDArray


@dataclass(frozen=True)
class Cache:
    """What a cache holds: named arrays (name, shape per K/V head), in `dtype`, for `kv_heads` heads."""

    holds: tuple[tuple[str, tuple[int, ...]], ...]  # e.g. (("K", (S, d_k)), ("V", (S, d_v)))
    kv_heads: int
    dtype: str
    shared: bool = False  # one set for every head (MLA's latent), not per K/V head

    @property
    def nbytes(self) -> int:
        item = np.dtype(self.dtype).itemsize
        return self.kv_heads * item * sum(int(np.prod(shape)) for _, shape in self.holds)


@dataclass(frozen=True)
class DecodeStep:
    """N new queries against the KV cache, and the full recompute they must equal."""

    new: int  # N, the new queries
    cached: int  # S − N, the keys in the cache before the step (the step appends N)
    step: Attention  # the step: q (..., N, d_k) against k, v (..., S, ·), bottom-right causal
    full: Attention  # every query, as computed without a cache
    cache: Cache  # what the cache holds after the step (S rows)
    before: Cache  # what it held before (S − N rows)

    @property
    def full_rows(self) -> slice:
        t = self.full.scores.shape[-2]
        return slice(t - self.new, t)

    @property
    def bit_equal(self) -> bool:
        """True when the step's weights and output equal the full recompute's rows bit for bit."""
        rows = self.full_rows
        same_w = np.array_equal(self.step.weights, self.full.weights[..., rows, :], equal_nan=True)
        return same_w and np.array_equal(self.step.output, self.full.output[..., rows, :], equal_nan=True)

    @property
    def max_difference(self) -> float:
        """The largest |step − full| over the weights and the output (0 when bit_equal)."""
        rows = self.full_rows
        diffs = [
            np.nan_to_num(np.abs(self.step.weights - self.full.weights[..., rows, :])),
            np.nan_to_num(np.abs(self.step.output - self.full.output[..., rows, :])),
        ]
        return float(max(float(d.max(initial=0.0)) for d in diffs))


def check_new(new: int, t: int, argument: str = "decode") -> None:
    """A ShapeError unless 1 ≤ new ≤ T (whole number)."""
    if isinstance(new, bool) or not isinstance(new, int) or not 1 <= new <= t:
        message = ngettext(
            "must be a whole number of new queries, 1…{t} (the problem has {t} query), got {value!r}",
            "must be a whole number of new queries, 1…{t} (the problem has {t} queries), got {value!r}",
            t,
        )
        raise ShapeError(message.format(t=t, value=new), argument=argument)


def decode_step(
    full: Attention,
    new: int,
    kv_heads: int | None = None,
    *,
    k_cache: NDArray[np.floating] | None = None,
    v_cache: NDArray[np.floating] | None = None,
    names: tuple[str, str] = ("K", "V"),
) -> DecodeStep:
    """The last `new` queries of `full` as one decoding step against the cache of its keys and values.

    `kv_heads`: the number of K/V heads the cache stores (grouped-query attention repeats them in
    `full`; default: the leading dimensions of k). `k_cache`/`v_cache` (…, S, ·): the arrays a cache
    would hold, when they differ from full.k/full.v (default those), named `names` (MLA: c and k_rope)."""
    t, s = full.scores.shape[-2:]
    check_new(new, t)
    if full.causal and full.causal_align == "top-left" and t != s:
        message = _("a KV cache aligns the causal rule bottom-right; with T ≠ S give causal_align bottom-right")
        raise ShapeError(message, argument="causal_align")
    default_scale = full.scale_is_default or full.variants.query_pre_attn_scalar is not None
    mask = full.mask
    if mask is not None and mask.ndim >= 2 and mask.shape[-2] == t:
        mask = mask[..., t - new :, :]  # the new queries' rows of the mask
    settings = AttentionSettings(
        mask=mask, causal=full.causal, causal_align="bottom-right", scale=None if default_scale else full.scale,
        empty_row=full.empty_row, dtype="float32" if full.dtype == "float32" else "float64", variants=full.variants,
    )  # fmt: skip
    step = attention(full.q[..., t - new :, :], full.k, full.v, settings=settings)
    k_c = full.k if k_cache is None else k_cache
    v_c = full.v if v_cache is None else v_cache
    heads = kv_heads if kv_heads is not None else int(np.prod(k_c.shape[:-2], dtype=np.int64))
    d_k, d_v = k_c.shape[-1], v_c.shape[-1]
    shared = names != ("K", "V")
    after = Cache(((names[0], (s, d_k)), (names[1], (s, d_v))), heads, full.dtype, shared)
    before = Cache(((names[0], (s - new, d_k)), (names[1], (s - new, d_v))), heads, full.dtype, shared)
    return DecodeStep(new, s - new, step, full, after, before)
