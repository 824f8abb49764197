"""Grade a hand calculation of attention stage by stage, and name the mistake behind a wrong stage.

    >>> from attncli import Problem, check
    >>> problem = Problem(q=[[1, 0]], k=[[0.5, 0.5], [0.3, 0.7]], v=[[1, 0], [0.5, 0.5]])
    >>> report = check(problem, {"scores": [[0.5, 0.5]], "weights": [[0.5, 0.5]]})
    >>> [(s.stage, s.verdict) for s in report.stages]
    [('scores', 'wrong'), ('weights', 'consistent')]

Every claimed stage (scores, scaled, masked, weights, output) gets a verdict:
    correct     every cell is within the tolerance of the correct value;
    consistent  not correct, but what the student's own previous claimed stage implies when the
                rest is done right: the error was made earlier and is counted once, there;
    wrong       neither. Then the catalogue of known mistakes (MISTAKE_KEYS) is tried on the steps
                since the previous claimed stage, starting from the student's own numbers there (and
                also from the inputs), and every mistake that reproduces the claim is a Diagnosis.

A cell matches when |claimed − reference| is at most its tolerance. By default (tol=None) that is
one unit in the last decimal the student wrote in that cell (0.525: ±0.001; 12: ±1), but at most 1%
(±0.01 for values up to 1) and never less than 0.1% of the largest value of the stage: a student is
held to the precision they wrote, relative to the size of the stage. With a number `tol`, it is
tol × max(1, |reference|) for every cell. −∞ (a masked cell) matches only −∞.

A correct stage that follows from a wrong earlier one (output right by chance from wrong weights)
is correct, with `coincidence` set, and the report says so.

Pure NumPy: nothing here prints; bad claims raise attncli.errors exceptions that name the stage as
`expected.STAGE`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from attncli.analysis.cellnames import CellNames
from attncli.core.engine import Attention
from attncli.core.masks import causal_allowed, rule_of, sink_logits, softcapped
from attncli.core.multihead import MultiHead
from attncli.core.settings import CausalAlign, MaskSpec
from attncli.core.stages import STAGE_NAMES, check_stages
from attncli.errors import InputError, NumericError, ShapeError
from attncli.i18n import _, ngettext
from attncli.parse.matrix import where
from attncli.problem.document import MultiHeadProblem, Problem
from attncli.problem.mla import MLAProblem

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from attncli.core.engine import Array

    Step = Callable[[Array], Array]  # the value of one stage from the value of the stage before it

Verdict = Literal["correct", "consistent", "wrong"]

DEFAULT_TOL = 0.01  # the most the default tolerance allows: 1% (±0.01 below 1); a 1% slip in a weight does not pass
RELATIVE_FLOOR = 1e-3  # the default tolerance is never tighter than 0.1% of the stage's largest value
ROUNDING_DECIMALS = (0, 1, 2, 3, 4)
MISTAKE_KEYS = (
    "k_not_transposed",
    "q_k_swapped",
    "no_scaling",
    "scaled_by_d",
    "multiplied_by_sqrt_d",
    "sqrt_of_wrong_dimension",
    "default_scale_not_given",
    "divided_by_scale",
    "mask_ignored",
    "masked_as_zero",
    "mask_inverted",
    "causal_flipped",
    "causal_misaligned",
    "softmax_over_columns",
    "exp_not_normalised",
    "normalised_without_exp",
    "v_transposed",
    "weights_transposed",
    "v_on_the_left",
    "query_not_given",
    "not_a_softmax",
    "rounding",
    # the variants of modern attention (attncli.core.settings.MaskSpec) and positions (multi-head)
    "window_convention",
    "prefix_ignored",
    "documents_ignored",
    "softcap_forgotten",
    "softcap_before_scaling",
    "sinks_ignored",
    "rope_ignored",
    "sin_cos_swapped",
    "chunks_ignored",
    "sink_tokens_ignored",
    "window_one_sided",
    "alibi_ignored",
)


@dataclass(frozen=True)
class Diagnosis:
    """A known mistake that reproduces the claimed numbers of a stage within the tolerance."""

    key: str  # one of MISTAKE_KEYS
    stage: str  # the stage where the mistake is made (it shows from there on)
    title: str  # a few words: "K not transposed"
    mistake: str  # what the numbers show was done, in plain language
    fix: str  # the corrected computation, with this problem's numbers
    decimals: tuple[int, ...] = ()  # for "rounding": every N that reproduces the claim


@dataclass(frozen=True)
class StageCheck:
    """The verdict on one claimed stage. Arrays have the stage's shape: (..., T, S) or (..., T, d_v)."""

    stage: str
    claimed: Array
    correct: Array
    difference: Array  # |claimed − correct| per cell: 0 where both are −∞, ∞ where only one is
    matches: NDArray[np.bool_]  # per cell: claimed within the tolerance of correct
    verdict: Verdict
    previous: str | None  # the student's previous claimed stage, which `implied` is computed from
    implied: Array | None  # what the student's own `previous` numbers give for this stage
    diagnoses: tuple[Diagnosis, ...]
    unexplained: str | None  # for a wrong stage no mistake explains: where it first goes wrong
    tolerance: Array | None = None  # per cell, the largest difference that matches
    coincidence: bool = False  # correct, but it follows from the student's wrong earlier stage

    @property
    def max_difference(self) -> float:
        return float(self.difference.max())

    @property
    def worst_cell(self) -> tuple[int, ...]:
        """Index of the largest difference (the first one, if several are equal)."""
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(self.difference)), self.difference.shape))

    @property
    def first_wrong_cell(self) -> tuple[int, ...] | None:
        wrong = np.argwhere(~self.matches)
        return tuple(int(i) for i in wrong[0]) if len(wrong) else None


@dataclass(frozen=True)
class CheckReport:
    """All claimed stages, in the order they are computed, with their verdicts and diagnoses."""

    result: Attention  # the correct computation
    stages: tuple[StageCheck, ...]
    tol: float | None  # None: the default rule (the precision written, relative to the stage)

    @property
    def passed(self) -> bool:
        return all(s.verdict == "correct" for s in self.stages)

    @property
    def first_wrong_stage(self) -> str | None:
        return next((s.stage for s in self.stages if s.verdict != "correct"), None)

    @property
    def credited(self) -> int:
        """Partial credit: stages that are correct, or follow correctly from the student's own numbers."""
        return sum(s.verdict != "wrong" for s in self.stages)

    @property
    def diagnoses(self) -> tuple[Diagnosis, ...]:
        return tuple(d for s in self.stages for d in s.diagnoses)


