"""Scaled dot-product attention, the public entry of the core: check the inputs, then dispatch to the
stage-keeping engine (attncli.core.engine) or the blocked path (attncli.core.blocked), which never
import each other.

    scores  = Q · Kᵀ                      (..., T, S)
    scaled  = scores × scale              scale defaults to 1/√d_k
    masked  = scaled + additive mask, −∞ where a boolean mask or the causal rule forbids a cell
    weights = softmax(masked) along S     computed stably: subtract the row max, exp, divide by the row sum
    output  = weights · V                 (..., T, d_v)

Shape letters: T = number of queries, S = number of keys/values, d_k = query/key width, d_v = value
width; leading "..." dimensions (batch, heads) broadcast as in NumPy's matmul. The rules of the mask,
the causal alignments and the empty-row policies are AttentionSettings' (attncli.core.settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Unpack, overload

from attncli.core.checks import checked_inputs
from attncli.core.engine import Attention, attention_stages
from attncli.core.settings import (
    AttentionSettings,
    CausalAlign,
    DType,
    EmptyRow,
    SettingKeywords,
    keywords_given,
    settings_from,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from attncli.core.blocked import AttentionOutput


@overload
def attention(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    *,
    mask: ArrayLike | None = ...,
    causal: bool = ...,
    causal_align: CausalAlign = ...,
    scale: float | None = ...,
    empty_row: EmptyRow = ...,
    dtype: DType = ...,
    keep_stages: Literal[True] = ...,
    settings: AttentionSettings | None = ...,
) -> Attention: ...


@overload
def attention(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    *,
    mask: ArrayLike | None = ...,
    causal: bool = ...,
    causal_align: CausalAlign = ...,
    scale: float | None = ...,
    empty_row: EmptyRow = ...,
    dtype: DType = ...,
    keep_stages: Literal[False],
    settings: AttentionSettings | None = ...,
) -> AttentionOutput: ...


def attention(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    causal: bool = False,
    causal_align: CausalAlign = "top-left",
    scale: float | None = None,
    empty_row: EmptyRow = "zero",
    dtype: DType = "float64",
    keep_stages: bool = True,
    settings: AttentionSettings | None = None,
) -> Attention | AttentionOutput:
    """Scaled dot-product attention with every intermediate stage kept.

    With keep_stages=False only the output is computed, by the blocked online-softmax path, in memory
    that does not grow with T×S; the result is an AttentionOutput (see also attention_output).

    q: (..., T, d_k), k: (..., S, d_k), v: (..., S, d_v); a 1-D input is one row. Leading
    dimensions broadcast. `mask` broadcasts to (..., T, S): bool (True = attend) or numeric (added to
    the scaled scores, −∞ allowed). `causal` masks future keys (`causal_align` "top-left" as PyTorch's
    `is_causal`, or "bottom-right"). `scale` defaults to 1/√d_k. `empty_row` decides fully masked
    rows. Computes in `dtype` ("float64" or "float32"). `settings` gives all of these at once, as an
    AttentionSettings (then leave the keywords out).

    >>> r = attention([[1, 0]], [[0.5, 0.5], [0.3, 0.7]], [[1, 0], [0.5, 0.5]], scale=1.0)
    >>> r.scores.tolist()
    [[0.5, 0.3]]
    """
    given = keywords_given(
        mask=mask, causal=causal, causal_align=causal_align, scale=scale, empty_row=empty_row, dtype=dtype
    )
    checked = checked_inputs(q, k, v, settings_from(settings, given), private=keep_stages)
    if keep_stages:
        return attention_stages(checked)
    from attncli.core.blocked import blocked_output  # (here: a small problem starts without the blocked path)

    return blocked_output(checked)


def attention_output(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    settings: AttentionSettings | None = None,
    *,
    block_q: int | None = None,
    block_k: int | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **keywords: Unpack[SettingKeywords],
) -> AttentionOutput:
    """The output of scaled dot-product attention without materialising T×S (FlashAttention-style
    online softmax over tiles of `block_q` queries × `block_k` keys).

    Same inputs and rules as attention(): the settings as an AttentionSettings or as its keywords
    (mask, causal, causal_align, scale, empty_row, dtype). Leading dimensions of q (…, H, T, d) and
    k/v (…, G, S, ·) broadcast, and when H ≠ G with H divisible by G, query head h uses K/V head
    h // (H/G) (grouped-query attention). `threads` workers (default: the cores available);
    `progress(done, total)` is called after each work item. q, k and v are read as they are, not
    copied (never written): changing them before the call returns, from `progress` or another
    thread, changes the result.
    """
    from attncli.core.blocked import Tiling, blocked_output

    checked = checked_inputs(q, k, v, settings_from(settings, keywords), private=False)
    return blocked_output(checked, Tiling(block_q, block_k, threads, progress))
