"""Words as a person reads them, whatever the tokenizer: pieces grouped by the characters they cover.

A word is a run of letters, digits and combining marks in the sentence (any script; 'й' typed as
'и' + U+0306 is one word), or one other non-space character (punctuation, an emoji). Each piece
belongs to the first word its character span touches; a piece of only spaces joins the next word.
The words' text is the sentence's own (as written, nothing stripped). `same_word` compares a word as
a user typed it (NFC or NFD, any case) with one of the sentence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# How a tokenizer's pieces mark words (Tokenizer.kind)
WORDPIECE = "wordpiece"  # '##' continues the word before it (BERT)
BPE = "bpe"  # 'Ġ' stands for a space before a word (GPT-2's byte-level BPE)
SENTENCEPIECE = "sentencepiece"  # '▁' stands for a space before a word (XLM-R's SentencePiece)


def _in_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def word_spans(sentence: str) -> list[tuple[int, int]]:
    """(start, end) of every word of the sentence, in order."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(sentence)
    while i < n:
        ch = sentence[i]
        if ch.isspace():
            i += 1
        elif _in_word(ch):
            j = i + 1
            while j < n and _in_word(sentence[j]):
                j += 1
            spans.append((i, j))
            i = j
        else:
            j = i + 1
            while j < n and (
                unicodedata.category(sentence[j]).startswith("M") or "\u200d" in (sentence[j], sentence[j - 1])
            ):
                j += 1  # a mark, or the joiner of an emoji sequence and what it joins
            spans.append((i, j))
            i = j
    return spans


def group_pieces(
    sentence: str, spans: Sequence[tuple[int, int]], special: Sequence[bool]
) -> tuple[tuple[int | None, ...], tuple[tuple[int, ...], ...], tuple[str, ...]]:
    """(the word of each piece, the pieces of each word in order, each word's text as written).

    Special pieces are a word of their own each (their text: the piece itself is not in the sentence,
    so the text is '')."""
    words = word_spans(sentence)
    owner: list[int | None] = []
    w = 0
    for (start, end), sp in zip(spans, special, strict=True):
        if sp:
            owner.append(None)
            continue
        while w < len(words) and words[w][1] <= start:
            w += 1
        touches = w < len(words) and words[w][0] < max(end, start + 1)
        owner.append(w if touches or w < len(words) else (len(words) - 1 if words else None))
    groups: list[list[int]] = []
    texts: list[str] = []
    last: int | None = -1
    for i, word in enumerate(owner):
        if word is None or word != last:
            groups.append([i])
            texts.append("" if word is None else sentence[slice(*words[word])])
        else:
            groups[-1].append(i)
        last = word if word is not None else -1
    return tuple(owner), tuple(tuple(g) for g in groups), tuple(texts)


def fold(word: str) -> str:
    """A word compared as a reader would: NFC, case folded."""
    return unicodedata.normalize("NFC", word).casefold()


def same_word(typed: str, word: str) -> bool:
    """Whether `typed` (as the user typed it: NFC or NFD, any case) is the sentence's `word`."""
    return bool(word) and fold(typed.strip()) == fold(word)


def written(
    sentence: str, spans: Sequence[tuple[int, int]], groups: Sequence[Sequence[int]], special: Sequence[bool]
) -> tuple[str, ...]:
    """Each word (a group of pieces) as the sentence writes it: from its first piece's start to its last
    piece's end, and on over the combining marks after it (a tokenizer that strips accents leaves the
    U+0306 of an NFD 'й' outside every piece); '' for a special piece."""
    texts = []
    for group in groups:
        if special[group[0]]:
            texts.append("")
            continue
        texts.append(span_text(sentence, spans[group[0]][0], spans[group[-1]][1]))
    return tuple(texts)


def span_text(sentence: str, start: int, end: int) -> str:
    """sentence[start:end] and the combining marks right after it."""
    while end < len(sentence) and unicodedata.category(sentence[end]).startswith("M"):
        end += 1
    return sentence[start:end]