def tolerance_text(tol: float | None) -> str:
    """The tolerance rule in words, for reports."""
    if tol is None:
        rule = _(
            "±1 in the last decimal you wrote, at most ±{cap} (±{tol:g} for values up to 1) "
            "and at least {floor} of the stage's largest value"
        )
        return rule.format(cap=f"{DEFAULT_TOL:.0%}", tol=DEFAULT_TOL, floor=f"{RELATIVE_FLOOR:.1%}")
    return _("±{tol:g} per cell (±{percent} for values above 1)").format(tol=tol, percent=f"{tol * 100:g}%")


def check(
    problem: Problem | MultiHeadProblem | MLAProblem,
    expected: Mapping[str, ArrayLike] | None = None,
    *,
    tol: float | None = None,
) -> CheckReport:
    """Compare claimed stage values with the correct ones and diagnose the wrong stages.

    `expected` maps stage names (scores, scaled, masked, weights, output) to claimed values of the
    stage's full shape; it defaults to `problem.expected`. `tol` is the tolerance described in the
    module docstring. Raises InputError/ShapeError (argument `expected.STAGE`) for claims that do not
    fit the problem, and InputError (argument `expected`) when nothing is claimed.
    """
    if tol is not None and not (np.isfinite(tol) and tol >= 0):
        raise InputError(_("must be a finite number ≥ 0, got {value}").format(value=tol), argument="tol")
    if isinstance(problem, MultiHeadProblem):
        # Per-head stages (H, T, S) are graded as they are; "output" is the final output after W_o.
        # The catalogue's mistakes are tried per head, with those of the positions (RoPE, sinusoidal).
        mh = problem.solve()
        result = mh.attention
        final = (partial(_final_output, mh), mh.output)
        spread = partial(_final_output, mh, magnitude=True)
        chain = _Chain(result, final=final, spread=spread, labels=problem.labels)
        with _wrong_ways():
            mistakes = [*_mistakes(chain, problem), *_position_mistakes(chain, problem, mh)]
    elif isinstance(problem, MLAProblem):  # multi-head latent attention: graded as multi-head
        mla = problem.solve()
        result = mla.attention
        final = (partial(_mla_output, mla.weights.get("w_o"), v=result.v), mla.output)
        chain = _Chain(result, final=final, labels=problem.labels)
        mistakes = []
    else:
        result = problem.solve()
        chain = _Chain(result, labels=problem.labels)
        with _wrong_ways():
            mistakes = _mistakes(chain, problem)
    claims = _claims(chain, problem.expected if expected is None else expected)
    grader = _Grader(chain, mistakes, claims, tol)
    stages = list(claims)
    checks: list[StageCheck] = []
    with _wrong_ways():
        for stage, previous in zip(stages, [None, *stages], strict=False):
            previous_right = previous is None or checks[-1].verdict == "correct"
            checks.append(grader.stage(stage, previous, previous_right))
    return CheckReport(result=result, stages=tuple(checks), tol=tol)


# The catalogue recomputes stages the wrong ways students do (e.g. exp without subtracting the row max),
# which may overflow to ∞ or NaN: such a value simply matches no claim, so NumPy need not warn.
def _wrong_ways() -> np.errstate:
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


# --- comparing -------------------------------------------------------------------------------------


