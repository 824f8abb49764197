"""Fuzzing GGUF decoders: a tiny Llama file (tests/tiny_gguf.py) truncated, overwritten with random bytes
in its header, directory or data, with a NaN scale or another architecture, then `attn explain` and
`attn model list` on it; and odd sentences, queries and --generate on the intact file. The rule is
tests/fuzzing.py's: exit 0, or exit 2 with one line (naming the file when the file is at fault)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tiny_gguf import tiny_metadata, tiny_tensors, write_tiny

from attncli.models.gguf import write_gguf

from conftest import RunAttn
from fuzzing import fuzz_settings, run_clean


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ATTN_CACHE", "off")  # every case a new file: nothing from an earlier one
    return tmp_path


@fuzz_settings(ci=25, slow=600)
@given(data=st.data())
def test_damaged_gguf_files(attn: RunAttn, folder: Path, data: Any) -> None:
    path = write_tiny(folder / "tiny.gguf")
    raw = bytearray(path.read_bytes())
    how = data.draw(st.sampled_from(("truncate", "overwrite", "header", "scale")))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "overwrite":
        at = data.draw(st.integers(0, len(raw) - 8))
        raw[at : at + 8] = data.draw(st.binary(min_size=8, max_size=8))
    elif how == "header":  # a count, a length or a type in the first bytes: the directory's numbers
        at = data.draw(st.integers(4, 4000))
        raw[at : at + 8] = struct.pack("<Q", data.draw(st.sampled_from((0, 1, 2**31, 2**63, 2**64 - 1))))
    else:
        at = data.draw(st.integers(0, len(raw) // 34 - 1)) * 34
        raw[-at - 34 : -at - 32] = b"\xff\x7f"  # an fp16 NaN where a block's scale may be
    path.write_bytes(bytes(raw))
    args = ("explain", "the cat sat", "--model", str(path), "--json")
    r = run_clean(attn, *args)
    if r.code == 2:
        assert str(path) in r.err or "--model" in r.err, r.err
    run_clean(attn, "model", "list", "--model", str(path))


@fuzz_settings(ci=15, slow=300)
@given(
    meta=st.sampled_from(
        (
            {"general.architecture": "gpt2"},
            {"llama.attention.head_count": 3},
            {"llama.attention.head_count_kv": 3},
            {"llama.block_count": 5},
            {"llama.embedding_length": 0},
            {"tokenizer.ggml.model": "llama"},
            {"tokenizer.ggml.merges": ["x y z"]},
            {"llama.context_length": 2},
        )
    )
)
def test_gguf_metadata_that_does_not_fit(attn: RunAttn, folder: Path, meta: dict[str, Any]) -> None:
    path = folder / "bad.gguf"
    write_gguf(path, tiny_metadata(**meta), tiny_tensors())
    args = ("explain", "the cat sat on the mat", "--model", str(path))
    r = run_clean(attn, *args)
    assert r.code in (0, 2)
    if r.code == 2 and "sentence" not in r.err.lower():
        assert str(path) in r.err, r.err


@fuzz_settings(ci=20, slow=400)
@given(
    sentence=st.one_of(st.text(max_size=20), st.sampled_from(("ёлка и йод", "😀👩‍💻", "e\u0301", "<|endoftext|>"))),
    query=st.one_of(st.none(), st.sampled_from(("cat", "йод", "и\u0306од", "1", "3", "99", ""))),
    generate=st.one_of(st.none(), st.integers(-1, 5).map(str)),
    extra=st.lists(st.sampled_from(("--json", "--causal", "--truncate", "--head", "all")), max_size=2),
)
def test_odd_input_to_a_decoder(
    attn: RunAttn, folder: Path, sentence: str, query: str | None, generate: str | None, extra: list[str]
) -> None:
    path = folder / "tiny.gguf"
    if not path.exists():
        write_tiny(path)
    args = ["explain", sentence, "--model", str(path), *extra]
    if query is not None:
        args += ["--query", query]
    if generate is not None:
        args += ["--generate", generate]
    run_clean(attn, *args)
