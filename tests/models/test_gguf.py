"""The GGUF reader and ggml's dequantization: hand-worked blocks, the `gguf` package (test extra) as an
independent oracle on random blocks and on the real SmolLM2 file, and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf  # test-time oracle only
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_gguf import tiny_metadata, tiny_tensors, write_tiny

from attncli.errors import ModelError
from attncli.models.catalog import KNOWN, SMOLLM2
from attncli.models.gguf import GGUFFile, write_gguf
from attncli.models.llama import LlamaDecoder
from attncli.models.quant import Q4_0, Q4_1, Q8_0, TYPES, dequantize, quantize_q4_0, quantize_q4_1, quantize_q8_0

ORACLE = {
    Q4_0: gguf.GGMLQuantizationType.Q4_0,
    Q4_1: gguf.GGMLQuantizationType.Q4_1,
    Q8_0: gguf.GGMLQuantizationType.Q8_0,
}


def _fp16(x: float) -> bytes:
    return np.float16(x).tobytes()


def test_a_q4_1_block_by_hand() -> None:
    # d = 0.5, m = -1; byte j holds q = j in its low nibble (weights 0…15) and 15 − j in its high one (16…31)
    qs = bytes((j | ((15 - j) << 4)) for j in range(16))
    w = dequantize(np.frombuffer(_fp16(0.5) + _fp16(-1.0) + qs, np.uint8), Q4_1, 32)
    assert w[:16].tolist() == [j * 0.5 - 1 for j in range(16)]
    assert w[16:].tolist() == [(15 - j) * 0.5 - 1 for j in range(16)]


def test_a_q4_0_block_by_hand() -> None:
    qs = bytes((j | (8 << 4)) for j in range(16))  # the high nibbles are all 8: weight 0
    w = dequantize(np.frombuffer(_fp16(2.0) + qs, np.uint8), Q4_0, 32)
    assert w[:16].tolist() == [(j - 8) * 2.0 for j in range(16)] and w[16:].tolist() == [0.0] * 16


def test_a_q8_0_block_by_hand() -> None:
    qs = np.arange(-16, 16, dtype=np.int8).tobytes()
    w = dequantize(np.frombuffer(_fp16(0.25) + qs, np.uint8), Q8_0, 32)
    assert w.tolist() == [q * 0.25 for q in range(-16, 16)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(kind=st.sampled_from([Q4_0, Q4_1, Q8_0]), blocks=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_random_blocks_match_the_gguf_package(kind: int, blocks: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (blocks, TYPES[kind].block_bytes), dtype=np.uint8)
    scales = rng.normal(0, 1, (blocks, 2)).astype(np.float16).view(np.uint8)  # finite fp16 d (and m)
    raw[:, :2] = scales[:, :2]
    if kind == Q4_1:
        raw[:, 2:4] = scales[:, 2:4]
    ours = dequantize(raw.reshape(-1), kind, blocks * 32)
    expected = gguf.quants.dequantize(raw.reshape(-1), ORACLE[kind]).reshape(-1)
    np.testing.assert_array_equal(ours, expected)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), spread=st.floats(1e-3, 1e3))
def test_quantize_then_dequantize_is_within_a_step(seed: int, spread: float) -> None:
    w = np.random.default_rng(seed).normal(0, spread, 96).astype(np.float32)
    for quantize, kind, steps in ((quantize_q4_1, Q4_1, 15), (quantize_q8_0, Q8_0, 254), (quantize_q4_0, Q4_0, 16)):
        back = dequantize(quantize(w), kind, 96).reshape(3, 32)
        blocks = w.reshape(3, 32)
        step = (
            (blocks.max(axis=1) - blocks.min(axis=1)) / steps
            if kind == Q4_1
            else np.abs(blocks).max(axis=1) / (steps / 2)
        )
        # half a step from rounding; Q4_0's one-sided range (−8…7) clips the far end by up to a step
        assert (np.abs(back - blocks) <= step[:, None] * 1.01 + 1e-3 * spread).all()


def test_a_nan_scale_is_named() -> None:
    raw = np.frombuffer(_fp16(float("nan")) + bytes(16), np.uint8)
    with pytest.raises(ValueError, match="block 1"):
        dequantize(raw, Q4_0, 32)


def test_the_real_file_reads_as_the_gguf_package_reads_it() -> None:
    path = KNOWN[SMOLLM2].path()
    assert path is not None
    ours, ref = GGUFFile(path), gguf.GGUFReader(str(path))
    assert len(ours.tensors) == len(ref.tensors) == 272
    assert ours.metadata["llama.rope.freq_base"] == 100000.0 and ours.metadata["llama.attention.head_count_kv"] == 3
    assert ours.metadata["tokenizer.ggml.tokens"][:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    by_name = {t.name: t for t in ref.tensors}
    for name in ("token_embd.weight", "blk.0.attn_k.weight", "blk.29.ffn_down.weight", "output_norm.weight"):
        expected = gguf.quants.dequantize(by_name[name].data, by_name[name].tensor_type)
        np.testing.assert_array_equal(ours.tensor(name), expected.reshape(ours.tensors[name].shape))


def test_the_tiny_model_round_trips(tmp_path: Path) -> None:
    path = write_tiny(tmp_path / "tiny.gguf")
    read = GGUFFile(path)
    assert read.metadata["llama.block_count"] == 2
    assert read.tensors["blk.0.attn_k.weight"].shape == (32, 64)
    ref = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    for name in read.tensors:
        expected = gguf.quants.dequantize(ref[name].data, ref[name].tensor_type)
        np.testing.assert_array_equal(read.tensor(name), expected.reshape(read.tensors[name].shape))


def damaged(tmp_path: Path, case: str) -> Path:
    """A tiny model file damaged in one way."""
    path = write_tiny(tmp_path / "tiny.gguf")
    data = bytearray(path.read_bytes())
    if case == "wrong magic":
        data[:4] = b"GGML"
    elif case == "truncated header":
        data = data[:200]
    elif case == "truncated data":
        data = data[: len(data) - 1000]
    elif case == "empty":
        data = bytearray()
    elif case == "version 9":
        data[4:8] = struct.pack("<I", 9)
    elif case == "tensor count huge":
        data[8:16] = struct.pack("<Q", 2**40)
    elif case == "nan scale":
        info = GGUFFile(path).tensors["blk.1.attn_q.weight"]
        data[info.offset : info.offset + 2] = _fp16(float("nan"))
    elif case in ("other architecture", "shape and blocks disagree", "no tokenizer"):
        meta, tensors = tiny_metadata(), tiny_tensors()
        if case == "other architecture":
            meta["general.architecture"] = "qwen2"
        elif case == "no tokenizer":
            del meta["tokenizer.ggml.merges"]
        else:  # the directory says 64 × 64 weights, the data holds the blocks of 32 × 64
            kind, _shape, raw = tensors["blk.0.attn_q.weight"]
            # (write_gguf places the next tensor right after the half: the shape runs into it)
            tensors["blk.0.attn_q.weight"] = (kind, (64, 64), raw[: len(raw) // 2])
        write_gguf(path, meta, tensors)
        return path
    path.write_bytes(bytes(data))
    return path


DAMAGE = {
    "wrong magic": "not a GGUF file",
    "truncated header": "ends inside its header",
    "truncated data": "past the end of the file",
    "empty": "cannot be read",
    "version 9": "version 9",
    "tensor count huge": "more entries than the file can hold",
    "nan scale": "blk.1.attn_q.weight",
    "other architecture": "'qwen2'",
    "shape and blocks disagree": "blk.0.attn_q.weight",
    "no tokenizer": "tokenizer",
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_file_is_one_error_naming_it(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTN_CACHE", "off")
    path = damaged(tmp_path, case)
    with pytest.raises(ModelError) as caught:
        model = LlamaDecoder(path)
        model.forward(model.tokenizer.encode("the cat", 64).ids[None, :])
    message = caught.value.message
    assert str(path) in message and DAMAGE[case] in message and "\n" not in message, message
