"""A SentencePiece-Unigram tokenizer (XLM-R's, as multilingual-e5-small uses it), in plain Python.

    text → normalized: composed (NFC), then the model's per-character map (XLM-R's nmt_nfkc, one
           character at a time: control characters dropped, tabs and newlines to spaces, 'ﬁ' → 'fi', …),
           runs of spaces made one, '▁' before the text unless it starts with a space, every space → '▁'
    normalized → pieces: the path through the vocabulary whose pieces' scores (log-probabilities)
           add up to the most (Viterbi); a character no piece covers is <unk>, scored 10 below the
           lowest piece, and a run of them is one <unk> (as SentencePiece and XLM-R's tokenizer do)
    pieces → <s> pieces… </s>

The composing step is attncli's: XLM-R's own normalizer (NFKC) composes и + U+0306 into й, but the
map stored with the model holds single characters and so cannot; composing first gives NFC and NFD
input the same pieces, as the original tokenizer does. The control pieces (<s>, </s>, <pad>, <unk>,
<mask>) are never matched in the text. Every piece keeps the span of the sentence's characters it
came from, so words are shown as written (attncli.models.words).
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.errors import InputError
from attncli.i18n import _
from attncli.models.base import SentenceTooLong, Tokens
from attncli.models.words import SENTENCEPIECE, group_pieces

if TYPE_CHECKING:
    from numpy.typing import NDArray

SPACE = "▁"  # U+2581, SentencePiece's mark for a space
UNK_PENALTY = 10.0  # an unknown character scores this much below the lowest piece


@dataclass(frozen=True)
class Specials:
    """The ids of the pieces the tokenizer adds or never matches in text."""

    bos: int  # <s>, before the sentence
    eos: int  # </s>, after it
    pad: int
    unk: int
    control: frozenset[int]  # every piece that is never matched in text (the four above, <mask>)


def nfc_segments(text: str) -> list[tuple[int, int]]:
    """The text cut where NFC can be applied piece by piece: a character with the marks after it (and
    more when NFC joins characters across that cut, as Hangul jamo)."""
    if unicodedata.is_normalized("NFC", text):
        return [(i, i + 1) for i in range(len(text))]
    cuts = [0] + [j for j in range(1, len(text)) if unicodedata.combining(text[j]) == 0] + [len(text)]
    segments: list[tuple[int, int]] = []
    for start, end in itertools.pairwise(cuts):
        if segments:
            a, b = segments[-1]
            joined = unicodedata.normalize("NFC", text[a:end])
            if joined != unicodedata.normalize("NFC", text[a:b]) + unicodedata.normalize("NFC", text[start:end]):
                segments[-1] = (a, end)
                continue
        segments.append((start, end))
    return segments


_P = 0x100000001B3  # the hash of a piece's bytes: Σ byte_j · P^j (mod 2⁶⁴)
_MASK = (1 << 64) - 1


def piece_hashes(blob: NDArray[np.uint8], offsets: NDArray[np.int64]) -> NDArray[np.uint64]:
    """The hash of every piece of the blob (pieces one after another, piece i at offsets[i]…offsets[i+1]),
    computed for all at once: prefix sums of byte_j · P^j, each piece's difference divided by P^start."""
    n = blob.size
    with np.errstate(over="ignore"):
        powers = np.full(n + 1, _P, dtype=np.uint64)
        powers[0] = 1
        np.cumprod(powers, out=powers)
        inverse = np.full(n + 1, pow(_P, -1, 1 << 64), dtype=np.uint64)
        inverse[0] = 1
        np.cumprod(inverse, out=inverse)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(blob.astype(np.uint64) * powers[:n], out=prefix[1:])
        start, stop = offsets[:-1], offsets[1:]
        out: NDArray[np.uint64] = (prefix[stop] - prefix[start]) * inverse[start]
    return out


def bytes_hash(data: bytes) -> int:
    """piece_hashes' hash of one piece."""
    h, power = 0, 1
    for byte in data:
        h = (h + byte * power) & _MASK
        power = (power * _P) & _MASK
    return h


