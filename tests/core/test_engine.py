"""The engine on hand-worked examples, edge cases and its own invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attncli import NumericError, ShapeError, attention, causal_allowed


def test_one_query_two_keys_by_hand() -> None:
    # q = [1, 0]; k1 = [0.5, 0.5], k2 = [0.3, 0.7] -> scores 0.5 and 0.3; scale 1/√2.
    r = attention([[1, 0]], [[0.5, 0.5], [0.3, 0.7]], [[1, 0], [0.5, 0.5]])
    assert r.scores.tolist() == [[0.5, 0.3]]
    assert r.scale == pytest.approx(1 / math.sqrt(2), abs=0, rel=1e-15)
    a, b = 0.5 / math.sqrt(2), 0.3 / math.sqrt(2)
    w1 = math.exp(a) / (math.exp(a) + math.exp(b))
    assert r.weights[0, 0] == pytest.approx(w1, rel=1e-14)
    assert r.output[0].tolist() == pytest.approx([w1 + 0.5 * (1 - w1), 0.5 * (1 - w1)], rel=1e-14)
    assert r.masked is None
    assert r.row_max[0, 0] == pytest.approx(a)
    assert r.shifted[0].tolist() == pytest.approx([0.0, b - a])


def test_identity_weights_are_e_over_e_plus_one_after_scaling() -> None:
    r = attention(np.eye(2), np.eye(2), np.eye(2))
    x = math.exp(1 / math.sqrt(2))
    np.testing.assert_allclose(r.weights, [[x / (x + 1), 1 / (x + 1)], [1 / (x + 1), x / (x + 1)]], rtol=1e-14)


def test_given_scale_replaces_the_default() -> None:
    r = attention([[2.0, 0.0]], [[1.0, 1.0]], [[3.0]], scale=0.5)
    assert r.scaled.tolist() == [[1.0]]
    assert not r.scale_is_default


def test_causal_top_left_and_bottom_right() -> None:
    assert causal_allowed(2, 4, "top-left").tolist() == [[True, False, False, False], [True, True, False, False]]
    assert causal_allowed(2, 4, "bottom-right").tolist() == [[True, True, True, False], [True, True, True, True]]
    r = attention(np.ones((3, 2)), np.ones((3, 2)), np.arange(6.0).reshape(3, 2), causal=True)
    np.testing.assert_allclose(r.weights, [[1, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)


def test_boolean_mask_and_causal_combine() -> None:
    mask = [[True, False, True], [True, False, True], [True, False, True]]
    r = attention(np.ones((3, 2)), np.ones((3, 2)), np.eye(3), mask=mask, causal=True)
    assert r.allowed is not None
    assert r.allowed.tolist() == [[True, False, False], [True, False, False], [True, False, True]]
    np.testing.assert_allclose(r.weights, [[1, 0, 0], [1, 0, 0], [0.5, 0, 0.5]], rtol=1e-15)


def test_additive_mask_is_added_to_the_scaled_scores() -> None:
    r = attention([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], np.eye(2), mask=[[0.0, -np.inf]], scale=1.0)
    assert r.masked is not None
    assert r.masked.tolist() == [[1.0, -np.inf]]
    assert r.weights.tolist() == [[1.0, 0.0]]
    r = attention([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], np.eye(2), mask=[[0.0, 1.0]], scale=1.0)
    assert r.weights[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("policy", "expected"), [("zero", [0.0, 0.0]), ("uniform", [0.5, 0.5]), ("nan", [math.nan, math.nan])]
)
def test_fully_masked_row_policies(policy: str, expected: list[float]) -> None:
    mask = [[True, True], [False, False]]
    r = attention(np.eye(2), np.eye(2), [[1.0, 2.0], [3.0, 4.0]], mask=mask, empty_row=policy)  # type: ignore[arg-type]
    assert r.empty_rows == ((1,),)
    np.testing.assert_array_equal(r.weights[1], expected)
    assert np.isfinite(r.weights[0]).all()
    assert r.exp[1].tolist() == [0.0, 0.0]  # not NaN: the row is shifted by 0, not by −∞
    if policy == "uniform":
        assert r.output[1].tolist() == [2.0, 3.0]


def test_softmax_is_stable_for_huge_scores() -> None:
    r = attention([[100.0]], [[100.0], [99.0], [-100.0]], np.eye(3), scale=1.0)  # scores 1e4, 9900, -1e4
    e = math.exp(-100)
    assert np.isfinite(r.weights).all()
    assert r.weights[0].tolist() == pytest.approx([1 / (1 + e), e / (1 + e), 0.0], rel=1e-15, abs=1e-300)


def test_float32_computes_in_float32() -> None:
    r = attention(np.eye(2), np.eye(2), np.eye(2), dtype="float32")
    assert r.weights.dtype == np.float32 and r.output.dtype == np.float32
    assert r.dtype == "float32"


def test_leading_dimensions_broadcast() -> None:
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(3, 6, 5)), rng.normal(size=(1, 1, 6, 2))
    r = attention(q, k, v, causal=True, causal_align="bottom-right")
    assert r.weights.shape == (2, 3, 4, 6) and r.output.shape == (2, 3, 4, 2)
    single = attention(q[1, 2], k[2], v[0, 0], causal=True, causal_align="bottom-right")
    np.testing.assert_allclose(r.output[1, 2], single.output, rtol=0, atol=1e-15)


def test_result_is_frozen_and_does_not_alias_inputs() -> None:
    q = np.eye(2)
    r = attention(q, q, q)
    q[0, 0] = 5.0
    assert r.q[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        r.weights[0, 0] = 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"k": [[1.0, 2.0, 3.0]]}, ShapeError, "k: q has d_k = 2 columns but k has 3"),
        ({"v": [[1.0], [2.0]]}, ShapeError, "v: k has 1 row (keys) but v has 2"),
        ({"q": [[math.nan, 0.0]]}, NumericError, "q: must be finite: row 1, column 1 is nan"),
        ({"q": [[]]}, ShapeError, "q: is empty"),
        ({"mask": [[True, False, True]]}, ShapeError, "mask: shape (1, 3) does not broadcast"),
        ({"mask": [[math.nan]]}, NumericError, "mask: may hold finite numbers or −∞ only"),
        ({"scale": 0.0}, NumericError, "scale: must be a positive finite number"),
        ({"scale": math.inf}, NumericError, "scale: must be a positive finite number"),
        ({"q": [[1e200, 1e200]], "k": [[1e200, 1e200]]}, NumericError, "q/k: the scaled scores overflow float64"),
    ],
)
def test_bad_arguments_raise_named_errors(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    args: dict[str, object] = {"q": [[1.0, 0.0]], "k": [[1.0, 0.0]], "v": [[1.0]]}
    args.update(kwargs)
    with pytest.raises(error) as info:
        attention(args.pop("q"), args.pop("k"), args.pop("v"), **args)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
