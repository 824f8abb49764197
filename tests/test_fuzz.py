"""The fuzzing campaign: generated malformed and extreme input through the real `attn` entry point.

Every case must keep the rule of tests/fuzzing.py (exit 0 or 2 with one `attn: error:` line; no
traceback, hang, exit 70 or unasked-for NaN). `pytest --slow` or ATTN_FUZZ=slow runs the campaign.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attncli.errors import AttnError
from attncli.parse.matrix import parse_matrix
from attncli.problem.document import DOCUMENT_KEYS

from conftest import SAMPLES, Run, RunAttn
from fuzzing import (
    finite_numbers,
    fuzz_settings,
    json_matrix,
    json_values,
    matrix_text,
    mutate_text,
    no_hang,
    number_text,
    run_clean,
    shapes,
)

# The problems of attn compute and check (samples/embeddings-*.json are word vectors for attn explain).
SAMPLE_TEXTS = {
    p.name: p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.json")) if "embeddings" not in p.name
}
COMMANDS = (("compute", "--json"), ("compute",), ("check", "--json"), ("compute", "--stage", "output", "--json"))


# ---------------------------------------------------------------- bytes and broken text


@fuzz_settings()
@given(data=st.binary(max_size=300), command=st.sampled_from(COMMANDS), dash=st.booleans())
def test_random_bytes_on_stdin(attn: RunAttn, data: bytes, command: tuple[str, ...], dash: bool) -> None:
    args = (*command, "--input", "-") if dash else command
    r = run_clean(attn, *args, stdin=data)
    assert r.code == 2 or data.strip() == b""


@fuzz_settings()
@given(
    data=st.one_of(
        st.binary(max_size=300), st.sampled_from(sorted(SAMPLE_TEXTS.values())).map(lambda t: t.encode()[:-7])
    ),
    suffix=st.sampled_from((".json", ".csv", ".npy", ".txt", "")),
    flag=st.sampled_from(("--q", "--k", "--v", "--mask", "--input", "--x", "--wq")),
)
def test_random_bytes_in_files(attn: RunAttn, tmp_path: Path, data: bytes, suffix: str, flag: str) -> None:
    path = tmp_path / f"fuzzed{suffix}"
    path.write_bytes(data)
    value = str(path) if flag == "--input" else f"@{path}"
    others = {"--q": "1 0", "--k": "1 0", "--v": "1"}
    args = ["compute", "--json", flag, value]
    if flag in others:
        for name, text in others.items():
            if name != flag:
                args += [name, text]
    run_clean(attn, *args)


@fuzz_settings()
@given(data=st.data(), sample=st.sampled_from(sorted(SAMPLE_TEXTS)), command=st.sampled_from(COMMANDS))
def test_broken_copies_of_every_sample(attn: RunAttn, data: st.DataObject, sample: str, command: Any) -> None:
    text = mutate_text(SAMPLE_TEXTS[sample], data.draw)
    run_clean(attn, *command, stdin=text.encode("utf-8", "surrogatepass"))


@fuzz_settings(ci=10, slow=200)
@given(
    depth=st.integers(1, 200_000),
    opener=st.sampled_from(("[", '{"q":', '{"q":[')),
    closed=st.booleans(),
    where=st.sampled_from(("stdin", "--q", "file")),
)
def test_deeply_nested_json(attn: RunAttn, tmp_path: Path, depth: int, opener: str, closed: bool, where: str) -> None:
    text = opener * depth + "1" + ("]" * depth if closed and opener == "[" else "")
    if where == "stdin":
        run_clean(attn, "compute", "--json", stdin=text)
    elif where == "--q":
        run_clean(attn, "compute", "--json", "--q", text, "--k", "1", "--v", "1")
    else:
        (tmp_path / "deep.json").write_text(text)
        run_clean(attn, "compute", "--json", "--q", f"@{tmp_path / 'deep.json'}", "--k", "1", "--v", "1")


# ---------------------------------------------------------------- documents


@fuzz_settings(ci=60, slow=2000)
@given(
    sample=st.sampled_from(sorted(SAMPLE_TEXTS)),
    key=st.sampled_from(sorted(DOCUMENT_KEYS | {"inputs", "config", "stages", "schema_version", "expected.weights"})),
    value=json_values(),
    command=st.sampled_from(COMMANDS),
)
def test_wrong_types_in_every_document_key(attn: RunAttn, sample: str, key: str, value: Any, command: Any) -> None:
    doc = json.loads(SAMPLE_TEXTS[sample])
    if key == "expected.weights":
        doc.setdefault("expected", {})["weights"] = value
    else:
        doc[key] = value
    run_clean(attn, *command, stdin=json.dumps(doc))


@fuzz_settings()
@given(sample=st.sampled_from(sorted(SAMPLE_TEXTS)), key=st.sampled_from(("inputs", "config")), value=json_values())
def test_wrong_types_in_result_documents(attn: RunAttn, sample: str, key: str, value: Any) -> None:
    first = attn("compute", "--json", "--input", str(SAMPLES / sample))
    assert first.code == 0, first.err
    doc = json.loads(first.out)
    target = doc[key]
    if isinstance(value, dict) and value:
        target.update(value)
    elif target:
        target[sorted(target)[len(str(value)) % len(target)]] = value
    run_clean(attn, "compute", "--json", stdin=json.dumps(doc))


# ---------------------------------------------------------------- values and shapes


def problems(draw: Any, *, extreme: bool) -> dict[str, Any]:
    """q, k, v (and maybe a mask) with random, often mismatched, shapes and extreme or broken cells."""
    cells = finite_numbers() if not extreme else st.one_of(finite_numbers(), number_text())
    t, s, d_k, d_v = (draw(st.integers(1, 4)) for _ in range(4))
    lead = draw(st.sampled_from(((), (2,), (1,), (2, 1))))
    fit = draw(st.booleans())
    shape_q = (*lead, t, d_k) if fit else draw(shapes())
    shape_k = (*lead, s, d_k) if fit else draw(shapes())
    shape_v = (*lead, s, d_v) if fit else draw(shapes())
    problem = {
        "q": draw(json_matrix(shape_q, cells)),
        "k": draw(json_matrix(shape_k, cells)),
        "v": draw(json_matrix(shape_v, cells)),
    }
    mask_kind = draw(st.sampled_from(("none", "bool", "additive", "mixed", "strings")))
    if mask_kind != "none":
        mask_shape = draw(st.sampled_from(((t, s), (s,), (1, s), (t, 1), (*lead, t, s), (s, t)))) if fit else None
        mask_shape = mask_shape or draw(shapes())
        mask_cells = {
            "bool": st.booleans(),
            "additive": st.one_of(finite_numbers(), st.just("-inf"), st.none()),
            "mixed": st.one_of(st.booleans(), finite_numbers()),
            "strings": st.one_of(st.text(max_size=4), st.sampled_from(("NaN", "inf", "+inf", "-inf"))),
        }[mask_kind]
        problem["mask"] = draw(json_matrix(mask_shape, mask_cells))
    return problem


SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "causal": st.booleans(),
        "causal_align": st.sampled_from(("top-left", "bottom-right")),
        "scale": st.one_of(finite_numbers(), st.sampled_from((1e-300, 1e300, 0.0, -1.0, 5e-324))),
        "empty_row": st.sampled_from(("zero", "uniform", "nan")),
        "dtype": st.sampled_from(("float64", "float32")),
    },
)


@fuzz_settings(ci=80, slow=2000)
@given(data=st.data(), extreme=st.booleans(), settings=SETTINGS, command=st.sampled_from(COMMANDS))
def test_problem_documents(attn: RunAttn, data: st.DataObject, extreme: bool, settings: Any, command: Any) -> None:
    doc = {**problems(data.draw, extreme=extreme), **settings}
    r = run_clean(attn, *command, stdin=json.dumps(doc, allow_nan=False))
    if r.code == 0 and command[0] == "compute" and "--json" in command:
        assert_output_finite(r, settings)


@fuzz_settings(ci=60, slow=1500)
@given(
    data=st.data(),
    form=st.sampled_from(("json", "compact", "csv-file", "npy-file")),
    extreme=st.booleans(),
    budget=st.sampled_from((None, "1", "1K", "64K", "0", "-1", "1e999", "lots", "0.5")),
    stage=st.sampled_from(((), ("--stage", "output"), ("--stage", "weights"), ("--stage", "nonsense"))),
)
def test_matrices_as_flags_and_files(
    attn: RunAttn, tmp_path: Path, data: st.DataObject, form: str, extreme: bool, budget: Any, stage: Any
) -> None:
    problem = problems(data.draw, extreme=extreme)
    args = ["compute", "--json", *stage] + (["--max-memory", budget] if budget else [])
    for name, value in problem.items():
        args += [f"--{name}", _as_argument(value, form, tmp_path / name)]
    r = run_clean(attn, *args)
    if r.code == 0:
        assert_output_finite(r, {})


def _as_argument(value: Any, form: str, stem: Path) -> str:
    if form == "csv-file":
        path = stem.with_suffix(".csv")
        path.write_text(matrix_text(value, "csv").replace(" ", ","))
        return f"@{path}"
    if form == "npy-file":
        try:
            array = np.array(value)
        except ValueError:  # ragged: no array to save, so pass the JSON instead
            return matrix_text(value, "json")
        path = stem.with_suffix(".npy")
        np.save(path, array, allow_pickle=False) if array.dtype != object else path.write_bytes(b"not npy")
        return f"@{path}"
    return matrix_text(value, "compact" if form == "compact" else "json")


def assert_output_finite(r: Run, settings: dict[str, Any]) -> None:
    """A valid problem's output holds numbers in every row but NaN-policy empty rows."""
    doc = json.loads(r.out)
    output = np.array(doc["output"], dtype=float)  # null → nan
    if settings.get("empty_row") == "nan" and doc["config"]["empty_rows"]:
        return
    assert np.isfinite(output).all(), r.out[:2000]


