"""The byte-level BPE tokenizer of a GGUF decoder (tokenizer.ggml.model "gpt2"), built with `tokenizers`.

The vocabulary (tokenizer.ggml.tokens) and the merges (tokenizer.ggml.merges) are in the file's
metadata. The vocabulary spells pieces in GPT-2's byte alphabet: 'Ġ' is a space, and a Cyrillic letter is
two bytes, so 'Ġфильм' is spelled 'ĠÑĦÐ¸Ð»ÑĮÐ¼'; Tokens.pieces show them readable (`readable`).
Splitting before BPE is the model's own: SmolLM2
(pre-tokenizer "smollm") splits digits one by one, then GPT-2's rule (words, numbers, punctuation
runs, spaces). Control tokens (<|im_start|>, …) are kept whole. The file says no BOS is added.

Words (for the reading and --query) come from the sentence's characters: attncli.models.words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.errors import InputError, ModelError
from attncli.i18n import _
from attncli.models.base import SentenceTooLong, Tokens
from attncli.models.words import BPE, group_pieces

if TYPE_CHECKING:
    from attncli.models.gguf import GGUFFile

CONTROL = 3  # tokenizer.ggml.token_type of a control token
_DIGITS_ONE_BY_ONE = frozenset({"smollm", "starcoder", "refact", "codeshell"})


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's spelling of the 256 bytes as printable characters (its bytes_to_unicode), reversed."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


_BYTES = _byte_alphabet()


def readable(piece: str) -> str:
    """A vocabulary piece as a person reads it: its bytes as UTF-8, a leading space kept as 'Ġ', and
    the bytes of a character cut between pieces as backslash escapes ("ĠÑĦÐ¸Ð»ÑĮÐ¼" → "Ġфильм")."""
    if not piece or any(ch not in _BYTES for ch in piece):
        return piece  # a control token (<|im_start|>): as it is
    text = bytes(_BYTES[ch] for ch in piece).decode("utf-8", errors="backslashreplace")
    return "Ġ" + text[1:] if text.startswith(" ") else text


class ByteLevelBPE:
    """A `tokenizers` BPE over GPT-2's byte alphabet, from a GGUF's metadata."""

    kind = BPE

    def __init__(self, tok: Any, control: frozenset[str]) -> None:
        self._tok = tok
        self.control = control

    @classmethod
    def from_gguf(cls, gguf: GGUFFile) -> ByteLevelBPE:
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

        meta, path = gguf.metadata, gguf.path
        kind = meta.get("tokenizer.ggml.model")
        tokens, merges = meta.get("tokenizer.ggml.tokens"), meta.get("tokenizer.ggml.merges")
        if kind != "gpt2" or not isinstance(tokens, list) or not isinstance(merges, list):
            message = _("{path} holds no byte-level BPE tokenizer (tokenizer.ggml.model {kind!r})")
            raise ModelError(message.format(path=path, kind=kind), argument="model")
        types = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
        try:
            vocab = {t: i for i, t in enumerate(tokens)}
            pairs = [tuple(m.split(" ", 1)) for m in merges]
            tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
        except Exception as e:  # the tokenizers library raises a bare Exception for a bad vocabulary
            message = _("{path}: the tokenizer in the metadata is not usable ({reason})")
            raise ModelError(message.format(path=path, reason=e), argument="model") from None
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        if meta.get("tokenizer.ggml.pre") in _DIGITS_ONE_BY_ONE:
            tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        else:
            tok.pre_tokenizer = byte_level
        tok.decoder = decoders.ByteLevel()
        control = frozenset(t for t, k in zip(tokens, types, strict=False) if k == CONTROL)
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in sorted(control)])
        return cls(tok, control)

    def to_json(self) -> dict[str, Any]:
        return {"tokenizer": self._tok.to_str(), "control": sorted(self.control)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ByteLevelBPE:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(doc["tokenizer"]), frozenset(doc["control"]))

    def encode(self, sentence: str, max_tokens: int, truncate: bool = False) -> Tokens:
        """The pieces of the sentence, no BOS (as the file says); cut to `max_tokens` only if `truncate`."""
        if not sentence.strip():
            raise InputError(_("the sentence is empty"), argument="sentence")
        enc = self._tok.encode(sentence, add_special_tokens=False)
        pieces, ids, spans = list(enc.tokens), list(enc.ids), [tuple(o) for o in enc.offsets]
        full = len(pieces)
        if full > max_tokens:
            if not truncate:
                raise SentenceTooLong.of(full, max_tokens)
            pieces, ids, spans = pieces[:max_tokens], ids[:max_tokens], spans[:max_tokens]
        special = tuple(p in self.control for p in pieces)
        words, groups, texts = group_pieces(sentence, spans, special)
        return Tokens(
            pieces=tuple(p if sp else readable(p) for p, sp in zip(pieces, special, strict=True)),
            ids=np.array(ids, dtype=np.int64),
            words=words,
            spans=tuple(spans),
            special=special,
            groups=groups,
            truncated_from=full if full > max_tokens else None,
            texts=texts,
        )

    def decode(self, ids: list[int]) -> str:
        """The text of token ids (bytes joined, then read as UTF-8)."""
        return str(self._tok.decode(ids, skip_special_tokens=False))

    def piece(self, token: int) -> str:
        """One token as the vocabulary spells it ('Ġthe', 'ĠÑĦ')."""
        return str(self._tok.id_to_token(token))

    def label(self, token: int) -> str:
        """One token as attncli shows it: readable (see `readable`)."""
        piece = self.piece(token)
        return piece if piece in self.control else readable(piece)

    def spelled_out(self, sentence: str, tokens: Tokens) -> list[tuple[str, tuple[str, ...]]]:
        """Byte-level BPE never spells out into [UNK]: nothing to say."""
        return []
