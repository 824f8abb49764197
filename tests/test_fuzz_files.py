"""The fuzzing campaign, second part (issue 19): special files wherever a file is read, .npy headers of
every version, huge integers in every integer option, outputs aimed at inputs, untrusted text in
titles and labels (terminal, CSV, Markdown), arguments that are not UTF-8, terminal encodings, and
scores that overflow on the blocked path. Every case keeps the rule of tests/fuzzing.py."""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from attncli.cli import encoding

from conftest import SAMPLES, RunAttn
from fuzzing import fuzz_settings, run_clean

DOC = {"q": [[1, 0], [0, 1]], "k": [[1, 0], [0, 1]], "v": [[1, 2], [3, 4]]}


@fuzz_settings(ci=30, slow=600)
@given(
    special=st.sampled_from(("fifo", "stdin-link", "dev-null-link", "dir", "dangling")),
    suffix=st.sampled_from((".npy", ".json", ".csv")),
    where=st.sampled_from(("--q", "--k", "--v", "--mask", "--x", "--wq", "document", "--input", "expected")),
    command=st.sampled_from(("compute", "check")),
)
def test_special_files_are_refused(attn: RunAttn, special: str, suffix: str, where: str, command: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"p{suffix}"
        if special == "fifo":
            os.mkfifo(path)
        elif special == "dir":
            path.mkdir()
        else:
            path.symlink_to({"stdin-link": "/dev/stdin", "dev-null-link": "/dev/null", "dangling": "nowhere"}[special])
        args: list[str] = [command]
        if where in ("document", "expected"):
            doc = dict(
                DOC, **({"q": f"@{path.name}"} if where == "document" else {"expected": {"output": f"@{path.name}"}})
            )
            (Path(folder) / "doc.json").write_text(json.dumps(doc))
            args += ["--input", str(Path(folder) / "doc.json")]
        elif where == "--input":
            args += ["--input", str(path)]
        else:
            args += ["--q", "1 0", "--k", "1 0", "--v", "1 2", where, f"@{path}"]
        if command == "check" and where != "expected":
            args += ["--expect-output", "1 2"]
        r = run_clean(attn, *args, stdin="not for attn")
        assert r.code == 2, r.err


@fuzz_settings(ci=40, slow=1500)
@given(
    version=st.sampled_from(((1, 0), (2, 0), (3, 0), (4, 0), (0, 1))),
    shape=st.lists(st.integers(0, 10**9), min_size=0, max_size=4).map(tuple),
    descr=st.sampled_from(("<f8", "<f4", "|b1", "<i8", "|O", "<c16", "|V7", "<U2")),
    payload=st.integers(0, 200),
    fortran=st.booleans(),
)
def test_npy_headers_of_every_version(
    attn: RunAttn, version: tuple[int, int], shape: tuple[int, ...], descr: str, payload: int, fortran: bool
) -> None:
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran!r}, 'shape': {shape!r}, }}"
    size = 2 if version == (1, 0) else 4
    header += " " * ((64 - (8 + size + len(header) + 1) % 64) % 64) + "\n"
    data = b"\x93NUMPY" + bytes(version) + len(header).to_bytes(size, "little") + header.encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.npy"
        path.write_bytes(data + b"\x01" * payload)
        r = run_clean(attn, "compute", "--q", f"@{path}", "--k", "1 0", "--v", "1 2", "--json")
        assert r.code in (0, 2)


INTEGER_OPTIONS = ("--precision", "--seed", "--threads", "--heads", "--kv-heads", "--head")


@fuzz_settings(ci=30, slow=800)
@given(
    option=st.sampled_from(INTEGER_OPTIONS),
    digits=st.integers(1, 6000),
    sign=st.sampled_from(("", "-", "+")),
    inline=st.booleans(),
)
def test_huge_integers_in_options(attn: RunAttn, option: str, digits: int, sign: str, inline: bool) -> None:
    value = sign + "9" * digits
    given_as = [f"{option}={value}"] if inline else [option, value]
    r = run_clean(attn, "compute", "--x", "1 2; 3 4", "--heads", "1", "--random-weights", *given_as)
    assert r.code in (0, 2)
    assert all(len(line) < 400 for line in r.err.splitlines())


@fuzz_settings(ci=30, slow=600)
@given(
    input_flag=st.sampled_from(("--q", "--k", "--v", "--input")),
    output_flag=st.sampled_from(("--save", "--save-svg", "--save-html")),
    command=st.sampled_from(("compute", "check")),
    linked=st.booleans(),
)
def test_outputs_aimed_at_inputs(attn: RunAttn, input_flag: str, output_flag: str, command: str, linked: bool) -> None:
    if command == "check" and output_flag == "--save":
        output_flag = "--save-svg"
    with tempfile.TemporaryDirectory() as folder:
        name = "doc.json" if input_flag == "--input" else "m.npy"
        path = Path(folder) / name
        if input_flag == "--input":
            path.write_text(json.dumps({**DOC, "expected": {"output": [[1, 2], [3, 4]]}}))
        else:
            np.save(path, np.eye(2))
        before = path.read_bytes()
        target = path
        if linked:
            target = Path(folder) / "other.npy"
            target.symlink_to(path)
        matrices = {"--q": "1 0; 0 1", "--k": "1 0; 0 1", "--v": "1 2; 3 4"}
        args = [command]
        if input_flag == "--input":
            args += ["--input", str(path)]
        else:
            matrices[input_flag] = f"@{path}"
            for flag, text in matrices.items():
                args += [flag, text]
            args += ["--expect-output", "1 2; 3 4"] if command == "check" else []
        r = run_clean(attn, *args, output_flag, str(target))
        assert r.code == 2 and "inputs" in r.err, r.err
        assert path.read_bytes() == before