def _difference(claimed: Array, reference: Array) -> Array:
    """|claimed − reference| per cell; two −∞ are equal, a NaN anywhere is infinitely far."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(claimed - reference)
    diff = np.where(claimed == reference, 0.0, diff)
    out: Array = np.where(np.isnan(diff), np.inf, diff)
    return out


def tolerance(claimed: Array, correct: Array, tol: float | None) -> Array:
    """The largest difference that matches, per cell (see the module docstring)."""
    size = np.maximum(1.0, np.where(np.isfinite(correct), np.abs(correct), 0.0))
    if tol is not None:
        fixed: Array = np.where(np.isnan(claimed), np.inf, tol * size)
        return fixed
    finite = np.abs(correct[np.isfinite(correct)])
    floor = RELATIVE_FLOOR * (float(finite.max()) if finite.size else 1.0)
    out: Array = np.minimum(DEFAULT_TOL * size, np.maximum(written_unit(claimed), floor))
    return np.where(np.isnan(claimed), np.inf, out)  # a row not claimed matches anything


def written_unit(claimed: Array) -> Array:
    """One unit in the last decimal of each number as written (0.525: 0.001; 12: 1; at most 15 decimals)."""
    unit = np.full(claimed.shape, 10.0**-15)
    finite = np.isfinite(claimed)
    for d in range(15, -1, -1):  # from fine to coarse: the coarsest that still gives the number wins
        exact = finite & np.isclose(np.round(np.where(finite, claimed, 0.0), d), claimed, rtol=1e-12, atol=0.0)
        unit = np.where(exact, 10.0**-d, unit)
    return unit


def _matches(claimed: Array, reference: Array, tol: Array) -> NDArray[np.bool_]:
    ok: NDArray[np.bool_] = _difference(claimed, reference) <= tol
    return ok


def _reproduces(claimed: Array, candidate: Array | None, tol: Array) -> bool:
    return candidate is not None and candidate.shape == claimed.shape and bool(_matches(claimed, candidate, tol).all())


# --- the computation as a chain of steps -------------------------------------------------------------


def _softmax(
    x: Array, empty_row: str, *, axis: int = -1, decimals: int | None = None, sinks: Array | None = None
) -> Array:
    """Softmax along `axis`; a slice that is all −∞ gets weights by `empty_row` (as the engine does).

    With `decimals`, computed as by hand: exp of each value written down rounded, then divided by their sum.
    Learned `sinks` (…, 1, 1) (gpt-oss; along the last axis only) join each row's sum and get no column.
    """
    top = x.max(axis=axis, keepdims=True)
    empty = np.isneginf(top)
    if sinks is not None and axis == -1:
        top = np.maximum(top, sinks)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        # Shifting by the max changes nothing but overflow; by hand, exp values are written down rounded.
        shift = np.where(np.isneginf(top), 0.0, top) if decimals is None else 0.0
        e = np.exp(x - shift) if decimals is None else np.round(np.exp(x), decimals)
        total = e.sum(axis=axis, keepdims=True)
        if sinks is not None and axis == -1:
            sink = np.exp(sinks - shift)
            total = total + (sink if decimals is None else np.round(sink, decimals))
        w = e / np.where(empty, 1.0, total)
    if empty_row == "uniform":
        w = np.where(empty, 1.0 / x.shape[axis], w)
    elif empty_row == "nan":
        w = np.where(empty, np.nan, w)
    out: Array = w
    return out


class _Chain:
    """The correct computation of one problem as steps from stage to stage, and the allowed cells."""

    def __init__(
        self,
        result: Attention,
        final: tuple[Step, Array] | None = None,
        spread: Step | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> None:
        """`final`: for multi-head problems, the step from per-head weights to the final output, and
        that output (which then is the "output" stage); `spread`: how far a change of the weights
        (≥ 0, per cell) can move that output (see `carried`); `labels`: the problem's names of the
        queries and keys, which the messages use for cells."""
        self.result = result
        self.final_output = None if final is None else final[1]
        self.spread = spread
        r = result
        shape = r.scores.shape
        self.t, self.s = shape[-2:]
        self.names = CellNames.of(labels or {}, self.t, self.s)
        self.d_k, self.d_v = r.q.shape[-1], r.v.shape[-1]
        present = {"masked": r.masked is not None, "capped": r.capped is not None}
        self.order = tuple(s for s in STAGE_NAMES if present.get(s, True))
        # The mask's own part (bool mask, or the finite cells of an additive one) and the causal rule,
        # kept apart so that a mistake can change one of them.
        self.additive: Array | float = 0.0
        self.user_allowed: NDArray[np.bool_] = np.ones(shape, dtype=bool)
        if r.mask is not None and r.mask.dtype == np.bool_:
            self.user_allowed = np.broadcast_to(r.mask, shape)
        elif r.mask is not None:
            self.additive = np.broadcast_to(r.mask.astype(r.scores.dtype), shape)
            self.user_allowed = np.broadcast_to(np.isfinite(self.additive), shape)
        self.rule = self.rule_cells(r.causal, r.variants)  # the causal rule and the structured masks
        # The variants that change the scores: a softcap (before the mask) and learned sinks (in the softmax).
        self.cap = r.variants.softcap
        self.sinks = sink_logits(r.variants, shape, r.scores.dtype.type)
        cap = self.cap
        self.steps: dict[str, Step] = {
            "scores": lambda _: np.matmul(r.q, np.swapaxes(r.k, -1, -2)),  # (…, T, d_k)·(…, d_k, S)
            "scaled": lambda x: x * r.scale,
            "capped": lambda x: x if cap is None else softcapped(np.asarray(x, dtype=np.float64), cap),
            "masked": self.mask_step(self.user_allowed & self.rule),
            "weights": self.softmax_step(),
            "output": lambda w: np.matmul(w, r.v),  # (…, T, S)·(…, S, d_v)
        }
        if final is not None:
            self.steps["output"] = final[0]
            self.d_v = final[1].shape[-1]

    def carried(self, previous: str, stage: str, claims: Mapping[str, Array]) -> Array | float:
        """How far the rounding of the student's previous stage, as they wrote it, can move `stage`
        computed from it: weights written to a unit u move weights·V by up to (u/2)·Σ|v| (multi-head:
        through the concat and |W_o| too; elsewhere the tolerance of the stage covers it)."""
        if previous != "weights" or stage != "output" or (self.final_output is not None and self.spread is None):
            return 0.0
        w = claims["weights"]
        half = np.where(np.isfinite(w), written_unit(w) / 2, 0.0)
        bound: Array = np.matmul(half, np.abs(self.result.v)) if self.spread is None else self.spread(half)
        return bound

    def rule_cells(self, causal: bool, spec: MaskSpec) -> NDArray[np.bool_]:
        """(T, S) the cells the causal rule and the structured masks `spec` allow."""
        rule = rule_of(self.t, self.s, causal, self.result.causal_align, spec)
        return np.ones((self.t, self.s), dtype=bool) if rule is None else rule.allowed()

    def mask_step(self, allowed: NDArray[np.bool_], fill: float = -np.inf) -> Step:
        return lambda x: np.where(allowed, x + self.additive, fill)

    def softmax_step(self, *, sinks: bool = True) -> Step:
        """The softmax of the logits, with the learned sinks (a softcap is a step of its own: capped)."""
        r = self.result

        def step(x: Array) -> Array:
            return _softmax(x, r.empty_row, sinks=self.sinks if sinks else None)

        return step

    def correct(self, stage: str) -> Array:
        if stage == "output" and self.final_output is not None:
            return self.final_output
        value: Array = getattr(self.result, stage)
        return value

    def run(
        self,
        start: str | None,
        value: Array,
        end: str,
        steps: Mapping[str, Step] | None = None,
        decimals: int | None = None,
    ) -> Array | None:
        """The stage `end` computed from `value` of stage `start` (None: from the inputs) with `steps`,
        every stage rounded to `decimals` if given; None if the steps do not fit together."""
        use = {**self.steps, **(steps or {})}
        first = 0 if start is None else self.order.index(start) + 1
        try:
            with np.errstate(all="ignore"):
                for stage in self.order[first : self.order.index(end) + 1]:
                    value = use[stage](value)
                    if decimals is not None:
                        value = np.round(value, decimals)
        except ValueError:  # a mistaken product whose shapes do not fit this problem
            return None
        return value


def _mla_output(w_o: Array | None, weights: Array, *, v: Array | None = None) -> Array:
    """The final MLA output from per-head weights (H, T, S): weights·V per head, concat, W_O."""
    assert v is not None
    per_head = np.matmul(weights, v)
    out: Array = per_head.transpose(1, 0, 2).reshape(per_head.shape[-2], -1)
    return out @ w_o if w_o is not None else out


def _final_output(mh: MultiHead, weights: Array, *, magnitude: bool = False) -> Array:
    """The final multi-head output from per-head weights (H, T, S): weights·V per head, concat, W_o, b_o.
    `magnitude`: with |V| and |W_o| and no b_o, how far changes of `weights` (≥ 0) can move the output."""
    v, w = mh.attention.v, mh.weights
    per_head = np.matmul(weights, np.abs(v) if magnitude else v)  # (H, T, S)·(H, S, d_v) -> (H, T, d_v)
    t = per_head.shape[-2]
    out: Array = per_head.transpose(1, 0, 2).reshape(t, -1)  # (T, H·d_v)
    if "wo" in w:
        out = out @ (np.abs(w["wo"]) if magnitude else w["wo"])
    if "bo" in w and not magnitude:
        out = out + w["bo"]
    return out


# --- the claims --------------------------------------------------------------------------------------


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def _claims(chain: _Chain, expected: Mapping[str, ArrayLike]) -> dict[str, Array]:
    """The claimed stages in the order they are computed, as float arrays of the stages' shapes."""
    check_stages(list(expected), STAGE_NAMES, "expected")
    if not any(expected.get(stage) is not None for stage in STAGE_NAMES):
        message = _("no claimed values to check: give at least one stage of {stages}")
        raise InputError(message.format(stages=", ".join(STAGE_NAMES)), argument="expected")
    claims: dict[str, Array] = {}
    for stage in STAGE_NAMES:
        value = expected.get(stage)
        if value is None:
            continue
        argument = f"expected.{stage}"
        if stage == "capped" and stage not in chain.order:
            message = _("this problem has no softcap, so there is no capped stage; claim scaled instead")
            raise InputError(message, argument=argument)
        if stage not in chain.order:
            raise InputError(
                _("this problem has no mask and is not causal, so there is no masked stage; claim scaled instead"),
                argument=argument,
            )
        a = np.asarray(value)
        if a.dtype == np.bool_:
            message = _("holds true/false; write the numbers (a hidden cell as -inf or null)")
            raise InputError(message, argument=argument)
        if not np.issubdtype(a.dtype, np.number):
            raise InputError(_("must hold numbers, got {dtype} values").format(dtype=a.dtype), argument=argument)
        a = a.astype(np.float64)
        if a.ndim == 1:
            a = a[None, :]  # a flat list is one row
        correct = chain.correct(stage)
        if a.shape != correct.shape:
            queries = ngettext("{n} query", "{n} queries", chain.t).format(n=chain.t)
            if stage == "output":
                columns = ngettext("{n} value column", "{n} value columns", chain.d_v).format(n=chain.d_v)
                message = _("has shape {shape}, but the output of this problem is {correct} (T×d_v: {rows}, {columns})")
            else:
                columns = ngettext("{n} key", "{n} keys", chain.s).format(n=chain.s)
                message = _("has shape {shape}, but the {stage} of this problem are {correct} (T×S: {rows}, {columns})")
            shapes = {"shape": _shape_text(a.shape), "correct": _shape_text(correct.shape)}
            raise ShapeError(message.format(stage=stage, rows=queries, columns=columns, **shapes), argument=argument)
        unclaimed = np.isnan(a).all(axis=-1, keepdims=True)  # a row not claimed (null)
        if unclaimed.all():
            raise InputError(_("every row is null: claim at least one row"), argument=argument)
        bad = (np.isnan(a) & ~unclaimed) | np.isposinf(a) | (np.isneginf(a) if stage != "masked" else False)
        if bad.any():
            cell = tuple(int(i) for i in np.argwhere(bad)[0])
            message = _("{where} is {value}; only masked cells may be −∞").format(
                where=where(cell, a.ndim), value=a[cell]
            )
            raise NumericError(message, argument=argument)
        claims[stage] = a
    return claims


