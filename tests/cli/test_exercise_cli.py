"""`attn exercise` through the real entry point: sheets and keys in three formats and two languages,
problem documents that `attn check` grades, and nothing overwritten."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from attncli.analysis.exercises import generate
from attncli.serialize.worksheet import Paragraph, latex_text, to_html, to_markdown

from conftest import RunAttn


def test_sheet_and_key_in_markdown(attn: RunAttn) -> None:
    sheet = attn("exercise", "--topic", "softmax", "--count", "2", "--seed", "7")
    key = attn("exercise", "--topic", "softmax", "--count", "2", "--seed", "7", "--key")
    assert sheet.code == key.code == 0
    assert "## Exercise 2 · softmax" in sheet.out and "Worked answer" not in sheet.out
    assert "#### 4a · softmax, step 1: shifted = scaled − row max" in key.out  # attncli's own captions
    e = generate("softmax", count=1, seed=7)[0]
    for row in e.result.weights:
        assert " | ".join(f"{x:.4f}" for x in row) in key.out  # the key's numbers are the engine's


NEW_TOPICS = ["chunked", "sink-tokens", "window-jax", "alibi"]


@pytest.mark.parametrize("topic", ["padding", "two-heads", "rope", "softcap", "window", *NEW_TOPICS])
def test_latex_needs_no_package_and_compiles(attn: RunAttn, tmp_path: Path, topic: str) -> None:
    """CI (CI=true, as every CI service sets it) has pdflatex from `make latex`: there it must not skip."""
    run = attn("exercise", "--topic", topic, "--count", "2", "--key", "--format", "latex", "--level", "2")
    assert run.code == 0 and run.out.isascii() and "\\usepackage" not in run.out
    assert run.out.startswith("\\documentclass{article}") and run.out.rstrip().endswith("\\end{document}")
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("pdflatex is missing in CI: `make latex` installs Debian's texlive-latex-base")
        pytest.skip("pdflatex is not installed (the document is checked to be ASCII with no package)")
    (tmp_path / "key.tex").write_text(run.out, encoding="utf-8")
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "key.tex"], cwd=tmp_path, capture_output=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.mark.parametrize("topic", ["softmax", "two-heads", "window", *NEW_TOPICS])
def test_the_russian_latex_key_compiles(attn: RunAttn, tmp_path: Path, topic: str) -> None:
    """Russian needs T2A fonts and babel's Russian (Debian's texlive-lang-cyrillic, which `make latex` installs)."""
    run = attn("exercise", "--topic", topic, "--count", "2", "--key", "--format", "latex", "--lang", "ru")
    assert run.code == 0 and "Упражнение" in run.out
    if shutil.which("pdflatex") is None or shutil.which("kpsewhich") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("pdflatex is missing in CI: `make latex` installs it")
        pytest.skip("pdflatex is not installed")
    (tmp_path / "key.tex").write_text(run.out, encoding="utf-8")
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "key.tex"], cwd=tmp_path, capture_output=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_russian_sheet(attn: RunAttn) -> None:
    run = attn("exercise", "--topic", "causal", "--count", "1", "--key", "--format", "html", "--lang", "ru")
    assert run.code == 0 and '<html lang="ru">' in run.out
    assert "Упражнение 1" in run.out and "Exercise" not in run.out
    latex = attn("exercise", "--topic", "causal", "--count", "1", "--key", "--format", "latex", "--lang", "ru")
    assert "\\usepackage[T2A]{fontenc}" in latex.out and "Упражнение" in latex.out


def test_every_text_is_escaped() -> None:
    hostile = [Paragraph("<script>alert(1)</script> | *bold* $x$ \\ & % # _ { } ~ ^ ∞ 你")]
    assert "<script>" not in to_html(hostile, "t") and "&lt;script&gt;" in to_html(hostile, "t")
    assert "\\| \\*bold\\*" in to_markdown(hostile)
    tex = latex_text(hostile[0].text)
    assert tex.isascii() and "\\$x\\$" in tex and "\\&" in tex and "\\%" in tex and tex.endswith("?")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_no_character_of_a_latex_key_is_lost(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every character of every topic's sheet and key has a LaTeX spelling: none becomes '?' (⌊ ⌋ ✓ θ ≪…)."""
    import attncli.serialize.worksheet as worksheet
    from attncli.analysis.exercises import TOPICS
    from attncli.i18n import language, set_language
    from attncli.render.worksheet import sheet

    lost: dict[str, str] = {}

    def spy(text: str, cyrillic: bool = False) -> str:
        out = latex_text(text, cyrillic)
        if out.count("?") > text.count("?"):
            lost[text] = out
        return out

    monkeypatch.setattr(worksheet, "latex_text", spy)
    before = language()
    set_language(lang)
    try:
        for topic in TOPICS:
            sheet(generate(topic, count=2, seed=5, level=3 if topic == "window" else 2), key=True, format="latex")
    finally:
        set_language(before)
    assert not lost, list(lost)[:3]