UNTRUSTED = st.lists(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from(("\x1b", "\x1b[2J", "\r", "\n", "\x07", "\u202e", "\x9b"))),
    max_size=12,
).map("".join)


@fuzz_settings(ci=40, slow=1500)
@given(
    title=UNTRUSTED,
    labels=st.lists(
        st.one_of(UNTRUSTED, st.sampled_from(("=1+1", "+A1", "-2", "@SUM(A1)", "<script>x</script>"))),
        min_size=4,
        max_size=4,
    ),
    form=st.sampled_from(
        ((), ("--format", "csv"), ("--format", "markdown"), ("--format", "latex"), ("--explain-cell", "1,1"))
    ),
    command=st.sampled_from(("compute", "check")),
)
def test_untrusted_titles_and_labels(
    attn: RunAttn, title: str, labels: list[str], form: tuple[str, ...], command: str
) -> None:
    doc = {
        **DOC,
        "title": title,
        "labels": {"q": labels[:2], "k": labels[2:]},
        "expected": {"output": [[1, 2], [3, 4]]},
    }
    if command == "check":
        form = ()
    r = run_clean(attn, command, "--input", "-", *form, stdin=json.dumps(doc))
    if r.code == 2:
        return
    raw = [c for c in r.out if c != "\n" and not c.isprintable()]
    assert not raw, (raw, r.out)
    if form == ("--format", "csv"):
        for line in r.out.splitlines()[1:]:
            cells = line.split(",")
            assert all(cell[:1] not in ("=", "+", "-", "@") for cell in cells[2:4] if not cell.startswith('"')), line
    if form == ("--format", "markdown"):
        assert "<script>" not in r.out


@fuzz_settings(ci=30, slow=800)
@given(
    raw=st.binary(min_size=1, max_size=20),
    position=st.sampled_from(("sentence", "--q", "--title-like", "command")),
)
def test_arguments_that_are_not_utf8(attn: RunAttn, raw: bytes, position: str) -> None:
    text = raw.decode("utf-8", "surrogateescape")
    if position == "sentence":
        args: tuple[str, ...] = ("explain", text, "--embeddings", str(SAMPLES / "embeddings-en.json"))
    elif position == "--q":
        args = ("compute", "--q", text, "--k", "1", "--v", "1")
    elif position == "command":
        args = (text,)
    else:
        args = ("compute", f"--{text}", "1")
    r = run_clean(attn, *args)
    assert r.code in (0, 2)


@fuzz_settings(ci=40, slow=2000)
@given(
    text=st.text(st.characters(codec="utf-8"), max_size=60),
    name=st.sampled_from(("cp1251", "koi8_r", "ascii", "latin_1", "cp866", "cp1252")),
)
def test_every_text_reaches_a_narrow_encoding(text: str, name: str) -> None:
    def carried(c: str) -> bool:
        try:
            c.encode(name)
        except UnicodeEncodeError:
            return False
        return True

    codecs.register_error(encoding.HANDLER, encoding._stand_in)
    encoding._unshown.clear()
    out = text.encode(name, errors=encoding.HANDLER).decode(name)  # never a UnicodeEncodeError
    missing = [c for c in text if not carried(c) and c not in encoding.STAND_INS]
    assert set(missing) == set(encoding._unshown)
    assert out.count("?") == text.count("?") + len(missing)
    encoding._unshown.clear()


@fuzz_settings(ci=40, slow=1500)
@given(
    exponent=st.integers(15, 308),
    signs=st.lists(st.sampled_from((1, -1)), min_size=4, max_size=4),
    dtype=st.sampled_from(("float32", "float64")),
    causal=st.sampled_from(((), ("--causal",), ("--causal", "--causal-align", "bottom-right"))),
    v_exponent=st.integers(0, 308),
)
def test_blocked_and_stage_paths_agree_on_extremes(
    attn: RunAttn, exponent: int, signs: list[int], dtype: str, causal: tuple[str, ...], v_exponent: int
) -> None:
    a, b, c, d = (f"{s}e{exponent}" for s in signs)
    v = f"1e{v_exponent} 1; -1e{v_exponent} 2; 3e{v_exponent} 3"
    common = ("--q", f"{a}; {b}", "--k", f"{c}; {d}; 1", "--v", v, "--dtype", dtype, *causal, "--json")
    blocked = run_clean(attn, "compute", *common, "--stage", "output")
    stages = run_clean(attn, "compute", *common, "--stage", "output", "--stage", "weights")
    assert blocked.code == stages.code, (blocked.err, stages.err)
    if blocked.code == 0:
        got: Any = json.loads(blocked.out)["output"]
        want: Any = json.loads(stages.out)["output"]
        np.testing.assert_allclose(
            np.array(got, dtype=float), np.array(want, dtype=float), rtol=1e-4 if dtype == "float32" else 1e-12
        )
