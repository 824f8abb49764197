"""Fuzzing `attn explain` and `attn model`: odd sentences, layers, heads and queries, broken word-vector
files, and model folders whose files are truncated, corrupted or missing keys (built in tmp dirs from
the real model that `attn model list` finds). The rule is tests/fuzzing.py's; a broken model file's
error must also name the file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attncli.models.bert import CONFIG_FILE, MODEL_FILES, TOKENIZER_FILE, WEIGHTS_FILE
from attncli.models.locate import candidates

from conftest import SAMPLES, RunAttn
from fuzzing import assert_clean, fuzz_settings, json_values, no_hang, run_clean

EMBEDDINGS = str(SAMPLES / "embeddings-en.json")
SENTENCES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(("", " ", "\t\n", "[CLS] [SEP] [PAD] [MASK]", "tower", "😀 " * 5, "Этот фильм", "a" * 300)),
    st.lists(st.sampled_from(("the", "cat", "sat", "on", "mat", "Eiffel", "tower", "toy", ",", "!")), max_size=8).map(
        " ".join
    ),
)
NUMBERS = st.sampled_from(("1", "2", "6", "7", "12", "13", "0", "-1", "all", "x", "1.5", "99999999999999999999"))


def real_model_folder() -> Path:
    """The model `attn model list` marks as used (the installed package in CI)."""
    found = candidates(None)
    assert found, "the model package is installed by `make test` (see the Makefile)"
    return found[0].folder


@fuzz_settings(ci=12, slow=400)
@given(
    sentence=SENTENCES,
    layer=st.one_of(st.none(), NUMBERS),
    head=st.one_of(st.none(), NUMBERS),
    query=st.one_of(st.none(), st.sampled_from(("cat", "tower", "nothing", "", "[CLS]", "1", "-1"))),
    extra=st.lists(st.sampled_from(("--json", "--causal", "--truncate", "--stage", "--dtype")), max_size=2),
    own=st.booleans(),
)
def test_explain_options(
    attn: RunAttn, sentence: str, layer: Any, head: Any, query: Any, extra: list[str], own: bool
) -> None:
    args = ["explain", sentence]
    for flag, value in (("--layer", layer), ("--head", head), ("--query", query)):
        if value is not None:
            args += [flag, value]
    for flag in extra:
        args += [flag, *({"--stage": ["weights"], "--dtype": ["float16"]}.get(flag, []))]
    if own:
        args += ["--embeddings", EMBEDDINGS]
    run_clean(attn, *args)


ORDERS = st.one_of(
    st.sampled_from(("reverse", "random", "RANDOM", "3 1 2", "1 2 3", "3 1 1", "3,2,1", "", " ", "0 1 2", "-1 2 3")),
    st.lists(st.integers(-2, 6), max_size=7).map(lambda xs: " ".join(map(str, xs))),
    st.text(max_size=12),
)


@fuzz_settings(ci=20, slow=600)
@given(
    sentence=st.sampled_from(("Этот фильм потрясающий", "Этот фильм", "фильм", "Этот фильм очень скучная книга")),
    order=st.one_of(st.none(), ORDERS),
    heads=st.one_of(st.none(), st.sampled_from(("1", "2", "3", "0", "-1", "x"))),
    extra=st.lists(
        st.sampled_from(("--json", "--causal", "--rope", "--positional", "--seed", "--query", "--wq", "--stage")),
        max_size=3,
    ),
)
def test_explain_positions_and_word_order(
    attn: RunAttn, sentence: str, order: Any, heads: Any, extra: list[str]
) -> None:
    """--permute, --heads, --positional, --rope and what does not go with them (issue 15, item 7)."""
    args = ["explain", sentence, "--embeddings", str(SAMPLES / "embeddings-ru.json")]
    if order is not None:
        args += ["--permute", order]
    if heads is not None:
        args += ["--heads", heads]
    values = {"--positional": ["sinusoidal"], "--seed": ["3"], "--query": ["фильм"], "--wq": ["1 0 0 1; 0 1 1 0"],
              "--stage": ["weights"]}  # fmt: skip
    for flag in extra:
        args += [flag, *values.get(flag, [])]
    run_clean(attn, *args)


WORDS = st.sampled_from(("cat", "tower", "Eiffel", "##iff", "nothing", "", "[CLS]", "[SEP]", "1", "-1", "Ё", " tower"))


@fuzz_settings(ci=12, slow=400)
@given(
    sentence=SENTENCES,
    query=st.one_of(st.none(), WORDS),
    key=st.one_of(st.none(), WORDS),
    mode=st.lists(st.sampled_from(("--rollout", "--roles", "--pieces", "--json", "--causal")), max_size=3),
    where=st.lists(st.sampled_from(("--layer", "--head")), max_size=2),
    residual=st.one_of(st.none(), st.sampled_from(("0", "0.5", "0.99", "1", "-0.1", "nan", "inf", "x", "1e-300"))),
)
def test_explain_across_heads_and_layers(
    attn: RunAttn, sentence: str, query: Any, key: Any, mode: list[str], where: list[str], residual: Any
) -> None:
    """--key, --query with --head all, --roles, --rollout and --residual, in every combination."""
    args = ["explain", sentence, *mode]
    for flag, value in (("--query", query), ("--key", key), ("--residual", residual)):
        if value is not None:
            args += [flag, value]
    for flag in where:
        args += [flag, "all" if flag == "--head" else "2"]
    run_clean(attn, *args)


def test_overview_without_a_pattern_says_so_with_null(attn: RunAttn) -> None:
    """The long campaign's find: in "0000" head 4.9 has no pattern holding half its weight; the JSON says
    null (documented), as the table says —, and the rule for nulls knows it."""
    r = run_clean(attn, "explain", "0000", "--head", "all", "--json")
    head = next(h for h in json.loads(r.out)["heads"] if h["head"] == 9)
    assert head["pattern"] is None and head["share"] is None
    table = run_clean(attn, "explain", "0000", "--head", "all").out
    assert re.search(r"^\s+4\s+9\s+—", table, re.MULTILINE)


@fuzz_settings(ci=30, slow=1000)
@given(
    doc=st.one_of(
        json_values(),
        st.fixed_dictionaries({"embeddings": st.dictionaries(st.sampled_from(("cat", "sat", "the")), json_values())}),
    ),
    broken=st.booleans(),
    weights=st.one_of(st.none(), st.sampled_from(("1 0; 0 1", "1 0", "[[1e308, 1e308], [1e308, 1e308]]", "x"))),
)
def test_explain_with_broken_word_vectors(attn: RunAttn, tmp_path: Path, doc: Any, broken: bool, weights: Any) -> None:
    path = tmp_path / "embeddings.json"
    text = json.dumps(doc)
    path.write_text(text[: len(text) // 2] if broken else text)
    args = ["explain", "the cat sat", "--embeddings", str(path)]
    if weights is not None:
        args += ["--wq", weights, "--wk", weights, "--wv", weights]
    run_clean(attn, *args)


# ---------------------------------------------------------------- broken model folders


def model_copy(tmp_path: Path, broken: str, content: Callable[[bytes], bytes]) -> Path:
    """A model folder in tmp_path: the real files linked, `broken` replaced by content(its real bytes)."""
    real = real_model_folder()
    folder = tmp_path / "model"
    folder.mkdir()
    for name in MODEL_FILES:
        if name == broken:
            (folder / name).write_bytes(content((real / name).read_bytes()))
        else:
            (folder / name).symlink_to(real / name)
    return folder


def _config_without(key: str) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        config = json.loads(data)
        del config[key]
        return json.dumps(config).encode()

    return edit


def _config_with(key: str, value: Any) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        return json.dumps({**json.loads(data), key: value}).encode()

    return edit


def _safetensors_header(edit: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    """The weights file with its JSON header edited (the tensors' bytes kept)."""

    def rewrite(data: bytes) -> bytes:
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
        edit(header)
        text = json.dumps(header).encode()
        return len(text).to_bytes(8, "little") + text + data[8 + size :]

    return rewrite


def _nan_in(data: bytes, tensor: str) -> bytes:
    """The weights file with the first 64 bytes of `tensor` set to 0xff (NaN in float32)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    name = next(k for k in header if k.endswith(tensor))
    start = 8 + size + header[name]["data_offsets"][0]
    return data[:start] + b"\xff" * 64 + data[start + 64 :]


def _first_tensor(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(header: dict[str, Any]) -> None:
        change(header[sorted(k for k in header if k != "__metadata__")[0]])

    return edit


BROKEN_FILES: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "weights empty": (WEIGHTS_FILE, lambda d: b""),
    "weights 7 bytes": (WEIGHTS_FILE, lambda d: d[:7]),
    "weights cut in the header": (WEIGHTS_FILE, lambda d: d[:100]),
    "weights cut after the header": (WEIGHTS_FILE, lambda d: d[: 8 + int.from_bytes(d[:8], "little") + 10]),
    "weights cut in half": (WEIGHTS_FILE, lambda d: d[: len(d) // 2]),
    "weights missing the last byte": (WEIGHTS_FILE, lambda d: d[:-1]),
    "weights random bytes": (WEIGHTS_FILE, lambda d: bytes(range(256)) * 4),
    "weights header size huge": (WEIGHTS_FILE, lambda d: (2**62).to_bytes(8, "little") + d[8:]),
    "weights header not JSON": (WEIGHTS_FILE, lambda d: d[:8] + b"\xff" * (int.from_bytes(d[:8], "little")) + d[8:]),
    "weights tensor of the wrong dtype": (
        WEIGHTS_FILE,
        _safetensors_header(_first_tensor(lambda t: t.update(dtype="BOOL"))),
    ),
    "weights tensor of the wrong shape": (
        WEIGHTS_FILE,
        _safetensors_header(_first_tensor(lambda t: t.update(shape=[3, 7]))),
    ),
    "weights offsets past the end": (
        WEIGHTS_FILE,
        _safetensors_header(_first_tensor(lambda t: t.update(data_offsets=[0, 10**12]))),
    ),
    "weights with NaN": (WEIGHTS_FILE, lambda d: _nan_in(d, "encoder.layer.0.attention.self.query.weight")),
    "tokenizer not JSON": (TOKENIZER_FILE, lambda d: d[: len(d) // 3]),
    "tokenizer empty": (TOKENIZER_FILE, lambda d: b""),
    "tokenizer not UTF-8": (TOKENIZER_FILE, lambda d: b"\xff\xfe" + d),
    "tokenizer an empty object": (TOKENIZER_FILE, lambda d: b"{}"),
    "tokenizer a list": (TOKENIZER_FILE, lambda d: b"[1, 2]"),
    "config not JSON": (CONFIG_FILE, lambda d: d[:-5]),
    "config empty": (CONFIG_FILE, lambda d: b""),
    "config a list": (CONFIG_FILE, lambda d: b"[]"),
    "config not UTF-8": (CONFIG_FILE, lambda d: b"\xff" + d),
    **{
        f"config without {key}": (CONFIG_FILE, _config_without(key))
        for key in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "vocab_size",
        )
    },
    "config hidden_size a string": (CONFIG_FILE, _config_with("hidden_size", "big")),
    "config hidden_size 0": (CONFIG_FILE, _config_with("hidden_size", 0)),
    "config num_attention_heads 0": (CONFIG_FILE, _config_with("num_attention_heads", 0)),
    "config num_hidden_layers -1": (CONFIG_FILE, _config_with("num_hidden_layers", -1)),
    "config num_hidden_layers 100": (CONFIG_FILE, _config_with("num_hidden_layers", 100)),
    "config vocab_size 10": (CONFIG_FILE, _config_with("vocab_size", 10)),
    "config max_position_embeddings 3": (CONFIG_FILE, _config_with("max_position_embeddings", 3)),
    "config max_position_embeddings 1e30": (CONFIG_FILE, _config_with("max_position_embeddings", 10**30)),
    "config layer_norm_eps null": (CONFIG_FILE, _config_with("layer_norm_eps", None)),
    "config layer_norm_eps NaN": (
        CONFIG_FILE,
        lambda d: re.sub(rb'"layer_norm_eps": [^,}]*', b'"layer_norm_eps": NaN', d),
    ),
}


# config.json and model.safetensors disagree: the error may name either file (weights are checked against the config)
CONFIG_WEIGHTS_MISMATCH = {"config num_hidden_layers 100", "config vocab_size 10", "config max_position_embeddings 3"}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_broken_model_files_are_named(attn: RunAttn, tmp_path: Path, case: str) -> None:
    name, content = BROKEN_FILES[case]
    folder = model_copy(tmp_path, name, content)
    explain = ("explain", "The cat sat", "--model", str(folder))
    with no_hang():
        r = attn(*explain)
    assert_clean(r, explain)
    named = (CONFIG_FILE, WEIGHTS_FILE) if case in CONFIG_WEIGHTS_MISMATCH else (name,)
    assert r.code == 2 and any(n in r.err for n in named), (
        f"{case}: exit {r.code}, not naming {name}\n{r.err}{r.out[:300]}"
    )
    listing = ("model", "list", "--model", str(folder))  # may describe a folder it cannot run, but never crash
    with no_hang():
        r = attn(*listing)
    assert_clean(r, listing)
    assert r.code == 0 or name in r.err, r.err


def test_missing_model_files_and_folders(attn: RunAttn, tmp_path: Path) -> None:
    real = real_model_folder()
    for missing in MODEL_FILES:
        folder = tmp_path / f"without-{missing}"
        folder.mkdir()
        for name in MODEL_FILES:
            if name != missing:
                (folder / name).symlink_to(real / name)
        r = attn("explain", "The cat sat", "--model", str(folder))
        assert_clean(r, ("explain",))
        assert r.code == 2 and missing in r.err
    for folder_arg in (str(tmp_path / "nowhere"), str(real / CONFIG_FILE)):
        r = attn("explain", "The cat sat", "--model", folder_arg)
        assert_clean(r, ("explain",))
        assert r.code == 2


def test_model_path_from_the_environment_is_checked(attn: RunAttn, tmp_path: Path, monkeypatch: Any) -> None:
    folder = model_copy(tmp_path, CONFIG_FILE, lambda d: b"{")
    monkeypatch.setenv("ATTN_MODEL", str(folder))
    r = attn("explain", "The cat sat")
    assert_clean(r, ("explain",))
    assert r.code == 2 and CONFIG_FILE in r.err


def test_copying_the_whole_model_folder_still_works(attn: RunAttn, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(real_model_folder(), folder)
    r = attn("explain", "The cat sat", "--model", str(folder), "--layer", "1", "--head", "1", "--json")
    assert_clean(r, ("explain", "--json"))
    assert r.code == 0