# ---------------------------------------------------------------- multi-head


@fuzz_settings(ci=60, slow=1500)
@given(data=st.data(), settings=SETTINGS, command=st.sampled_from(COMMANDS[:2]))
def test_multihead_documents(attn: RunAttn, data: st.DataObject, settings: Any, command: Any) -> None:
    draw = data.draw
    cells = st.one_of(finite_numbers(), number_text()) if draw(st.booleans()) else st.integers(-3, 3)
    t, s, d_model, heads = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 3)),
        draw(st.integers(1, 4)),
        draw(st.integers(1, 4)),
    )

    def matrix(rows: int, cols: int) -> Any:
        return draw(json_matrix((rows, cols) if draw(st.booleans()) else draw(shapes(2)), cells))

    doc: dict[str, Any] = {"heads": draw(st.sampled_from((heads, 0, -1, 10**6, "2", 2.5)))}
    if draw(st.booleans()):
        doc["kv_heads"] = draw(st.sampled_from((1, 2, 3, heads)))
    if draw(st.booleans()):
        doc["x"] = matrix(t, d_model)
    else:
        doc["q_input"], doc["kv_input"] = matrix(t, d_model), matrix(s, d_model)
    weights = draw(st.sampled_from(("none", "given", "random", "some")))
    width = d_model
    if weights == "random":
        doc["random_weights"], doc["seed"] = True, draw(st.sampled_from((0, 7, 2**64, -1)))
    elif weights in ("given", "some"):
        for name in ("wq", "wk", "wv", "wo") if weights == "given" else ("wq", "bo"):
            doc[name] = matrix(d_model, width)
    for name in ("bq", "bk", "bv"):
        if draw(st.booleans()):
            doc[name] = draw(json_matrix((draw(st.integers(1, 4)),), cells))
    for key, strategy in (
        ("rope", st.booleans()),
        ("rope_style", st.sampled_from(("half", "interleaved", "spiral"))),
        ("rope_base", st.sampled_from((10000, 1e-300, 1e300, 0, 10**400))),
        ("alibi", st.booleans()),
        ("positional", st.sampled_from(("none", "sinusoidal", "learned"))),
    ):
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    if draw(st.booleans()):
        doc["mask"] = draw(json_matrix(draw(st.sampled_from(((t, s), (heads, t, s), (s,), (2, 2)))), st.booleans()))
    doc.update(settings)
    head = ("--head", str(draw(st.integers(1, 5)))) if draw(st.booleans()) else ()
    run_clean(attn, *command, *head, stdin=json.dumps(doc))
    # the output-only path (asked for, or forced by a budget under the stage tables) equals the stage path
    output_only = draw(st.sampled_from((("--stage", "output"), ("--max-memory", "1K"), ("--max-memory", "1"))))
    if command[0] == "compute":
        fast = run_clean(attn, "compute", "--json", *output_only, *head, stdin=json.dumps(doc))
        if fast.code == 0:
            full = run_clean(attn, "compute", "--json", stdin=json.dumps(doc))
            assert full.code == 0, full.err
            expected, got = (np.array(json.loads(r.out)["output"], dtype=float) for r in (full, fast))
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * max(1.0, float(np.nanmax(np.abs(expected)))))