def test_problem_documents_are_what_check_grades(attn: RunAttn, tmp_path: Path) -> None:
    run = attn("exercise", "--topic", "single-head", "--count", "3", "--seed", "7", "--out", str(tmp_path / "p"))
    assert run.code == 0 and "wrote 3 problem documents" in run.err
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["1.json", "2.json", "3.json"]
    doc = json.loads((tmp_path / "p" / "3.json").read_text(encoding="utf-8"))
    assert "expected" not in doc
    e = generate("single-head", count=3, seed=7)[2]
    weights = json.dumps(e.answers()["weights"].tolist())
    graded = attn("check", "--input", str(tmp_path / "p" / "3.json"), "--expect-weights", weights)
    assert graded.code == 0, graded.err
    keys = attn(
        "exercise", "--topic", "single-head", "--count", "3", "--seed", "7", "--key", "--out", str(tmp_path / "k")
    )
    assert keys.code == 0
    assert attn("check", "--input", str(tmp_path / "k" / "2.json")).code == 0


def test_nothing_is_overwritten(attn: RunAttn, tmp_path: Path) -> None:
    (tmp_path / "2.json").write_text("mine", encoding="utf-8")
    run = attn("exercise", "--topic", "dot", "--count", "3", "--out", str(tmp_path))
    assert run.code == 2 and "--out" in run.err and "2.json exists already" in run.err
    assert (tmp_path / "2.json").read_text(encoding="utf-8") == "mine" and not (tmp_path / "1.json").exists()


def test_json_is_strict_and_reproducible(attn: RunAttn) -> None:
    a = attn("exercise", "--topic", "cross", "--count", "2", "--seed", "3", "--level", "3", "--json", "--key")
    b = attn("exercise", "--topic", "cross", "--count", "2", "--seed", "3", "--level", "3", "--json", "--key")
    doc = json.loads(a.out)
    assert a.out == b.out and doc["seed"] == 3 and len(doc["exercises"]) == 2
    assert all(len(x["q"]) != len(x["k"]) for x in doc["exercises"])  # cross-attention: T ≠ S


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--topic", "nope"], "--topic"),
        (["--topic", "dot", "--level", "5"], "--level"),
        (["--topic", "dot", "--count", "0"], "--count"),
        (["--topic", "dot", "--seed", "-3"], "--seed"),
        (["--topic", "dot", "--format", "docx"], "--format"),
    ],
)
def test_bad_options_are_one_line(attn: RunAttn, args: list[str], flag: str) -> None:
    run = attn("exercise", *args)
    assert run.code == 2 and run.err.startswith(f"attn: error: {flag}:") and run.err.count("\n") == 1


def test_the_help_names_every_topic() -> None:
    from attncli.analysis.exercises import TOPICS
    from attncli.cli.exercise import TOPIC_HELP

    assert [t.strip(" .") for t in TOPIC_HELP.replace(" or ", ", ").split(", ")] == list(TOPICS)


@pytest.mark.parametrize(
    "topic",
    ["two-heads", "rope", "sinusoidal", "window", "prefix", "documents", "softcap", "sinks", *NEW_TOPICS],
)
def test_the_new_topics_documents_are_graded_by_check(attn: RunAttn, tmp_path: Path, topic: str) -> None:
    """Multi-head and variant problem documents: the key passes, a flag claim is graded, a mistake is named."""
    from attncli.analysis.exercises import MISTAKE_OF, hand_stages

    args = ["exercise", "--topic", topic, "--count", "2", "--seed", "4", "--level", "2"]
    assert attn(*args, "--key", "--out", str(tmp_path / "k")).code == 0
    assert attn("check", "--input", str(tmp_path / "k" / "2.json")).code == 0
    assert attn(*args, "--out", str(tmp_path / "p")).code == 0
    e = generate(topic, count=2, seed=4, level=2)[1]
    wrong = hand_stages(e.problem, MISTAKE_OF[topic])[e.asked[-1]]
    claim = json.dumps(np.round(wrong, 4).tolist()).replace("-Infinity", "null")
    run = attn("check", "--input", str(tmp_path / "p" / "2.json"), f"--expect-{e.asked[-1]}", claim, "--json")
    assert run.code == 1, run.err
    diagnoses = [d["mistake"] for d in json.loads(run.out)["diagnoses"]]
    assert diagnoses == [MISTAKE_OF[topic]], diagnoses