# --- judging a stage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grader:
    """Judges the claimed stages of one problem against its correct chain and its possible mistakes."""

    chain: _Chain
    mistakes: list[_Mistake]
    claims: Mapping[str, Array]  # in the order the stages are computed
    tol: float | None

    def tolerance(self, stage: str) -> Array:
        return tolerance(self.claims[stage], self.chain.correct(stage), self.tol)

    def stage(self, stage: str, previous: str | None, previous_right: bool = True) -> StageCheck:
        """The verdict on `stage`; `previous` is the student's previous claimed stage, if any, and
        `previous_right` whether it was correct."""
        claimed, correct, tol = self.claims[stage], self.chain.correct(stage), self.tolerance(stage)
        matches = _matches(claimed, correct, tol)
        implied = None if previous is None else self.chain.run(previous, self.claims[previous], stage)
        verdict: Verdict = "wrong"
        if matches.all():
            verdict = "correct"
        elif previous is not None and _reproduces(
            claimed, implied, tol + self.chain.carried(previous, stage, self.claims)
        ):
            verdict = "consistent"
        diagnoses: tuple[Diagnosis, ...] = ()
        unexplained = None
        if verdict == "wrong":
            diagnoses = self.diagnose(stage, previous)
            if not diagnoses:
                unexplained = _unexplained(stage, (claimed, correct, implied), matches, previous, tol, self.chain.names)
        return StageCheck(
            stage=stage,
            claimed=claimed,
            correct=correct,
            difference=np.where(np.isnan(claimed), 0.0, _difference(claimed, correct)),
            matches=matches,
            verdict=verdict,
            previous=previous,
            implied=implied,
            diagnoses=diagnoses,
            unexplained=unexplained,
            tolerance=tol,
            coincidence=verdict == "correct" and not previous_right and _reproduces(claimed, implied, tol),
        )

    def diagnose(self, stage: str, previous: str | None) -> tuple[Diagnosis, ...]:
        """Every known mistake that reproduces the claim of `stage`: made in a step after the student's
        previous claimed stage (starting from their numbers there), or anywhere (starting from the inputs)."""
        chain, claimed, tol = self.chain, self.claims[stage], self.tolerance(stage)
        end = chain.order.index(stage)
        starts: list[tuple[str | None, Array]] = [(None, chain.result.q)]  # the scores step reads Q and K itself
        if previous is not None:
            starts.insert(0, (previous, self.claims[previous]))
        found: dict[str, Diagnosis] = {}
        for start, value in starts:
            first = 0 if start is None else chain.order.index(start) + 1
            for m in self.mistakes:
                if m.diagnosis.key in found or not first <= chain.order.index(m.diagnosis.stage) <= end:
                    continue
                if _reproduces(claimed, chain.run(start, value, stage, {m.diagnosis.stage: m.step}), tol):
                    found[m.diagnosis.key] = m.diagnosis
            if "rounding" not in found:
                decimals = tuple(
                    n for n in ROUNDING_DECIMALS if _reproduces(claimed, _rounded(chain, start, value, stage, n), tol)
                )
                if decimals:
                    found["rounding"] = _rounding(decimals, stage)
        if self.mistakes and previous is None and "query_not_given" not in found:
            other = _other_query(chain, claimed, stage, tol)
            if other is not None:
                found[other.key] = other
        if self.mistakes and stage == "weights" and not found:
            fix = next(m.diagnosis.fix for m in self.mistakes if m.diagnosis.stage == "weights")
            logits = next(x for x in ("masked", "capped", "scaled") if x in chain.order)
            origin = (previous, self.claims[previous]) if previous is not None else (logits, chain.correct(logits))
            x = chain.run(origin[0], origin[1], logits)
            own = previous is not None
            not_softmax = None if x is None else _not_a_softmax(claimed, x, tol, fix, own=own, names=chain.names)
            if not_softmax is not None:
                found[not_softmax.key] = not_softmax
        return tuple(found.values())


MAX_QUERY_SEARCH = 16  # queries and widths up to which another query is looked for, row by row


