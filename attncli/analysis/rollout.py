"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

Each layer's heads are averaged and the residual connection is added as an identity:

    Â_l = rownorm(w·I + (1 − w)·mean_h A_l)        w = the residual weight, 0.5 in the paper
    R   = Â_L · … · Â_1

R[i, j] is how much output token i draws on input token j if information moved only along attention
and the residual stream. It ignores the value vectors (how much each head writes) and the MLPs. A
causal mask survives: every Â_l is lower-triangular, so is R. Pure NumPy; weights (L, H, T, T).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from attncli.errors import InputError
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]

RESIDUAL = 0.5  # the paper's weighting: Â = 0.5·A + 0.5·I


def check_residual(residual: float) -> None:
    if not 0.0 <= residual < 1.0 or residual != residual:
        message = _("the residual weight must lie in 0 ≤ w < 1 (0.5 in the paper), got {w}").format(w=residual)
        raise InputError(message, argument="residual")


def mixed(weights: Array, residual: float = RESIDUAL) -> NDArray[np.float64]:
    """(L, H, T, T) → (L, T, T): each layer's Â = rownorm(w·I + (1 − w)·mean over heads)."""
    check_residual(residual)
    a = np.asarray(weights, dtype=np.float64).mean(axis=1)
    t = a.shape[-1]
    a = residual * np.eye(t) + (1.0 - residual) * a
    out: NDArray[np.float64] = a / a.sum(axis=-1, keepdims=True)
    return out


def rollout(weights: Array, residual: float = RESIDUAL) -> NDArray[np.float64]:
    """(L, H, T, T) → (T, T): R = Â_L · … · Â_1, row i = what output token i draws on."""
    layers = mixed(weights, residual)
    r = np.eye(layers.shape[-1])
    for a in layers:  # Â_1 first: R_l = Â_l · R_{l−1}
        r = a @ r
    return r


__all__ = ["RESIDUAL", "check_residual", "mixed", "rollout"]
