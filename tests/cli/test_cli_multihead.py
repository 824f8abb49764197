"""`attn compute` with heads, projections, cross-attention, grouped K/V heads and positions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from attncli.core.multihead import multi_head_attention

from conftest import ROOT, SAMPLES, RunAttn, attn_process

SCHEMA = json.loads((ROOT / "attncli" / "schema" / "result.schema.json").read_text())
X = "[[1,0,1,0],[0,2,0,2],[1,1,1,1]]"
W = "[[0.5,0,0.1,0],[0,0.5,0,0.2],[0.3,0,0.5,0],[0,0.1,0,0.5]]"


def test_two_heads_show_projections_each_head_concat_and_output(attn: RunAttn) -> None:
    r = attn("compute", "--x", X, "--heads", "2", "--wq", W, "--wk", W, "--wv", W, "--wo", W)
    assert r.code == 0, r.err
    for title in (
        "0 · inputs: X",
        "0c · projected Q",
        "1 · scores = Q·Kᵀ  [head 1]",
        "[head 2]",
        "6 · concat",
        "7 · output projection",
    ):
        assert title in r.out
    assert "h2·d1" in r.out  # heads side by side in the projected and concatenated tables


def test_head_focus_and_average(attn: RunAttn) -> None:
    r = attn("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--head", "2", "--average-heads")
    assert r.code == 0, r.err
    assert "[head 2]" in r.out and "[head 1]" not in r.out
    assert "average weights over heads" in r.out


def test_json_has_head_axis_and_final_output_and_round_trips(attn: RunAttn) -> None:
    r = attn("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--json", "--average-heads")
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    assert np.array(doc["stages"]["weights"]).shape == (2, 3, 3)
    assert np.array(doc["stages"]["concat"]).shape == (3, 4)
    assert np.array(doc["stages"]["average_weights"]).shape == (3, 3)
    assert doc["config"]["heads"] == 2 and doc["config"]["projection"] == "given"
    again = attn("compute", "--json", stdin=r.out)
    assert json.loads(again.out)["output"] == doc["output"]


def test_random_weights_are_reproducible_and_gqa_prints_the_head_map(attn: RunAttn) -> None:
    x = json.dumps(np.arange(32.0).reshape(2, 16).tolist())
    args = ("compute", "--x", x, "--heads", "8", "--kv-heads", "2", "--random-weights", "--seed", "7")
    a, b = attn(*args, "--json"), attn(*args, "--json")
    assert a.out == b.out
    doc = json.loads(a.out)
    assert doc["config"]["head_map"] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert np.array(doc["inputs"]["wk"]).shape == (16, 4)
    table = attn(*args, "--stage", "heads")
    assert "0f · head mapping" in table.out and "Query head h uses K/V head" in table.out


def test_cross_attention_lengths_differ(attn: RunAttn) -> None:
    r = attn("compute", "--input", str(SAMPLES / "mha-cross-attention.json"), "--json")
    doc = json.loads(r.out)
    assert np.array(doc["stages"]["weights"]).shape == (2, 2, 3)
    assert "q_input" in doc["inputs"] and "kv_input" in doc["inputs"]


def test_rope_alibi_and_sinusoidal_stages(attn: RunAttn) -> None:
    r = attn("compute", "--x", "[[1,0],[0,1],[1,1]]", "--rope", "--causal", "--positional", "sinusoidal", "--alibi")
    assert r.code == 0, r.err
    for title in ("0a · sinusoidal position encodings PE", "0i · q after RoPE", "0k · ALiBi bias", "3 · masked"):
        assert title in r.out
    doc = json.loads(
        attn("compute", "--x", "[[1,0],[0,1],[1,1]]", "--rope", "--rope-style", "interleaved", "--json").out
    )
    assert doc["config"]["rope_style"] == "interleaved"
    assert doc["stages"]["rope"]["q"][0][1] == pytest.approx([-0.8414709848078965, 0.5403023058681398])


def test_flags_match_the_python_api(attn: RunAttn) -> None:
    r = attn(
        "compute",
        "--x",
        X,
        "--heads",
        "2",
        "--wq",
        W,
        "--wk",
        W,
        "--wv",
        W,
        "--bq",
        "[1, 0, 0, 1]",
        "--alibi",
        "--causal",
        "--json",
    )
    doc = json.loads(r.out)
    x, w = np.array(json.loads(X), dtype=float), np.array(json.loads(W))
    api = multi_head_attention(x, wq=w, wk=w, wv=w, bq=[1, 0, 0, 1], heads=2, alibi=True, causal=True)
    np.testing.assert_allclose(doc["output"], api.output, rtol=0, atol=0)


BAD = [
    (["--x", "[[1,0,1]]", "--heads", "2"], "--heads: d_model = 3 is not divisible by heads = 2"),
    # Issue 15, item 12: --kv-heads was never given, so the message does not speak of it.
    (
        ["--q", "1 0; 0 1", "--k", "1 0 1; 0 1 1", "--v", "1 0 1; 0 1 1", "--heads", "2"],
        "--heads: the projected k has 3 columns, not divisible by heads = 2",
    ),
    (
        ["--q", "1 0 1 0", "--k", "1 0 1", "--v", "1 0 1", "--heads", "4", "--kv-heads", "2"],
        "--kv-heads: the projected k has 3 columns, not divisible by kv_heads = 2",
    ),
    (
        ["--x", "[[1,0,1,0]]", "--heads", "4", "--kv-heads", "3", "--random-weights"],
        "--kv-heads: heads = 4 is not divisible by kv_heads = 3",
    ),
    (
        ["--x", "[[1,0,1,0]]", "--wq", "1 0; 0 1", "--wk", "1 0; 0 1", "--wv", "1 0; 0 1"],
        "--wq: has 2 rows but x has 4 columns; x·wq needs them equal",
    ),
    (
        ["--x", "[[1,0]]", "--wq", "1 0; 0 1", "--wk", "1 0 0; 0 1 0", "--wv", "1 0; 0 1"],
        "--wk: query heads have d_head = 2 but key heads have 3",
    ),
    (["--x", "[[1,0],[0,1]]", "--wo", "[[1,0,0]]"], "--wo: has 1 row but concat has 2 columns"),
    (["--x", "[[1,0,1]]", "--rope"], "--rope: RoPE rotates pairs of columns; d_head = 3 is odd"),
    (["--x", "[[1,0,1,0]]", "--wq", "[[1],[0],[1],[0]]"], "wk: missing wk, wv: give all of wq, wk and wv"),
    (["--x", "[[1,0]]", "--q", "[[1,0]]", "--k", "[[1,0]]", "--v", "[[1]]"], "--x: give either x"),
    (["--q-input", "[[1,0]]"], "kv_input: cross-attention needs both q_input and kv_input"),
    (["--x", "[[1,0],[0,1]]", "--heads", "2", "--head", "3"], "--head: there are 2 heads; choose 1…2"),
    (["--x", "[[1,0],[0,1]]", "--bq", "[1,2,3]"], "--bq: has 3 values but the projection gives 2 columns"),
    (["--x", "[[1,0],[0,1]]", "--heads", "0"], "Invalid value for '--heads'"),
    (["--x", "[[1,0],[0,1]]", "--stage", "nope"], "--stage: unknown stage 'nope'"),
    (["--x", "[[1,0],[0,1]]", "--mask", "[[true,false,true]]", "--alibi"], "--mask: shape (1, 3) does not broadcast"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_multihead_input_is_one_line_exit_2(attn: RunAttn, args: list[str], message: str) -> None:
    r = attn("compute", *args)
    assert r.code == 2
    assert r.err.count("\n") == 1 and r.err.startswith("attn: error: "), r.err
    assert message in r.err


def test_documents_reject_bad_multihead_keys(attn: RunAttn) -> None:
    r = attn("compute", stdin='{"x": [[1, 0]], "heads": "two"}')
    assert r.code == 2 and "stdin: heads: must be a whole number ≥ 1, got 'two'" in r.err
    r = attn("compute", stdin='{"x": [[1, 0]], "rope": 1}')
    assert r.code == 2 and "stdin: rope: must be true or false, got 1" in r.err


STAGE_NUMBER = re.compile(r"^(\d)([a-z]?) · ", re.MULTILINE)


@pytest.mark.parametrize("sample", ["cat-sits", "causal-4x4", "mha-2heads", "mha-gqa", "mha-rope", "softcap"])
def test_one_numbering_scheme(attn: RunAttn, sample: str) -> None:
    """Stages are numbered by one scheme whatever is shown: what prepares each head's q, k, v is 0…0i, the
    attention of a head 1…5 (3 said in a line when nothing masks), then 6 concat and 7 the projection;
    the numbers never go back within a head, and a single head runs 0 to 5 without a gap."""
    out = attn("compute", "--sample", sample).out
    per_head_inputs = re.findall(r"^0 · inputs  \[head (\d)", out, flags=re.MULTILINE)
    assert per_head_inputs in ([], [str(h) for h in range(1, len(per_head_inputs) + 1)])
    out = re.sub(r"^0 · inputs  \[", "(each head's inputs) [", out, flags=re.MULTILINE)
    blocks = re.split(r"^(?=1 · scores)", out, flags=re.MULTILINE)
    prep, heads = blocks[0], blocks[1:]
    assert all(n == "0" for n, _letter in STAGE_NUMBER.findall(prep))
    for head in heads:
        numbers = [int(n) for n, _letter in STAGE_NUMBER.findall(head)]
        assert numbers == sorted(numbers) and {1, 2, 3, 4, 5} <= set(numbers), numbers
    if "heads" not in out:
        assert "0 · inputs" in prep


# ---------------------------------------------------------------- over the memory budget: the output-only path


@pytest.fixture
def big_x(tmp_path: Path) -> str:
    """600 tokens of width 16: 4 heads' stage tables need 67 MiB, the output-only path about 6 MiB."""
    np.save(tmp_path / "x.npy", np.random.default_rng(3).normal(size=(600, 16)))
    return f"@{tmp_path / 'x.npy'}"


