"""Our NumPy BERT against Hugging Face transformers' BertModel (eager attention), the reference.

torch (pinned) and transformers are in the `test` extra, so CI always runs these; they are
imported here only, never by attncli.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch  # the test extra installs both (torch pinned); a test-time reference only
import transformers

from attncli.models.bert import BertEncoder
from attncli.models.locate import package_folder
from attncli.models.tokenize import WordPiece

SENTENCES = [
    "The miniature Eiffel tower is a toy",
    "The animal didn't cross the street because it was too tired",
    "Hi",
    "Этот фильм потрясающий",
    "naïve café, 3.14 😀 — well-known!",
]
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}


@pytest.fixture(scope="module")
def folder() -> Path:
    found = package_folder()
    assert found is not None, "the model package is not installed (make test installs it)"
    return found


@pytest.fixture(scope="module")
def reference(folder: Path) -> Any:
    model = transformers.BertModel.from_pretrained(str(folder), attn_implementation="eager")
    return model.eval()


@pytest.fixture(scope="module")
def encoder(folder: Path) -> BertEncoder:
    return BertEncoder(folder)


def _batch(folder: Path, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (B, T) padded with [PAD] = 0, and the padding mask (True = real token)."""
    wp = WordPiece(folder / "tokenizer.json")
    encoded = [wp.encode(s, 512) for s in sentences]
    t = max(len(e) for e in encoded)
    ids = np.zeros((len(encoded), t), dtype=np.int64)
    real = np.zeros((len(encoded), t), dtype=bool)
    for i, e in enumerate(encoded):
        ids[i, : len(e)] = e.ids
        real[i, : len(e)] = True
    return ids, real


def test_tokens_match_the_hugging_face_tokenizer(folder: Path) -> None:
    hf = transformers.AutoTokenizer.from_pretrained(str(folder))
    wp = WordPiece(folder / "tokenizer.json")
    for sentence in SENTENCES:
        ours = wp.encode(sentence, 512)
        theirs = hf(sentence)["input_ids"]
        assert ours.ids.tolist() == theirs
        assert list(ours.pieces) == hf.convert_ids_to_tokens(theirs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("padded", [False, True], ids=["one-sentence", "padded-batch"])
def test_weights_and_hidden_states_match_transformers(
    folder: Path, reference: Any, encoder: BertEncoder, dtype: str, padded: bool
) -> None:
    sentences = SENTENCES if padded else SENTENCES[:1]
    ids, real = _batch(folder, sentences)
    if padded:
        assert not real.all(), "the batch should need padding"
    model = reference.to(torch.float64 if dtype == "float64" else torch.float32)
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(real.astype(np.int64)),
            output_attentions=True,
            output_hidden_states=True,
        )
    ours = encoder.forward(ids, real if padded else None, dtype=dtype)  # type: ignore[arg-type]
    tol = TOLERANCE[dtype]
    assert len(ours.hidden_states) == len(out.hidden_states) == 7
    assert len(ours.weights) == len(out.attentions) == 6
    for layer, (a, b) in enumerate(zip(ours.hidden_states, out.hidden_states, strict=True)):
        assert a.dtype == np.dtype(dtype)
        diff = np.abs(a - b.numpy())
        err = diff[real].max()
        assert err <= tol, f"hidden state {layer}: max error {err}"
        # The rows of [PAD] positions are computed too but never used; in float32 their rounding
        # differs more (up to ~4e-5 here), in float64 they match as tightly as the real tokens.
        pad_tol = tol if dtype == "float64" else 1e-4
        assert diff.max() <= pad_tol, f"hidden state {layer} at [PAD] positions: max error {diff.max()}"
    for layer, (a, b) in enumerate(zip(ours.weights, out.attentions, strict=True)):
        err = np.abs(a - b.numpy()).max()
        assert err <= tol, f"attention weights of layer {layer + 1}: max error {err}"
        if padded:
            # a [PAD] key gets exactly no weight
            assert (a[~real[:, None, None, :].repeat(a.shape[1], 1).repeat(a.shape[2], 2)] == 0).all()


def test_kept_layer_holds_every_stage(encoder: BertEncoder, folder: Path) -> None:
    ids, _ = _batch(folder, SENTENCES[:1])
    out = encoder.forward(ids, dtype="float64", keep={2})
    assert set(out.attentions) == {2}
    att = out.attentions[2]
    assert att.q.shape == (1, 12, ids.shape[1], 32)
    np.testing.assert_array_equal(att.weights, out.weights[2])
    assert att.scale == pytest.approx(1 / np.sqrt(32))
