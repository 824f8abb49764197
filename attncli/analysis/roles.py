"""What each head does: one score in [0, 1] per head and role, each defined in one line.

On the user's sentence (weights (L, H, T, T); a query row counts only when it has a choice, so under a
causal mask the first row, which can only see itself, is left out):

    previous     mean over queries i ≥ 2 of A[i, i−1]                     (1 for a pure previous-token head)
    next         mean over queries i < T of A[i, i+1]                     (encoders: a decoder cannot look ahead)
    self         mean over queries of A[i, i]
    first        mean over queries i ≥ 2 of A[i, 1]: the first token as a sink ([CLS], <s>, BOS)
    end          mean over queries of the weight on the closing special tokens ([SEP], </s>; encoders)
    punctuation  mean over queries of the weight on punctuation tokens (when the sentence has any)
    broad        mean over queries of the row's entropy ÷ log(keys it sees) (1 = spread evenly)

On a probe for causal decoders (TransformerLens's definitions): a random token sequence of n tokens,
repeated (after the BOS token, if the model uses one); queries p in the second copy:

    duplicate    mean of A[p, p − n]: the earlier copy of the same token
    induction    mean of A[p, p − n + 1]: the token after the earlier copy

Positions above are 1-based as the user reads them; the code is 0-based. Pure NumPy.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.models.base import Tokens

    Array = NDArray[np.floating]

ROLES = ("previous", "next", "self", "first", "end", "punctuation", "broad", "duplicate", "induction")
NAMED_FROM = 0.5  # a head's strongest role is named when it scores at least this…
BROAD_FROM = 0.8  # …and "broad" only when no other role does and its score reaches this
PROBE_TOKENS = 20  # n, the length of the random sequence that the probe repeats


@dataclass(frozen=True)
class Roles:
    """Scores (roles × L × H) of the roles that apply to this model and sentence."""

    names: tuple[str, ...]
    scores: NDArray[np.float64]  # (len(names), L, H)

    def score(self, role: str) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.scores[self.names.index(role)]
        return out

    def strongest(self) -> list[list[tuple[str, float] | None]]:
        """Per layer, per head: its strongest role and score, or None when no role holds."""
        grid: list[list[tuple[str, float] | None]] = []
        narrow = [i for i, n in enumerate(self.names) if n != "broad"]
        for li in range(self.scores.shape[1]):
            row: list[tuple[str, float] | None] = []
            for hi in range(self.scores.shape[2]):
                best = max(narrow, key=lambda i: self.scores[i, li, hi]) if narrow else None
                if best is not None and self.scores[best, li, hi] >= NAMED_FROM:
                    row.append((self.names[best], float(self.scores[best, li, hi])))
                elif "broad" in self.names and self.score("broad")[li, hi] >= BROAD_FROM:
                    row.append(("broad", float(self.score("broad")[li, hi])))
                else:
                    row.append(None)
            grid.append(row)
        return grid

    def top(self, role: str, n: int = 3) -> list[tuple[int, int, float]]:
        """The n heads (layer, head, 0-based) that score highest in `role`, best first."""
        s = self.score(role)
        order = np.argsort(-s, axis=None, kind="stable")[:n]
        return [(int(k // s.shape[1]), int(k % s.shape[1]), float(s.flat[k])) for k in order]


def is_punctuation(text: str) -> bool:
    return bool(text) and all(unicodedata.category(ch).startswith("P") for ch in text)


def _diagonal(weights: Array, offset: int, rows: NDArray[np.intp]) -> NDArray[np.float64]:
    """(L, H): mean over the query rows `rows` of A[i, i + offset]."""
    out: NDArray[np.float64] = weights[..., rows, rows + offset].mean(axis=-1)
    return out


def _on_keys(weights: Array, keys: Sequence[int], rows: NDArray[np.intp]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = weights[..., rows, :][..., list(keys)].sum(axis=-1).mean(axis=-1)
    return out


def broadness(weights: Array, causal: bool) -> NDArray[np.float64]:
    """(L, H): mean over query rows of entropy ÷ log(keys the row sees); rows that see one key left out."""
    t = weights.shape[-1]
    seen = np.arange(1, t + 1) if causal else np.full(t, t)
    rows = np.flatnonzero(seen > 1)
    if rows.size == 0:
        return np.zeros(weights.shape[:2])
    w = np.asarray(weights, dtype=np.float64)[..., rows, :]
    entropy = -(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=-1)
    out: NDArray[np.float64] = (entropy / np.log(seen[rows])).mean(axis=-1)
    return out


def sentence_roles(weights: Array, sentence: str, tokens: Tokens, causal: bool) -> dict[str, NDArray[np.float64]]:
    """The roles scored on the sentence itself (the ones that apply: see the module's table)."""
    w = np.asarray(weights, dtype=np.float64)
    t = w.shape[-1]
    start = 1 if causal else 0  # under a causal mask the first row has no choice
    every = np.arange(start, t)
    out: dict[str, NDArray[np.float64]] = {}
    if t > 1:
        out["previous"] = _diagonal(w, -1, np.arange(1, t))
        if not causal:
            out["next"] = _diagonal(w, 1, np.arange(0, t - 1))
        if every.size:
            out["self"] = _diagonal(w, 0, every)
        out["first"] = _on_keys(w, [0], np.arange(1, t))
    end = []
    for i in range(t - 1, 0, -1):  # the closing special tokens
        if not tokens.special[i]:
            break
        end.append(i)
    if end and not causal:
        out["end"] = _on_keys(w, end, np.arange(t))
    marks = [i for i in range(t) if not tokens.special[i] and is_punctuation(sentence[slice(*tokens.spans[i])])]
    if marks and every.size:
        out["punctuation"] = _on_keys(w, marks, every)
    if every.size:
        out["broad"] = broadness(w, causal)
    return out


def probe_ids(vocab: Sequence[int], bos: int | None, n: int = PROBE_TOKENS, seed: int = 0) -> NDArray[np.int64]:
    """[BOS] + r + r: a random sequence r of n distinct tokens drawn from `vocab`, repeated."""
    rng = np.random.default_rng(seed)
    r = rng.choice(np.asarray(vocab, dtype=np.int64), size=n, replace=False)
    head = [] if bos is None else [bos]
    return np.array([*head, *r, *r], dtype=np.int64)


def probe_roles(weights: Array, n: int, offset: int) -> dict[str, NDArray[np.float64]]:
    """Duplicate-token and induction scores on the probe's weights (L, H, P, P); `offset`: 1 after a BOS."""
    second = np.arange(offset + n, offset + 2 * n)
    w = np.asarray(weights, dtype=np.float64)
    return {"duplicate": _diagonal(w, -n, second), "induction": _diagonal(w, 1 - n, second)}


def roles(scored: dict[str, NDArray[np.float64]]) -> Roles:
    """The scores in ROLES' order."""
    names = tuple(r for r in ROLES if r in scored)
    return Roles(names, np.stack([scored[r] for r in names]))


__all__ = ["ROLES", "Roles", "broadness", "is_punctuation", "probe_ids", "probe_roles", "roles", "sentence_roles"]
