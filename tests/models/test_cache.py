"""The on-disk cache of dequantized weights (attncli.models.cache): used only while its source file
and every entry check out; a changed source, a damaged, truncated or replaced entry is made again,
never used; files appear whole or not at all, only inside the user's cache folder; `attn model
clear-cache` deletes it; and a tiny E5S1 model gives the same attention with and without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tiny_e5 import write_tiny

from attncli.models.cache import MANIFEST, WeightCache, cache_root, checksum, clear, safe_name

from conftest import RunAttn


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ATTN_CACHE", raising=False)
    return tmp_path / "cache" / "attncli" / "dequantized"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 64)
    return path


class Maker:
    """make() for the cache, counting its calls."""

    def __init__(self, value: np.ndarray) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.value


VALUE = np.arange(12, dtype=np.float32).reshape(3, 4) / 7


def test_a_second_run_maps_the_stored_array_without_making_it(home: Path, source: Path) -> None:
    make = Maker(VALUE)
    first = WeightCache(source).array("blk.0.attn_q.weight", make)
    again = WeightCache(source).array("blk.0.attn_q.weight", make)
    assert make.calls == 1 and isinstance(again, np.memmap)
    np.testing.assert_array_equal(first, VALUE)
    np.testing.assert_array_equal(again, VALUE)
    folder = WeightCache(source).folder
    assert folder.parent == home and folder.name.startswith("model.bin-")
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["source"]["size"] == source.stat().st_size
    assert manifest["entries"]["blk.0.attn_q.weight.npy"] == {"shape": [3, 4], "dtype": "<f4", "sum": checksum(VALUE)}
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # written to a temporary name, renamed


def test_a_changed_source_gets_a_new_folder_and_the_old_one_goes(home: Path, source: Path) -> None:
    old = WeightCache(source)
    old.array("w", Maker(VALUE))
    stat = source.stat()
    source.write_bytes(b"\x01" + source.read_bytes()[1:])  # same size; the first byte changed
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same modification time
    make = Maker(VALUE + 1)
    new = WeightCache(source)
    assert new.folder != old.folder
    np.testing.assert_array_equal(new.array("w", make), VALUE + 1)
    assert make.calls == 1 and not old.folder.exists()  # the stale folder of the same path is deleted


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[:-5]),  # truncated
        lambda p: p.write_bytes(p.read_bytes()[:-4] + b"\x00\x00\x80\x7f"),  # one value changed (to ∞)
        lambda p: np.save(p, VALUE[:, ::-1].copy()),  # replaced by another array of the same shape
        lambda p: np.save(p, VALUE.astype(np.float64)),  # of another dtype
        lambda p: p.write_bytes(b"not an npy file"),
        lambda p: p.unlink(),
    ],
    ids=["truncated", "changed", "replaced", "dtype", "garbage", "missing"],
)
def test_a_damaged_entry_is_made_again_never_used(home: Path, source: Path, damage: object) -> None:
    cache = WeightCache(source)
    cache.array("w", Maker(VALUE))
    damage(cache.folder / "w.npy")  # type: ignore[operator]
    make = Maker(VALUE)
    np.testing.assert_array_equal(WeightCache(source).array("w", make), VALUE)
    assert make.calls == 1
    np.testing.assert_array_equal(np.load(cache.folder / "w.npy"), VALUE)  # and stored whole again


def test_a_manifest_of_another_file_or_a_damaged_one_is_not_trusted(home: Path, source: Path) -> None:
    cache = WeightCache(source)
    cache.array("w", Maker(VALUE))
    manifest = cache.folder / MANIFEST
    doc = json.loads(manifest.read_text())
    doc["source"]["size"] += 1
    manifest.write_text(json.dumps(doc))
    make = Maker(VALUE)
    WeightCache(source).array("w", make)
    assert make.calls == 1
    manifest.write_text("{")
    make = Maker(VALUE)
    WeightCache(source).array("w", make)
    assert make.calls == 1


def test_json_entries_are_checked_too(home: Path, source: Path) -> None:
    cache = WeightCache(source)
    assert cache.json("header.json", None) is None  # nothing yet, nothing to make
    assert cache.json("header.json", lambda: {"a": [1, 2]}) == {"a": [1, 2]}
    assert WeightCache(source).json("header.json", None) == {"a": [1, 2]}
    (cache.folder / "header.json").write_text(json.dumps({"a": [1, 3]}))  # valid JSON, not what was stored
    assert WeightCache(source).json("header.json", None) is None
    assert WeightCache(source).json("header.json", lambda: {"a": [1, 2]}) == {"a": [1, 2]}


def test_names_stay_inside_the_folder(home: Path, source: Path) -> None:
    cache = WeightCache(source)
    cache.array("../../escape/../x\n\x00", Maker(VALUE))
    assert [p.parent for p in cache.folder.parent.rglob("*.npy")] == [cache.folder]
    assert safe_name("../../etc/passwd") == "_.._etc_passwd" and safe_name("..") == "_" and safe_name("") == "_"


def test_the_cache_lives_in_the_users_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "attncli" / "dequantized"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # not absolute: ignored, as the XDG specification says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "attncli" / "dequantized"


def test_off_or_unwritable_the_weights_are_made_in_memory(
    home: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTN_CACHE", "off")
    make = Maker(VALUE)
    WeightCache(source).array("w", make)
    WeightCache(source).array("w", make)
    assert make.calls == 2 and not home.exists()
    monkeypatch.delenv("ATTN_CACHE")
    home.parent.mkdir(parents=True)
    home.write_text("a file where the folder would be")  # the cache cannot be made
    make = Maker(VALUE)
    np.testing.assert_array_equal(WeightCache(source).array("w", make), VALUE)
    np.testing.assert_array_equal(WeightCache(source).array("w", make), VALUE)
    assert make.calls == 2


def test_checksum_sees_every_byte() -> None:
    a = np.zeros(1001, dtype=np.float32)
    b = a.copy()
    b.view(np.uint8)[4003] ^= 1
    assert checksum(a) != checksum(b) and checksum(a) != checksum(a[:-1]) and checksum(a) == checksum(a.copy())
    assert checksum(np.zeros(3, dtype=np.uint8)) == "3:0000000000000000"


def test_clear_cache_deletes_every_folder_and_says_so(attn: RunAttn, home: Path, source: Path) -> None:
    WeightCache(source).array("w", Maker(VALUE))
    r = attn("model", "clear-cache")
    assert r.code == 0, r.err
    assert r.out.startswith("deleted 1 folder of dequantized weights (0 MB) from ") and str(home) in r.out
    assert home.is_dir() and not list(home.iterdir())
    assert clear() == (0, 0)
    assert attn("model", "clear-cache", "--lang", "ru").out.startswith(
        "удалено 0 папок деквантованных весов (0 МБ) из "
    )


def test_a_tiny_model_gives_the_same_attention_with_the_cache_and_without(
    attn: RunAttn, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = write_tiny(tmp_path / "tiny.bin")
    args = ("explain", "the cat sat", "--model", str(tiny), "--json")
    first, cached = attn(*args), attn(*args)  # the first fills the cache, the second maps it
    assert first.code == 0, first.err
    assert json.loads((next(home.iterdir()) / MANIFEST).read_text())["entries"]
    monkeypatch.setenv("ATTN_CACHE", "off")
    assert first.out == cached.out == attn(*args).out
