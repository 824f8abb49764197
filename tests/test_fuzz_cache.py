"""Damaged caches of dequantized weights (attncli.models.cache): any file of a cache folder — an array
entry, a JSON entry or the manifest — truncated, cut into, overwritten with random bytes, grown or
deleted; the cache then gives exactly the values the model file gives (what it stored, or what it
makes again), never damaged ones, and never fails. On a tiny E5S1 model, `attn explain` then prints
what it prints without the cache (the rule of tests/fuzzing.py: exit 0 and the same output)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tiny_e5 import write_tiny

from attncli.models.cache import WeightCache

from conftest import RunAttn
from fuzzing import fuzz_settings

VALUE = (np.arange(40, dtype=np.float32) - 20).reshape(5, 8) / 3
DOC = {"tokens": ["a", "b"], "merges": [[1, 2]]}


def _damage(path: Path, data: Any) -> None:
    raw = bytearray(path.read_bytes())
    how = data.draw(st.sampled_from(("truncate", "overwrite", "grow", "delete", "flip")))
    if how == "delete":
        path.unlink()
        return
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "grow":
        raw += data.draw(st.binary(min_size=1, max_size=16))
    elif how == "flip" and raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= 1 << data.draw(st.integers(0, 7))
    elif raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        patch = data.draw(st.binary(min_size=1, max_size=32))
        raw[at : at + len(patch)] = patch
    path.write_bytes(bytes(raw))


@fuzz_settings(ci=40, slow=1000)
@given(data=st.data())
def test_a_damaged_cache_gives_the_true_values_or_makes_them_again(data: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(Path(tmp) / "cache"))
        mp.delenv("ATTN_CACHE", raising=False)
        source = Path(tmp) / "model.gguf"
        source.write_bytes(bytes(range(256)) * 8)
        cache = WeightCache(source)
        cache.array("blk.0.w", lambda: VALUE)
        cache.json("tokenizer.json", lambda: DOC)
        files = sorted(p for p in cache.folder.iterdir())
        for path in data.draw(st.lists(st.sampled_from(files), min_size=1, max_size=3, unique=True)):
            _damage(path, data)
        again = WeightCache(source)
        np.testing.assert_array_equal(again.array("blk.0.w", lambda: VALUE), VALUE)
        assert again.json("tokenizer.json", lambda: DOC) == DOC
        later = WeightCache(source)  # and what was made again is stored whole
        np.testing.assert_array_equal(later.array("blk.0.w", lambda: VALUE * 0), VALUE)
        assert later.json("tokenizer.json", lambda: {}) == DOC


@fuzz_settings(ci=6, slow=100)
@given(data=st.data())
def test_explain_over_a_damaged_cache_prints_what_it_prints_without(
    attn: RunAttn, tmp_path_factory: pytest.TempPathFactory, data: Any
) -> None:
    folder = tmp_path_factory.mktemp("fuzz-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        mp.delenv("ATTN_CACHE", raising=False)
        tiny = write_tiny(folder / "tiny.bin")
        args = ("explain", "the cat sat", "--model", str(tiny), "--json")
        first = attn(*args)
        assert first.code == 0, first.err
        entries = sorted(p for p in next((folder / "cache" / "attncli" / "dequantized").iterdir()).iterdir())
        _damage(data.draw(st.sampled_from(entries)), data)
        damaged = attn(*args)
        assert (damaged.code, damaged.out) == (0, first.out), damaged.err
