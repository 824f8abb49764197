"""The model interface (attncli.models.base) and the registry: BERT is one architecture behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attncli.analysis.explanation import plan, run
from attncli.models import registry
from attncli.models.base import Architecture, LayerPass, Model, ModelInfo
from attncli.models.bert import Bert, BertEncoder
from attncli.models.locate import package_folder


@pytest.fixture(scope="module")
def folder() -> Path:
    found = package_folder()
    assert found is not None, "the model package is not installed (make test installs it)"
    return found


def test_bert_is_registered_and_recognised(folder: Path) -> None:
    assert isinstance(registry.ARCHITECTURES["bert"], Bert)
    assert registry.architecture_for(folder).name == "bert"
    info = registry.inspect(folder)
    assert (info.architecture, info.layers, info.query_heads, info.kv_heads, info.head_size) == ("bert", 6, 12, 12, 32)
    model = registry.load(folder)
    assert isinstance(model, Model) and model.info == info


def test_tokens_say_which_pieces_form_a_word(folder: Path) -> None:
    tokens = registry.load(folder).tokenizer.encode("The miniature Eiffel tower", 512)
    assert tokens.pieces[3:6] == ("e", "##iff", "##el")
    assert (3, 4, 5) in tokens.groups and tokens.special[0] and tokens.special[-1]


def test_the_layers_yield_what_forward_collects(folder: Path) -> None:
    model = BertEncoder(folder)
    ids = model.tokenizer.encode("The cat sat", 512).ids[None, :]
    steps = list(model.layers(ids, None, "float64", False))
    out = model.forward(ids, dtype="float64", keep={1})
    assert len(steps) == 6 and all(isinstance(s, LayerPass) for s in steps)
    assert len(out.hidden_states) == 7 and set(out.attentions) == {1}
    for i, step in enumerate(steps):  # forward runs BLAS on one thread for short input: the last bit may move
        np.testing.assert_allclose(step.attention.weights, out.weights[i], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(step.hidden, out.hidden_states[i + 1], rtol=1e-12, atol=1e-12)
        assert step.attention.q.shape == (1, 12, 5, 32)  # (B, H, T, d): every head handed to the engine at once


class _Echo(Model):
    """A one-layer toy architecture: Q = K = V = the one-hot ids, to show the seam takes another model."""

    def __init__(self, folder: Path) -> None:
        from attncli.models.tokenize import WordPiece

        self.folder = folder
        self.info = ModelInfo("echo", "echo", 1, 1, 1, 4, 4, 16, 30522)
        self.tokenizer = WordPiece(folder / "tokenizer.json")

    def embed(self, ids: np.ndarray, ftype: type[np.floating]) -> np.ndarray:
        return np.eye(4, dtype=ftype)[ids % 4]

    def layer(self, index: int, x: np.ndarray, mask: np.ndarray | None, dtype: str, causal: bool) -> LayerPass:
        from attncli.core.attention import attention

        heads = x[:, None]  # (B, 1, T, d)
        att = attention(heads, heads, heads, mask=mask, causal=causal, dtype=dtype)  # type: ignore[arg-type]
        return LayerPass(input=x, attention=att, hidden=att.output[:, 0])


class _EchoArchitecture(Architecture):
    name = "echo"
    files = ("tokenizer.json", "echo")

    def recognizes(self, folder: Path) -> bool:
        return (folder / "echo").is_file()

    def inspect(self, folder: Path) -> ModelInfo:
        return self.load(folder).info

    def load(self, folder: Path) -> Model:
        return _Echo(folder)


def test_another_architecture_plugs_in_without_the_cli(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tokenizer.json").symlink_to(folder / "tokenizer.json")
    (tmp_path / "echo").write_text("", encoding="utf-8")
    monkeypatch.setattr(registry, "ARCHITECTURES", dict(registry.ARCHITECTURES))
    registry.register(_EchoArchitecture())
    model = registry.load(tmp_path)
    assert isinstance(model, _Echo)
    shown = run(plan(model, "The cat sat", layer=None, head=None), dtype="float64")
    assert (shown.layer, shown.head) == (0, 0)  # type: ignore[union-attr]
    np.testing.assert_allclose(shown.attention.weights.sum(axis=-1), 1.0)  # type: ignore[union-attr]


def test_the_single_file_architectures_are_imported_only_for_their_files(folder: Path, tmp_path: Path) -> None:
    """llama and e5 are registered Deferred: a BERT run never imports them; their files load the real ones."""
    import subprocess
    import sys

    from attncli.models.e5 import E5Architecture
    from attncli.models.llama import Llama

    code = (
        "import sys; from pathlib import Path; from attncli.models import registry; "
        f"registry.load(Path({str(folder)!r})); "
        "print(sorted(m for m in sys.modules if m in ('attncli.models.llama', 'attncli.models.e5')))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    assert isinstance(registry.ARCHITECTURES["llama"].real(), Llama)  # type: ignore[attr-defined]
    assert isinstance(registry.ARCHITECTURES["e5"].real(), E5Architecture)  # type: ignore[attr-defined]
    (tmp_path / "m.gguf").write_bytes(b"")
    (tmp_path / "m.bin").write_bytes(b"")
    (tmp_path / "x").write_bytes(b"E5S1")
    assert registry.architecture_for(tmp_path / "m.gguf").name == "llama"
    assert registry.architecture_for(tmp_path / "m.bin").name == "e5"
    assert registry.architecture_for(tmp_path / "x").name == "e5"
    assert registry.architecture_for(folder).name == "bert"