class SentencePieceUnigram:
    """Pieces with their scores, the normalization map and the special ids (from the model file).

    The pieces stay the file's bytes (`blob`, piece i at offsets[i]…offsets[i+1]); a piece is found
    by its hash (sorted once, a binary search each) and then compared byte for byte, so that a run
    does not build 250,000 strings to look up the few dozen the sentence can hold.
    """

    kind = SENTENCEPIECE

    def __init__(
        self,
        blob: bytes,
        offsets: NDArray[np.int64],
        scores: NDArray[np.floating],
        norm: Mapping[str, str],
        specials: Specials,
        index: NDArray[np.uint64] | None = None,
    ) -> None:
        """`index`: an earlier `build_index(blob, offsets)` of the same pieces (kept on disk), else built."""
        self.blob, self.offsets = blob, np.asarray(offsets, dtype=np.int64)
        self.scores = np.asarray(scores, dtype=np.float64)
        self.norm = dict(norm)
        self.specials = specials
        index = self.build_index(blob, self.offsets) if index is None else index
        self._sorted, self._order = index[0], index[1]
        self.longest = int(np.diff(self.offsets).max(initial=1))  # in bytes
        self.unk_score = float(self.scores.min(initial=0.0)) - UNK_PENALTY

    @staticmethod
    def build_index(blob: bytes, offsets: NDArray[np.int64]) -> NDArray[np.uint64]:
        """(2, n): the pieces' hashes in increasing order, and the piece id of each."""
        hashes = piece_hashes(np.frombuffer(blob, dtype=np.uint8), offsets)
        order = np.argsort(hashes, kind="stable")
        out: NDArray[np.uint64] = np.stack([hashes[order], order.astype(np.uint64)])
        return out

    def __len__(self) -> int:
        return len(self.scores)

    def piece(self, i: int) -> str:
        return self.blob[self.offsets[i] : self.offsets[i + 1]].decode("utf-8")

    def find(self, data: bytes) -> int | None:
        """The id of the piece spelled `data` (a control piece never), or None."""
        h = np.uint64(bytes_hash(data))
        at = int(np.searchsorted(self._sorted, h))
        while at < len(self._sorted) and self._sorted[at] == h:
            i = int(self._order[at])
            if self.blob[self.offsets[i] : self.offsets[i + 1]] == data:
                return None if i in self.specials.control else i
            at += 1
        return None

    def normalize(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """The normalized text ('▁' for spaces) and, for each of its characters, the span of the
        original text it came from ((0, 0) for the '▁' put before the text)."""
        out: list[str] = []
        spans: list[tuple[int, int]] = []
        for start, end in nfc_segments(text):
            for ch in unicodedata.normalize("NFC", text[start:end]):
                for c in self.norm.get(ch, ch):
                    if c == " " and out and out[-1] == " ":
                        continue  # a run of spaces is one space
                    out.append(c)
                    spans.append((start, end))
        if not out or out[0] != " ":
            out.insert(0, " ")
            spans.insert(0, (0, 0))
        return "".join(out).replace(" ", SPACE), spans

    def viterbi(self, chars: str) -> list[tuple[int, int, int]]:
        """The best pieces of normalized text: (piece id, or −1 for an unknown character; start; end)."""
        n = len(chars)
        best = [-math.inf] * (n + 1)
        back: list[tuple[int, int]] = [(0, -1)] * (n + 1)
        best[0] = 0.0
        scores, longest, known = self.scores, self.longest, {}
        for i in range(n):
            here = best[i]
            for e in range(i + 1, n + 1):
                data = chars[i:e].encode("utf-8")
                if len(data) > longest:
                    break
                if data not in known:
                    known[data] = self.find(data)
                idx = known[data]
                if idx is not None and here + scores[idx] > best[e]:
                    best[e], back[e] = here + float(scores[idx]), (i, idx)
            if here + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = here + self.unk_score, (i, -1)
        path: list[tuple[int, int, int]] = []
        end = n
        while end > 0:
            start, idx = back[end]
            if idx < 0 and path and path[-1][0] < 0:  # a run of unknown characters: one <unk>
                path[-1] = (-1, start, path[-1][2])
            else:
                path.append((idx, start, end))
            end = start
        return path[::-1]

    def content(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """The ids of the text's pieces (no <s>, </s>) and each piece's span in `text`."""
        chars, origin = self.normalize(text)
        ids, spans = [], []
        for idx, start, end in self.viterbi(chars):
            ids.append(self.specials.unk if idx < 0 else idx)
            covered = [origin[k] for k in range(start, end) if chars[k] != SPACE] or [origin[start]]
            spans.append((min(s for s, _e in covered), max(e for _s, e in covered)))
        return ids, spans

    def encode(self, sentence: str, max_tokens: int, truncate: bool = False) -> Tokens:
        """<s> pieces… </s>; more than `max_tokens` is an error unless `truncate` (then cut, keeping </s>)."""
        if not sentence.strip():
            raise InputError(_("the sentence is empty"), argument="sentence")
        sp = self.specials
        body, body_spans = self.content(sentence)
        ids = [sp.bos, *body, sp.eos]
        spans = [(0, 0), *body_spans, (len(sentence), len(sentence))]
        full = len(ids)
        if full > max_tokens:
            if not truncate:
                raise SentenceTooLong.of(full, max_tokens)
            ids, spans = [*ids[: max_tokens - 1], ids[-1]], [*spans[: max_tokens - 1], spans[-1]]
        special = tuple(i in (sp.bos, sp.eos) for i in ids)
        words, groups, texts = group_pieces(sentence, spans, special)
        return Tokens(
            pieces=tuple(self.piece(i) for i in ids),
            ids=np.array(ids, dtype=np.int64),
            words=words,
            spans=tuple(spans),
            special=special,
            groups=groups,
            truncated_from=full if full > max_tokens else None,
            texts=texts,
        )

    def spelled_out(self, sentence: str, tokens: Tokens) -> list[tuple[str, tuple[str, ...]]]:
        """(word, pieces) for the words with a character the vocabulary does not know (<unk>)."""
        found = []
        for text, group in zip(tokens.texts, tokens.groups, strict=True):
            pieces = tuple(tokens.pieces[i] for i in group)
            if text and any(int(tokens.ids[i]) == self.specials.unk for i in group):
                found.append((text, pieces))
        return found


__all__ = ["SPACE", "SentencePieceUnigram", "Specials", "bytes_hash", "nfc_segments", "piece_hashes"]
