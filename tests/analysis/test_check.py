"""attncli.analysis.grading: verdicts, partial credit and the diagnosis of every catalogued mistake.

The wrong answers here are made by a plain NumPy "student" below that makes each mistake itself;
it shares no code with attncli.analysis.grading, so a diagnosis is only found if check really recognises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from attncli import Problem, check
from attncli.analysis.grading import DEFAULT_TOL, MISTAKE_KEYS, tolerance_text
from attncli.errors import InputError, NumericError, ShapeError

STAGES = ("scores", "scaled", "masked", "weights", "output")
EXAMPLES = settings(max_examples=25, deadline=None)


# --- a student who computes attention by hand, optionally making one mistake ------------------------


@dataclass(frozen=True)
class Homework:
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    mask: np.ndarray | None = None  # boolean, True = attend
    causal: bool = False
    align: str = "top-left"
    scale: float | None = None

    @property
    def problem(self) -> Problem:
        return Problem(
            q=self.q, k=self.k, v=self.v, mask=self.mask, causal=self.causal, causal_align=self.align, scale=self.scale
        )

    @property
    def masks(self) -> bool:
        return self.mask is not None or self.causal


def visible(t: int, s: int, align: str, flipped: bool = False) -> np.ndarray:
    """The causal rule: query i sees key j when j ≤ i (+ S − T for bottom-right); flipped: j ≥ i."""
    i, j = np.indices((t, s))
    offset = 0 if align == "top-left" else s - t
    return j >= i + offset if flipped else j <= i + offset


def softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x)  # a hidden cell (−∞) gives 0
    total = e.sum(axis=1, keepdims=True)
    return e / np.where(total == 0, 1, total)


@np.errstate(all="ignore")  # a mistaken x ÷ Σx may divide by 0, as it would on paper
def solve_by_hand(
    hw: Homework, mistake: str | None = None, wrong_dim: str = "d_v", decimals: int | None = None
) -> dict[str, np.ndarray]:
    """Every stage as a student computes it, making `mistake` (a MISTAKE_KEYS name) if given."""

    def keep(x: np.ndarray) -> np.ndarray:
        return x if decimals is None else np.round(x, decimals)

    q, k, v = hw.q, hw.k, hw.v
    t, d = q.shape
    s, d_v = k.shape[0], v.shape[1]
    if mistake == "query_not_given":  # the first query replaced by a one-hot [1, 0, …]
        q = q.copy()
        q[0] = np.eye(d)[0]
    if mistake == "k_not_transposed":
        scores = keep(q @ k)
    elif mistake == "q_k_swapped":
        scores = keep(k @ q.T)
    else:
        scores = keep(q @ k.T)

    right = hw.scale if hw.scale is not None else 1 / np.sqrt(d)
    factor = {
        "no_scaling": 1.0,
        "scaled_by_d": 1 / d,
        "multiplied_by_sqrt_d": np.sqrt(d),
        "sqrt_of_wrong_dimension": 1 / np.sqrt({"d_v": d_v, "T": t, "S": s}[wrong_dim]),
        "default_scale_not_given": 1 / np.sqrt(d),
        "divided_by_scale": 1 / right,
    }.get(mistake or "", right)
    scaled = keep(scores * factor)

    stages = {"scores": scores, "scaled": scaled}
    logits = scaled
    if hw.masks:
        user = np.ones((t, s), bool) if hw.mask is None else hw.mask
        rule = visible(t, s, hw.align) if hw.causal else np.ones((t, s), bool)
        if mistake == "mask_inverted":
            user = ~user
        if mistake == "causal_flipped":
            rule = visible(t, s, hw.align, flipped=True)
        if mistake == "causal_misaligned":
            rule = visible(t, s, "bottom-right" if hw.align == "top-left" else "top-left")
        hidden_value = 0.0 if mistake == "masked_as_zero" else -np.inf
        logits = scaled if mistake == "mask_ignored" else np.where(user & rule, scaled, hidden_value)
        stages["masked"] = logits

    if mistake == "softmax_over_columns":
        weights = softmax_rows(logits.T).T
    elif mistake == "exp_not_normalised":
        weights = np.exp(logits)
    elif mistake == "normalised_without_exp":
        finite = np.where(np.isinf(logits), 0, logits)
        weights = finite / finite.sum(axis=1, keepdims=True)
    elif mistake == "not_a_softmax":  # weights guessed by eye: ranks of the scores, normalised to 1
        ranks = np.argsort(np.argsort(logits, axis=1), axis=1) + 1.0
        weights = ranks / ranks.sum(axis=1, keepdims=True)
    elif decimals is not None:
        e = np.round(np.exp(logits), decimals)  # the exp values are written down rounded too
        weights = e / e.sum(axis=1, keepdims=True)
    else:
        weights = softmax_rows(logits)
    stages["weights"] = keep(weights)

    w = stages["weights"]
    if mistake == "v_transposed":
        stages["output"] = keep(w @ v.T)
    elif mistake == "weights_transposed":
        stages["output"] = keep(w.T @ v)
    elif mistake == "v_on_the_left":
        stages["output"] = keep(v @ w)
    else:
        stages["output"] = keep(w @ v)
    return stages


# --- random problems whose shapes allow a given mistake ----------------------------------------------

numbers = st.integers(-15, 15).map(lambda n: n / 10)  # one decimal, as in homework


def matrix(rows: int, cols: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.lists(numbers, min_size=cols, max_size=cols), min_size=rows, max_size=rows).map(np.array)


@st.composite
def homework(
    draw: Any,
    *,
    t: int | None = None,
    s: int | None = None,
    d_k: int | None = None,
    d_v: int | None = None,
    same: tuple[str, ...] = (),
    mask: bool = False,
    causal: bool = False,
    align: str = "top-left",
    scale: bool = False,
) -> Homework:
    """A problem of 1–3 queries and keys and widths 1–3; the dimensions in `same` are made equal."""
    dims = {"t": t, "s": s, "d_k": d_k, "d_v": d_v}
    for name in dims:
        if dims[name] is None:
            dims[name] = draw(st.integers(1, 3))
    if same:
        n = dims[same[0]]
        for name in same:
            dims[name] = n
    nt, ns, nd, nv = (int(dims[n] or 1) for n in ("t", "s", "d_k", "d_v"))
    boolean = None
    if mask:
        boolean = draw(
            st.lists(st.lists(st.booleans(), min_size=ns, max_size=ns), min_size=nt, max_size=nt).map(np.array)
        )
        assume(bool(boolean.any(axis=1).all()))  # no fully masked query row
    return Homework(
        q=draw(matrix(nt, nd)),
        k=draw(matrix(ns, nd)),
        v=draw(matrix(ns, nv)),
        mask=boolean,
        causal=causal,
        align=align,
        scale=draw(st.sampled_from([0.25, 0.5, 2.0])) if scale else None,
    )


@np.errstate(invalid="ignore")
def far(a: np.ndarray, b: np.ndarray, margin: float) -> bool:
    """Some cell differs clearly (not just beyond the tolerance) between a and b."""
    if a.shape != b.shape:
        return True
    both = np.isfinite(a) & np.isfinite(b)
    if (np.isfinite(a) != np.isfinite(b)).any():
        return True
    return bool((np.abs(a - b)[both] > margin * np.maximum(1, np.abs(b[both]))).any())


def assert_named(
    hw: Homework, key: str, wrong: dict[str, np.ndarray], chosen: list[str], tol: float = DEFAULT_TOL
) -> None:
    """Claim the `chosen` stages of `wrong`; check must name `key` at the first wrong claimed stage."""
    right = solve_by_hand(hw)
    first = next((n for n in STAGES if n in wrong and far(wrong[n], right[n], tol / 2)), None)
    assume(first is not None)
    order = [n for n in STAGES if n in chosen and n in wrong]
    # What a student can write: numbers, and −∞ only for hidden cells of the masked stage.
    assume(all(np.isfinite(wrong[n]).all() or (n == "masked" and not np.isnan(wrong[n]).any()) for n in order))
    # Stages before the mistake shows are correct; every later claimed stage must be clearly wrong,
    # so that the first wrong claimed stage is not one that only just differs.
    assume(all(far(wrong[n], right[n], 3 * tol) for n in order if STAGES.index(n) >= STAGES.index(first)))
    origin = next((n for n in order if STAGES.index(n) >= STAGES.index(first)), None)
    assume(origin is not None)
    claims = {n: wrong[n] if tol < DEFAULT_TOL else np.round(wrong[n], 3) for n in order}  # as written down
    report = check(hw.problem, claims, tol=tol)
    assert not report.passed
    assert report.first_wrong_stage == origin
    stage = next(s for s in report.stages if s.stage == origin)
    assert stage.verdict == "wrong"
    keys = [d.key for d in stage.diagnoses]
    assert key in keys, f"{key} not named at {origin}; got {keys or stage.unexplained}"
    for d in stage.diagnoses:
        assert d.mistake and d.fix and d.title


claimed_stages = st.lists(st.sampled_from(STAGES), min_size=1, unique=True)

# Every catalogued mistake, with problems whose shapes make it possible and visible.
CASES: dict[str, st.SearchStrategy[Homework]] = {
    "k_not_transposed": homework(same=("s", "d_k")),
    "q_k_swapped": homework(t=3, same=("t", "s")),
    "no_scaling": homework(d_k=2) | homework(d_k=3, scale=True),
    "scaled_by_d": homework(d_k=2) | homework(d_k=3),
    "multiplied_by_sqrt_d": homework(d_k=2) | homework(d_k=3),
    "default_scale_not_given": homework(d_k=2, scale=True),
    "divided_by_scale": homework(scale=True),
    "mask_ignored": homework(mask=True) | homework(t=3, s=3, causal=True),
    "masked_as_zero": homework(mask=True) | homework(t=3, s=3, causal=True),
    "mask_inverted": homework(mask=True),
    "causal_flipped": homework(t=3, s=3, causal=True) | homework(t=2, s=3, causal=True, align="bottom-right"),
    "causal_misaligned": homework(t=2, s=3, causal=True) | homework(t=1, s=3, causal=True, align="bottom-right"),
    "softmax_over_columns": homework(t=3) | homework(t=2, mask=True),
    "exp_not_normalised": homework() | homework(t=3, s=3, causal=True),
    "normalised_without_exp": homework() | homework(mask=True),
    "v_transposed": homework(same=("s", "d_v")),
    "weights_transposed": homework(same=("t", "s")),
    "v_on_the_left": homework(same=("t", "s", "d_v")),
    "query_not_given": homework(d_k=2) | homework(d_k=3, t=1),
}


def test_every_catalogued_mistake_has_a_test() -> None:
    from attncli.analysis.exercises import MISTAKE_OF

    # The mistakes of the variants and of positions are made by the exercises that train them
    # (tests/analysis/test_exercises.py grades each topic's mistake as that mistake); capping before the
    # scale by tests/cli/test_check_variants.py.
    trained = set(MISTAKE_OF.values()) - set(CASES)
    elsewhere = {"sqrt_of_wrong_dimension", "rounding", "not_a_softmax", "softcap_before_scaling"}
    assert set(CASES) | elsewhere | trained == set(MISTAKE_KEYS)


@EXAMPLES
@given(hw=homework(s=3, d_k=2), output=st.booleans())
def test_weights_guessed_by_eye_are_not_a_softmax(hw: Homework, output: bool) -> None:
    """Weights that only rank the scores (1/6, 2/6, 3/6) sum to 1 but are no softmax: named where they
    are seen, in the weights (claimed scores of their own would explain them)."""
    wrong = solve_by_hand(hw, "not_a_softmax")
    x = np.sort(hw.q @ hw.k.T, axis=1)
    # Not a softmax of any multiple of the scores either (that is a scaling mistake): the log-weight
    # steps ln 2, ln 1.5 are not in the ratio of the score steps.
    steps = np.diff(x, axis=1)
    assume(bool((steps > 0.05).all()))
    assume(bool((np.abs(steps[:, 0] / steps[:, 1] - np.log(2) / np.log(1.5)) > 0.3).any()))
    # Nor, by coincidence, the softmax a one-hot query gives (that is "the query used is not the one given")
    for e in np.eye(hw.q.shape[1]):
        z = e @ hw.k.T / np.sqrt(hw.q.shape[1])
        assume(not np.allclose(np.exp(z) / np.exp(z).sum(), wrong["weights"][0], atol=0.011))
    chosen = ["weights", "output"] if output else ["weights"]
    assert_named(hw, "not_a_softmax", wrong, chosen)


@pytest.mark.parametrize("key", sorted(CASES))
@EXAMPLES
@given(data=st.data())
def test_a_made_mistake_is_named(key: str, data: st.DataObject) -> None:
    hw = data.draw(CASES[key], label="problem")
    wrong = solve_by_hand(hw, key)
    assume(np.abs(wrong["weights"]).max() < 50)  # x ÷ Σx with Σx near 0 is not a homework answer
    chosen = data.draw(claimed_stages, label="claimed stages")
    assert_named(hw, key, wrong, chosen)


@pytest.mark.parametrize("dim", ["d_v", "T", "S"])
@EXAMPLES
@given(data=st.data())
def test_scaling_by_the_root_of_the_wrong_dimension_is_named(dim: str, data: st.DataObject) -> None:
    hw = data.draw(homework(d_k=1, t=3, s=2, d_v=3) if dim != "S" else homework(d_k=1, s=3), label="problem")
    chosen = data.draw(claimed_stages, label="claimed stages")
    assert_named(hw, "sqrt_of_wrong_dimension", solve_by_hand(hw, "sqrt_of_wrong_dimension", wrong_dim=dim), chosen)


# Rounding to 2 or 3 decimals is within the default tolerance; a teacher who wants more decimals
# sets a tighter one, and then it is named.
@pytest.mark.parametrize(("decimals", "tol"), [(0, DEFAULT_TOL), (1, DEFAULT_TOL), (2, 0.001), (3, 0.0001)])
@EXAMPLES
@given(data=st.data())
def test_rounding_intermediate_values_is_named_with_its_decimals(
    decimals: int, tol: float, data: st.DataObject
) -> None:
    hw = data.draw(homework(t=2, s=3, d_k=2), label="problem")
    wrong = solve_by_hand(hw, decimals=decimals)
    chosen = data.draw(claimed_stages, label="claimed stages")
    assert_named(hw, "rounding", wrong, chosen, tol)
    report = check(hw.problem, {n: wrong[n] for n in STAGES if n in chosen and n in wrong}, tol=tol)
    rounding = next(d for d in report.diagnoses if d.key == "rounding")
    assert decimals in rounding.decimals
    assert str(decimals) in rounding.title and "rounded to" in rounding.title


@EXAMPLES
@given(
    hw=homework() | homework(mask=True) | homework(causal=True, t=3, s=3) | homework(scale=True),
    chosen=claimed_stages,
    decimals=st.sampled_from([2, 3, 6]),
)
def test_a_correct_answer_passes_and_is_never_diagnosed(hw: Homework, chosen: list[str], decimals: int) -> None:
    right = solve_by_hand(hw)
    claims = {n: np.round(right[n], decimals) for n in chosen if n in right}
    assume(claims)
    report = check(hw.problem, claims)
    assert report.passed, [(s.stage, s.max_difference) for s in report.stages]
    assert report.diagnoses == ()
    assert all(s.verdict == "correct" and s.unexplained is None for s in report.stages)
    assert report.first_wrong_stage is None and report.credited == len(claims)


# --- partial credit: an error counts once, where it is made ------------------------------------------

ONE_QUERY = Homework(q=np.array([[1.0, 0]]), k=np.array([[0.5, 0.5], [0.3, 0.7]]), v=np.array([[1.0, 0], [0.5, 0.5]]))


def verdicts(report: Any) -> dict[str, str]:
    return {s.stage: s.verdict for s in report.stages}


def test_later_stages_that_follow_from_a_wrong_stage_are_consistent() -> None:
    # K not transposed: scores [0.5, 0.5]; the rest is done right from there.
    report = check(ONE_QUERY.problem, {"scores": [[0.5, 0.5]], "weights": [[0.5, 0.5]], "output": [[0.75, 0.25]]})
    assert verdicts(report) == {"scores": "wrong", "weights": "consistent", "output": "consistent"}
    assert report.first_wrong_stage == "scores" and not report.passed
    assert report.credited == 2
    assert [d.key for d in report.diagnoses] == ["k_not_transposed"]  # counted once, at the scores
    weights = report.stages[1]
    assert weights.previous == "scores"
    np.testing.assert_allclose(weights.implied, [[0.5, 0.5]])


def test_a_stage_inconsistent_with_the_students_own_numbers_is_wrong_again() -> None:
    # Weights from the wrong scores, but the output is neither correct nor what those weights give.
    report = check(ONE_QUERY.problem, {"scores": [[0.5, 0.5]], "weights": [[0.5, 0.5]], "output": [[0.9, 0.1]]})
    assert verdicts(report) == {"scores": "wrong", "weights": "consistent", "output": "wrong"}
    assert report.credited == 1
    output = report.stages[2]
    assert output.diagnoses == ()
    assert output.unexplained is not None
    assert "none of the known mistakes explains this; the first wrong cell is row 1, column 1" in output.unexplained
    assert "you wrote 0.9, the correct value is 0.7676 (your weights give 0.75)" in output.unexplained


def test_a_correct_stage_after_a_wrong_one_is_correct() -> None:
    report = check(ONE_QUERY.problem, {"weights": [[0.5, 0.5]], "output": [[0.77, 0.23]]})
    assert verdicts(report) == {"weights": "wrong", "output": "correct"}
    assert report.credited == 1 and report.first_wrong_stage == "weights"


def test_a_small_error_that_grows_is_followed_not_counted_again() -> None:
    # Weights within a tolerance of ±0.01; V of ±100 turns their 0.009 into 1.74 in the output.
    hw = Homework(q=ONE_QUERY.q, k=ONE_QUERY.k, v=np.array([[100.0], [-100.0]]))
    report = check(hw.problem, {"weights": [[0.544, 0.456]], "output": [[8.8]]}, tol=DEFAULT_TOL)
    assert verdicts(report) == {"weights": "correct", "output": "consistent"}
    assert not report.passed and report.credited == 2 and report.diagnoses == ()


def test_two_independent_mistakes_are_each_named_where_they_are_made() -> None:
    # Q·K for the scores, then exp without dividing, applied to those scores: exp([0.5, 0.5] / √2).
    e = float(np.round(np.exp(0.5 / np.sqrt(2)), 4))
    report = check(ONE_QUERY.problem, {"scores": [[0.5, 0.5]], "weights": [[e, e]]})
    assert verdicts(report) == {"scores": "wrong", "weights": "wrong"}
    assert [d.key for d in report.stages[0].diagnoses] == ["k_not_transposed"]
    assert [d.key for d in report.stages[1].diagnoses] == ["exp_not_normalised"]


def test_every_mistake_that_reproduces_the_claim_is_reported() -> None:
    # d_k = 1 and a given scale of 0.5: leaving the scores unscaled and using 1/√d_k = 1 instead of
    # the given scale give the same numbers, so both are reported.
    hw = Homework(q=np.array([[1.0], [2.0]]), k=np.array([[1.0], [-1.0]]), v=np.eye(2), scale=0.5)
    report = check(hw.problem, {"scaled": [[1.0, -1.0], [2.0, -2.0]]})
    assert [d.key for d in report.diagnoses] == ["no_scaling", "default_scale_not_given"]


def test_the_tolerance_decides_what_matches() -> None:
    claims = {"weights": [[0.54, 0.46]]}  # 0.5353, 0.4647 written with 2 decimals
    assert check(ONE_QUERY.problem, claims).passed
    tight = check(ONE_QUERY.problem, claims, tol=0.001)
    assert not tight.passed and tight.tol == 0.001
    # A given tolerance is relative above 1: 3.02 for 3 is within 1%.
    hw = Homework(q=np.array([[3.0]]), k=np.array([[1.0]]), v=np.array([[1.0]]), scale=1.0)
    assert check(hw.problem, {"scores": [[3.02]]}, tol=DEFAULT_TOL).passed
    assert tolerance_text(DEFAULT_TOL) == "±0.01 per cell (±1% for values above 1)"


@pytest.mark.parametrize(
    ("claimed", "passes"),
    [
        (0.5334, True),  # written to 4 decimals, right to 4 decimals
        (0.5335, True),  # one unit off in the last decimal written
        (0.5337, True),  # three units off, but within 0.1% of the stage's largest value (0.5806)
        (0.5341, False),  # seven units off
        (0.533, True),
        (0.525, False),  # 3 decimals written, 8 units off: within 0.01, but not within the precision written
        (0.53, True),
        (0.5, False),  # one decimal: at most ±0.01 all the same
    ],
)
def test_the_default_tolerance_is_the_precision_written(claimed: float, passes: bool) -> None:
    """Hand-worked: the film output's first cell is 0.5334 (softmax([0.33, 0.34, 1.45] / √2) · V)."""
    report = check(FILM.problem, {"output": [[claimed, 0.5806]]})
    assert report.stages[0].matches[0, 0] == passes
    assert report.tol is None and "last decimal you wrote" in tolerance_text(None)


