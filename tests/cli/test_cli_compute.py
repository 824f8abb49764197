"""`attn compute` through the real entry point: inputs, outputs, warnings and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from attncli.problem.samples import list_samples

from conftest import ROOT, SAMPLES, RunAttn

Q, K, V = "[[1,0]]", "[[0.5,0.5],[0.3,0.7]]", "[[1,0],[0.5,0.5]]"
SCHEMA = json.loads((ROOT / "attncli" / "schema" / "result.schema.json").read_text())
DATA = Path(__file__).parent.parent / "data"


def test_all_input_forms_agree(attn: RunAttn) -> None:
    outputs = [
        attn("compute", "--q", "[[1,0],[0,1]]", "--k", "1 0; 0 1", "--v", "1,0;0,1", "--json"),
        attn(
            "compute", "--q", f"@{DATA / 'q.npy'}", "--k", f"@{DATA / 'k.csv'}", "--v", f"@{DATA / 'v.json'}", "--json"
        ),
        attn("compute", "--json", stdin='{"q": [[1,0],[0,1]], "k": "1 0; 0 1", "v": [[1,0],[0,1]]}'),
        attn("compute", "--input", "-", "--json", stdin='{"q": [[1,0],[0,1]], "k": [[1,0],[0,1]], "v": [[1,0],[0,1]]}'),
        attn("compute", "--input", str(SAMPLES / "identity-2x2.json"), "--json"),
    ]
    for r in outputs:
        assert r.code == 0, r.err
    first = json.loads(outputs[0].out)["output"]
    for r in outputs[1:]:
        assert json.loads(r.out)["output"] == first


def test_flags_override_the_document(attn: RunAttn) -> None:
    r = attn("compute", "--input", str(SAMPLES / "identity-2x2.json"), "--scale", "1", "--causal", "--json")
    doc = json.loads(r.out)
    assert doc["config"]["scale"] == 1.0 and doc["config"]["causal"] is True
    assert doc["stages"]["weights"][0] == [1.0, 0.0]


def test_json_is_strict_and_matches_the_schema(attn: RunAttn) -> None:
    r = attn(
        "compute", "--q", "1 0; 0 1", "--k", "1 0; 0 1", "--v", "1 0; 0 1", "--mask", "true true; false false", "--json"
    )
    assert r.code == 0
    assert "Infinity" not in r.out and "NaN" not in r.out
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["stages"]["masked"][1] == [None, None]
    assert doc["config"]["empty_rows"] == [[1]]
    assert "row q2 is fully masked" in r.err


@pytest.mark.parametrize("sample", sorted(s.path.name for s in list_samples()))
def test_every_sample_validates_and_reproduces_its_expected_values(attn: RunAttn, sample: str) -> None:
    r = attn("compute", "--input", str(SAMPLES / sample), "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    expected = json.loads((SAMPLES / sample).read_text())["expected"]
    assert expected, "every sample carries expected values"
    for stage, claimed in expected.items():
        # the claimed output is the final one (after W_o for multi-head); null (−∞) becomes nan on both sides
        ours = np.array(doc["output"] if stage == "output" else doc["stages"][stage], dtype=float)
        np.testing.assert_allclose(ours, np.array(claimed, dtype=float), rtol=0, atol=5e-7, err_msg=stage)


def test_stage_selection_limits_tables_and_json(attn: RunAttn) -> None:
    r = attn("compute", "--q", Q, "--k", K, "--v", V, "--stage", "weights", "--stage", "scores")
    assert "1 · scores" in r.out and "4 · weights = softmax(scaled)" in r.out
    assert "2 · scaled" not in r.out and "5 · output" not in r.out
    r = attn("compute", "--q", Q, "--k", K, "--v", V, "--stage", "weights", "--json")
    doc = json.loads(r.out)
    assert list(doc["stages"]) == ["weights"]
    jsonschema.validate(doc, SCHEMA)
    r = attn("compute", "--q", Q, "--k", K, "--v", V, "--stage", "masked")
    assert "nothing is masked" in r.out


def test_explain_cell_and_precision(attn: RunAttn) -> None:
    r = attn("compute", "--q", "[[1,2,3]]", "--k", "[[4,5,6],[1,1,1]]", "--v", "[[1],[2]]", "--explain-cell", "1,1")
    assert "q1·k1 = 1.0×4.0 + 2.0×5.0 + 3.0×6.0 = 32.0" in r.out
    r = attn("compute", "--q", Q, "--k", K, "--v", V, "--precision", "2", "--stage", "weights")
    assert "0.54" in r.out and "0.5353" not in r.out


def test_float32_and_empty_row_policy_flags(attn: RunAttn) -> None:
    r = attn(
        "compute",
        "--q",
        "1 0; 0 1",
        "--k",
        "1 0; 0 1",
        "--v",
        "1 0; 0 1",
        "--mask",
        "1 1; -inf -inf",
        "--empty-row",
        "uniform",
        "--dtype",
        "float32",
        "--json",
    )
    doc = json.loads(r.out)
    assert doc["config"]["dtype"] == "float32"
    assert doc["stages"]["weights"][1] == [0.5, 0.5]
    assert "weights set to uniform" in r.err


def test_zero_one_numeric_mask_is_additive_and_says_so(attn: RunAttn) -> None:
    r = attn("compute", "--q", "1 0; 0 1", "--k", "1 0; 0 1", "--v", "1 0; 0 1", "--mask", "1 0; 1 1", "--json")
    assert r.code == 0
    assert "the mask holds only 0 and 1, so it is additive" in r.err
    assert json.loads(r.out)["config"]["mask"] == "additive"


def test_bottom_right_causal_for_a_kv_cache(attn: RunAttn) -> None:
    r = attn(
        "compute",
        "--q",
        "[[1,0]]",
        "--k",
        "1 0; 0 1; 1 1",
        "--v",
        "1; 2; 3",
        "--causal",
        "--causal-align",
        "bottom-right",
        "--json",
    )
    assert json.loads(r.out)["stages"]["masked"][0][2] is not None  # the last query sees every key


def test_batched_inputs_render_each_slice(attn: RunAttn) -> None:
    r = attn("compute", "--q", "[[[1,0]],[[0,1]]]", "--k", "1 0; 0 1", "--v", "1 0; 0 1", "--stage", "weights")
    assert r.code == 0, r.err
    assert "[slice 0]" in r.out and "[slice 1]" in r.out


def test_wide_matrices_are_cut_with_a_note(attn: RunAttn) -> None:
    rng = np.random.default_rng(0)
    q = json.dumps(rng.normal(size=(3, 4)).round(2).tolist())
    k = json.dumps(rng.normal(size=(40, 4)).round(2).tolist())
    r = attn("compute", "--q", q, "--k", k, "--v", k, "--stage", "weights")
    assert "…" in r.out
    assert "of 40 columns; --json prints every value" in r.out
    assert max(len(line) for line in r.out.splitlines()) <= 80


BAD = [
    (["--q", "[[1,2]", "--k", K, "--v", V], "--q: malformed JSON at line 1, column 7"),
    (["--q", "[[1,0],[1]]", "--k", K, "--v", V], "--q: row 2 has 1 value, row 1 has 2 (ragged rows)"),
    (["--q", "1 a", "--k", K, "--v", V], "--q: row 1, column 2: 'a' is not a number"),
    (["--q", "[]", "--k", K, "--v", V], "--q: the matrix is empty"),
    (["--q", "1 nan", "--k", K, "--v", V], "--q: row 1, column 2: 'nan' is not a finite number"),
    (["--q", "1 0", "--k", "1 inf", "--v", V], "--k: row 1, column 2: 'inf' is not a finite number"),
    (["--q", "[[1,0,0]]", "--k", K, "--v", V], "--k: q has d_k = 3 columns but k has 2"),
    (["--q", Q, "--k", K, "--v", "[[1,0]]"], "--v: k has 2 rows (keys) but v has 1"),
    (["--q", Q, "--k", K, "--v", V, "--mask", "[[true,false,true]]"], "--mask: shape (1, 3) does not broadcast"),
    (["--q", Q, "--k", K, "--v", V, "--scale", "0"], "--scale: must be a positive finite number, got 0.0"),
    (["--q", Q, "--k", K, "--v", V, "--scale", "-2"], "--scale: must be a positive finite number"),
    (["--q", Q, "--k", K, "--v", V, "--scale", "nan"], "--scale: must be a positive finite number"),
    (["--q", Q, "--k", K, "--v", V, "--scale", "big"], "Invalid value for '--scale'"),
    (["--q", "@nowhere.json", "--k", K, "--v", V], "--q: file 'nowhere.json' not found"),
    (["--q", "@notes.txt", "--k", K, "--v", V], "--q: unknown file type '.txt'"),
    (["--input", "missing.json"], "--input: file 'missing.json' not found"),
    (["--input", "-"], "--input -: stdin is empty"),
    (["--q", Q], "no k/v given: pass --k, --v, or a problem document"),
    (["--q", Q, "--k", K, "--v", V, "--stage", "everything"], "--stage: unknown stage 'everything'"),
    (["--q", Q, "--k", K, "--v", V, "--explain-cell", "2,1"], "--explain-cell: 2,1 is outside the 1×2 scores"),
    (["--q", Q, "--k", K, "--v", V, "--dtype", "float16"], "Invalid value for '--dtype'"),
    (["--q", Q, "--k", K, "--v", V, "--bogus"], "No such option: --bogus"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_line_exit_2(attn: RunAttn, args: list[str], message: str) -> None:
    r = attn("compute", *args)
    assert r.code == 2
    assert r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("attn: error: "), r.err
    assert message in r.err
    assert "Traceback" not in r.err


BAD_DOCUMENTS = [
    ('{"q": [[1]], "k": [[1]], "v": [[1]], "qq": 1}', "stdin: unknown key 'qq' (known: "),
    ('{"q": [[1]], "k": [[1]], "v": [[1]], "causal": 1}', "stdin: causal: must be true or false, got 1"),
    ('{"q": [[1]], "k": [[1]], "v": [[1]], "scale": "x"}', "stdin: scale: must be a number or null"),
    ('{"q": [[1]], "k": [[1]], "v": [[1]], "empty_row": "zeros"}', "stdin: empty_row: must be one of zero"),
    ('{"q": [[1]], "k": [[1]], "v": [[1, "b"]]}', 'stdin: v: row 1, column 2: "b" is not a number'),
    ('{"q": [[1]], "k": [[1]], "v": [[1]], "labels": {"q": ["a", "b"]}}', "labels.q: has 2 labels for 1 queries"),
    ('{"q": [[1]], "k": [[1]], "v": [[1]], "expected": {"probs": [[1]]}}', "stdin: expected: unknown key 'probs'"),
    ('{"q": [[1]], "k": [[1]], "v": [[1]], "mask": [[Infinity]]}', "stdin: malformed JSON: Infinity is not valid"),
    ("[1, 2]", "stdin: expected a JSON object with q, k and v, got a list"),
    ('{"q": [[1]]', "stdin: malformed JSON at line 1, column 12"),
    ('{"q": [[1]], "k": [[1]], "v": null}', "stdin: v: is null; expected a matrix"),
]


@pytest.mark.parametrize(("document", "message"), BAD_DOCUMENTS, ids=[m for _, m in BAD_DOCUMENTS])
def test_bad_documents_are_one_line_exit_2(attn: RunAttn, document: str, message: str) -> None:
    r = attn("compute", stdin=document)
    assert r.code == 2
    assert r.err.count("\n") == 1 and message in r.err, r.err


def test_result_documents_are_accepted_as_input_with_their_keys(attn: RunAttn) -> None:
    r = attn("compute", "--input", str(SAMPLES / "padding-mask.json"), "--json")
    again = attn("compute", "--json", stdin=r.out)
    assert again.code == 0, again.err
    assert json.loads(again.out) == json.loads(r.out)


def test_debug_shows_a_traceback(attn: RunAttn) -> None:
    with pytest.raises(Exception, match="ragged"):
        attn("compute", "--q", "[[1,0],[1]]", "--k", K, "--v", V, "--debug")