# ---------------------------------------------------------------- flags


FLAG_VALUES: dict[str, st.SearchStrategy[str]] = {
    "--scale": st.sampled_from(("1", "0", "-1", "1e-300", "1e300", "nan", "inf", "x", "1e999")),
    "--empty-row": st.sampled_from(("zero", "uniform", "nan", "none")),
    "--dtype": st.sampled_from(("float64", "float32", "float16")),
    "--causal-align": st.sampled_from(("top-left", "bottom-right", "middle")),
    "--precision": st.sampled_from(("0", "15", "16", "-1", "x")),
    "--explain-cell": st.sampled_from(("1,1", "0,0", "9,9", "1", "a,b", "-1,1", "1,1,1", "99999999999999999999,1")),
    "--stage": st.sampled_from(("scores", "output", "softmax", "heads", "projection", "bogus", "")),
    "--heads": st.sampled_from(("1", "2", "0", "3", "99999999999999999999")),
    "--kv-heads": st.sampled_from(("1", "2", "3")),
    "--head": st.sampled_from(("1", "2", "5", "0")),
    "--max-memory": st.sampled_from(("1", "1K", "2G", "0", "abc", "1e999", "-5M")),
    "--threads": st.sampled_from(("1", "2", "0")),
    "--seed": st.sampled_from(("0", "1", "-1")),
    "--rope-base": st.sampled_from(("10000", "0", "-1", "inf")),
    "--input": st.sampled_from(("-", "/nonexistent.json", str(SAMPLES / "causal-4x4.json"), str(SAMPLES))),
    "--tol": st.sampled_from(("0.01", "0", "-1", "inf", "nan")),
    "--expect-weights": st.sampled_from(("0.5 0.5", "1", "[[null]]", "-inf", "nan")),
    "--expect-masked": st.sampled_from(("0 -inf", "[[null, 1]]", "x")),
    "--sample": st.sampled_from(("causal-4x4", "mha-gqa", "nope", "", "../samples/causal-4x4", "embeddings-en")),
    "--format": st.sampled_from(("markdown", "latex", "csv", "html")),
    "--save": st.sampled_from(("/nonexistent/dir/out.npy", "out.txt")),
}
FLAGS = (
    "--causal",
    "--no-causal",
    "--json",
    "--average-heads",
    "--random-weights",
    "--rope",
    "--alibi",
    "--debug-not-a-flag",
    "--help",
    "--version",
)


