"""The checks at the boundary of the core: inputs as private float arrays whose shapes fit, finite
values, the scale; each raises a short fact naming its argument (q, k, v, scale)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.settings import AttentionSettings
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.floating]


def first_bad(a: NDArray[np.generic]) -> str:
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


def as_matrix(x: ArrayLike, name: str, dtype: type[np.floating], copy: bool = True) -> Array:
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
    return as_finite(a, name, dtype, copy=copy)  # a private copy: the stages are frozen, the caller's array is not


def as_finite(x: ArrayLike, name: str, ftype: type[np.floating], copy: bool = False) -> Array:
    """x as an array of ftype; a NumericError naming the cell when a value is not finite or overflows ftype."""
    given = np.asarray(x)
    with np.errstate(over="ignore"):  # a value past float32's range becomes inf: reported just below
        out: Array = np.array(given, dtype=ftype) if copy else np.asarray(given, dtype=ftype)
    if not np.isfinite(out).all():
        if not np.isfinite(given).all():
            raise NumericError(_("must be finite: {where}").format(where=first_bad(given)), argument=name)
        message = _("overflows {dtype}: {where}").format(dtype=np.dtype(ftype).name, where=first_bad(out))
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


@dataclass(frozen=True)
class Checked:
    """The inputs of one attention, checked: float arrays whose widths fit (private copies unless
    checked_inputs was told otherwise), the settings, the scale.

    q (..., T, d_k), k (..., S, d_k), v (..., S, d_v), in settings.dtype.
    """

    q: Array
    k: Array
    v: Array
    settings: AttentionSettings
    scale: float
    scale_is_default: bool  # True when scale = 1/√d_k was chosen for the user

    @property
    def ftype(self) -> type[np.floating]:
        return self.settings.ftype


def checked_inputs(
    q: ArrayLike, k: ArrayLike, v: ArrayLike, settings: AttentionSettings, private: bool = True
) -> Checked:
    """q, k, v as private float arrays whose widths fit together (the settings were checked when made).
    private=False leaves an input that already is a float array of the dtype as it is, for a reader
    that only reads it: the blocked path, which makes [K | 1] and [V | 1] of its own anyway."""
    ftype = settings.ftype
    qa, ka, va = (as_matrix(x, n, ftype, copy=private) for x, n in ((q, "q"), (k, "k"), (v, "v")))
    check_widths(qa.shape, ka.shape, va.shape)
    scale = resolve_scale(settings.scale, qa.shape[-1], settings.variants.query_pre_attn_scalar)
    return Checked(qa, ka, va, settings, *scale)


def resolve_scale(scale: float | None, d_k: int, query_pre_attn_scalar: float | None = None) -> tuple[float, bool]:
    """(the scale, whether it is the default 1/√d_k); a given scale must be positive and finite.
    Gemma 2's rule, query_pre_attn_scalar N, gives N^−½ (not the default: d_k may differ from N)."""
    if scale is None and query_pre_attn_scalar is not None:
        return float(query_pre_attn_scalar) ** -0.5, False
    if scale is None:
        return 1.0 / float(np.sqrt(d_k)), True
    value = float(scale)
    if not np.isfinite(value) or value <= 0:
        raise NumericError(_("must be a positive finite number, got {value}").format(value=scale), argument="scale")
    return value, False
