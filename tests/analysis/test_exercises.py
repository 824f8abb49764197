"""Generated exercises: reproducible numbers, the hand-friendly rules, keys equal to an independent
oracle (PyTorch's scaled_dot_product_attention), and `check` grading the key's answers correct and the
mistake each topic trains as that mistake.

CI runs a fixed set of seeds (SEEDS_PER_LEVEL per topic and level); `pytest --slow` runs many more."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from attncli.analysis.exercises import (
    ASKED,
    LEVELS,
    MISTAKE_OF,
    TOPICS,
    Rng,
    generate,
    hand_stages,
    make_exercise,
    rules_broken,
)
from attncli.analysis.grading import MISTAKE_KEYS, check
from attncli.errors import InputError

from conftest import Golden

SLOW = os.environ.get("ATTN_FUZZ") == "slow"
SEEDS_PER_LEVEL = 2000 if SLOW else 100  # × 3 levels: 300 exercises per topic in CI, 6000 with --slow
GRADED_PER_LEVEL = 2000 if SLOW else 15
torch.set_num_threads(1)  # tiny matrices: threads only cost time
SEEDS = [Rng(2026, i).below(10**9) for i in range(SEEDS_PER_LEVEL)]


def test_splitmix64_is_the_published_generator() -> None:
    """From state 0, SplitMix64 gives these numbers (Vigna's reference splitmix64.c)."""
    rng = Rng()
    rng.state = 0
    assert [rng.next() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_below_is_uniform_and_in_range() -> None:
    rng = Rng(1)
    draws = [rng.below(3) for _ in range(3000)]
    assert set(draws) == {0, 1, 2}
    assert all(abs(draws.count(n) - 1000) < 120 for n in range(3))


def test_same_seed_same_exercises_whatever_the_count() -> None:
    five = generate("causal", count=5, seed=7, level=2)
    three = generate("causal", count=3, seed=7, level=2)
    for a, b in zip(five, three, strict=False):
        assert a.document(key=True) == b.document(key=True)
    assert generate("causal", count=3, seed=8, level=2)[0].document() != three[0].document()


def test_a_seed_gives_the_same_numbers_on_every_machine(golden: Golden) -> None:
    """The numbers depend on attncli's own generator only: a sheet fixed here must never change."""
    from attncli.serialize.strict_json import dumps

    docs = [e.document(key=True) for topic in TOPICS for e in generate(topic, count=2, seed=7, level=2)]
    golden("exercises-seed-7", dumps(docs) + "\n")


def _sdpa(exercise) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    p = exercise.problem
    q, k, v = (torch.tensor(m, dtype=torch.float64) for m in (p.q, p.k, p.v))
    mask = None if p.mask is None else torch.tensor(p.mask)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=p.causal)
    scores = q @ k.T / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    if p.causal:
        scores = scores.masked_fill(~torch.ones_like(scores, dtype=torch.bool).tril(), float("-inf"))
    return torch.softmax(scores, dim=-1).numpy(), out.numpy()


@pytest.mark.parametrize("topic", TOPICS)
def test_every_key_equals_the_oracle_and_keeps_the_rules(topic: str) -> None:
    for level in LEVELS:
        for seed in SEEDS:
            e = make_exercise(topic, level, seed, 1)
            assert rules_broken(topic, level, e.problem) == []
            weights, output = _sdpa(e)
            np.testing.assert_allclose(e.result.weights, weights, atol=1e-12)
            np.testing.assert_allclose(e.result.output, output, atol=1e-12)
            np.testing.assert_allclose(e.result.scores, e.problem.q @ e.problem.k.T, atol=1e-12)
            answers = e.answers()
            assert list(answers) == list(ASKED[topic])
            for stage, value in answers.items():
                np.testing.assert_allclose(value, np.round(getattr(e.result, stage), 4))


def _hand_friendly(topic: str, level: int, e) -> None:  # type: ignore[no-untyped-def]
    """The rules, restated from the documentation, on one exercise."""
    p, h = e.problem, hand_stages(e.problem)
    inputs = np.concatenate([p.q.ravel(), p.k.ravel(), p.v.ravel()])
    assert np.array_equal(inputs, np.round(inputs, 0 if level < 3 else 1))
    assert np.abs(inputs).max() <= 2
    if topic != "dot":
        assert p.q.shape[1] == 4 and e.result.scale == 0.5
    logits = h["logits"]
    assert np.isfinite(logits).any(axis=1).all()  # no fully masked row
    for row in logits:
        seen = row[np.isfinite(row)]
        if topic not in ("dot", "scaling") and len(seen) > 1:
            assert seen.max() > seen.min()  # not all equal
            assert seen.max() - seen.min() <= 3
            if topic == "softmax" and level == 1:
                assert np.array_equal(seen.max() - seen, np.round(seen.max() - seen))
    for m in (p.q, p.k, p.v):
        assert len({tuple(row) for row in m.tolist()}) == len(m)  # no two rows the same
    if topic == "cross":
        assert p.q.shape[0] != p.k.shape[0]
    if topic == "padding":
        assert p.mask is not None and p.mask.dtype == bool and not p.mask.all()


@pytest.mark.parametrize("topic", TOPICS)
def test_hand_friendly_rules_hold(topic: str) -> None:
    for level in LEVELS:
        for seed in SEEDS:
            _hand_friendly(topic, level, make_exercise(topic, level, seed, 2))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _mistaken(topic: str, e) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The answers of a student who makes the topic's catalogued mistake (worked out here, by hand)."""
    p = e.problem
    scores = p.q @ p.k.T
    scaled = scores / 2
    allowed = np.isfinite(hand_stages(p)["logits"])
    mistake = MISTAKE_OF[topic]
    if mistake == "q_k_swapped":
        scores = p.k @ p.q.T
    if mistake == "no_scaling":
        scaled = scores
    masked = scaled if mistake == "mask_ignored" else np.where(allowed, scaled, -np.inf)
    weights = np.exp(masked) if mistake == "exp_not_normalised" else _softmax(masked)
    stages = {"scores": scores, "scaled": scaled, "masked": masked, "weights": weights, "output": weights @ p.v}
    return {stage: np.round(stages[stage], 4) for stage in ASKED[topic]}


@pytest.mark.parametrize("topic", TOPICS)
def test_check_grades_the_key_correct_and_the_mistake_as_that_mistake(topic: str) -> None:
    assert MISTAKE_OF[topic] in MISTAKE_KEYS
    for level in LEVELS:
        for seed in SEEDS[:GRADED_PER_LEVEL]:
            e = make_exercise(topic, level, seed, 1)
            assert check(e.problem, e.answers()).passed
            report = check(e.problem, _mistaken(topic, e))
            assert not report.passed
            wrong = next(s for s in report.stages if s.verdict == "wrong")
            assert MISTAKE_OF[topic] in [d.key for d in wrong.diagnoses], (topic, level, seed)
            assert all(s.verdict != "wrong" for s in report.stages if s is not wrong)  # counted once


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"topic": "rope"}, "topic"),
        ({"topic": "dot", "level": 4}, "level"),
        ({"topic": "dot", "count": 0}, "count"),
        ({"topic": "dot", "count": 1001}, "count"),
        ({"topic": "dot", "seed": -1}, "seed"),
    ],
)
def test_bad_requests_name_the_argument(kwargs: dict, argument: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError) as info:
        generate(**kwargs)
    assert info.value.argument == argument