@fuzz_settings(ci=60, slow=1500)
@given(
    command=st.sampled_from(("compute", "check", "explain", "model", "samples", "nonsense", "")),
    sample=st.sampled_from((None, *sorted(SAMPLE_TEXTS))),
    options=st.lists(st.sampled_from(sorted(FLAG_VALUES)), max_size=4),
    flags=st.lists(st.sampled_from(FLAGS), max_size=2),
    data=st.data(),
)
def test_flag_combinations(
    attn: RunAttn, command: str, sample: Any, options: list[str], flags: list[str], data: st.DataObject
) -> None:
    args: list[str] = [command] if command else []
    if sample is not None:
        args += ["--input", str(SAMPLES / sample)]
    else:
        args += ["--q", "1 0; 0 1", "--k", "1 0; 0 1", "--v", "1 2; 3 4"]
    for option in options:
        args += [option, data.draw(FLAG_VALUES[option])]
    args += flags
    run_clean(attn, *args, stdin=data.draw(st.sampled_from(("", '{"q": 1}', "[[1]]"))))


MASK_DTYPES = ("bool", "int8", "uint8", "int64", "float16", "float32", "complex64", "<U3", "datetime64[s]", "V8")


@fuzz_settings()
@given(
    dtype=st.sampled_from(MASK_DTYPES),
    shape=st.sampled_from(((2, 3), (3,), (1, 3), (2, 1), (3, 2), (2, 2, 3), (1, 1, 1, 1, 1, 1, 1, 1, 1), (0, 3))),
    fill=st.sampled_from((0, 1, -1, 70000, "max", "min")),
    heads=st.booleans(),
)
def test_masks_of_every_dtype_and_shape(
    attn: RunAttn, tmp_path: Path, dtype: str, shape: Any, fill: Any, heads: bool
) -> None:
    np_type = np.dtype(dtype)
    if fill in ("max", "min") and np.issubdtype(np_type, np.number) and not np.issubdtype(np_type, np.complexfloating):
        info = np.finfo(np_type) if np.issubdtype(np_type, np.floating) else np.iinfo(np_type)
        value: Any = info.max if fill == "max" else info.min
    else:
        value = 0 if isinstance(fill, str) else fill
    try:
        with np.errstate(over="ignore"):  # e.g. int8's max as float16: the cast itself may overflow
            mask = np.full(shape, value).astype(np_type)
    except (TypeError, ValueError):  # a value this dtype cannot hold: an empty array of it instead
        mask = np.zeros(shape, dtype=np_type)
    np.save(tmp_path / "mask.npy", mask, allow_pickle=False)
    problem = (
        ("--x", "1 0 1 0; 0 1 0 1", "--heads", "2")
        if heads
        else ("--q", "1 0; 0 1", "--k", "1 0; 1 1; 0 1", "--v", "1; 2; 3")
    )
    run_clean(attn, "compute", "--json", *problem, "--mask", f"@{tmp_path / 'mask.npy'}")