def _other_query(chain: _Chain, claimed: Array, stage: str, tol: Array) -> Diagnosis | None:
    """The query used is not the one given": every wrong row of the claim is what another query gives
    (a one-hot vector such as [1, 0], or another query), with the rest of the computation done right."""
    r = chain.result
    if r.q.ndim != 2 or chain.t > MAX_QUERY_SEARCH or chain.d_k > MAX_QUERY_SEARCH:
        return None
    candidates = [(_vec(row), row) for row in np.eye(chain.d_k)]
    names = chain.names
    candidates += [(f"{names.query(m)} = {_vec(row)}", row) for m, row in enumerate(r.q)]
    correct, used = chain.correct(stage), {}
    for i in range(chain.t):
        if _matches(claimed[i], correct[i], tol[i]).all():
            continue
        for name, c in candidates:
            if np.allclose(c, r.q[i]):
                continue
            q = r.q.copy()
            q[i] = c
            value = chain.run(None, q, stage, {"scores": lambda x: np.matmul(x, r.k.T)})
            if value is not None and _matches(claimed[i], value[i], tol[i]).all():
                used[i] = name
                break
        else:
            return None
    if not used:
        return None
    i = min(used)
    given = f"{names.query(i)} = {_vec(r.q[i])}"
    mistake = (
        _("row {row} of your {stage} is what the query {used} gives, not the given {given}")
        if len(used) == 1
        else _("row {row} of your {stage} is what the query {used} gives, not the given {given} (rows like this: {n})")
    ).format(row=names.row(i), stage=stage, used=used[i], given=given, n=len(used))
    terms = " + ".join(f"{_num(a)}×{_num(b)}" for a, b in zip(r.q[i], r.k[0], strict=True))
    fix = _(
        "scores = Q·Kᵀ with the queries as given: row {row} is {query} dotted with each key, "
        "e.g. {query}·{key} = {terms} = {score}"
    )
    return Diagnosis(
        key="query_not_given",
        stage="scores",
        title=_("the query used is not the one given"),
        mistake=mistake,
        fix=fix.format(
            row=names.row(i), query=names.query(i), key=names.key(0), terms=terms, score=_num(r.q[i] @ r.k[0])
        ),
    )


def _not_a_softmax(
    claimed: Array, logits: Array, tol: Array, fix: str, *, own: bool, names: CellNames
) -> Diagnosis | None:
    """Weights that sum to 1 but are not a softmax of any of your scores": every row is ≥ 0 and sums to 1,
    yet the ratio of two weights is not exp of the difference of their scores."""
    rows = ~np.isnan(claimed).any(axis=-1)
    sums = np.abs(claimed[rows].sum(axis=-1) - 1) > tol[rows].sum(axis=-1)
    if claimed.ndim != 2 or (claimed[rows] < 0).any() or sums.any():
        return None
    for i, (w, x) in enumerate(zip(claimed, logits, strict=True)):
        seen = np.flatnonzero(np.isfinite(x))
        if len(seen) < 2 or np.isnan(w).any():
            continue
        with np.errstate(divide="ignore"):
            gap = np.log(w[seen]) - x[seen]  # constant along the row for a softmax of x
        a, b = int(seen[np.argmin(gap)]), int(seen[np.argmax(gap)])
        ratio = float(np.exp(x[b] - x[a]))
        yours = w[b] / w[a] if w[a] > 0 else np.inf
        if a == b or np.isclose(yours, ratio, rtol=0.02):
            continue
        mistake = (
            _(
                "your weights sum to 1, but they are not a softmax of your scores: a key's weight is exp of its "
                "score over the row's sum, so in row {row} w({b}) ÷ w({a}) must be "
                "exp({xb} − {xa}) = {ratio}; yours is {yours}"
            )
            if own
            else _(
                "your weights sum to 1, but they are not a softmax of the scores: a key's weight is exp of its "
                "score over the row's sum, so in row {row} w({b}) ÷ w({a}) must be "
                "exp({xb} − {xa}) = {ratio}; yours is {yours}"
            )
        )
        values = {"xb": _num(x[b]), "xa": _num(x[a]), "ratio": _num(ratio, 3), "yours": _num(yours, 3)}
        return Diagnosis(
            key="not_a_softmax",
            stage="weights",
            title=_("weights that are not a softmax"),
            mistake=mistake.format(row=names.row(i), a=names.key(a), b=names.key(b), **values),
            fix=fix,
        )
    return None


def _rounded(chain: _Chain, start: str | None, value: Array, stage: str, decimals: int) -> Array | None:
    """The stage computed by hand with every value written down rounded to `decimals` (exp values too)."""
    softmax: Step = lambda x: _softmax(x, chain.result.empty_row, decimals=decimals, sinks=chain.sinks)  # noqa: E731
    return chain.run(start, value, stage, {"weights": softmax}, decimals=decimals)


def _unexplained(
    stage: str,
    arrays: tuple[Array, Array, Array | None],
    matches: NDArray[np.bool_],
    previous: str | None,
    tol: Array,
    names: CellNames,
) -> str:
    """Where a wrong stage no mistake explains first goes wrong; `arrays`: claimed, correct, implied."""
    claimed, correct, implied = arrays
    cell = tuple(int(i) for i in np.argwhere(~matches)[0])
    values = {
        "where": names.cell(cell, claimed.ndim, stage),
        "yours": _num(claimed[cell]),
        "correct": _num(correct[cell]),
    }
    if np.isnan(correct[cell]):  # a fully masked row under empty_row = nan: no number can match it
        message = _(
            "the first wrong cell is {where}: you wrote {yours}, but its row is fully masked and the "
            "empty-row policy nan makes the whole row NaN, which no number matches; leave the row out "
            "of your claim (null) or grade with the policy zero"
        )
        return message.format(**values)
    if implied is not None and not _matches(implied[cell], correct[cell], tol[cell]):  # their earlier error shows here
        message = _(
            "none of the known mistakes explains this; the first wrong cell is {where}: "
            "you wrote {yours}, the correct value is {correct} (your {previous} give {implied})"
        )
        return message.format(previous=previous, implied=_num(implied[cell]), **values)
    message = _(
        "none of the known mistakes explains this; the first wrong cell is {where}: "
        "you wrote {yours}, the correct value is {correct}"
    )
    return message.format(**values)


# --- the catalogue of mistakes -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Mistake:
    diagnosis: Diagnosis
    step: Step  # replaces the correct step into diagnosis.stage


def _num(x: float, precision: int = 4) -> str:
    """A number in a sentence, as short as it can be at `precision` decimals (0.5, 0.7071, −∞)."""
    if np.isneginf(x):
        return "−∞"
    if not np.isfinite(x):
        return str(x)
    text = np.format_float_positional(float(x), precision=precision, unique=True, trim="0")
    return "0.0" if text in ("-0.0", "-0") else text


def _vec(xs: Any) -> str:
    return "[" + ", ".join(_num(x) for x in xs) + "]"


def _first(a: Array) -> Array:
    """The first (T, …) slice of an array with leading batch dimensions, for worked examples."""
    first: Array = a[(0,) * (a.ndim - 2)]
    return first


def _mistakes(chain: _Chain, problem: Problem | MultiHeadProblem) -> list[_Mistake]:
    """The known mistakes that can be made in this problem (whose shapes allow them)."""
    return [
        *_score_mistakes(chain),
        *_scale_mistakes(chain, given=problem.scale is not None),
        *_softcap_mistakes(chain),
        *_mask_mistakes(chain),
        *_softmax_mistakes(chain),
        *_output_mistakes(chain),
        *_variant_mistakes(chain),
    ]