def test_the_default_tolerance_is_relative_to_the_stage() -> None:
    # Scores of about 300: 301 written as a whole number is within 1 (and 1% = 3 of 300 allows that).
    hw = Homework(q=np.array([[10.0, 20.0]]), k=np.array([[10.0, 10.0], [1.0, 0.0]]), v=np.eye(2))
    assert check(hw.problem, {"scores": [[301.0, 10.0]]}).passed
    assert not check(hw.problem, {"scores": [[302.0, 10.0]]}).passed
    # Never tighter than 0.1% of the stage's largest value: 12 decimals are not asked to be exact.
    assert check(hw.problem, {"scores": [[300.2000000001, 10.0]]}).passed


# The lecture notes' film example: «Этот фильм потрясающий» as 2-D embeddings, the query «потрясающий».
FILM = Homework(q=np.array([[0.9, 0.8]]), k=np.array([[0.1, 0.3], [0.2, 0.4], [0.9, 0.8]]),
                v=np.array([[0.1, 0.3], [0.2, 0.4], [0.9, 0.8]]))  # fmt: skip


def test_a_right_answer_from_wrong_weights_is_a_coincidence() -> None:
    """The notes' output [0.525, 0.575] follows from their wrong weights [0.25, 0.25, 0.5] and lies within
    ±0.01 of the correct [0.5334, 0.5806]: with --tol 0.01 it is close, but by coincidence."""
    claims = {"weights": [[0.25, 0.25, 0.5]], "output": [[0.525, 0.575]]}
    loose = check(FILM.problem, claims, tol=0.01)
    assert verdicts(loose) == {"weights": "wrong", "output": "correct"}
    assert loose.stages[1].coincidence and not loose.stages[0].coincidence and not loose.passed
    default = check(FILM.problem, claims)  # written to 3 decimals, 8 units off in the third
    assert verdicts(default) == {"weights": "wrong", "output": "consistent"}
    assert not default.stages[1].coincidence
    # Right weights, right output: no coincidence.
    right = check(FILM.problem, {"weights": [[0.2307, 0.2601, 0.5092]], "output": [[0.5334, 0.5806]]})
    assert right.passed and not any(s.coincidence for s in right.stages)


