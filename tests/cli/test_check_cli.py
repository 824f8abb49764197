"""`attn check` through the real entry point: exit codes, samples, bad input, a golden report, the README."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attncli.problem.samples import list_samples

from conftest import ROOT, SAMPLES, Golden, RunAttn, attn_process

ONE_QUERY = ("--q", "[[1,0]]", "--k", "[[0.5,0.5],[0.3,0.7]]", "--v", "[[1,0],[0.5,0.5]]")


@pytest.mark.parametrize("sample", sorted(s.path.name for s in list_samples()))
def test_every_sample_passes(attn: RunAttn, sample: str) -> None:
    r = attn("check", "--input", str(SAMPLES / sample))
    assert r.code == 0, r.out + r.err
    assert "PASSED: all" in r.out and "✗" not in r.out
    assert r.err == ""


def test_exit_codes_of_the_real_process() -> None:
    right = attn_process("check", "--input", "samples/identity-2x2.json")
    wrong = attn_process("check", *ONE_QUERY, "--expect-output", "[[0.75,0.25]]")
    bad = attn_process("check", *ONE_QUERY, "--expect-output", "[[0.75,0.25,0]]")
    assert (right.code, wrong.code, bad.code) == (0, 1, 2)
    assert "Diagnosis: K not transposed (in the scores)" in wrong.out
    assert bad.out == "" and bad.err.count("\n") == 1 and bad.err.startswith("attn: error: --expect-output: ")


def test_flags_override_the_documents_claims(attn: RunAttn) -> None:
    sample = str(SAMPLES / "one-query-two-keys.json")
    r = attn("check", "--input", sample, "--expect-output", "[[0.75,0.25]]", "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert report["stages"]["output"]["claimed"] == [[0.75, 0.25]]
    assert report["stages"]["scores"]["verdict"] == "correct"  # still from the document
    assert report["first_wrong_stage"] == "output"


def test_a_document_on_stdin(attn: RunAttn) -> None:
    doc = json.loads((SAMPLES / "cross-attention.json").read_text())
    doc["expected"] = {"weights": [[0.14, 0.28, 0.58], [0.5, 0.25, 0.25]]}
    r = attn("check", "--json", stdin=json.dumps(doc))
    assert r.code == 0, r.err
    assert json.loads(r.out)["source"] == "stdin"


def test_json_report(attn: RunAttn) -> None:
    r = attn("check", *ONE_QUERY, "--expect-scores", "0.5 0.5", "--expect-weights", "0.5 0.5", "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert report["passed"] is False and report["first_wrong_stage"] == "scores"
    assert report["credit"] == {"claimed": 2, "correct": 0, "consistent": 1, "credited": 1}
    assert report["tolerance"] is None and "last decimal you wrote" in report["tolerance_rule"]
    scores, weights = report["stages"]["scores"], report["stages"]["weights"]
    assert scores["verdict"] == "wrong" and scores["matches"] == [[True, False]]
    assert scores["worst_cell"] == [0, 1] and scores["first_wrong_cell"] == [0, 1]
    assert weights["verdict"] == "consistent" and weights["consistent_with"] == "scores"
    assert weights["implied"] == [[0.5, 0.5]]
    [diagnosis] = report["diagnoses"]
    assert diagnosis["mistake"] == "k_not_transposed" and diagnosis["stage"] == diagnosis["made_in"] == "scores"
    assert "Q·Kᵀ" in diagnosis["fix"]


def test_masked_claims_round_trip_minus_infinity_as_null(attn: RunAttn) -> None:
    r = attn("check", "--input", str(SAMPLES / "padding-mask.json"), "--json")
    assert r.code == 0
    assert json.loads(r.out)["stages"]["masked"]["claimed"][0] == [0.707107, 0.0, None]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "attn: error: check: nothing to check: give your values with --expect-scores"),
        (
            ("--expect-weights", "[[0.5,0.5,0]]"),
            "--expect-weights: has shape 1×3, but the weights of this problem are 1×2",
        ),
        (("--expect-output", "1; 2"), "--expect-output: has shape 2×1, but the output of this problem is 1×2"),
        (("--expect-masked", "0 0"), "--expect-masked: this problem has no mask and is not causal"),
        (("--expect-scores", "[[0.5, NaN]]"), "--expect-scores: malformed JSON"),
        (("--expect-scores", "0.5 x"), "--expect-scores: row 1, column 2: 'x' is not a number"),
        (("--expect-scores", "0.5 0.3; 1"), "--expect-scores: row 2 has 1 value, row 1 has 2 (ragged rows)"),
        (("--expect-weights", "@missing.json"), "--expect-weights: file 'missing.json' not found"),
        (("--expect-output", "0.7 0.2", "--tol", "-1"), "Invalid value for '--tol'"),
        (("--expect-output", "0.7 0.2", "--tol", "lots"), "Invalid value for '--tol'"),
        (("--expect-output", "0.7 0.2", "--tol", "inf"), "--tol: must be a finite number ≥ 0, got inf"),
        (("--expect-output", "0.7 0.2", "--expect-mistake", "x"), "No such option"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("check", *ONE_QUERY, *args)
    assert r.code == 2, r.out
    assert r.out == ""
    assert r.err.startswith("attn: error: ") and r.err.count("\n") == 1, r.err
    assert message in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ({"weights": [[0.5, 0.5, 0.0]]}, "doc.json: expected.weights: has shape 1×3, but the weights"),
        ({"masked": [[0.1, 0.2]]}, "doc.json: expected.masked: this problem has no mask"),
        ({"masked": [[True, False]]}, "doc.json: expected.masked: this problem has no mask"),
        ({"weights": [[0.5, None]]}, "doc.json: expected.weights: row 1, column 2: null is not a number"),
        ({"softmax": [[0.5, 0.5]]}, "doc.json: expected: unknown key 'softmax'"),
        ({}, "attn: error: check: nothing to check"),
    ],
)
def test_bad_claims_in_a_document_name_the_key(
    attn: RunAttn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expected: object, message: str
) -> None:
    doc = {"q": [[1, 0]], "k": [[0.5, 0.5], [0.3, 0.7]], "v": [[1, 0], [0.5, 0.5]], "expected": expected}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    r = attn("check", "--input", "doc.json")
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert message in r.err


def test_golden_report_at_80_columns(attn: RunAttn, golden: Golden) -> None:
    """The whole text of one report: a wrong stage with its diagnosis, a consistent one, a correct one."""
    r = attn(
        "check", *ONE_QUERY, "--expect-scores", "0.5 0.5", "--expect-weights", "0.5 0.5", "--expect-output", "0.76 0.24"
    )
    assert r.code == 1
    shown = "\n".join(line.rstrip() for line in r.out.splitlines()) + "\n"  # rich pads lines with spaces
    golden("check-one-query", shown)
    assert max(len(line) for line in r.out.splitlines()) <= 80


def test_wide_terminal_puts_tables_side_by_side(attn: RunAttn) -> None:
    args = ("check", "--input", str(SAMPLES / "causal-4x4.json"))
    narrow, wide = attn(*args, columns=60), attn(*args, columns=120)
    assert narrow.code == wide.code == 0
    assert max(len(line) for line in narrow.out.splitlines()) <= 60
    assert len(wide.out.splitlines()) < len(narrow.out.splitlines())
    assert any("you wrote" in line and "correct" in line for line in wide.out.splitlines())


# --- the README's examples ---------------------------------------------------------------------------


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Grading a hand calculation: `attn check`") :]
    return re.findall(r"```(?:bash|console)?\n(.*?)```", section, flags=re.DOTALL)


def test_readme_command_lines(attn: RunAttn) -> None:
    lines = [line for line in readme_blocks()[0].splitlines() if line.startswith("attn check --q")]
    assert len(lines) == 2
    for line in lines:
        args = shlex.split(line)[1:]
        r = attn(*args)
        assert r.code == 1, r.err
        assert "Diagnosis: K not transposed" in r.out


@pytest.fixture
def homework(tmp_path: Path) -> Path:
    """A folder of three homework files: right, wrong (K not transposed), and a claim of the wrong shape."""
    folder = tmp_path / "homework"
    folder.mkdir()
    doc = json.loads((SAMPLES / "one-query-two-keys.json").read_text())
    (folder / "anna.json").write_text(json.dumps(doc))
    doc["expected"] = {"scores": [[0.5, 0.5]], "weights": [[0.5, 0.5]], "output": [[0.75, 0.25]]}
    (folder / "boris.json").write_text(json.dumps(doc))
    doc["expected"] = {"weights": [[0.5, 0.5, 0.0]]}
    (folder / "carl.json").write_text(json.dumps(doc))
    return tmp_path


def run_bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "80"}
    assert shutil.which("attn", path=env["PATH"]), "the attn console script is not installed next to python"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_readme_grading_loop(homework: Path) -> None:
    [loop] = [b for b in readme_blocks() if "case $?" in b]
    done = run_bash(loop, homework)
    assert done.stdout.splitlines() == [
        "pass     homework/anna.json",
        "mistake  homework/boris.json",
        "invalid  homework/carl.json",
    ]
    assert "homework/carl.json: expected.weights: has shape 1×3" in done.stderr
    assert "Diagnosis: K not transposed" in (homework / "homework" / "boris.report.txt").read_text()


def test_readme_jq_summary(homework: Path) -> None:
    [pipeline] = [b for b in readme_blocks() if "jq -s" in b]
    done = run_bash(pipeline, homework)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"source": "homework/anna.json", "passed": True, "first_wrong_stage": None, "mistakes": []},
        {
            "source": "homework/boris.json",
            "passed": False,
            "first_wrong_stage": "scores",
            "mistakes": ["k_not_transposed"],
        },
    ]


FILM = ("--q", "0.9 0.8", "--k", "0.1 0.3; 0.2 0.4; 0.9 0.8", "--v", "0.1 0.3; 0.2 0.4; 0.9 0.8")


def test_the_notes_film_exercise(attn: RunAttn) -> None:
    """The lecture notes' film example (issue 15, item 4): scores from a one-hot query, weights that are no
    softmax, and an output within ±0.01 of the correct one that only follows from the wrong weights."""
    claims = ("--expect-scores", "0.1 0.2 0.9", "--expect-weights", "0.25 0.25 0.5", "--expect-output", "0.525 0.575")
    r = attn("check", *FILM, *claims, "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert [d["mistake"] for d in report["diagnoses"]] == ["query_not_given", "not_a_softmax"]
    assert report["stages"]["output"]["verdict"] == "consistent"  # 3 decimals written, 8 units off
    loose = attn("check", *FILM, "--expect-weights", "0.25 0.25 0.5", "--expect-output", "0.525 0.575", "--tol", "0.01")
    assert loose.code == 1
    assert "≈ 5 · output = weights · V: close, but by coincidence: your weights were wrong" in loose.out
    doc = json.loads(attn("check", *FILM, "--expect-weights", "0.25 0.25 0.5", "--expect-output", "0.525 0.575",
                          "--tol", "0.01", "--json").out)  # fmt: skip
    assert doc["stages"]["output"]["verdict"] == "correct" and doc["stages"]["output"]["coincidence"] is True
    ru = attn("check", *FILM, *claims, "--lang", "ru")
    assert "взят не тот запрос, что дан в условии" in ru.out and "веса — не softmax" in ru.out


FILM3 = ("--q", "0.1 0.3; 0.2 0.4; 0.9 0.8", "--k", "0.1 0.3; 0.2 0.4; 0.9 0.8", "--v", "0.1 0.3; 0.2 0.4; 0.9 0.8")


@pytest.mark.parametrize("row", ["3", "q3", "потрясающий"])
def test_one_row_of_a_claim(attn: RunAttn, tmp_path: Path, row: str) -> None:
    """Issue 15, item 5: the notes give only the row of «потрясающий»; --row NAME grades that row alone."""
    doc = tmp_path / "film.json"
    m = [[0.1, 0.3], [0.2, 0.4], [0.9, 0.8]]
    labels = {"q": ["Этот", "фильм", "потрясающий"], "k": ["Этот", "фильм", "потрясающий"]}
    doc.write_text(json.dumps({"q": m, "k": m, "v": m, "labels": labels}), encoding="utf-8")
    right = attn("check", "--input", str(doc), "--expect-output", "0.5334 0.5806", "--row", row, "--json")
    assert right.code == 0, right.out + right.err
    report = json.loads(right.out)
    assert report["stages"]["output"]["rows_claimed"] == [2]
    assert report["stages"]["output"]["claimed"][:2] == [[None, None], [None, None]]
    wrong = attn("check", "--input", str(doc), "--expect-output", "0.525 0.575", "--row", row)
    assert wrong.code == 1 and "—" in wrong.out


def test_null_rows_are_not_claimed(attn: RunAttn) -> None:
    r = attn("check", *FILM3, "--expect-weights", "[null, null, [0.2307, 0.2601, 0.5092]]", "--json")
    assert r.code == 0, r.out + r.err
    wrong = attn("check", *FILM3, "--expect-weights", "[null, null, [0.25, 0.25, 0.5]]", "--json")
    report = json.loads(wrong.out)
    assert wrong.code == 1 and report["diagnoses"][0]["mistake"] == "not_a_softmax"
    assert report["stages"]["weights"]["worst_cell"] == [2, 0]
    doc = {"q": "1 0; 0 1", "k": "1 0; 0 1", "v": "1 0; 0 1", "expected": {"weights": [None, [0.33, 0.67]]}}
    assert attn("check", "--json", stdin=json.dumps(doc)).code == 0


NAN_ROW = ("--q", "0 1; 1 0", "--k", "1 0; 0 1", "--v", "1 2; 3 4", "--mask", "false false; true true")


def test_empty_row_nan_can_pass_and_says_why_a_number_cannot(attn: RunAttn) -> None:
    """Under --empty-row nan a fully masked row is NaN: leaving it out passes; a number written there is
    named as such; and the softmax example is worked on a row that has a visible key, never "÷ () = nan"."""
    policy = ("--empty-row", "nan")
    right = attn("check", *NAN_ROW, *policy, "--expect-weights", "[null, [0.6698, 0.3302]]")
    assert right.code == 0, right.out + right.err
    wrong = attn("check", *NAN_ROW, *policy, "--expect-weights", "0.2 0.8; 0.6698 0.3302", "--json")
    stage = json.loads(wrong.out)["stages"]["weights"]
    assert wrong.code == 1 and "fully masked" in stage["unexplained"] and "(null)" in stage["unexplained"]
    softmax = attn("check", *NAN_ROW, *policy, "--expect-weights", "0.1 0.9; 0.5 0.5")
    assert softmax.code == 1 and "÷ ()" not in softmax.out and "= nan" not in softmax.out
    assert "e.g. q2, k1: exp(0.7071) = 2.0281" in " ".join(softmax.out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--expect-weights", "0.2 0.3 0.5", "--row", "кино"), "--row: no query 'кино' (the queries: q1, q2, q3)"),
        (("--expect-weights", "0.2 0.3 0.5", "--row", "4"), "--row: no query '4'"),
        (
            ("--expect-weights", "0.2 0.3 0.5; 0.2 0.3 0.5", "--row", "1"),
            "--expect-weights: with --row, give the one row",
        ),
        (
            (
                "--expect-weights",
                "[null, null, null]",
            ),
            "--expect-weights: every row is null: claim at least one row",
        ),
    ],
)
def test_bad_rows(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("check", *FILM3, *args)
    assert r.code == 2 and message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1


def test_each_diagnosis_is_followed_by_its_fix(attn: RunAttn) -> None:
    """Two mistakes explain the claim (no scaling, rounding to 0 decimals): each Diagnosis line is followed
    by its own Correct line, not both diagnoses first (and the same in Russian)."""
    args = ("--q", "1 0; 0 1", "--k", "1 0; 0 1", "--v", "1 2; 3 4", "--expect-scaled", "1 0; 0 1")
    for lang, diagnosis, correct in (("en", "Diagnosis:", "Correct:"), ("ru", "Диагноз:", "Как правильно:")):
        out = attn("check", *args, "--lang", lang).out
        labels = [w for line in out.splitlines() for w in (diagnosis, correct) if line.strip().startswith(w)]
        assert labels == [diagnosis, correct, diagnosis, correct], out