def _mistake(key: str, stage: str, title: str, mistake: str, fix: str, step: Step) -> _Mistake:
    return _Mistake(Diagnosis(key=key, stage=stage, title=title, mistake=mistake, fix=fix), step)


def _score_mistakes(c: _Chain) -> list[_Mistake]:
    r = c.result
    q, k = _first(r.q), _first(r.k)
    j = min(1, c.s - 1)
    terms = " + ".join(f"{_num(a)}×{_num(b)}" for a, b in zip(q[0], k[j], strict=True))
    fix = _(
        "scores = Q·Kᵀ: the cell in row i, column j is query i dotted with key j (a row of K), "
        "e.g. {query}·{key} = {terms} = {score}"
    ).format(query=c.names.query(0), key=c.names.key(j), terms=terms, score=_num(q[0] @ k[j]))
    out = []
    if c.s == c.d_k:  # Q·K only has the right shape when K is square
        out.append(
            _mistake(
                "k_not_transposed",
                "scores",
                _("K not transposed"),
                _("you multiplied Q·K instead of Q·Kᵀ, pairing each query with a column of K instead of a key"),
                fix,
                lambda _: np.matmul(r.q, r.k),
            )
        )
    if c.t == c.s:  # K·Qᵀ has shape S×T
        out.append(
            _mistake(
                "q_k_swapped",
                "scores",
                _("Q and K swapped"),
                _("you computed K·Qᵀ, the scores transposed: your row i belongs to key i, not query i"),
                fix,
                lambda _: np.matmul(r.k, np.swapaxes(r.q, -1, -2)),
            )
        )
    return out


def _scale_mistakes(c: _Chain, *, given: bool) -> list[_Mistake]:
    r = c.result
    d, scale = c.d_k, r.scale
    score, scaled = _first(r.scores)[0, 0], _first(r.scaled)[0, 0]
    if given:
        rule = _("the given scale {scale}").format(scale=_num(scale))
    else:
        rule = f"1/√d_k = 1/√{d} = {_num(scale)}"
    fix = _("scaled = scores × {rule}, e.g. {score} × {scale} = {scaled}").format(
        rule=rule, score=_num(score), scale=_num(scale), scaled=_num(scaled)
    )

    def by(factor: float) -> Step:
        return lambda x: x * factor

    candidates: list[tuple[str, str, str, float]] = [
        ("no_scaling", _("no scaling"), _("you left the scores unscaled (scaled = scores)"), 1.0)
    ]
    if given:
        candidates += [
            (
                "default_scale_not_given",
                _("default scale instead of the given one"),
                _("you scaled by 1/√d_k = {default}, but this problem gives scale = {scale}").format(
                    default=_num(1 / np.sqrt(d)), scale=_num(scale)
                ),
                1 / np.sqrt(d),
            ),
            (
                "divided_by_scale",
                _("divided by the scale"),
                _("you divided by the scale {scale} instead of multiplying by it").format(scale=_num(scale)),
                1 / scale,
            ),
        ]
    else:
        candidates += [
            (
                "scaled_by_d",
                _("scaled by d_k, not √d_k"),
                _("you divided by d_k = {d} instead of √d_k = √{d}").format(d=d),
                1 / d,
            ),
            (
                "multiplied_by_sqrt_d",
                _("multiplied by √d_k"),
                _("you multiplied by √d_k = {root} instead of dividing by it").format(root=_num(np.sqrt(d))),
                float(np.sqrt(d)),
            ),
        ]
        names = {
            _("d_v (the width of V)"): c.d_v,
            _("T (the number of queries)"): c.t,
            _("S (the number of keys)"): c.s,
        }
        for n in sorted({n for n in names.values() if n != d}):
            which = " = ".join(name for name, m in names.items() if m == n)
            candidates.append(
                (
                    "sqrt_of_wrong_dimension",
                    _("√{n} instead of √d_k").format(n=n),
                    _("you divided by √{n}, from {which}, instead of √d_k = √{d} (d_k is the width of Q and K)").format(
                        n=n, which=which, d=d
                    ),
                    1 / np.sqrt(n),
                )
            )
    return [
        _mistake(key, "scaled", title, text, fix, by(factor))
        for key, title, text, factor in candidates
        if not np.isclose(factor, scale)
    ]


def _softcap_mistakes(c: _Chain) -> list[_Mistake]:
    """Soft-capping (Gemma 2) forgotten, or applied to the unscaled scores."""
    r, cap = c.result, c.result.variants.softcap
    if cap is None or r.capped is None:
        return []
    s0, c0 = _first(r.scaled)[0, 0], _first(r.capped)[0, 0]
    fix = _("capped = c·tanh(scaled / c) with c = {c}, on the scaled scores and before the mask, e.g. "
            "{c} × tanh({s} / {c}) = {capped}").format(c=_num(cap), s=_num(s0), capped=_num(c0))  # fmt: skip
    return [
        _mistake(
            "softcap_forgotten",
            "capped",
            _("soft-capping left out"),
            _("you kept the scaled scores as they were: c·tanh(s/c) squeezes them into (−c, c)"),
            fix,
            lambda x: x,
        ),
        _mistake(
            "softcap_before_scaling",
            "capped",
            _("soft-capping before the scale"),
            _("you capped the unscaled scores, c·tanh(scores/c), then scaled; Gemma 2 caps the scaled scores"),
            fix,
            lambda x: softcapped(np.asarray(x, dtype=np.float64) / r.scale, cap) * r.scale,
        ),
    ]