def test_the_notes_film_scores_used_a_one_hot_query() -> None:
    report = check(FILM.problem, {"scores": [[0.1, 0.2, 0.9]]})
    (d,) = report.diagnoses
    assert d.key == "query_not_given" and d.stage == "scores"
    assert d.mistake == "row 1 of your scores is what the query [1.0, 0.0] gives, not the given q1 = [0.9, 0.8]"
    assert "q1·k1 = 0.9×0.1 + 0.8×0.3 = 0.33" in d.fix


def test_the_notes_film_weights_are_not_a_softmax() -> None:
    report = check(FILM.problem, {"scores": [[0.1, 0.2, 0.9]], "weights": [[0.25, 0.25, 0.5]]})
    weights = report.stages[1]
    assert weights.verdict == "wrong" and [d.key for d in weights.diagnoses] == ["not_a_softmax"]
    # Their own scores 0.2 and 0.9, scaled by 1/√2: exp(0.6364 − 0.1414) = 1.64, not 0.5 ÷ 0.25.
    assert "w(k3) ÷ w(k2) must be exp(0.6364 − 0.1414) = 1.64; yours is 2.0" in weights.diagnoses[0].mistake
    assert "softmax of your scores" in weights.diagnoses[0].mistake


def test_a_softmax_of_other_numbers_is_not_called_not_a_softmax() -> None:
    # Unscaled: a softmax, of the wrong numbers; the catalogue names it, and not "not a softmax".
    s = FILM.q @ FILM.k.T
    w = np.exp(s) / np.exp(s).sum()
    report = check(FILM.problem, {"weights": np.round(w, 4)})
    keys = [d.key for d in report.diagnoses]
    assert "no_scaling" in keys and "not_a_softmax" not in keys


