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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

import numpy as np

from attncli.core.display import Displayable
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.floating]

if TYPE_CHECKING:
    from attncli.core.blocked import AttentionOutput

CausalAlign = Literal["top-left", "bottom-right"]
EmptyRow = Literal["zero", "uniform", "nan"]
DType = Literal["float64", "float32"]

CAUSAL_ALIGNS: tuple[str, ...] = ("top-left", "bottom-right")
EMPTY_ROW_POLICIES: tuple[str, ...] = ("zero", "uniform", "nan")
DTYPES: tuple[str, ...] = ("float64", "float32")


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

    @property
    def d_k(self) -> int:
        return int(self.q.shape[-1])

    @property
    def dtype(self) -> str:
        return str(self.q.dtype)

    @property
    def logits(self) -> Array:
        """What the softmax is applied to: `masked` if something masks, else `scaled`."""
        return self.scaled if self.masked is None else self.masked


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


def _first_bad(a: NDArray[np.generic]) -> str:
    """Human position ('row 2, column 1', 1-based) of the first non-finite value in `a`."""
    idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    value = a[idx]
    if len(idx) >= 2:
        where = _("row {row}, column {column}").format(row=idx[-2] + 1, column=idx[-1] + 1)
    else:
        where = _("position {position}").format(position=idx[-1] + 1)
    if len(idx) > 2:
        where = f"[{', '.join(str(i) for i in idx[:-2])}] " + where
    return _("{where} is {value}").format(where=where, value=value)


def _as_matrix(x: ArrayLike, name: str, dtype: type[np.floating]) -> Array:
    a = np.asarray(x)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.number)):
        raise ShapeError(_("must be numeric, got {dtype}").format(dtype=a.dtype), argument=name)
    if np.iscomplexobj(a):
        raise ShapeError(_("must be real, got complex values"), argument=name)
    if a.ndim == 1:
        a = a[None, :]  # a flat list is one row
    if a.ndim < 2:
        raise ShapeError(_("must be a matrix (rows of numbers), got a scalar"), argument=name)
    if 0 in a.shape:
        raise ShapeError(_("is empty (shape {shape})").format(shape=a.shape), argument=name)
    return as_finite(a, name, dtype, copy=True)  # a private copy: the result is frozen, the caller's array is not


def as_finite(x: ArrayLike, name: str, ftype: type[np.floating], copy: bool = False) -> Array:
    """x as an array of ftype; a NumericError naming the cell when a value is not finite or overflows ftype."""
    given = np.asarray(x)
    with np.errstate(over="ignore"):  # a value past float32's range becomes inf: reported just below
        out: Array = np.array(given, dtype=ftype) if copy else np.asarray(given, dtype=ftype)
    if not np.isfinite(out).all():
        if not np.isfinite(given).all():
            raise NumericError(_("must be finite: {where}").format(where=_first_bad(given)), argument=name)
        message = _("overflows {dtype}: {where}").format(dtype=np.dtype(ftype).name, where=_first_bad(out))
        raise NumericError(message, argument=name)
    return out


def check_widths(q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...]) -> None:
    """A ShapeError unless q and k have the same width d_k and v has a row for every key."""
    d_k, s = q_shape[-1], k_shape[-2]
    if k_shape[-1] != d_k:
        message = _("q has d_k = {d_k} columns but k has {n}; Q·Kᵀ needs them equal")
        raise ShapeError(message.format(d_k=d_k, n=k_shape[-1]), argument="k")
    if v_shape[-2] != s:
        message = ngettext(
            "k has {s} row (keys) but v has {n}; every key needs one value row",
            "k has {s} rows (keys) but v has {n}; every key needs one value row",
            s,
        )
        raise ShapeError(message.format(s=s, n=v_shape[-2]), argument="v")


