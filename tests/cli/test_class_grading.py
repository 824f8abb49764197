"""Grading a class: `attn check --input 'answers/*.json' --summary`, as real processes (each submission
is graded in a limited process of its own). Every file is a row; untrusted documents stay in their folder,
nothing blocks, one bad file cannot hang the run."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pytest

from attncli.analysis.exercises import generate
from attncli.cli.classgrade import ClassRequest, grade_class, grade_one

from conftest import attn_process


def _answers(folder: Path, n: int = 3) -> list[dict]:  # type: ignore[type-arg]
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for e in generate("causal", count=n, seed=11):
        doc = e.document(key=True)
        (folder / f"s{e.number}.json").write_text(json.dumps(doc), encoding="utf-8")
        docs.append(doc)
    return docs


def _edit(path: Path, **changes: object) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.update(changes)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_all_correct_is_exit_0(tmp_path: Path) -> None:
    _answers(tmp_path / "answers")
    run = attn_process("check", "--input", str(tmp_path / "answers" / "*.json"), "--summary", "--format", "json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert [r["verdict"] for r in doc["submissions"]] == ["passed"] * 3
    assert doc["summary"]["passed"] == 3 and doc["summary"]["mistakes"] == []


def test_a_row_per_file_a_summary_and_exit_2(tmp_path: Path) -> None:
    answers = tmp_path / "answers"
    docs = _answers(answers, 4)
    wrong = dict(docs[1]["expected"], masked=docs[1]["expected"]["scaled"])  # the mask left out
    _edit(answers / "s2.json", expected=wrong, student="Иванов")
    (answers / "s3.json").write_text('{"q": [[1, 0]', encoding="utf-8")
    _edit(answers / "s4.json", q="@/etc/passwd")
    run = attn_process("check", "--input", str(answers / "*.json"), "--input", str(tmp_path / "none-*.json"),
                       "--summary", "--format", "csv")  # fmt: skip
    assert run.code == 2, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [r["student"] for r in rows] == ["s1", "Иванов", "s3", "s4", ""]
    assert [r["verdict"] for r in rows] == ["passed", "wrong", "invalid", "invalid", "invalid"]
    assert rows[1]["first wrong stage"] == "masked" and "mask ignored" in rows[1]["mistakes"]
    assert rows[1]["credited"] == "4/5"
    assert "malformed JSON" in rows[2]["error"] and "outside the document's folder" in rows[3]["error"]
    assert "no file matches" in rows[4]["error"]
    assert "root:" not in run.out  # nothing of /etc/passwd


def test_some_wrong_is_exit_1_with_the_summary_in_russian(tmp_path: Path) -> None:
    answers = tmp_path / "answers"
    docs = _answers(answers, 2)
    for name, doc in (("s1.json", docs[0]), ("s2.json", docs[1])):
        _edit(answers / name, expected=dict(doc["expected"], masked=doc["expected"]["scaled"]))
    run = attn_process("check", "--input", str(answers / "*.json"), "--summary", "--lang", "ru")
    assert run.code == 1, run.err
    assert "маска не учтена: 2 работы" in run.out and "Что объяснить ещё раз:" in run.out


def test_the_sandbox_keeps_documents_in_their_folder(tmp_path: Path) -> None:
    answers, other = tmp_path / "answers", tmp_path / "other"
    _answers(answers, 5)
    other.mkdir()
    (other / "k.json").write_text("[[1, 0, 0, 0], [0, 1, 0, 0]]", encoding="utf-8")
    (answers / "k.json").write_text("[[1, 0, 0, 0], [0, 1, 0, 0]]", encoding="utf-8")
    os.symlink(other / "k.json", answers / "link.json")
    os.mkfifo(answers / "fifo.json")
    _edit(answers / "s1.json", k="@../other/k.json")
    _edit(answers / "s2.json", k="@link.json")
    _edit(answers / "s3.json", k="@fifo.json")
    _edit(answers / "s4.json", k=f"@{other / 'k.json'}")
    _edit(answers / "s5.json", k="@k.json")  # next to it: allowed (graded, wrong answers)
    files = [str(answers / f"s{i}.json") for i in range(1, 6)]
    start = time.monotonic()
    run = attn_process("check", *[a for f in files for a in ("--input", f)], "--format", "json")
    assert time.monotonic() - start < 60  # the FIFO did not block
    rows = json.loads(run.out)["submissions"]
    errors = [r["error"] or "" for r in rows]
    assert "goes up a folder" in errors[0]
    assert "leads outside" in errors[1]
    assert "not a regular file" in errors[2]
    assert "outside the document's folder" in errors[3]
    assert rows[4]["verdict"] != "invalid"
    assert run.code == 2


def test_a_submission_that_is_a_fifo_or_a_link_does_not_block(tmp_path: Path) -> None:
    _answers(tmp_path / "a", 1)
    os.mkfifo(tmp_path / "a" / "pipe.json")
    os.symlink("/dev/zero", tmp_path / "a" / "zero.json")
    run = attn_process("check", "--input", str(tmp_path / "a" / "*.json"), "--summary", "--format", "json")
    rows = {Path(r["file"]).name: r for r in json.loads(run.out)["submissions"]}
    assert rows["s1.json"]["verdict"] == "passed"
    assert "not a regular file" in rows["pipe.json"]["error"]
    assert "symbolic link" in rows["zero.json"]["error"]
    assert run.code == 2


def test_time_and_memory_limits(tmp_path: Path) -> None:
    _answers(tmp_path, 1)
    request = ClassRequest([], tol=0.01, time_limit=0.05)
    row = grade_one(tmp_path / "s1.json", request, sandbox=True)  # no process starts this fast
    assert row.verdict == "invalid" and "took longer than 0.05 s" in (row.error or "")
    # Stage tables of 4000×4000 need more than the 512 MiB given: that process runs out, the run goes on.
    big = tmp_path / "big.json"
    doc = {"q": "@q.npy", "k": "@q.npy", "v": "@q.npy", "expected": {"output": "@q.npy"}}
    big.write_text(json.dumps(doc), encoding="utf-8")
    import numpy as np

    np.save(tmp_path / "q.npy", np.ones((4000, 4)))
    row = grade_one(big, ClassRequest([], tol=0.01, memory_limit=2**30 // 2), sandbox=True)
    assert row.verdict == "invalid" and "ran out of memory" in (row.error or ""), row


def test_flags_of_one_problem_do_not_go_with_a_class(tmp_path: Path) -> None:
    _answers(tmp_path, 2)
    with pytest.raises(Exception, match="--q"):
        grade_class(ClassRequest([str(tmp_path / "*.json")], tol=0.01, given=("--q",)))
