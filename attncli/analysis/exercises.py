"""Exercises for a hand calculation of attention, with numbers a person can work with, and their answers.

    >>> from attncli.analysis.exercises import generate
    >>> [e.problem.q.shape for e in generate("softmax", count=2, seed=7)]
    [(2, 4), (2, 4)]

A topic is one step of the notes (TOPICS): the single-head steps, multi-head attention (two heads with
given projections, RoPE, sinusoidal encodings, ALiBi: MULTIHEAD_TOPICS) and the variants of modern
attention (VARIANT_TOPICS: the windows of three conventions, StreamingLLM's sink tokens, chunks, prefix,
packed documents, softcap, a learned sink); a level (1–3) sets the sizes and how "nice" the numbers are:
    level 1  2 queries and 2 keys; Q and K of 0 and 1, V of whole numbers 0…2
    level 2  2–3 queries and keys; Q and K of −1, 0, 1, V of whole numbers −2…2
    level 3  2–3 queries and keys; numbers with one decimal in −1…1
Hand-friendly rules (checked by `rules_broken`, which the generator rejects drafts with):
    - inputs are whole numbers or have one decimal (`decimals` of the level);
    - d_k = 4 wherever the scale matters, so 1/√d_k = 0.5 and the scaled scores stay exact (two heads:
      d_head = 2, the statement gives 1/√2 ≈ 0.7071; ALiBi: 2 heads of d_head = 4, whose slopes 2^−4 and
      2^−8 the statement gives exactly, so the biased scores are exact too);
    - RoPE, sinusoidal encodings and softcap: the statement gives every cos, sin or tanh needed, to
      TABLE_DECIMALS, and the scores are asked to 2 decimals;
    - no degenerate case: no two queries, keys or values are the same (as the attention sees them: after
      RoPE or the encodings; for two heads, the rows of X); in every row the logits a query may attend to
      are not all equal (for ALiBi, nor are the scaled scores before its bias), no row is fully masked,
      and a row's logits spread by at most 3, so no weight all but vanishes;
    - softmax at level 1: within a row the logits differ by whole numbers, so the exp values are
      e⁰, e⁻¹, e⁻², e⁻³ (with e ≈ 2.718 the weights come out from a short table);
    - the catalogued mistake each topic trains (MISTAKE_OF) gives a different answer from the right one.
Weights and outputs are asked to 2 decimals (the grading tolerance is ±0.01).

Reproducible everywhere: the numbers come from `Rng`, a SplitMix64 generator written out here in plain
Python integers, seeded by (seed, topic, level, exercise number), a topic by its place in TOPICS (new
topics go at the end, so no old sheet changes). It depends on neither NumPy's
generators nor Python's `random` (whose methods other than random() may change between versions),
so the same seed gives the same sheet on every machine and every version; exercise n of a seed is the
same whatever --count is. Pure: nothing here prints or reads files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.core.multihead import MultiHead
from attncli.core.settings import MaskSpec
from attncli.errors import InputError
from attncli.i18n import _
from attncli.problem.document import MultiHeadProblem, Problem

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.core.engine import Attention

TOPICS = (
    *("dot", "scaling", "softmax", "single-head", "causal", "padding", "cross"),
    *("two-heads", "rope", "sinusoidal"),  # multi-head attention: projections, positions
    *("window", "prefix", "documents", "softcap", "sinks"),  # the variants of modern attention
    # (added later: new topics go at the end, as a topic's place seeds its numbers)
    *("chunked", "sink-tokens", "window-jax", "alibi"),
)
MULTIHEAD_TOPICS = frozenset({"two-heads", "rope", "sinusoidal", "alibi"})
VARIANT_TOPICS = ("window", "prefix", "documents", "softcap", "sinks", "chunked", "sink-tokens", "window-jax")
LEVELS = (1, 2, 3)
MAX_COUNT = 1000
ANSWER_DECIMALS = 4  # the key's answers in problem documents (the grading tolerance is ±0.01)
ASKED_DECIMALS = 2  # what a student is asked to write for weights and outputs
TABLE_DECIMALS = 4  # cos, sin and tanh values given in a statement
_ALL = ("scores", "scaled", "masked", "weights", "output")
# The stages a student is asked for, per topic (each topic ends at its own step of the notes).
ASKED: dict[str, tuple[str, ...]] = {
    "dot": ("scores",),
    "scaling": ("scores", "scaled"),
    "softmax": ("scores", "scaled", "weights"),
    "single-head": ("scores", "scaled", "weights", "output"),
    "causal": _ALL,
    "padding": _ALL,
    "cross": ("scores", "scaled", "weights", "output"),
    "two-heads": ("scores", "scaled", "weights", "output"),  # per head (2×T×S); the output after W_O
    "rope": ("scores",),  # of the rotated q and k
    "sinusoidal": ("scores",),  # of X + PE
    "window": _ALL,
    "prefix": _ALL,
    "documents": _ALL,
    "softcap": _ALL,  # causal: the masked stage holds the capped scores
    "sinks": ("scores", "scaled", "weights", "output"),
    "chunked": _ALL,
    "sink-tokens": _ALL,
    "window-jax": _ALL,
    "alibi": _ALL,  # per head; the masked stage holds the scaled scores plus ALiBi's bias
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
    "two-heads": "no_scaling",
    "rope": "rope_ignored",
    "sinusoidal": "sin_cos_swapped",
    "window": "window_convention",
    "prefix": "prefix_ignored",
    "documents": "documents_ignored",
    "softcap": "softcap_forgotten",
    "sinks": "sinks_ignored",
    "chunked": "chunks_ignored",
    "sink-tokens": "sink_tokens_ignored",
    "window-jax": "window_one_sided",
    "alibi": "alibi_ignored",
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
    qk_values: tuple[float, ...]  # the numbers a cell of Q or K (or X) may hold
    v_values: tuple[float, ...]  # …and of V
    decimals: int  # of the inputs
    w_values: tuple[float, ...] = (0.0, 1.0)  # …and of the projection weights W_Q, W_K, W_V, W_O


def _tenths(lo: int, hi: int) -> tuple[float, ...]:
    return tuple(round(i / 10, 1) for i in range(lo, hi + 1))


LEVEL_RULES = {
    1: Level((2,), (0.0, 1.0), (0.0, 1.0, 2.0), 0),
    2: Level((2, 3), (-1.0, 0.0, 1.0), (-2.0, -1.0, 0.0, 1.0, 2.0), 0, (-1.0, 0.0, 1.0)),
    3: Level((2, 3), _tenths(-10, 10), _tenths(-10, 10), 1, (-1.0, 0.0, 1.0)),
}


@dataclass(frozen=True)
class Exercise:
    """One exercise: its problem (inputs and settings), what is asked, and the correct answers.

    The multi-head topics (MULTIHEAD_TOPICS) have a MultiHeadProblem and a MultiHead result: their
    score-like stages are per head (H×T×S) and "output" is the final output (after W_O)."""

    topic: str
    level: int
    number: int  # 1-based, within the sheet
    seed: int
    problem: Problem | MultiHeadProblem
    asked: tuple[str, ...]
    result: Attention | MultiHead

    @property
    def attention(self) -> Attention:
        """The (per-head) attention stages."""
        return self.result.attention if isinstance(self.result, MultiHead) else self.result

    def answers(self, decimals: int = ANSWER_DECIMALS) -> dict[str, NDArray[np.floating]]:
        """The correct value of each asked stage, rounded (−∞ stays −∞)."""
        out = {}
        for stage in self.asked:
            final = stage == "output" and isinstance(self.result, MultiHead)
            out[stage] = np.round(self.result.output if final else getattr(self.attention, stage), decimals)
        return out

    def document(self, *, key: bool = False) -> dict[str, Any]:
        """The problem document (`attn check` grades it once "expected" holds a student's answers);
        with `key`, "expected" holds the correct answers."""
        doc: dict[str, Any] = {
            "title": _("Exercise {number} · {topic}").format(number=self.number, topic=topic_name(self.topic)),
            "description": statement(self),
        }
        p = self.problem
        if isinstance(p, MultiHeadProblem):
            doc.update({name: _cells(m) for name, m in p.matrices.items()})
            doc["heads"] = p.heads
            if p.rope:
                doc.update({"rope": True, "rope_style": p.rope_style, "rope_base": _number(p.rope_base)})
            if p.positional != "none":
                doc["positional"] = p.positional
            if p.alibi:
                doc["alibi"] = True
        else:
            doc.update({"q": _cells(p.q), "k": _cells(p.k), "v": _cells(p.v)})
            if p.mask is not None:
                doc["mask"] = p.mask.tolist()
        if p.causal:
            doc["causal"] = True
        doc.update(_variant_keys(p.variants))
        if key:
            doc["expected"] = {stage: _cells(value) for stage, value in self.answers().items()}
        return doc


def _variant_keys(spec: MaskSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.window is not None:
        out.update({"window": spec.window, "window_rule": spec.window_rule})
        if spec.window_right:
            out["window_right"] = spec.window_right
    if spec.sink_tokens is not None:
        out["sink_tokens"] = spec.sink_tokens
    if spec.chunk is not None:
        out["chunk"] = spec.chunk
    if spec.prefix is not None:
        out["prefix"] = spec.prefix
    if spec.documents is not None:
        out["documents"] = list(spec.documents)
    if spec.softcap is not None:
        out["softcap"] = _number(spec.softcap)
    if spec.sinks is not None:
        out["sinks"] = [_number(x) for x in spec.sinks]
    return out


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _cells(a: NDArray[Any]) -> list[Any]:
    """Rows of JSON numbers (nested for more dimensions): whole numbers as integers, −∞ as "-inf"."""
    if a.ndim > 2:
        return [_cells(part) for part in a]
    return [[("-inf" if np.isneginf(x) else _number(x)) for x in row] for row in a]


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
        "two-heads": _("two heads"),
        "rope": _("RoPE"),
        "sinusoidal": _("sinusoidal encodings"),
        "window": _("sliding window"),
        "prefix": _("prefix-LM"),
        "documents": _("packed documents"),
        "softcap": _("softcap"),
        "sinks": _("learned sink"),
        "chunked": _("chunked attention"),
        "sink-tokens": _("sink tokens (StreamingLLM)"),
        "window-jax": _("two-sided window (JAX)"),
        "alibi": _("ALiBi"),
    }
    return names[topic]


def input_tables(exercise: Exercise) -> list[tuple[str, NDArray[Any], str, str]]:
    """The inputs a sheet shows: (title, matrix, row prefix, column prefix)."""
    p = exercise.problem
    if isinstance(p, Problem):
        tables = [("Q", p.q, "q", "d"), ("K", p.k, "k", "d"), ("V", p.v, "k", "d")]
        if p.mask is not None:
            tables.append((_("mask (true = attend)"), p.mask, "q", "k"))
        return tables
    m = p.matrices
    if "x" not in m:
        return [("Q", m["q"], "q", "d"), ("K", m["k"], "k", "d"), ("V", m["v"], "k", "d")]
    names = {"x": ("X", "x", "d"), "wq": ("W_Q", "d", "c"), "wk": ("W_K", "d", "c"), "wv": ("W_V", "d", "c")}
    names["wo"] = ("W_O", "c", "d")
    return [(names[key][0], m[key], *names[key][1:]) for key in ("x", "wq", "wk", "wv", "wo") if key in m]


def _g(x: float) -> str:
    return f"{x:g}"


def _angles(exercise: Exercise) -> list[float]:
    """The angles whose cos and sin a RoPE or sinusoidal exercise needs (RoPE: m·θ_i; PE: pos/10000^(2i/d))."""
    p = exercise.problem
    assert isinstance(p, MultiHeadProblem)
    first = next(iter(p.matrices.values()))
    t, d = first.shape
    base = p.rope_base if p.rope else 10000.0
    found = {round(m * base ** (-2 * i / d), 12) for m in range(1, t) for i in range(d // 2)}
    return sorted(found)


def _table(exercise: Exercise) -> str:
    """The cos/sin (RoPE, sinusoidal) or tanh (softcap) values a statement gives, to TABLE_DECIMALS."""
    n = TABLE_DECIMALS
    if exercise.topic == "softcap":
        cap = exercise.problem.variants.softcap or 1.0
        r = exercise.attention
        seen = r.scaled[r.allowed] if r.allowed is not None else r.scaled.ravel()  # the hidden cells need none
        values = sorted({u for u in (round(abs(float(x)) / cap, 9) for x in seen) if u})
        return ", ".join(f"tanh {_g(u)} ≈ {np.tanh(u):.{n}f}" for u in values)
    parts = [f"cos {_g(a)} ≈ {np.cos(a):.{n}f}, sin {_g(a)} ≈ {np.sin(a):.{n}f}" for a in _angles(exercise)]
    return "; ".join(parts)


def statement(exercise: Exercise) -> str:
    """What the student is asked to do, in a few sentences."""
    p, topic = exercise.problem, exercise.topic
    parts = _givens(exercise)
    if p.causal and topic not in ("documents", "softcap"):
        parts.append(_("The attention is causal: query i sees keys 1…i only."))
    if isinstance(p, Problem) and p.mask is not None:
        parts.append(_("The boolean mask marks the keys each query may attend to (true); the others are padding."))
    parts += _variant_sentences(exercise)
    wanted = {
        "scores": _("the scores Q·Kᵀ"),
        "scaled": _("the scaled scores (scale 1/√d_k)"),
        "masked": _("the masked scores (−∞ where a key is hidden)"),
        "weights": _("the attention weights (softmax of each row)"),
        "output": _("the output weights·V"),
    }
    if topic == "alibi":
        wanted["masked"] = _("the scores with the bias and the mask (scaled − m·|i − j|, −∞ where a key is hidden)")
        wanted["output"] = _("the output concat(head 1, head 2)")
    if topic == "two-heads":
        wanted["scaled"] = _("the scaled scores (scale 1/√d_head = 1/√2 ≈ 0.7071)")
        wanted["output"] = _("the output concat(head 1, head 2)·W_O")
    if topic == "rope":
        wanted["scores"] = _("the scores of the rotated queries and keys")
    if topic == "sinusoidal":
        wanted["scores"] = _("the scores (X + PE)·(X + PE)ᵀ")
    what = _(", ").join(wanted[s] for s in exercise.asked)
    parts.append(
        (_("For each head, compute {what}.") if topic in ("two-heads", "alibi") else _("Compute {what}.")).format(
            what=what
        )
    )
    if topic in ("rope", "sinusoidal", "softcap"):
        parts.append(_("Use these values ({n} decimals): {table}.").format(n=TABLE_DECIMALS, table=_table(exercise)))
    if "weights" in exercise.asked:
        parts.append(_("Give weights and outputs to {n} decimals (e ≈ 2.718).").format(n=ASKED_DECIMALS))
    elif topic in ("rope", "sinusoidal"):
        parts.append(_("Give the scores to {n} decimals.").format(n=ASKED_DECIMALS))
    return " ".join(parts)


def _givens(exercise: Exercise) -> list[str]:
    """The sentence that says what is given."""
    p = exercise.problem
    if isinstance(p, Problem):
        t, s = p.q.shape[0], p.k.shape[0]
        text = _("Queries Q ({t}×{d}), keys K ({s}×{d}) and values V ({s}×{dv}) are given.")
        return [text.format(t=t, s=s, d=p.q.shape[1], dv=p.v.shape[1])]
    m = p.matrices
    if exercise.topic == "two-heads":
        x, wv, wo = m["x"], m["wv"], m["wo"]
        text = _(
            "Inputs X ({t}×{d}) and the projections W_Q, W_K ({d}×4), W_V ({d}×{dv2}) and W_O ({dv2}×{out}) are "
            "given; Q = X·W_Q, K = X·W_K, V = X·W_V. There are 2 heads: head 1 takes the first half of the columns "
            "of Q, K and V, head 2 the second half."
        )
        return [text.format(t=x.shape[0], d=x.shape[1], dv2=wv.shape[1], out=wo.shape[1])]
    if exercise.topic == "alibi":
        (t, hd), dv = m["q"].shape, m["v"].shape[1]
        slopes = ", ".join(f"m{h + 1} = 2^−{8 * (h + 1) // p.heads} = {_g(2.0 ** (-8 * (h + 1) / p.heads))}"
                           for h in range(p.heads))  # fmt: skip
        text = _(
            "Queries Q ({t}×{hd}), keys K ({t}×{hd}) and values V ({t}×{dv}) stand at positions 0…{last}. There are "
            "{h} heads: head 1 takes the first half of the columns of Q, K and V, head 2 the second half "
            "(d_head = {d}). ALiBi adds −m·|i − j| to head h's scaled scores, with the slopes {slopes}."
        )
        return [text.format(t=t, hd=hd, dv=dv, last=t - 1, h=p.heads, d=hd // p.heads, slopes=slopes)]
    if exercise.topic == "rope":
        t, d = m["q"].shape
        text = _(
            "Queries Q ({t}×{d}), keys K and values V stand at positions 0…{last}. RoPE turns each pair of a row "
            "at position m by the angle m·θ_i, θ_i = base^(−2i/d) with base {base} and d = {d}; the pairs are "
            "(x1, x2), (x3, x4), … (i = 0, 1, …), and (x, y) becomes (x·cos − y·sin, x·sin + y·cos)."
        )
        return [text.format(t=t, d=d, last=t - 1, base=_g(p.rope_base))]
    t, d = m["x"].shape
    text = _(
        "The inputs X ({t}×{d}) are tokens at positions 0…{last}. Add the sinusoidal encodings "
        "PE(pos, 2i) = sin(pos/10000^(2i/d)), PE(pos, 2i+1) = cos(pos/10000^(2i/d)) with d = {d}, "
        "and take Q = K = V = X + PE (no projections)."
    )
    return [text.format(t=t, d=d, last=t - 1)]


def _variant_sentences(exercise: Exercise) -> list[str]:
    spec = exercise.problem.variants
    parts = []
    if spec.window is not None:
        if spec.window_rule == "hf":
            rule = _("a sliding window of W = {w} keys (query i sees the keys j with i − W < j ≤ i, itself included)")
        elif spec.window_rule == "gym":
            rule = _("a sliding window W = {w} as attention-gym counts it (query i sees the keys j with 0 ≤ i − j ≤ W)")
        else:
            rule = _(
                "JAX's two-sided local window (L, R) = ({w}, {r}): query i sees the keys j with i − L ≤ j ≤ i + R, "
                "later keys included (positions count from 0)"
            )
        parts.append(_("The attention uses {rule}.").format(rule=rule.format(w=spec.window, r=spec.window_right)))
    if spec.sink_tokens is not None:
        text = _("The keys j < {k} are sink tokens (StreamingLLM): every query sees them too, beside the window.")
        parts.append(text.format(k=spec.sink_tokens))
    if spec.chunk is not None:
        text = _(
            "Chunked attention with chunks of C = {c} (Llama 4): positions 0…{c1} are the first chunk, {c}…{c2} "
            "the second, and so on; query i sees the keys j of its own chunk with j ≤ i (⌊j/C⌋ = ⌊i/C⌋; positions "
            "count from 0)."
        )
        parts.append(text.format(c=spec.chunk, c1=spec.chunk - 1, c2=2 * spec.chunk - 1))
    if spec.prefix is not None:
        text = _("Prefix-LM: the first P = {p} keys are seen by every query; after them the attention is causal.")
        parts.append(text.format(p=spec.prefix))
    if spec.documents is not None:
        text = _("The rows are packed documents with ids {ids}: a query sees the keys 1…i of its own document only.")
        parts.append(text.format(ids=", ".join(str(d) for d in spec.documents)))
    if spec.softcap is not None:
        text = _(
            "The attention is causal; before the mask the scaled scores are soft-capped: s → c·tanh(s/c), c = {c}."
        )
        parts.append(text.format(c=_g(spec.softcap)))
    if spec.sinks is not None:
        text = _(
            "A learned sink with logit {s} joins every row's softmax as an extra column that is then dropped: "
            "a weight is exp(x) ÷ (Σ exp(x) + exp({s})), so each row sums to less than 1."
        )
        parts.append(text.format(s=_g(spec.sinks[0])))
    return parts


def _matrix(rng: Rng, rows: int, cols: int, values: tuple[float, ...]) -> NDArray[np.float64]:
    return np.array([[rng.pick(values) for _ in range(cols)] for _ in range(rows)], dtype=np.float64)


def _distinct_rows(rng: Rng, rows: int, cols: int, values: tuple[float, ...]) -> NDArray[np.float64]:
    """Rows none of which is zero and no two the same (the inputs X of a multi-head exercise)."""
    chosen: list[tuple[float, ...]] = []
    while len(chosen) < rows:
        row = tuple(rng.pick(values) for _ in range(cols))
        if any(row) and row not in chosen:
            chosen.append(row)
    return np.array(chosen, dtype=np.float64)


def _shape(topic: str, level: Level, rng: Rng) -> tuple[int, int, int, int]:
    """(T, S, d_k, d_v) for a single-head topic."""
    t = rng.pick(level.sizes)
    if topic in VARIANT_TOPICS:
        t = 3 if len(level.sizes) == 1 else rng.pick((3, 4))  # room for a key the variant hides
    s = t
    if topic == "cross":
        s = rng.pick([n for n in (2, 3, 4) if n != t])
    elif topic == "padding":
        s = 3 if t == 2 else 4  # room for one padding key and at least two real ones
    d_k = rng.pick((2, 3)) if topic == "dot" else 4
    return t, s, d_k, rng.pick((2, 3)) if len(level.sizes) > 1 else 2


def _draw(topic: str, level: int, rng: Rng) -> Problem | MultiHeadProblem:
    if topic in MULTIHEAD_TOPICS:
        return _draw_multihead(topic, level, rng)
    rules = LEVEL_RULES[level]
    t, s, d_k, d_v = _shape(topic, rules, rng)
    q, k = _matrix(rng, t, d_k, rules.qk_values), _matrix(rng, s, d_k, rules.qk_values)
    v = _matrix(rng, s, d_v, rules.v_values)
    if topic == "padding":
        real = s - 1 - rng.below(s - 2)  # 2…S−1 real keys, the rest padding
        mask = np.broadcast_to(np.arange(s) < real, (t, s)).copy()
        return Problem(q=q, k=k, v=v, mask=mask)
    if topic in VARIANT_TOPICS:
        return Problem(q=q, k=k, v=v, causal=topic in ("documents", "softcap"), variants=_variant(topic, level, t, rng))
    return Problem(q=q, k=k, v=v, causal=topic == "causal")


def _variant(topic: str, level: int, t: int, rng: Rng) -> MaskSpec:
    """The variant's setting: each hides (or changes) something the plain rule would not."""
    if topic == "window":  # W < T: some query has a key the window drops
        return MaskSpec(window=2 + rng.below(t - 2), window_rule="hf" if level < 3 else rng.pick(("hf", "gym")))
    if topic == "prefix":  # P ≥ 2: the first query sees a later key
        return MaskSpec(prefix=2 + rng.below(t - 2))
    if topic == "documents":  # two documents
        first = 1 + rng.below(t - 1)
        return MaskSpec(documents=tuple(0 if j < first else 1 for j in range(t)))
    if topic == "softcap":
        return MaskSpec(softcap=float(rng.pick((1, 2))))
    if topic == "chunked":  # C < T: a query that starts a new chunk loses the keys before it
        return MaskSpec(chunk=2 if t == 3 else rng.pick((2, 3)))
    if topic == "sink-tokens":  # W ≤ T − 1: the last query's window drops key 0, which the sink keeps
        return MaskSpec(window=2 + rng.below(t - 2), sink_tokens=1)
    if topic == "window-jax":  # L, R < T − 1: some key outside the window on either side
        return MaskSpec(window=1 + rng.below(t - 2), window_rule="jax", window_right=1 + rng.below(t - 2))
    return MaskSpec(sinks=(float(rng.pick((-1, 0, 1))),))


def _draw_multihead(topic: str, level: int, rng: Rng) -> MultiHeadProblem:
    rules = LEVEL_RULES[level]
    t = rng.pick(rules.sizes)
    if topic == "two-heads":  # d_head = 2, d_v = 1 or 2 per head
        d, d_v = (2, 1) if level == 1 else (rng.pick((2, 3)), rng.pick((1, 2)))
        x = _distinct_rows(rng, t, d, rules.qk_values)
        w = {name: _matrix(rng, d, 4, rules.w_values) for name in ("wq", "wk")}
        w["wv"] = _matrix(rng, d, 2 * d_v, rules.w_values)
        w["wo"] = _matrix(rng, 2 * d_v, d, rules.w_values)
        return MultiHeadProblem(matrices={"x": x, **w}, heads=2)
    d = 2 if level == 1 else 4 if level == 3 or topic == "rope" else rng.pick((2, 4))
    if topic == "alibi":  # 2 heads of d_head = 4 (scale 0.5), causal
        d_v = 1 if level == 1 else rng.pick((1, 2))
        q, k = _matrix(rng, t, 8, rules.qk_values), _matrix(rng, t, 8, rules.qk_values)
        v = _matrix(rng, t, 2 * d_v, rules.v_values)
        return MultiHeadProblem(matrices={"q": q, "k": k, "v": v}, heads=2, alibi=True, causal=True)
    if topic == "rope":
        base = 10000.0 if level != 2 else float(rng.pick((4, 100)))
        q, k = _matrix(rng, t, d, rules.qk_values), _matrix(rng, t, d, rules.qk_values)
        v = _matrix(rng, t, 2, rules.v_values)
        return MultiHeadProblem(matrices={"q": q, "k": k, "v": v}, rope=True, rope_style="interleaved", rope_base=base)
    return MultiHeadProblem(matrices={"x": _matrix(rng, t, d, rules.qk_values)}, positional="sinusoidal")


# --- the stages by hand (apart from the engine), and the rules judged on them ------------------------------


def sinusoidal_by_hand(n: int, d: int, *, swapped: bool = False) -> NDArray[np.float64]:
    """PE(pos, 2i) = sin(pos/10000^(2i/d)), PE(pos, 2i+1) = cos(…) (sin and cos `swapped`: the mistake)."""
    pe = np.zeros((n, d))
    for pos in range(n):
        for col in range(d):
            angle = pos / 10000.0 ** (2 * (col // 2) / d)
            pe[pos, col] = (np.cos if (col % 2 == 0) == swapped else np.sin)(angle)
    return pe


def _rotated_by_hand(x: NDArray[np.float64], base: float) -> NDArray[np.float64]:
    """RoPE, interleaved pairs (x_2i, x_2i+1) of row m turned by m·base^(−2i/d); x (H, n, d)."""
    out = x.copy()
    d = x.shape[-1]
    for m in range(x.shape[-2]):
        for i in range(d // 2):
            a = m * base ** (-2 * i / d)
            c, s = np.cos(a), np.sin(a)
            x0, x1 = x[..., m, 2 * i], x[..., m, 2 * i + 1]
            out[..., m, 2 * i], out[..., m, 2 * i + 1] = x0 * c - x1 * s, x0 * s + x1 * c
    return out


def head_inputs(
    problem: Problem | MultiHeadProblem, wrong: str | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """q, k, v as the attention sees them (per head: H×T×d for multi-head problems), worked out by hand;
    `wrong`: as a student who makes that mistake of the positions (rope_ignored, sin_cos_swapped)."""
    if isinstance(problem, Problem):
        return problem.q, problem.k, problem.v
    m, h = problem.matrices, problem.heads
    if "x" in m:
        x = m["x"]
        if problem.positional == "sinusoidal":
            x = x + sinusoidal_by_hand(*x.shape, swapped=wrong == "sin_cos_swapped")
        q, k, v = (x @ m[w] if w in m else x for w in ("wq", "wk", "wv"))
    else:
        q, k, v = m["q"], m["k"], m["v"]

    def split(a: NDArray[np.float64]) -> NDArray[np.float64]:  # (T, H·d) -> (H, T, d)
        return a.reshape(a.shape[0], h, -1).transpose(1, 0, 2)

    q, k, v = split(q), split(k), split(v)
    if problem.rope and wrong != "rope_ignored":
        q, k = _rotated_by_hand(q, problem.rope_base), _rotated_by_hand(k, problem.rope_base)
    return q, k, v


def _allowed_by_hand(problem: Problem | MultiHeadProblem, t: int, s: int, wrong: str | None) -> NDArray[np.bool_]:
    """(T, S) the cells a query may attend to (the mistake `wrong` of a mask, if given)."""
    i, j = np.arange(t)[:, None], np.arange(s)[None, :]
    allowed = np.ones((t, s), dtype=bool)
    if wrong == "mask_ignored":
        return allowed
    spec = problem.variants
    if spec.prefix is not None and wrong != "prefix_ignored":
        allowed &= (j <= i) | (j < spec.prefix)
    elif problem.causal or spec.implies_causal:
        allowed &= j <= i
    if spec.window is not None:
        rule, w = spec.window_rule, spec.window
        if wrong == "window_convention":
            rule = "gym" if rule == "hf" else "hf"
        right = 0 if wrong == "window_one_sided" else spec.window_right
        kept = {"hf": j > i - w, "gym": i - j <= w, "jax": (i - w <= j) & (j <= i + right)}[rule]
        if spec.sink_tokens is not None and wrong != "sink_tokens_ignored":
            kept = kept | (j < spec.sink_tokens)  # (the causal rule above still holds for hf and gym)
        allowed &= kept
    if spec.chunk is not None and wrong != "chunks_ignored":
        allowed &= i // spec.chunk == j // spec.chunk
    if spec.documents is not None and wrong != "documents_ignored":
        docs = np.array(spec.documents)
        allowed &= docs[:, None][:t] == docs[None, :]
    if isinstance(problem, Problem) and problem.mask is not None:
        allowed &= problem.mask
    return allowed


def hand_stages(problem: Problem | MultiHeadProblem, wrong: str | None = None) -> dict[str, NDArray[np.float64]]:
    """Every stage (scores, scaled, capped, logits, masked, weights, output) worked out here in plain NumPy
    as by hand: the rules are judged on these, apart from the engine. With `wrong`, a catalogued mistake
    (MISTAKE_OF's) is made, as a student would."""
    q, k, v = head_inputs(problem, wrong)
    scores = (k @ np.swapaxes(q, -1, -2)) if wrong == "q_k_swapped" else q @ np.swapaxes(k, -1, -2)
    scaled = scores if wrong == "no_scaling" else scores / np.sqrt(q.shape[-1])
    spec = problem.variants
    cap = spec.softcap if wrong != "softcap_forgotten" else None
    capped = scaled if cap is None else cap * np.tanh(scaled / cap)
    t, s = scores.shape[-2:]
    biased = capped
    if isinstance(problem, MultiHeadProblem) and problem.alibi and wrong != "alibi_ignored":
        h = problem.heads  # (a power of 2: the slopes 2^(−8h/H), h = 1…H)
        slopes = 2.0 ** (-8.0 * np.arange(1, h + 1) / h)
        biased = capped - slopes[:, None, None] * np.abs(np.arange(t)[:, None] - np.arange(s)[None, :])
    logits = np.where(_allowed_by_hand(problem, t, s, wrong), biased, -np.inf)
    sink = spec.sinks[0] if spec.sinks is not None and wrong != "sinks_ignored" else None
    top = logits.max(axis=-1, keepdims=True)
    if sink is not None:
        top = np.maximum(top, sink)
    shift = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(logits - shift)
    total = e.sum(axis=-1, keepdims=True) + (0.0 if sink is None else np.exp(sink - shift))
    with np.errstate(invalid="ignore"):
        weights = np.exp(logits) if wrong == "exp_not_normalised" else e / total
    output = weights @ v
    if isinstance(problem, MultiHeadProblem):  # concat(head 1, …)·W_O
        output = output.transpose(1, 0, 2).reshape(t, -1)
        output = output @ problem.matrices["wo"] if "wo" in problem.matrices else output
    stages = {"scores": scores, "scaled": scaled, "capped": capped, "logits": logits, "weights": weights}
    return {**stages, "masked": logits, "output": output}


def _inputs(problem: Problem | MultiHeadProblem) -> NDArray[np.float64]:
    if isinstance(problem, Problem):
        return np.concatenate([problem.q.ravel(), problem.k.ravel(), problem.v.ravel()])
    return np.concatenate([m.ravel() for m in problem.matrices.values()])


def rules_broken(topic: str, level: int, problem: Problem | MultiHeadProblem, *, quick: bool = False) -> list[str]:
    """The hand-friendly rules (see the module docstring) that this exercise breaks; empty when it is fine.
    `quick`: stop at the first group of rules broken (the generator only needs to know whether any is)."""
    rules = LEVEL_RULES[level]
    broken = []
    inputs = _inputs(problem)
    if np.abs(inputs - np.round(inputs, rules.decimals)).max() > 1e-9 or np.abs(inputs).max() > 2:
        broken.append("inputs")
    q, k, v = head_inputs(problem)
    # Two heads: the rows of X differ (by construction); a head's own rows may agree (its equal scores do not).
    for name, m in () if topic == "two-heads" else (("queries", q), ("keys", k), ("values", v)):
        for part in m.reshape(-1, *m.shape[-2:]):
            if len({tuple(row) for row in np.round(part, 9).tolist()}) < part.shape[0]:
                broken.append("equal " + name)
                break
    asked = ASKED[topic]
    if "scaled" in asked and q.shape[-1] != (2 if topic == "two-heads" else 4):
        broken.append("scale")
    if quick and broken:
        return broken
    h = hand_stages(problem)
    logits = h["logits"].reshape(-1, h["logits"].shape[-1])
    allowed = np.isfinite(logits)
    if not allowed.any(axis=-1).all():
        broken.append("fully masked row")
    lo = np.where(allowed, logits, np.inf).min(axis=-1)
    hi = np.where(allowed, logits, -np.inf).max(axis=-1)
    several = allowed.sum(axis=-1) > 1
    if "weights" in asked:
        if (several & (hi - lo < 1e-9)).any():
            broken.append("equal logits")
        if topic == "alibi":  # ties that only the bias breaks (by 2^−8 in head 2) are ties all the same
            scaled = np.where(allowed, h["scaled"].reshape(logits.shape), np.nan)
            if (several & (np.nanmax(scaled, axis=-1) - np.nanmin(scaled, axis=-1) < 1e-9)).any():
                broken.append("equal logits")
        if (hi - lo > MAX_SPREAD + 1e-9).any():
            broken.append("spread")
        if topic == "softmax" and level == 1:
            gaps = np.where(allowed, hi[:, None] - logits, 0.0)
            if np.abs(gaps - np.round(gaps)).max() > 1e-9:
                broken.append("exp values")
    if not (quick and broken) and not mistake_shows(topic, problem, h):
        broken.append("mistake hidden")
    return broken


def mistake_shows(
    topic: str, problem: Problem | MultiHeadProblem, right: dict[str, NDArray[np.float64]] | None = None
) -> bool:
    """The topic's catalogued mistake gives a different answer from the right one (by more than ±0.01)
    in some asked stage."""
    right = hand_stages(problem) if right is None else right
    with np.errstate(invalid="ignore", over="ignore"):
        wrong = hand_stages(problem, MISTAKE_OF[topic])
        for stage in ASKED[topic]:
            a, b = right[stage], wrong[stage]
            if a.shape != b.shape:
                return True
            same = (a == b) | (np.abs(a - b) <= 0.011)
            if not same.all():
                return True
    return False


def make_exercise(topic: str, level: int, seed: int, number: int) -> Exercise:
    """Exercise `number` (1-based) of the sheet for (topic, level, seed): drafts are drawn until one
    keeps every hand-friendly rule."""
    rng = Rng(seed, TOPICS.index(topic), level, number)
    for _attempt in range(_ATTEMPTS):
        problem = _draw(topic, level, rng)
        if not rules_broken(topic, level, problem, quick=True):
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
