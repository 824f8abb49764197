"""Exercises for a hand calculation of attention, with numbers a person can work with, and their answers.

    >>> from attncli.analysis.exercises import generate
    >>> [e.problem.q.shape for e in generate("softmax", count=2, seed=7)]
    [(2, 4), (2, 4)]

A topic is one step of the notes (TOPICS); a level (1–3) sets the sizes and how "nice" the numbers are:
    level 1  2 queries and 2 keys; Q and K of 0 and 1, V of whole numbers 0…2
    level 2  2–3 queries and keys; Q and K of −1, 0, 1, V of whole numbers −2…2
    level 3  2–3 queries and keys; numbers with one decimal in −1…1
Hand-friendly rules (checked by `rules_broken`, which the generator rejects drafts with):
    - inputs are whole numbers or have one decimal (`decimals` of the level);
    - d_k = 4 wherever the scale matters, so 1/√d_k = 0.5 and the scaled scores stay exact;
    - no degenerate case: no two queries, keys or values are the same; in every row the logits a query may attend to
      are not all equal, no row is fully masked, and a row's logits spread by at most 3, so no
      weight all but vanishes;
    - softmax at level 1: within a row the logits differ by whole numbers, so the exp values are
      e⁰, e⁻¹, e⁻², e⁻³ (with e ≈ 2.718 the weights come out from a short table);
    - the catalogued mistake each topic trains (MISTAKE_OF) gives a different answer from the right one.
Weights and outputs are asked to 2 decimals (the grading tolerance is ±0.01).

Reproducible everywhere: the numbers come from `Rng`, a SplitMix64 generator written out here in plain
Python integers, seeded by (seed, topic, level, exercise number). It depends on neither NumPy's
generators nor Python's `random` (whose methods other than random() may change between versions),
so the same seed gives the same sheet on every machine and every version; exercise n of a seed is the
same whatever --count is. Pure: nothing here prints or reads files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.errors import InputError
from attncli.i18n import _
from attncli.problem.document import Problem

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.core.engine import Attention

TOPICS = ("dot", "scaling", "softmax", "single-head", "causal", "padding", "cross")
LEVELS = (1, 2, 3)
MAX_COUNT = 1000
ANSWER_DECIMALS = 4  # the key's answers in problem documents (the grading tolerance is ±0.01)
ASKED_DECIMALS = 2  # what a student is asked to write for weights and outputs
# The stages a student is asked for, per topic (each topic ends at its own step of the notes).
ASKED: dict[str, tuple[str, ...]] = {
    "dot": ("scores",),
    "scaling": ("scores", "scaled"),
    "softmax": ("scores", "scaled", "weights"),
    "single-head": ("scores", "scaled", "weights", "output"),
    "causal": ("scores", "scaled", "masked", "weights", "output"),
    "padding": ("scores", "scaled", "masked", "weights", "output"),
    "cross": ("scores", "scaled", "weights", "output"),
}
# The catalogued mistake (attncli.analysis.grading.MISTAKE_KEYS) each topic is there to catch.
MISTAKE_OF = {
    "dot": "q_k_swapped",
    "scaling": "no_scaling",
    "softmax": "exp_not_normalised",
    "single-head": "no_scaling",
    "causal": "mask_ignored",
    "padding": "mask_ignored",
    "cross": "no_scaling",
}
MAX_SPREAD = 3.0  # largest − smallest attended logit in a row
_MASK64 = 2**64 - 1
_ATTEMPTS = 10_000


class Rng:
    """SplitMix64 (Steele, Lea & Flood 2014) on Python integers: the same numbers on every platform."""

    def __init__(self, *key: int) -> None:
        state = 0x9E3779B97F4A7C15
        for part in key:
            state = _mix((state ^ (part & _MASK64)) + 0x9E3779B97F4A7C15)
        self.state = state

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        return _mix(self.state)

    def below(self, n: int) -> int:
        """A whole number 0 ≤ x < n, every one equally likely (rejection, no modulo bias)."""
        limit = (2**64 // n) * n
        while True:
            x = self.next()
            if x < limit:
                return x % n

    def pick(self, items: Sequence[Any]) -> Any:
        return items[self.below(len(items))]


def _mix(z: int) -> int:
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


@dataclass(frozen=True)
class Level:
    sizes: tuple[int, ...]  # the numbers of queries and keys to choose from
    qk_values: tuple[float, ...]  # the numbers a cell of Q or K may hold
    v_values: tuple[float, ...]  # …and of V
    decimals: int  # of the inputs


def _tenths(lo: int, hi: int) -> tuple[float, ...]:
    return tuple(round(i / 10, 1) for i in range(lo, hi + 1))


LEVEL_RULES = {
    1: Level((2,), (0.0, 1.0), (0.0, 1.0, 2.0), 0),
    2: Level((2, 3), (-1.0, 0.0, 1.0), (-2.0, -1.0, 0.0, 1.0, 2.0), 0),
    3: Level((2, 3), _tenths(-10, 10), _tenths(-10, 10), 1),
}


@dataclass(frozen=True)
class Exercise:
    """One exercise: its problem (inputs and settings), what is asked, and the correct answers."""

    topic: str
    level: int
    number: int  # 1-based, within the sheet
    seed: int
    problem: Problem
    asked: tuple[str, ...]
    result: Attention

    def answers(self, decimals: int = ANSWER_DECIMALS) -> dict[str, NDArray[np.floating]]:
        """The correct value of each asked stage, rounded (−∞ stays −∞)."""
        return {stage: np.round(getattr(self.result, stage), decimals) for stage in self.asked}

    def document(self, *, key: bool = False) -> dict[str, Any]:
        """The problem document (`attn check` grades it once "expected" holds a student's answers);
        with `key`, "expected" holds the correct answers."""
        p = self.problem
        doc: dict[str, Any] = {
            "title": _("Exercise {number} · {topic}").format(number=self.number, topic=topic_name(self.topic)),
            "description": statement(self),
            "q": _cells(p.q),
            "k": _cells(p.k),
            "v": _cells(p.v),
        }
        if p.mask is not None:
            doc["mask"] = p.mask.tolist()
        if p.causal:
            doc["causal"] = True
        if key:
            doc["expected"] = {stage: _cells(value) for stage, value in self.answers().items()}
        return doc


def _cells(a: NDArray[Any]) -> list[Any]:
    """Rows of JSON numbers: whole numbers as integers, −∞ as "-inf"."""
    return [[("-inf" if np.isneginf(x) else int(x) if float(x).is_integer() else float(x)) for x in row] for row in a]


def topic_name(topic: str) -> str:
    """The topic in words, for titles."""
    names = {
        "dot": _("dot products"),
        "scaling": _("scaling"),
        "softmax": _("softmax"),
        "single-head": _("a single head"),
        "causal": _("causal mask"),
        "padding": _("padding mask"),
        "cross": _("cross-attention"),
    }
    return names[topic]


def statement(exercise: Exercise) -> str:
    """What the student is asked to do, in a sentence or two."""
    p = exercise.problem
    t, s = p.q.shape[0], p.k.shape[0]
    parts = [
        _("Queries Q ({t}×{d}), keys K ({s}×{d}) and values V ({s}×{dv}) are given.").format(
            t=t, s=s, d=p.q.shape[1], dv=p.v.shape[1]
        )
    ]
    if p.causal:
        parts.append(_("The attention is causal: query i sees keys 1…i only."))
    if p.mask is not None:
        parts.append(_("The boolean mask marks the keys each query may attend to (true); the others are padding."))
    wanted = {
        "scores": _("the scores Q·Kᵀ"),
        "scaled": _("the scaled scores (scale 1/√d_k)"),
        "masked": _("the masked scores (−∞ where a key is hidden)"),
        "weights": _("the attention weights (softmax of each row)"),
        "output": _("the output weights·V"),
    }
    parts.append(_("Compute {what}.").format(what=_(", ").join(wanted[s] for s in exercise.asked)))
    if "weights" in exercise.asked:
        parts.append(_("Give weights and outputs to {n} decimals (e ≈ 2.718).").format(n=ASKED_DECIMALS))
    return " ".join(parts)


def _shape(topic: str, level: Level, rng: Rng) -> tuple[int, int, int, int]:
    """(T, S, d_k, d_v) for a topic."""
    t = rng.pick(level.sizes)
    s = t
    if topic == "cross":
        s = rng.pick([n for n in (2, 3, 4) if n != t])
    elif topic == "padding":
        s = 3 if t == 2 else 4  # room for one padding key and at least two real ones
    d_k = rng.pick((2, 3)) if topic == "dot" else 4
    return t, s, d_k, rng.pick((2, 3)) if len(level.sizes) > 1 else 2


def _draw(topic: str, level: Level, rng: Rng) -> Problem:
    t, s, d_k, d_v = _shape(topic, level, rng)

    def matrix(rows: int, cols: int, values: tuple[float, ...]) -> NDArray[np.float64]:
        return np.array([[rng.pick(values) for _ in range(cols)] for _ in range(rows)], dtype=np.float64)

    q, k, v = matrix(t, d_k, level.qk_values), matrix(s, d_k, level.qk_values), matrix(s, d_v, level.v_values)
    if topic == "padding":
        real = s - 1 - rng.below(s - 2)  # 2…S−1 real keys, the rest padding
        mask = np.broadcast_to(np.arange(s) < real, (t, s)).copy()
        return Problem(q=q, k=k, v=v, mask=mask)
    return Problem(q=q, k=k, v=v, causal=topic == "causal")


def hand_stages(problem: Problem) -> dict[str, NDArray[np.float64]]:
    """Scores, scaled scores (1/√d_k), logits (−∞ where hidden) and weights, worked out here in plain
    NumPy as by hand: the rules are judged on these, apart from the engine."""
    scores = problem.q @ problem.k.T
    scaled = scores / np.sqrt(problem.q.shape[1])
    t, s = scores.shape
    allowed = np.ones((t, s), dtype=bool)
    if problem.causal:
        allowed &= np.arange(s)[None, :] <= np.arange(t)[:, None]
    if problem.mask is not None:
        allowed &= problem.mask
    logits = np.where(allowed, scaled, -np.inf)
    top = logits.max(axis=-1, keepdims=True)
    e = np.exp(logits - np.where(np.isfinite(top), top, 0.0))
    with np.errstate(invalid="ignore"):
        weights = e / e.sum(axis=-1, keepdims=True)
    return {"scores": scores, "scaled": scaled, "logits": logits, "weights": weights}


def rules_broken(topic: str, level: int, problem: Problem) -> list[str]:
    """The hand-friendly rules (see the module docstring) that this exercise breaks; empty when it is fine."""
    rules = LEVEL_RULES[level]
    broken = []
    inputs = np.concatenate([problem.q.ravel(), problem.k.ravel(), problem.v.ravel()])
    if np.abs(inputs - np.round(inputs, rules.decimals)).max() > 1e-9 or np.abs(inputs).max() > 2:
        broken.append("inputs")
    for name, m in (("queries", problem.q), ("keys", problem.k), ("values", problem.v)):
        if len({tuple(row) for row in m.tolist()}) < m.shape[0]:
            broken.append("equal " + name)
    if topic != "dot" and problem.q.shape[1] != 4:
        broken.append("scale")
    h = hand_stages(problem)
    logits = h["logits"]
    allowed = np.isfinite(logits)
    if not allowed.any(axis=-1).all():
        broken.append("fully masked row")
    lo = np.where(allowed, logits, np.inf).min(axis=-1)
    hi = np.where(allowed, logits, -np.inf).max(axis=-1)
    several = allowed.sum(axis=-1) > 1
    if topic not in ("dot", "scaling"):
        if (several & (hi - lo < 1e-9)).any():
            broken.append("equal logits")
        if (hi - lo > MAX_SPREAD + 1e-9).any():
            broken.append("spread")
        if topic == "softmax" and level == 1:
            gaps = np.where(allowed, hi[:, None] - logits, 0.0)
            if np.abs(gaps - np.round(gaps)).max() > 1e-9:
                broken.append("exp values")
    if not _mistake_shows(topic, h):
        broken.append("mistake hidden")
    return broken


def _mistake_shows(topic: str, h: dict[str, NDArray[np.float64]]) -> bool:
    """The topic's catalogued mistake gives a different answer from the right one (by more than ±0.01)."""
    scores, scaled, logits, weights = h["scores"], h["scaled"], h["logits"], h["weights"]
    differs: dict[str, Callable[[], bool]] = {
        "q_k_swapped": lambda: bool(np.abs(scores - scores.T).max() > 0.011),
        "no_scaling": lambda: bool(np.abs(scores - scaled).max() > 0.011),
        "exp_not_normalised": lambda: bool(np.abs(np.exp(scaled) - weights).max() > 0.011),
        "mask_ignored": lambda: bool(np.isneginf(logits).any()),
    }
    return differs[MISTAKE_OF[topic]]()


def make_exercise(topic: str, level: int, seed: int, number: int) -> Exercise:
    """Exercise `number` (1-based) of the sheet for (topic, level, seed): drafts are drawn until one
    keeps every hand-friendly rule."""
    rng = Rng(seed, TOPICS.index(topic), level, number)
    for _attempt in range(_ATTEMPTS):
        problem = _draw(topic, LEVEL_RULES[level], rng)
        if not rules_broken(topic, level, problem):
            return Exercise(topic, level, number, seed, problem, ASKED[topic], problem.solve())
    raise AssertionError(f"no exercise keeps the rules for {topic} level {level} seed {seed}")  # pragma: no cover


def generate(topic: str, *, count: int = 5, seed: int = 0, level: int = 1) -> list[Exercise]:
    """`count` exercises on `topic` at `level`; the same seed gives the same exercises everywhere."""
    if topic not in TOPICS:
        message = _("must be one of {choices}, got {value!r}").format(choices=", ".join(TOPICS), value=topic)
        raise InputError(message, argument="topic")
    if level not in LEVELS:
        raise InputError(_("must be 1, 2 or 3, got {value}").format(value=level), argument="level")
    if not 1 <= count <= MAX_COUNT:
        message = _("must be between 1 and {most}, got {value}").format(most=MAX_COUNT, value=count)
        raise InputError(message, argument="count")
    if seed < 0:
        raise InputError(_("must be a whole number ≥ {low}, got {value}").format(low=0, value=seed), argument="seed")
    return [make_exercise(topic, level, seed, n) for n in range(1, count + 1)]