def test_masked_cells_must_be_minus_infinity() -> None:
    hw = Homework(q=np.eye(2), k=np.eye(2), v=np.eye(2), causal=True)
    right = solve_by_hand(hw)["masked"]
    assert check(hw.problem, {"masked": right}).passed
    report = check(hw.problem, {"masked": np.where(np.isinf(right), -1e9, right)})
    assert not report.passed and report.stages[0].max_difference == np.inf


def test_claims_follow_the_problem_document() -> None:
    problem = Problem(q=ONE_QUERY.q, k=ONE_QUERY.k, v=ONE_QUERY.v, expected={"output": np.array([[0.75, 0.25]])})
    report = check(problem)
    assert [d.key for d in report.diagnoses] == ["k_not_transposed"]


@pytest.mark.parametrize(
    ("claims", "error", "argument", "message"),
    [
        ({}, InputError, "expected", "no claimed values to check"),
        ({"weights": [[0.5, 0.5, 0.0]]}, ShapeError, "expected.weights", "has shape 1×3, but the weights"),
        ({"output": [[1.0], [2.0]]}, ShapeError, "expected.output", "(T×d_v: 1 query, 2 value columns)"),
        ({"masked": [[0.1, 0.2]]}, InputError, "expected.masked", "no mask and is not causal"),
        ({"scores": [[True, False]]}, InputError, "expected.scores", "holds true/false"),
        ({"scores": [[-np.inf, 0.0]]}, NumericError, "expected.scores", "only masked cells may be −∞"),
        ({"softmax": [[0.5, 0.5]]}, InputError, "expected", "unknown stage 'softmax'"),
    ],
)
def test_claims_that_do_not_fit_the_problem_are_errors(
    claims: dict[str, Any], error: type[Exception], argument: str, message: str
) -> None:
    with pytest.raises(error) as caught:
        check(ONE_QUERY.problem, claims)
    assert getattr(caught.value, "argument", None) == argument
    assert message in str(caught.value)


def test_a_row_not_claimed_is_not_graded() -> None:
    nan = float("nan")
    three = Homework(q=FILM.k, k=FILM.k, v=FILM.v)
    report = check(three.problem, {"weights": [[nan] * 3, [nan] * 3, [0.2307, 0.2601, 0.5092]]})
    assert report.passed and report.stages[0].max_difference < 0.001
    wrong = check(three.problem, {"weights": [[nan] * 3, [0.5, 0.2, 0.3], [0.2307, 0.2601, 0.5092]]})
    assert not wrong.passed and wrong.stages[0].first_wrong_cell == (1, 0)
    with pytest.raises(InputError, match="every row is null"):
        check(three.problem, {"weights": [[nan] * 3] * 3})