# ---------------------------------------------------------------- the parser alone


MATRIX_TEXT = st.builds(matrix_text, st.lists(st.lists(number_text())), st.sampled_from(("json", "compact")))


@fuzz_settings(ci=100, slow=2000)
@given(text=st.one_of(st.text(max_size=40), MATRIX_TEXT), kind=st.sampled_from(("matrix", "mask")))
def test_parser_returns_a_finite_matrix_or_names_the_argument(text: str, kind: Any) -> None:
    try:
        with no_hang(5):
            m = parse_matrix(text, "--q", kind)
    except AttnError as e:
        assert str(e).startswith("--q"), e
        assert "\n" not in str(e)
        return
    assert m.ndim >= 2 and m.size > 0
    assert m.dtype == np.bool_ or m.dtype == np.float64
    if m.dtype == np.float64:
        assert not np.isnan(m).any() and not np.isposinf(m).any()
        assert kind == "mask" or np.isfinite(m).all()


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 5000 + "]" * 5000, "1 " * 100_000, "[[1]]" + " " * 10**6])
def test_parser_on_long_input(text: str) -> None:
    try:
        with no_hang(10):
            parse_matrix(text, "--q")
    except AttnError as e:
        assert str(e).startswith("--q")


def test_in_process_stdin_accepts_bytes(attn: RunAttn) -> None:
    r = attn("compute", "--json", stdin=b'{"q": [[1]], "k": [[1]], "v": [[2]]}')
    assert r.code == 0 and json.loads(r.out)["output"] == [[2.0]]


# ---------------------------------------------------------------- --view FILE.html


@fuzz_settings()
@given(
    sample=st.sampled_from(sorted(SAMPLE_TEXTS)),
    where=st.sampled_from(("new", "the input", "a folder", "missing folder", "old page")),
    name=st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=12
    ).filter(lambda n: n not in (".", "..")),
)
def test_view_pages(
    attn: RunAttn, tmp_path_factory: pytest.TempPathFactory, sample: str, where: str, name: str
) -> None:
    """Any sample, any file name: a page that embeds what --json prints, or one clear line; an input never lost."""
    folder = tmp_path_factory.mktemp("view")
    problem = folder / "problem.json"
    problem.write_text(SAMPLE_TEXTS[sample], encoding="utf-8")
    target = {
        "new": folder / f"{name}.html",
        "the input": problem,
        "a folder": folder,
        "missing folder": folder / name / "page.html",
        "old page": folder / "page.html",
    }[where]
    if where == "old page":
        target.write_text("old", encoding="utf-8")
    r = run_clean(attn, "compute", "--input", str(problem), "--view", str(target))
    assert problem.read_text(encoding="utf-8") == SAMPLE_TEXTS[sample]
    assert not [p for p in folder.rglob("*.tmp")]
    if where in ("the input", "a folder", "missing folder"):
        assert r.code == 2 and "--view" in r.err
        return
    if r.code == 0:
        html = target.read_text(encoding="utf-8")
        embedded = html.split('<script type="application/json" id="attn-json">')[1].split("</script>")[0]
        assert json.loads(embedded) == json.loads(attn("compute", "--input", str(problem), "--json").out)