def test_over_the_budget_multihead_takes_the_output_only_path_and_says_so_once(big_x: str, tmp_path: Path) -> None:
    args = ("compute", "--x", big_x, "--heads", "4", "--kv-heads", "2", "--random-weights", "--seed", "5")
    args += ("--causal", "--rope", "--positional", "sinusoidal", "--max-memory", "20M")
    r = attn_process(*args, "--json")  # the real entry point, in its own process
    assert r.code == 0, r.err
    switch = "the multi-head stage tables and their JSON would need"
    assert (
        r.err.count("\n") == 1
        and switch in r.err
        and "(budget 20 MiB, --max-memory): computing only the output" in r.err
    )
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    x = np.load(big_x[1:])
    full = multi_head_attention(
        x, heads=4, kv_heads=2, random_weights_seed=5, causal=True, rope=True, positional="sinusoidal"
    )
    np.testing.assert_allclose(doc["output"], full.output, rtol=0, atol=1e-12)
    np.testing.assert_allclose(doc["stages"]["output"], full.attention.output, rtol=0, atol=1e-12)
    assert doc["config"]["heads"] == 4 and doc["config"]["head_map"] == [0, 0, 1, 1] and doc["config"]["rope"]
    saved = attn_process(*args, "--save", str(tmp_path / "out.npy"))
    assert saved.code == 0 and saved.out == "" and "saved the output" in saved.err, saved.err
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), full.output, rtol=0, atol=1e-12)
    table = attn_process(*args)
    assert "7 · output projection" in table.out and "Computed by the blocked path, head by head (4 heads)" in table.out
    assert "the multi-head stage tables would need 67 MiB (budget 20 MiB, --max-memory)" in table.err


