"""The model's own WordPiece tokenizer (tokenizer.json, via the `tokenizers` library).

The tokenizer.json shipped with all-MiniLM-L6-v2 pads every sentence to 128 tokens and truncates
there; both are switched off: a sentence gives exactly its tokens, and length is checked here.
WordPiece is BERT's attncli.models.base.Tokenizer: a '##' piece continues the word before it. The
pieces are lowercased and stripped of accents (all-MiniLM-L6-v2 reads «потрясающий» as 'потрясающии'),
but the words are shown as the sentence writes them, from the pieces' character spans.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attncli.errors import InputError, ModelError
from attncli.i18n import _
from attncli.models.base import SentenceTooLong, Tokens
from attncli.models.words import WORDPIECE, span_text, written

CONTINUATION = "##"  # WordPiece marks a piece that continues the previous one
SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"})


def word_groups(pieces: Sequence[str], special: Sequence[bool]) -> list[list[int]]:
    """Token positions grouped into words: a '##' piece joins the word before it."""
    groups: list[list[int]] = []
    for i, piece in enumerate(pieces):
        if piece.startswith(CONTINUATION) and groups and not special[i - 1]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def word_text(pieces: Sequence[str], group: Sequence[int]) -> str:
    """'e ##iff ##el' → 'eiffel'."""
    return "".join(pieces[i].removeprefix(CONTINUATION) for i in group)


class WordPiece:
    """tokenizer.json loaded with padding and truncation off."""

    kind = WORDPIECE

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self.path = path
        if not path.is_file():
            raise ModelError(
                _("{path} is missing (the model folder is incomplete)").format(path=path), argument="model"
            )
        try:
            self._tok: Any = Tokenizer.from_file(str(path))
        except Exception as e:  # the tokenizers library raises a bare Exception for a malformed file
            message = _("{path} is not a readable tokenizer ({reason})").format(path=path, reason=e)
            raise ModelError(message, argument="model") from None
        self._tok.no_padding()
        self._tok.no_truncation()

    def encode(self, sentence: str, max_tokens: int, truncate: bool = False) -> Tokens:
        """[CLS] pieces… [SEP]; more than `max_tokens` is an error unless `truncate` (then cut, keeping [SEP])."""
        if not sentence.strip():
            raise InputError(_("the sentence is empty"), argument="sentence")
        enc = self._tok.encode(sentence)
        pieces: list[str] = list(enc.tokens)
        ids: list[int] = list(enc.ids)
        words: list[int | None] = list(enc.word_ids)
        spans: list[tuple[int, int]] = [tuple(o) for o in enc.offsets]
        if len(pieces) <= 2:
            message = _("the sentence {sentence!r} gives no tokens (only [CLS] and [SEP])").format(sentence=sentence)
            raise InputError(message, argument="sentence")
        full = len(pieces)
        if full > max_tokens:
            if not truncate:
                raise SentenceTooLong.of(full, max_tokens)
            # keep [CLS] and the first pieces, then close with the original [SEP]
            pieces = [*pieces[: max_tokens - 1], pieces[-1]]
            ids = [*ids[: max_tokens - 1], ids[-1]]
            words = [*words[: max_tokens - 1], words[-1]]
            spans = [*spans[: max_tokens - 1], spans[-1]]
        special = tuple(p in SPECIAL and w is None for p, w in zip(pieces, words, strict=True))
        groups = tuple(tuple(g) for g in word_groups(pieces, special))
        return Tokens(
            pieces=tuple(pieces),
            ids=np.array(ids, dtype=np.int64),
            words=tuple(words),
            spans=tuple(spans),
            special=special,
            groups=groups,
            truncated_from=full if full > max_tokens else None,
            texts=written(sentence, spans, groups, special),  # as written: 'Eiffel', 'потрясающий' (not 'потрясающии')
        )

    def spelled_out(self, sentence: str, tokens: Tokens) -> list[tuple[str, tuple[str, ...]]]:
        return spelled_out(sentence, tokens)


def spelled_out(sentence: str, tokens: Tokens) -> list[tuple[str, tuple[str, ...]]]:
    """(word, pieces) for the words the vocabulary could only spell out letter by letter or not at all.

    A word counts when a piece is [UNK], or when it has letters outside ASCII and at least half of its
    pieces are one letter long (not counting '##'): e.g. Cyrillic in an English-only vocabulary.
    """
    by_word: dict[int, list[int]] = {}
    for i, word in enumerate(tokens.words):
        if word is not None:
            by_word.setdefault(word, []).append(i)
    found = []
    for indices in by_word.values():
        pieces = tuple(tokens.pieces[i] for i in indices)
        text = span_text(sentence, tokens.spans[indices[0]][0], tokens.spans[indices[-1]][1])
        bare = [p.removeprefix(CONTINUATION) for p in pieces]
        single = sum(1 for p in bare if len(p) == 1)
        non_ascii = any(ord(ch) > 127 and unicodedata.category(ch).startswith("L") for ch in text)
        if "[UNK]" in bare or (non_ascii and single * 2 >= len(pieces)):
            found.append((text, pieces))
    return found


__all__ = ["CONTINUATION", "SPECIAL", "Tokens", "WordPiece", "spelled_out", "word_groups", "word_text"]
