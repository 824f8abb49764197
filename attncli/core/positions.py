"""Where positions enter attention: sinusoidal encodings added to the inputs ("Attention Is All You
Need"), rotary embeddings (RoPE) of q and k, and ALiBi's distance penalties on the scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.settings import POSITIONALS, ROPE_STYLES, CausalAlign, PositionalKind, RopeStyle
from attncli.errors import ShapeError
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]


def sinusoidal_encoding(n: int, d_model: int) -> Array:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(same angle). Shape (n, d_model)."""
    pos = np.arange(n, dtype=np.float64)[:, None]
    i2 = np.arange(0, d_model, 2, dtype=np.float64)[None, :]  # the even column index 2i
    angle = pos / np.power(10000.0, i2 / d_model)  # (n, ceil(d/2))
    pe = np.zeros((n, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe


def rope_angles(n: int, d_head: int, base: float = 10000.0) -> Array:
    """θ[m, i] = m · base^(−2i/d_head) for positions m < n and pairs i < d_head/2. Shape (n, d_head/2)."""
    inv_freq = base ** (-np.arange(0, d_head, 2, dtype=np.float64) / d_head)
    angles: Array = np.arange(n, dtype=np.float64)[:, None] * inv_freq[None, :]
    return angles


def apply_rope(x: Array, angles: Array, style: RopeStyle = "half") -> Array:
    """Rotate x (..., n, d) by the angles (n, d/2).

    "half" (GPT-NeoX, Llama): pair i is (x_i, x_{i+d/2}) — x·cos + rotate_half(x)·sin with
    rotate_half(x) = [−x₂, x₁]. "interleaved" (RoFormer, GPT-J): pair i is (x_{2i}, x_{2i+1}).
    """
    cos, sin = np.cos(angles).astype(x.dtype), np.sin(angles).astype(x.dtype)
    if style == "half":
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def alibi_slopes(heads: int) -> Array:
    """The ALiBi paper's slopes: 2^(−8h/n) for h = 1…n when n is a power of 2; otherwise the slopes of
    the nearest lower power of 2, then every other slope of the next power of 2 (as the reference code)."""

    def power_of_2(n: int) -> list[float]:
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    closest = 2 ** int(np.floor(np.log2(heads)))
    slopes = power_of_2(closest)
    if closest < heads:
        slopes += power_of_2(2 * closest)[0::2][: heads - closest]
    return np.array(slopes)


def alibi_bias(slopes: Array, t: int, s: int, align: CausalAlign = "top-left") -> Array:
    """−slope_h · |i − j| for query i and key j (positions aligned like the causal mask). Shape (H, T, S)."""
    offset = 0 if align == "top-left" else s - t
    distance = np.abs(np.arange(t)[:, None] + offset - np.arange(s)[None, :]).astype(np.float64)
    bias: Array = -slopes[:, None, None] * distance[None]
    return bias


def rms_norm(x: Array, weight: Array, eps: float) -> tuple[Array, Array]:
    """RMSNorm along the last axis: (x / √(mean(x²) + eps) · weight, the root √(mean(x²) + eps) (..., 1))."""
    with np.errstate(over="ignore"):
        rms = np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + x.dtype.type(eps))
    out: Array = x / rms * weight
    return out, rms


@dataclass(frozen=True)
class Positions:
    """The position settings of a multi-head attention: sinusoidal encodings added to the inputs
    (positional), RoPE on q and k (its style and base), ALiBi on the scaled scores; and the QK-norm
    that comes just before RoPE (Gemma 3, Qwen 3): RMSNorm of every head's q and k rows with
    eps qk_norm_eps (its learned weights, one per column of a head, are given with the projections).
    (OLMo 2 normalises the whole projection, all heads together, instead: not this form.)"""

    positional: PositionalKind = "none"
    rope: bool = False
    rope_style: RopeStyle = "half"
    rope_base: float = 10000.0
    alibi: bool = False
    qk_norm: bool = False
    qk_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        one_of = _("must be one of {choices}, got {value!r}")
        if self.positional not in POSITIONALS:
            raise ShapeError(
                one_of.format(choices=", ".join(POSITIONALS), value=self.positional), argument="positional"
            )
        if self.rope_style not in ROPE_STYLES:
            raise ShapeError(
                one_of.format(choices=", ".join(ROPE_STYLES), value=self.rope_style), argument="rope_style"
            )
        if not (self.rope_base > 0 and np.isfinite(self.rope_base)):
            message = _("must be a positive number, got {value}").format(value=self.rope_base)
            raise ShapeError(message, argument="rope_base")
        if not (self.qk_norm_eps >= 0 and np.isfinite(self.qk_norm_eps)):
            message = _("must be a finite number ≥ 0, got {value}").format(value=self.qk_norm_eps)
            raise ShapeError(message, argument="qk_norm_eps")