def test_stage_output_alone_takes_the_output_only_path(attn: RunAttn) -> None:
    r = attn("compute", "--x", X, "--heads", "2", "--wq", W, "--wk", W, "--wv", W, "--wo", W, "--stage", "output")
    assert r.code == 0 and r.err == "", r.err
    assert "Computed by the blocked path" in r.out
    doc = json.loads(attn("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--stage", "output", "--json").out)
    jsonschema.validate(doc, SCHEMA)
    full = json.loads(attn("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--json").out)
    np.testing.assert_allclose(doc["output"], full["output"], rtol=0, atol=1e-12)
    assert list(doc["stages"]) == ["output"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--max-memory", "20M", "--stage", "weights"), "--stage: the multi-head stage tables would need 67 MiB"),
        (("--max-memory", "20M", "--alibi"), "--max-memory: the multi-head stage tables would need 89 MiB"),
        (("--stage", "output", "--alibi"), "--alibi: ALiBi's bias has a cell for every head, query and key"),
        (("--stage", "output", "--head", "2"), "--head: needs the heads' weights, which --stage output does not keep"),
        (("--max-memory", "20M", "--average-heads"), "and --average-heads needs them"),
        (("--max-memory", "1M"), "--max-memory: computing only the output (the blocked path, every head) would need"),
        (("--stage", "output", "--max-memory", "1M"), "computing only the output (the blocked path, every head)"),
    ],
)
def test_what_the_output_only_path_cannot_do_is_one_line(
    attn: RunAttn, big_x: str, extra: tuple[str, ...], expected: str
) -> None:
    r = attn("compute", "--x", big_x, "--heads", "4", "--random-weights", *extra)
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1, r.err
    assert expected in r.err, r.err


@pytest.mark.parametrize(
    ("lang", "heads", "caption"),
    [
        ("en", 1, "split into 1 head of 10 columns."),
        ("en", 2, "split into 2 heads of 5 columns."),
        ("ru", 1, "разбиение на 1 голову по 10 столбцов."),
        ("ru", 2, "разбиение на 2 головы по 5 столбцов."),
        ("ru", 5, "разбиение на 5 голов по 2 столбца."),
    ],
)
def test_the_split_caption_counts_heads_and_columns_each_by_its_own_number(
    attn: RunAttn, lang: str, heads: int, caption: str
) -> None:
    x = "1 0 0 1 0 1 0 0 1 0; 0 1 0 0 1 0 1 0 0 1"
    r = attn("--lang", lang, "compute", "--x", x, "--heads", str(heads), "--stage", "projected")
    assert r.code == 0, r.err
    assert caption in " ".join(r.out.split())  # (the caption may wrap)