def scores_shape(q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape (..., T, S) of the score-like stages, or a ShapeError saying which inputs do not fit."""
    check_widths(q_shape, k_shape, v_shape)
    try:
        lead = np.broadcast_shapes(q_shape[:-2], k_shape[:-2], v_shape[:-2])
    except ValueError:
        message = _("leading dimensions do not broadcast: {shapes}").format(
            shapes=f"q {q_shape[:-2]}, k {k_shape[:-2]}, v {v_shape[:-2]}"
        )
        raise ShapeError(message, argument="q/k/v") from None
    return (*lead, q_shape[-2], k_shape[-2])


def checked_inputs(
    q: ArrayLike, k: ArrayLike, v: ArrayLike, *, dtype: str, causal_align: str, empty_row: str
) -> tuple[type[np.floating], Array, Array, Array]:
    """The settings checked and q, k, v as private float arrays whose widths fit together."""
    one_of = _("must be one of {choices}, got {value!r}")
    if dtype not in DTYPES:
        raise ShapeError(one_of.format(choices=", ".join(DTYPES), value=dtype), argument="dtype")
    if causal_align not in CAUSAL_ALIGNS:
        raise ShapeError(one_of.format(choices=", ".join(CAUSAL_ALIGNS), value=causal_align), argument="causal_align")
    if empty_row not in EMPTY_ROW_POLICIES:
        raise ShapeError(one_of.format(choices=", ".join(EMPTY_ROW_POLICIES), value=empty_row), argument="empty_row")
    ftype: type[np.floating] = np.float64 if dtype == "float64" else np.float32
    qa, ka, va = (_as_matrix(x, n, ftype) for x, n in ((q, "q"), (k, "k"), (v, "v")))
    check_widths(qa.shape, ka.shape, va.shape)
    return ftype, qa, ka, va


def resolve_scale(scale: float | None, d_k: int) -> tuple[float, bool]:
    """(the scale, whether it is the default 1/√d_k); a given scale must be positive and finite."""
    if scale is None:
        return 1.0 / float(np.sqrt(d_k)), True
    value = float(scale)
    if not np.isfinite(value) or value <= 0:
        raise NumericError(_("must be a positive finite number, got {value}").format(value=scale), argument="scale")
    return value, False


def _readonly(*arrays: NDArray[np.generic] | None) -> None:
    for a in arrays:
        if a is not None:
            a.flags.writeable = False


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
) -> Attention | AttentionOutput:
    """Scaled dot-product attention with every intermediate stage kept.

    With keep_stages=False only the output is computed, by the blocked online-softmax path
    (attncli.core.blocked.attention_output), in memory that does not grow with T×S; the result is an
    AttentionOutput.

    q: (..., T, d_k), k: (..., S, d_k), v: (..., S, d_v); a 1-D input is one row. Leading
    dimensions broadcast. `mask` broadcasts to (..., T, S): bool (True = attend) or numeric (added to
    the scaled scores, −∞ allowed). `causal` masks future keys (`causal_align` "top-left" as PyTorch's
    `is_causal`, or "bottom-right"). `scale` defaults to 1/√d_k. `empty_row` decides fully masked
    rows. Computes in `dtype` ("float64" or "float32").

    >>> r = attention([[1, 0]], [[0.5, 0.5], [0.3, 0.7]], [[1, 0], [0.5, 0.5]], scale=1.0)
    >>> r.scores.tolist()
    [[0.5, 0.3]]
    """
    if not keep_stages:
        from attncli.core.blocked import attention_output

        return attention_output(
            q, k, v, mask=mask, causal=causal, causal_align=causal_align, scale=scale, empty_row=empty_row, dtype=dtype
        )
    ftype, qa, ka, va = checked_inputs(q, k, v, dtype=dtype, causal_align=causal_align, empty_row=empty_row)
    score_shape = scores_shape(qa.shape, ka.shape, va.shape)
    t, d_k = qa.shape[-2:]
    s = ka.shape[-2]
    scale_value, scale_is_default = resolve_scale(scale, d_k)

    # (..., T, d_k) x (..., d_k, S) -> (..., T, S)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked and reported just below
        scores = np.matmul(qa, np.swapaxes(ka, -1, -2))
        if scores.shape != score_shape:  # v has leading dimensions that q and k lack: every stage gets them
            scores = np.array(np.broadcast_to(scores, score_shape))
        scaled = scores * ftype(scale_value)
    if not np.isfinite(scaled).all():
        message = _("the scaled scores overflow {dtype} ({where}); the inputs are too large")
        raise NumericError(message.format(dtype=dtype, where=_first_bad(scaled)), argument="q/k")

    allowed, additive, mask_arr = _mask_parts(mask, score_shape, ftype)
    if causal:
        rule = causal_allowed(t, s, causal_align)
        allowed = rule if allowed is None else allowed & rule
    if allowed is not None:
        allowed = np.broadcast_to(allowed, score_shape)

    masked: Array | None = None
    if allowed is not None or additive is not None:
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
    logits = scaled if masked is None else masked

    # Stable softmax along S. A fully masked row has max −∞; shift it by 0 so it stays −∞ (exp 0)
    # instead of producing −∞ − (−∞) = NaN.
    row_max = logits.max(axis=-1, keepdims=True)
    empty = np.isneginf(row_max)
    with np.errstate(over="ignore"):  # a score 2×1e308 below its row max is −∞ here: exp gives 0, as it should
        shifted = logits - np.where(empty, ftype(0), row_max)
    exp = np.exp(shifted)
    row_sum = exp.sum(axis=-1, keepdims=True)
    weights = exp / np.where(empty, ftype(1), row_sum)
    if empty.any():
        if empty_row == "uniform":
            weights = np.where(empty, ftype(1.0 / s), weights)
        elif empty_row == "nan":
            weights = np.where(empty, ftype(np.nan), weights)
    # (..., T, S) x (..., S, d_v) -> (..., T, d_v)
    output = np.matmul(weights, va)

    empty_rows = tuple(tuple(int(i) for i in idx) for idx in np.argwhere(empty[..., 0]))
    _readonly(qa, ka, va, mask_arr, scores, scaled, masked, row_max, shifted, exp, row_sum, weights, output)
    if allowed is not None:
        allowed = np.array(allowed)  # own, contiguous copy (broadcast views are shared)
        _readonly(allowed)
    return Attention(
        q=qa,
        k=ka,
        v=va,
        mask=mask_arr,
        allowed=allowed,
        scale=scale_value,
        scale_is_default=scale_is_default,
        causal=causal,
        causal_align=causal_align,
        empty_row=empty_row,
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
    )


def _mask_parts(
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
        message = _("may hold finite numbers or −∞ only: {where}").format(where=_first_bad(m))
        raise NumericError(message, argument="mask")
    if np.isposinf(additive).any():
        message = _("overflows {dtype}: {where}").format(dtype=np.dtype(ftype).name, where=_first_bad(additive))
        raise NumericError(message, argument="mask")
    return None, additive, m