def _mask_mistakes(c: _Chain) -> list[_Mistake]:
    r = c.result
    if r.masked is None:
        return []
    hidden = int((~(c.user_allowed & c.rule))[(0,) * (c.user_allowed.ndim - 2)].sum())
    how = []
    if r.mask is not None:
        how.append(_("the boolean mask hides its False cells") if r.mask.dtype == np.bool_ else _("the mask is added"))
    if r.causal:
        seen = "1…i" if r.causal_align == "top-left" else "1…i+S−T"
        how.append(_("the causal rule lets query i see keys {seen} ({align})").format(seen=seen, align=r.causal_align))
    if r.variants.any:
        how.append(_("the structured mask (window, prefix, chunk, documents) hides the keys outside its rule"))
    fix = _("masked = scaled, where {how}").format(how=_(" and ").join(how))
    if hidden:
        fix = _(
            "{fix}; every hidden cell ({hidden} of {total}) becomes −∞, so the softmax gives it weight exactly 0"
        ).format(fix=fix, hidden=hidden, total=c.t * c.s)
    out = [
        _mistake(
            "mask_ignored",
            "masked",
            _("mask ignored"),
            _("you left out the mask: no cell is hidden"),
            fix,
            lambda x: x,
        ),
        _mistake(
            "masked_as_zero",
            "masked",
            _("hidden cells set to 0"),
            _("you set the hidden cells to 0 instead of −∞, so they still get weight exp(0)/Σ"),
            fix,
            c.mask_step(c.user_allowed & c.rule, fill=0.0),
        ),
    ]
    if r.mask is not None and r.mask.dtype == np.bool_:
        out.append(
            _mistake(
                "mask_inverted",
                "masked",
                _("mask inverted"),
                _("you hid the True cells of the boolean mask; True means attend"),
                fix,
                c.mask_step(~c.user_allowed & c.rule),
            )
        )
    if r.causal and not r.variants.any:  # (the causal rule's own mistakes; with a window or chunks it is theirs)
        offset = 0 if r.causal_align == "top-left" else c.s - c.t
        flipped = np.arange(c.s)[None, :] >= np.arange(c.t)[:, None] + offset
        out.append(
            _mistake(
                "causal_flipped",
                "masked",
                _("causal mask flipped"),
                _("you hid the earlier keys instead of the later ones (each query saw itself and the future)"),
                fix,
                c.mask_step(c.user_allowed & flipped),
            )
        )
        if c.t != c.s:
            other: CausalAlign = "bottom-right" if r.causal_align == "top-left" else "top-left"
            out.append(
                _mistake(
                    "causal_misaligned",
                    "masked",
                    _("causal mask aligned {other}").format(other=other),
                    _("you aligned the causal mask {other} instead of {align} (T ≠ S)").format(
                        other=other, align=r.causal_align
                    ),
                    fix,
                    c.mask_step(c.user_allowed & causal_allowed(c.t, c.s, other)),
                )
            )
    return out


def _softmax_mistakes(c: _Chain) -> list[_Mistake]:
    r = c.result
    empty = r.empty_row
    return [
        _mistake(key, "weights", title, mistake, _softmax_fix(_first(r.logits), _first(r.weights), c.names), step)
        for key, title, mistake, step in _softmax_wrong_ways(empty)
    ]


def _softmax_fix(logits: Array, weights: Array, names: CellNames) -> str:
    """How a softmax is done, worked on the first row that has a visible key (a fully masked row has none)."""
    fix = _("weights = softmax along each row (over the keys): exp(x) ÷ the row's Σ exp(x), so every row sums to 1")
    visible = np.isfinite(logits)
    if not visible.any():
        return fix
    i = int(np.argmax(visible.any(axis=-1)))
    e = np.exp(logits[i])
    shown = [j for j in range(logits.shape[-1]) if visible[i, j]][:4]
    total = " + ".join(_num(e[j]) for j in shown) + (" + …" if len(shown) < visible[i].sum() else "")
    j = shown[0]
    example = _("e.g. {cell}: exp({logit}) = {exp}, ÷ ({total}) = {weight}").format(
        cell=names.pair(i, j), logit=_num(logits[i, j]), exp=_num(e[j]), total=total, weight=_num(weights[i, j])
    )
    return f"{fix}, {example}"


def _softmax_wrong_ways(empty: str) -> list[tuple[str, str, str, Step]]:
    """(key, title, mistake, the wrong step) for each known way to get a softmax wrong."""

    def raw_share(x: Array) -> Array:
        x0 = np.where(np.isneginf(x), 0.0, x)  # a hidden cell adds nothing
        share: Array = x0 / x0.sum(axis=-1, keepdims=True)
        return share

    return [
        (
            "softmax_over_columns",
            _("softmax over columns"),
            _("you normalised down each column (over the queries) instead of along each row (over the keys)"),
            lambda x: _softmax(x, empty, axis=-2),
        ),
        (
            "exp_not_normalised",
            _("exp not normalised"),
            _("you took exp of each score but did not divide by the row's sum"),
            np.exp,
        ),
        (
            "normalised_without_exp",
            _("not a softmax"),
            _("you divided each score by its row's sum (x ÷ Σx) without taking exp first"),
            raw_share,
        ),
    ]


def _output_mistakes(c: _Chain) -> list[_Mistake]:
    r = c.result
    w, v, out0 = _first(r.weights)[0], _first(r.v), _first(r.output)[0]
    terms = " + ".join(f"{_num(w[j])}×{_vec(v[j])}" for j in range(min(c.s, 4))) + (" + …" if c.s > 4 else "")
    fix = _(
        "output = weights · V: row i adds up the value rows weighted by query i's weights, "
        "e.g. {query}: {terms} = {output}"
    ).format(query=c.names.query(0), terms=terms, output=_vec(out0))
    out = []
    if c.s == c.d_v:
        out.append(
            _mistake(
                "v_transposed",
                "output",
                _("V transposed"),
                _("you multiplied the weights by Vᵀ: each weight met a column of V instead of a value row"),
                fix,
                lambda x: np.matmul(x, np.swapaxes(r.v, -1, -2)),
            )
        )
    if c.t == c.s:
        out.append(
            _mistake(
                "weights_transposed",
                "output",
                _("weights transposed"),
                _("you multiplied weightsᵀ · V, using the weights of key i instead of query i's row"),
                fix,
                lambda x: np.matmul(np.swapaxes(x, -1, -2), r.v),
            )
        )
    if c.t == c.s == c.d_v:
        out.append(
            _mistake(
                "v_on_the_left",
                "output",
                _("V on the wrong side"),
                _("you multiplied V · weights instead of weights · V"),
                fix,
                lambda x: np.matmul(r.v, x),
            )
        )
    return out


