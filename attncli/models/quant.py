"""ggml's block quantizations in NumPy: Q4_0, Q4_1 and Q8_0 rows back to float32.

A quantized row of n weights is n/32 blocks of 32 weights each, one block after another:

    Q4_0  18 bytes: fp16 d, 16 bytes of 4-bit q     w = (q − 8)·d
    Q4_1  20 bytes: fp16 d, fp16 m, 16 bytes of q   w = q·d + m
    Q8_0  34 bytes: fp16 d, 32 int8 q               w = q·d

In the 4-bit blocks byte j holds weight j in its low nibble and weight j + 16 in its high nibble.
A scale that is NaN or ∞ is a damaged file: `dequantize` raises ValueError for it (the caller names
the file and the tensor). Nothing here reads a file or prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

BLOCK = 32  # weights per block, for every type here


@dataclass(frozen=True)
class QuantType:
    """One ggml tensor type: its name, and the bytes of one block of `per_block` weights."""

    name: str
    block_bytes: int
    per_block: int = BLOCK

    def nbytes(self, count: int) -> int:
        """Bytes of `count` weights (count a multiple of per_block)."""
        return count // self.per_block * self.block_bytes


# ggml's type ids (ggml.h, enum ggml_type) of the types attncli reads
F32, F16, Q4_0, Q4_1, Q8_0 = 0, 1, 2, 3, 8
TYPES: dict[int, QuantType] = {
    F32: QuantType("F32", 4, 1),
    F16: QuantType("F16", 2, 1),
    Q4_0: QuantType("Q4_0", 18),
    Q4_1: QuantType("Q4_1", 20),
    Q8_0: QuantType("Q8_0", 34),
}


def _nibbles(qs: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(blocks, 16) bytes → (blocks, 32) values 0…15: the low nibbles first, then the high ones."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32)


def _scale(raw: NDArray[np.uint8], at: int) -> NDArray[np.float32]:
    """The fp16 at byte `at` of every block (blocks, 1), as float32; ValueError when one is not finite."""
    scale = raw[:, at : at + 2].copy().view(np.float16).astype(np.float32)
    if not np.isfinite(scale).all():
        bad = int(np.flatnonzero(~np.isfinite(scale.ravel()))[0])
        raise ValueError(_("block {n} has a scale that is NaN or ∞").format(n=bad + 1))
    return scale


def dequantize(data: NDArray[np.uint8], kind: int, count: int) -> NDArray[np.float32]:
    """`count` weights of ggml type `kind` from their bytes `data`, as a flat float32 array."""
    qt = TYPES[kind]
    if data.size != qt.nbytes(count) or count % qt.per_block:
        message = _("{size} bytes do not hold {count} weights of type {type}")
        raise ValueError(message.format(size=data.size, count=count, type=qt.name))
    if kind == F32:
        return data.view(np.float32).copy()
    if kind == F16:
        return data.view(np.float16).astype(np.float32)
    raw = data.reshape(-1, qt.block_bytes)
    if kind == Q8_0:
        out = raw[:, 2:].view(np.int8).astype(np.float32) * _scale(raw, 0)
    elif kind == Q4_0:
        out = (_nibbles(raw[:, 2:]) - 8.0) * _scale(raw, 0)
    else:  # Q4_1
        out = _nibbles(raw[:, 4:]) * _scale(raw, 0) + _scale(raw, 2)
    flat: NDArray[np.float32] = out.reshape(-1)
    return flat


def quantize_q4_1(weights: NDArray[np.floating]) -> NDArray[np.uint8]:
    """The Q4_1 bytes of `weights` (size a multiple of 32), as ggml rounds them: for making test files."""
    w = np.asarray(weights, dtype=np.float32).reshape(-1, BLOCK)
    lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
    d = ((hi - lo) / 15).astype(np.float16)
    inv = np.where(d.astype(np.float32) == 0, 0, 1 / np.where(d == 0, 1, d.astype(np.float32)))
    q = np.clip(np.round((w - lo) * inv), 0, 15).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    head = np.concatenate([d.view(np.uint8).reshape(-1, 2), lo.astype(np.float16).view(np.uint8).reshape(-1, 2)], 1)
    out: NDArray[np.uint8] = np.concatenate([head, packed], axis=1).reshape(-1)
    return out


def quantize_q8_0(weights: NDArray[np.floating]) -> NDArray[np.uint8]:
    """The Q8_0 bytes of `weights` (size a multiple of 32): for making test files."""
    w = np.asarray(weights, dtype=np.float32).reshape(-1, BLOCK)
    d = (np.abs(w).max(axis=1, keepdims=True) / 127).astype(np.float16)
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d.astype(np.float32)))
    q = np.clip(np.round(w * inv), -127, 127).astype(np.int8)
    out: NDArray[np.uint8] = np.concatenate([d.view(np.uint8).reshape(-1, 2), q.view(np.uint8)], axis=1).reshape(-1)
    return out


def quantize_q4_0(weights: NDArray[np.floating]) -> NDArray[np.uint8]:
    """The Q4_0 bytes of `weights` (size a multiple of 32): for making test files."""
    w = np.asarray(weights, dtype=np.float32).reshape(-1, BLOCK)
    idx = np.abs(w).argmax(axis=1)
    mx = w[np.arange(len(w)), idx][:, None]
    d = (mx / -8).astype(np.float16)
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d.astype(np.float32)))
    q = np.clip(np.round(w * inv + 8), 0, 15).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    out: NDArray[np.uint8] = np.concatenate([d.view(np.uint8).reshape(-1, 2), packed], axis=1).reshape(-1)
    return out
