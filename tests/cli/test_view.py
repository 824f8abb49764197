"""--view FILE.html without a browser: one self-contained file that embeds the run's --json, every head
of the model, a size that stays small, and no input ever overwritten (the browser test is test_view_browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import SAMPLES, RunAttn

EIFFEL = "The miniature Eiffel tower is a toy"


def _scripts(html: str) -> tuple[dict[str, Any], Any]:
    """The page's data and its embedded JSON of the run."""
    found = dict(re.findall(r'<script type="application/json" id="(attn-data|attn-json)">(.*?)</script>', html, re.S))
    return json.loads(found["attn-data"]), json.loads(found["attn-json"])


def test_explain_page_embeds_its_json_and_every_head(attn: RunAttn, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    r = attn("explain", EIFFEL, "--view", str(page))
    assert r.code == 0, r.err
    assert f"wrote the interactive page to {page}" in r.err
    data, embedded = _scripts(page.read_text(encoding="utf-8"))
    assert embedded == json.loads(attn("explain", EIFFEL, "--json").out)  # what --json prints, whole
    assert (data["layers"], data["heads_per_layer"], len(data["blocks"])) == (6, 12, 72)
    overview = json.loads(attn("explain", EIFFEL, "--layer", "all", "--head", "all", "--json").out)
    for block, head in zip(data["blocks"], overview["heads"], strict=True):
        assert (block["layer"] + 1, block["head"] + 1) == (head["layer"], head["head"])
        assert np.array_equal(np.float32(block["weights"]), np.float32(head["weights"]))  # exactly, as float32
    chosen = data["blocks"][(embedded["layer"] - 1) * 12 + embedded["head"] - 1]
    names = [t["name"] for t in chosen["tables"]]
    assert names == ["q", "k", "v", "scores", "scaled", "weights", "output"]
    scores = next(t for t in chosen["tables"] if t["name"] == "scores")
    assert scores["title"] == "1 · scores = Q·Kᵀ"
    terminal = attn("explain", EIFFEL, "--stage", "scores", columns=250).out  # the same caption, line for line
    assert scores["caption"].startswith("Each cell: a query row · a key row (11 queries × 11 keys, d_k = 32).")
    assert all(line in terminal for line in scores["caption"].split("\n"))
    # the cells in compact form: the printed digits without the point (the browser test reads them printed)
    assert scores["cells"][0].split() == [
        str(int(f"{x:.2f}".replace(".", ""))) for x in embedded["stages"]["scores"][0]
    ]


@pytest.mark.parametrize(
    ("text", "code"), [("-0.0781", "-781"), ("0.0000", "0"), ("17.46", "1746"), ("3", "3"), ("−∞", "=−∞"),
                       ("NaN", "=NaN"), ("+∞", "=+∞"), ("123456789012.3456", "=123456789012.3456")],
)  # fmt: skip
def test_compact_cells(text: str, code: str) -> None:
    from attncli.serialize.view import compact

    assert compact(text) == code


def test_page_is_one_file_that_fetches_nothing(attn: RunAttn, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    assert attn("compute", "--sample", "causal-4x4", "--view", str(page)).code == 0
    html = page.read_text(encoding="utf-8")
    assert "default-src 'none'" in html  # the browser itself refuses anything from outside
    assert not re.search(r"<(link|img|iframe|object|embed)\b|\b(src|href)\s*=|@import|url\(", html)
    assert "//" not in re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S).replace("http://www.w3.org", "")


def test_a_twelve_word_sentence_stays_under_a_megabyte_and_a_half(attn: RunAttn, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    sentence = "The old man walked his small dog along the quiet river at dawn"
    r = attn("explain", sentence, "--view", str(page))
    assert r.code == 0, r.err
    data, _ = _scripts(page.read_text(encoding="utf-8"))
    assert len(data["labels"]["q"]) >= 14  # 12 words and [CLS], [SEP]
    assert page.stat().st_size < 1.5 * 1024 * 1024


def test_russian_page(attn: RunAttn, tmp_path: Path) -> None:
    page = tmp_path / "страница.html"
    assert attn("compute", "--sample", "causal-4x4", "--view", str(page), "--lang", "ru").code == 0
    html = page.read_text(encoding="utf-8")
    data, _ = _scripts(html)
    assert '<html lang="ru">' in html
    assert data["ui"]["model_view"] == "Все головы модели"
    assert any(t["title"] == "1 · scores = Q·Kᵀ — скалярные произведения" for t in data["blocks"][0]["tables"])


def test_multihead_page_has_every_head(attn: RunAttn, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    r = attn("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--view", str(page))
    assert r.code == 0, r.err
    data, embedded = _scripts(page.read_text(encoding="utf-8"))
    assert (data["layers"], data["heads_per_layer"]) == (1, 2)
    for h, block in enumerate(data["blocks"]):
        assert np.array_equal(np.asarray(block["weights"]), np.asarray(embedded["stages"]["weights"][h]))


@pytest.mark.parametrize("same", ["input", "folder"])
def test_the_page_never_overwrites_an_input(attn: RunAttn, tmp_path: Path, same: str) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text((SAMPLES / "causal-4x4.json").read_text(encoding="utf-8"), encoding="utf-8")
    before = problem.read_bytes()
    target = problem if same == "input" else tmp_path
    r = attn("compute", "--input", str(problem), "--view", str(target))
    assert r.code == 2
    assert r.err.count("\n") == 1 and "--view" in r.err and "Traceback" not in r.err
    assert problem.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["problem.json"]


def test_an_embeddings_file_is_an_input_too(attn: RunAttn, tmp_path: Path) -> None:
    embeddings = tmp_path / "emb.json"
    embeddings.write_text((SAMPLES / "embeddings-ru.json").read_text(encoding="utf-8"), encoding="utf-8")
    r = attn("explain", "Этот фильм потрясающий", "--embeddings", str(embeddings), "--view", str(embeddings))
    assert r.code == 2 and "--view" in r.err


def test_the_page_replaces_an_old_one_atomically(attn: RunAttn, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("old page", encoding="utf-8")
    assert attn("compute", "--sample", "causal-4x4", "--view", str(page)).code == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary file left
    missing = tmp_path / "no-such-folder" / "page.html"
    r = attn("compute", "--sample", "causal-4x4", "--view", str(missing))
    assert r.code == 2 and "--view" in r.err and "cannot write" in r.err


def test_view_keeps_every_stage_and_goes_with_save(attn: RunAttn, tmp_path: Path) -> None:
    page, saved = tmp_path / "page.html", tmp_path / "stages.npz"
    args = ("compute", "--sample", "causal-4x4", "--stage", "output", "--view", str(page), "--save", str(saved))
    r = attn(*args, "--json")
    assert r.code == 0, r.err
    data, embedded = _scripts(page.read_text(encoding="utf-8"))
    assert [t["name"] for t in data["blocks"][0]["tables"]] == ["output"]  # the tables asked for
    assert np.array_equal(np.load(saved)["weights"], np.asarray(data["blocks"][0]["weights"]))  # the head view's
    assert embedded == json.loads(r.out)  # what this run's --json printed (the stage-keeping path's numbers)
    r = attn("compute", "--sample", "causal-4x4", "--max-memory", "1", "--view", str(page))
    assert r.code == 2 and r.err.splitlines()[-1].startswith("attn: error: --view: the page needs every stage")


def test_multihead_page_has_the_capped_and_visible_stages_per_head(attn: RunAttn, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    x = "1 0; 0 1; 1 1; 0 2; 2 0"
    flags = ("--x", x, "--heads", "2", "--softcap", "3", "--window", "2", "--sinks", "0.5,-1")
    assert attn("compute", *flags, "--view", str(page)).code == 0
    data, embedded = _scripts(page.read_text(encoding="utf-8"))
    for h, block in enumerate(data["blocks"]):
        tables = {t["name"]: t for t in block["tables"]}
        assert {"capped", "allowed"} <= set(tables) and block["softcap"] == 3.0
        assert len(tables["capped"]["cells"]) == 5 and tables["allowed"]["extra"]["name"] == "seen"
        assert tables["allowed"]["cells"][0] == "=✓ =· =· =· =·"
        assert np.array_equal(np.float64(block["weights"]), np.float64(embedded["stages"]["weights"][h]))
