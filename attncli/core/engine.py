"""The attention engine: pure NumPy in, every stage out.

    scores  = Q · Kᵀ                      (..., T, S)
    scaled  = scores × scale              scale defaults to 1/√d_k
    masked  = scaled + additive mask, −∞ where a boolean mask or the causal rule forbids a cell
    weights = softmax(masked) along S     computed stably: subtract the row max, exp, divide by the row sum
    output  = weights · V                 (..., T, d_v)

Shape letters: T = number of queries, S = number of keys/values, d_k = query/key width,
d_v = value width; leading "..." dimensions (batch, heads) broadcast as in NumPy's matmul.

Mask rule (as PyTorch's scaled_dot_product_attention and JAX): a boolean mask means True = attend;
a numeric mask is added to the scaled scores (−∞ allowed). A mask and `causal` combine: a cell takes
part only if both allow it. A row whose every cell is masked gets weights by `empty_row`:
"zero" (weights and output 0, as PyTorch SDPA), "uniform" (1/S each), or "nan".

Nothing here prints or reads files; bad shapes or values raise attncli.errors exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.checks import Checked, first_bad, scores_shape
from attncli.core.display import Displayable
from attncli.core.masks import mask_parts, rule_of, sink_logits, softcapped
from attncli.core.settings import CausalAlign, EmptyRow, MaskSpec
from attncli.errors import NumericError
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]


@dataclass(frozen=True)
class Attention(Displayable):
    """Every stage of one attention computation. Arrays are read-only.

    Shapes: q (..., T, d_k), k (..., S, d_k), v (..., S, d_v); score-like stages (..., T, S);
    row_max and row_sum (..., T, 1); output (..., T, d_v).
    """

    q: Array
    k: Array
    v: Array
    mask: NDArray[np.generic] | None  # the mask as given (bool or numeric), before broadcasting
    allowed: NDArray[np.bool_] | None  # (..., T, S) True where a cell may be attended; None if nothing masks
    scale: float
    scale_is_default: bool  # True when scale = 1/√d_k was chosen for the user
    causal: bool
    causal_align: CausalAlign
    empty_row: EmptyRow
    scores: Array
    scaled: Array
    masked: Array | None  # None when there is neither a mask nor causal
    row_max: Array
    shifted: Array
    exp: Array
    row_sum: Array
    weights: Array
    output: Array
    empty_rows: tuple[tuple[int, ...], ...]  # index (..., t) of every fully masked query row
    # the variants: structured masks (window, chunk, prefix, documents, sink tokens), softcap, learned sinks
    variants: MaskSpec = field(default_factory=MaskSpec)
    capped: Array | None = None  # c·tanh(scaled/c) with a softcap, else None
    sink_weight: Array | None = None  # (..., T, 1) the weight the learned sink took from each row, else None

    @property
    def d_k(self) -> int:
        return int(self.q.shape[-1])

    @property
    def dtype(self) -> str:
        return str(self.q.dtype)

    @property
    def logits(self) -> Array:
        """What the softmax is applied to: `masked` if something masks, else `capped` or `scaled`."""
        if self.masked is not None:
            return self.masked
        return self.scaled if self.capped is None else self.capped


def attention_stages(checked: Checked) -> Attention:
    """Every stage of scaled dot-product attention, for inputs checked at the boundary
    (attncli.core.attention.attention, which documents the rules)."""
    qa, ka, va, settings = checked.q, checked.k, checked.v, checked.settings
    score_shape = scores_shape(qa.shape, ka.shape, va.shape)
    scores, scaled = _scores(checked, score_shape)
    cap = settings.variants.softcap
    capped = None if cap is None else softcapped(scaled, cap)
    allowed, masked, mask_arr = _masked(scaled if capped is None else capped, checked, score_shape)
    logits = masked if masked is not None else scaled if capped is None else capped
    sinks = sink_logits(settings.variants, score_shape, checked.ftype)
    row_max, shifted, exp, row_sum, weights, empty = _softmax(logits, settings.empty_row, sinks)
    sink_weight = None
    if sinks is not None:
        with np.errstate(over="ignore"):
            sink_weight = np.exp(np.broadcast_to(sinks, row_max.shape) - row_max) / row_sum
    # (..., T, S) x (..., S, d_v) -> (..., T, d_v)
    output = np.matmul(weights, va)

    empty_rows = tuple(tuple(int(i) for i in idx) for idx in np.argwhere(empty[..., 0]))
    _readonly(qa, ka, va, mask_arr, scores, scaled, masked, row_max, shifted, exp, row_sum, weights, output)
    _readonly(capped, sink_weight)
    if allowed is not None:
        allowed = np.array(allowed)  # own, contiguous copy (broadcast views are shared)
        _readonly(allowed)
    return Attention(
        q=qa,
        k=ka,
        v=va,
        mask=mask_arr,
        allowed=allowed,
        scale=checked.scale,
        scale_is_default=checked.scale_is_default,
        causal=settings.causal,
        causal_align=settings.causal_align,
        empty_row=settings.empty_row,
        scores=scores,
        scaled=scaled,
        masked=masked,
        row_max=row_max,
        shifted=shifted,
        exp=exp,
        row_sum=row_sum,
        weights=weights,
        output=output,
        empty_rows=empty_rows,
        variants=settings.variants,
        capped=capped,
        sink_weight=sink_weight,
    )


def _scores(checked: Checked, score_shape: tuple[int, ...]) -> tuple[Array, Array]:
    """scores = Q·Kᵀ and scaled = scores × scale, each (..., T, S); a NumericError if they overflow."""
    ftype = checked.ftype
    # (..., T, d_k) x (..., d_k, S) -> (..., T, S)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked and reported just below
        scores = np.matmul(checked.q, np.swapaxes(checked.k, -1, -2))
        if scores.shape != score_shape:  # v has leading dimensions that q and k lack: every stage gets them
            scores = np.array(np.broadcast_to(scores, score_shape))
        scaled = scores * ftype(checked.scale)
    if not np.isfinite(scaled).all():
        message = _("the scaled scores overflow {dtype} ({where}); the inputs are too large")
        raise NumericError(message.format(dtype=checked.settings.dtype, where=first_bad(scaled)), argument="q/k")
    return scores, scaled


def _masked(
    scaled: Array, checked: Checked, score_shape: tuple[int, ...]
) -> tuple[NDArray[np.bool_] | None, Array | None, NDArray[np.generic] | None]:
    """(allowed cells, masked scores, the mask as an array): −∞ where the mask or the rule (causal,
    window, chunk, prefix, documents: attncli.core.masks.MaskRule) hides a cell, the additive mask
    added; (None, None, mask) when nothing masks."""
    settings = checked.settings
    allowed, additive, mask_arr = mask_parts(settings.mask, score_shape, checked.ftype)
    t, s = score_shape[-2:]
    rule = rule_of(t, s, settings.causal, settings.causal_align, settings.variants)
    if rule is not None:
        cells = rule.allowed()
        allowed = cells if allowed is None else allowed & cells
    if allowed is not None:
        allowed = np.broadcast_to(allowed, score_shape)
    if allowed is None and additive is None:
        return None, None, mask_arr
    with np.errstate(over="ignore"):  # +∞ from a huge score plus a huge mask value is reported below
        masked = scaled + additive if additive is not None else scaled.copy()
    if allowed is not None:
        masked[~allowed] = -np.inf
        if additive is not None:
            allowed = allowed & np.isfinite(masked)
    else:
        allowed = np.isfinite(masked)  # additive −∞ cells are masked cells too
    if np.isposinf(masked).any():
        raise NumericError(_("adding the mask overflowed to +∞"), argument="mask")
    return allowed, masked, mask_arr


def _softmax(
    logits: Array, empty_row: EmptyRow, sinks: Array | None = None
) -> tuple[Array, Array, Array, Array, Array, NDArray[np.bool_]]:
    """The stable softmax along S, step by step: (row_max, shifted, exp, row_sum, weights, empty rows).

    A fully masked row has max −∞; it is shifted by 0 so that it stays −∞ (exp 0) instead of
    producing −∞ − (−∞) = NaN, and its weights follow the empty-row policy. Learned `sinks` (..., 1)
    are a virtual column: they take part in the row max and the row sum, and get no weight column.
    """
    ftype = logits.dtype.type
    row_max = logits.max(axis=-1, keepdims=True)
    empty = np.isneginf(row_max)
    if sinks is not None:
        row_max = np.maximum(row_max, sinks)
    with np.errstate(over="ignore"):  # a score 2×1e308 below its row max is −∞ here: exp gives 0, as it should
        shifted = logits - np.where(np.isneginf(row_max), ftype(0), row_max)
    exp = np.exp(shifted)
    row_sum = exp.sum(axis=-1, keepdims=True)
    if sinks is not None:
        with np.errstate(over="ignore"):  # a sink far below the row max: −∞, exp 0
            row_sum = row_sum + np.exp(sinks - row_max)
    weights = exp / np.where(row_sum == 0, ftype(1), row_sum)
    if empty.any() and empty_row == "uniform":
        weights = np.where(empty, ftype(1.0 / logits.shape[-1]), weights)
    elif empty.any() and empty_row == "nan":
        weights = np.where(empty, ftype(np.nan), weights)
    return row_max, shifted, exp, row_sum, weights, empty


def _readonly(*arrays: NDArray[np.generic] | None) -> None:
    for a in arrays:
        if a is not None:
            a.flags.writeable = False