def _variant_mistakes(c: _Chain) -> list[_Mistake]:
    """The variants of modern attention done the wrong way: the other window convention, JAX's window
    taken one-sided, the sink tokens, chunks, prefix or documents left out of the mask, the learned
    sinks forgotten."""
    r, spec = c.result, c.result.variants
    out = []

    def rule_without(**changes: Any) -> Step:
        causal = r.causal or spec.implies_causal
        return c.mask_step(c.user_allowed & c.rule_cells(causal, replace(spec, **changes)))

    fix = _("the rule of each variant, cell by cell: the window, prefix and documents as the problem states them")
    if spec.window is not None and spec.window_rule in ("hf", "gym"):
        other = "gym" if spec.window_rule == "hf" else "hf"
        kept = {"hf": _("W keys, itself included"), "gym": _("W + 1 keys, itself included")}
        mistake = _(
            "you used the {other} window rule ({other_rule}) instead of {rule} ({this_rule}): "
            "one key off at the window's edge"
        )
        words = {
            "other": other,
            "rule": spec.window_rule,
            "other_rule": kept[other],
            "this_rule": kept[spec.window_rule],
        }
        title = _("the other window convention")
        out.append(
            _mistake(
                "window_convention", "masked", title, mistake.format(**words), fix, rule_without(window_rule=other)
            )
        )
    if spec.window is not None and spec.window_rule == "jax" and spec.window_right:
        mistake = _("you kept only the keys on the left: JAX's window also sees the next {r} keys (j ≤ i + R)")
        title = _("window taken one-sided")
        said = mistake.format(r=spec.window_right)
        out.append(_mistake("window_one_sided", "masked", title, said, fix, rule_without(window_right=0)))
    if spec.sink_tokens is not None:
        mistake = _("you left out the sink tokens: the first {k} keys stay visible to every query beside the window")
        title = _("sink tokens left out")
        said = mistake.format(k=spec.sink_tokens)
        out.append(_mistake("sink_tokens_ignored", "masked", title, said, fix, rule_without(sink_tokens=None)))
    if spec.chunk is not None:
        mistake = _("you masked causally across the chunks: a query sees only the keys of its own chunk of {c}")
        title = _("chunks left out")
        said = mistake.format(c=spec.chunk)
        out.append(_mistake("chunks_ignored", "masked", title, said, fix, rule_without(chunk=None)))
    if spec.prefix is not None:
        mistake = _("you masked causally inside the prefix too: its first {p} keys are seen by every query")
        title = _("prefix left out")
        out.append(
            _mistake("prefix_ignored", "masked", title, mistake.format(p=spec.prefix), fix, rule_without(prefix=None))
        )
    if spec.documents is not None:
        mistake = _("you let queries see keys of other documents: a query sees its own document only")
        title = _("documents left out")
        out.append(_mistake("documents_ignored", "masked", title, mistake, fix, rule_without(documents=None)))
    if c.sinks is not None:
        mistake = _(
            "you left out the learned sink: its exp belongs in each row's sum, so the weights sum to less than 1"
        )
        fix_sink = _("weights = exp(x) ÷ (Σ exp(x) + exp(sink)), with the sink logit {sink}").format(
            sink=", ".join(_num(x) for x in spec.sinks or ())
        )
        title = _("learned sink left out")
        out.append(_mistake("sinks_ignored", "weights", title, mistake, fix_sink, c.softmax_step(sinks=False)))
    return out


def _position_mistakes(c: _Chain, problem: MultiHeadProblem, mh: MultiHead) -> list[_Mistake]:
    """Positions done the wrong way in multi-head attention: RoPE not applied, sin and cos swapped, ALiBi left out."""
    out = []
    if mh.rope is not None:
        group = mh.heads // mh.kv_heads
        q0, k0 = mh.rope.q_before, np.repeat(mh.rope.k_before, group, axis=0)
        mistake = _("you took the scores of q and k before the rotation: RoPE turns pair i of the token at m by m·θ_i")
        angle = mh.rope.q_angles[min(1, len(mh.rope.q_angles) - 1), 0]
        fix = _("rotate each pair (x, y) at position m by m·θ_i, θ_i = base^(−2i/d): (x·cos − y·sin, x·sin + y·cos), "
                "e.g. at m = 1, pair 1: cos {a} = {cos}, sin {a} = {sin}").format(
            a=_num(angle), cos=_num(np.cos(angle)), sin=_num(np.sin(angle)))  # fmt: skip
        step: Step = lambda _: np.matmul(q0, np.swapaxes(k0, -1, -2))  # noqa: E731
        out.append(_mistake("rope_ignored", "scores", _("RoPE not applied"), mistake, fix, step))
    bias, slopes = mh.alibi_bias, mh.alibi_slopes
    if bias is not None and slopes is not None:
        mistake = _("you left out ALiBi's bias: head h's scaled scores get −m_h·|i − j| before the mask")
        fix = _("add −m_h·|i − j| to each head's scaled scores, with the slopes {slopes}").format(
            slopes=", ".join(_num(x, 8) for x in slopes)
        )
        unbiased = c.additive - bias
        step = lambda x: np.where(c.user_allowed & c.rule, x + unbiased, -np.inf)  # noqa: E731
        out.append(_mistake("alibi_ignored", "masked", _("ALiBi left out"), mistake, fix, step))
    if mh.positional is not None:
        swapped = _swapped_encoding(problem, mh)
        if swapped is not None:
            mistake = _("you swapped sin and cos: PE(pos, 2i) = sin(pos/10000^(2i/d)), the odd columns take cos")
            fix = _("PE(pos, 2i) = sin(pos/10000^(2i/d)), PE(pos, 2i+1) = cos of the same angle; add it to x first")
            step = lambda _: swapped  # noqa: E731
            out.append(_mistake("sin_cos_swapped", "scores", _("sin and cos swapped"), mistake, fix, step))
    return out


def _swapped_encoding(problem: MultiHeadProblem, mh: MultiHead) -> Array | None:
    """The per-head scores when the sinusoidal encodings have sin and cos swapped (self-attention on x only)."""
    if mh.positional is None or "x" not in problem.matrices:
        return None
    x = mh.positional.q_before
    t, d = x.shape
    angle = np.arange(t)[:, None] / 10000.0 ** (np.arange(0, d, 2)[None, :] / d)
    wrong = np.zeros((t, d))
    wrong[:, 0::2], wrong[:, 1::2] = np.cos(angle), np.sin(angle[:, : d // 2])
    other = replace(problem, matrices={**problem.matrices, "x": x + wrong}, positional="none").solve()
    scores: Array = other.attention.scores
    return scores


def _rounding(decimals: tuple[int, ...], stage: str) -> Diagnosis:
    n = _(" or ").join(str(d) for d in decimals)
    if len(decimals) == 1:
        title = ngettext("rounded to {n} decimal", "rounded to {n} decimals", decimals[0])
        mistake = ngettext(
            "your numbers come out when every intermediate value (exp values too) is rounded to {n} decimal",
            "your numbers come out when every intermediate value (exp values too) is rounded to {n} decimals",
            decimals[0],
        )
    else:  # "2 or 3 decimals": the last number decides the form, as in Russian
        title = ngettext("rounded to {list} decimals", "rounded to {list} decimals", decimals[-1])
        mistake = ngettext(
            "your numbers come out when every intermediate value (exp values too) is rounded to {list} decimals",
            "your numbers come out when every intermediate value (exp values too) is rounded to {list} decimals",
            decimals[-1],
        )
    return Diagnosis(
        key="rounding",
        stage=stage,
        title=title.format(n=n, list=n),
        mistake=mistake.format(n=n, list=n),
        fix=_(
            "keep at least 4 decimals in every intermediate value and round only the final answer: "
            "rounding errors grow through exp and the sums"
        ),
        decimals=decimals,
    )


__all__ = ["DEFAULT_TOL", "MISTAKE_KEYS", "CheckReport", "Diagnosis", "StageCheck", "check", "tolerance_text"]
