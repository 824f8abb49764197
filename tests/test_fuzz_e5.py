"""Damaged E5S1 files (tests/tiny_e5.py's tiny model): truncated, overwritten with random bytes in the
header, tokenizer, directory or data, a NaN in a Q4_0 scale, then `attn explain` and `attn model list`
on it. The rule is tests/fuzzing.py's: exit 0, or exit 2 with one line naming the file."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tiny_e5 import tiny_bytes, write_tiny

from attncli.models.e5 import E5File

from conftest import RunAttn
from fuzzing import fuzz_settings, run_clean


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ATTN_CACHE", "off")  # every case a new file: nothing from an earlier one
    return tmp_path


def _directory_at(raw: bytes, name: str) -> int:
    """Where tensor `name`'s directory entry (after its name) starts."""
    key = struct.pack("<H", len(name)) + name.encode()
    return raw.index(key) + len(key)


@fuzz_settings(ci=25, slow=600)
@given(data=st.data())
def test_damaged_e5_files(attn: RunAttn, folder: Path, data: Any) -> None:
    raw = bytearray(tiny_bytes())
    how = data.draw(st.sampled_from(("truncate", "overwrite", "header", "scale")))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "overwrite":
        at = data.draw(st.integers(0, len(raw) - 8))
        raw[at : at + 8] = data.draw(st.binary(min_size=8, max_size=8))
    elif how == "header":  # a count, a length, an offset
        at = data.draw(st.integers(4, _directory_at(raw, "l1.oln.b") + 20))
        raw[at : at + 4] = struct.pack("<I", data.draw(st.sampled_from((0, 1, 2**31 - 1, 2**31, 2**32 - 1))))
    else:
        start = E5File(write_tiny(folder / "intact.bin")).tensors["l0.q.w"].offset
        block = data.draw(st.integers(0, 127))
        raw[start + 18 * block : start + 18 * block + 2] = b"\xff\x7f"  # an fp16 NaN as a block's scale
    path = folder / "tiny.bin"
    path.write_bytes(bytes(raw))
    r = run_clean(attn, "explain", "the cat sat", "--model", str(path), "--json")
    if r.code == 2:
        assert str(path) in r.err or "--model" in r.err, r.err
    run_clean(attn, "model", "list", "--model", str(path))


def _damage(raw: bytearray, how: str) -> None:
    if how == "magic":
        raw[:4] = b"E5S2"
    elif how == "past the end":
        at = _directory_at(raw, "l1.fo.w") + 5
        raw[at : at + 8] = struct.pack("<Q", len(raw))
    elif how == "block count":
        at = _directory_at(raw, "l0.fi.w") + 1
        raw[at : at + 4] = struct.pack("<I", 64 * 32)
    elif how == "nan scale":
        at = struct.unpack("<Q", raw[_directory_at(raw, "l0.k.w") + 5 :][:8])[0]
        raw[at : at + 2] = b"\xff\x7f"
    elif how == "truncated":
        del raw[len(raw) // 2 :]
    else:  # a piece offset running backwards
        raw[4 + 4 + 36 + 24 + 8 : 4 + 4 + 36 + 24 + 12] = struct.pack("<I", 99)


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("magic", "does not start with 'E5S1'"),
        ("past the end", "lies past the end of the file"),
        ("block count", "block count does not match its shape"),
        ("nan scale", "NaN"),
        ("truncated", "truncated"),
        ("offsets", "offsets are out of order"),
    ],
)
def test_a_damaged_file_is_one_line_naming_it(attn: RunAttn, folder: Path, how: str, said: str) -> None:
    raw = bytearray(tiny_bytes())
    _damage(raw, how)
    path = folder / "damaged.bin"
    path.write_bytes(bytes(raw))
    r = run_clean(attn, "explain", "the cat sat", "--model", str(path))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert str(path) in r.err and said in r.err, r.err


@fuzz_settings(ci=25, slow=600)
@given(
    sentence=st.one_of(
        st.text(max_size=30), st.sampled_from(("ёлка и йод", "😀👩‍💻", "e\u0301", "<s> </s>", "\t\n", "\x01"))
    ),
    query=st.one_of(st.none(), st.sampled_from(("cat", "йод", "и\u0306од", "<s>", "▁the", "passage", ""))),
    prefix=st.one_of(st.none(), st.sampled_from(("", "query: ", "  ", "ﬁ\u0301"))),
    extra=st.lists(st.sampled_from(("--json", "--causal", "--truncate", "--head", "all", "--roles")), max_size=2),
)
def test_odd_input_to_e5(
    attn: RunAttn, folder: Path, sentence: str, query: str | None, prefix: str | None, extra: list[str]
) -> None:
    path = folder / "tiny.bin"
    if not path.exists():
        write_tiny(path)
    args = ["explain", sentence, "--model", str(path), *extra]
    if query is not None:
        args += ["--query", query]
    if prefix is not None:
        args += ["--text-prefix", prefix]
    run_clean(attn, *args)
