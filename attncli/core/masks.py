"""Which cells take part: the causal rule and a given mask, as a boolean "allowed" part and an additive
part, checked to broadcast to the scores' shape (..., T, S)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from attncli.core.checks import first_bad
from attncli.core.settings import CausalAlign
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _

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
