"""The blocked (online-softmax) path equals the stage-keeping engine, on random inputs of every kind."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attncli.core.blocked as blocked
from attncli import attention
from attncli.core.attention import attention_output
from attncli.errors import NumericError


@st.composite
def cases(draw: st.DrawFn) -> dict[str, object]:
    t, s = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    d, dv = draw(st.integers(1, 9)), draw(st.integers(1, 5))
    lead = draw(st.sampled_from([(), (2,), (1, 3)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask_kind = draw(st.sampled_from([None, "bool", "additive"]))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((t, s)) > draw(st.sampled_from([0.2, 0.9]))
    elif mask_kind == "additive":
        mask = rng.normal(size=(*lead, t, s))
        mask[rng.random(mask.shape) > 0.8] = -np.inf
    return {
        "q": rng.normal(size=(*lead, t, d)) * 3,
        "k": rng.normal(size=(*lead, s, d)),
        "v": rng.normal(size=(*lead, s, dv)),
        "mask": mask,
        "causal": draw(st.booleans()),
        "causal_align": draw(st.sampled_from(["top-left", "bottom-right"])),
        "scale": draw(st.none() | st.floats(0.05, 2)),
        "empty_row": draw(st.sampled_from(["zero", "uniform", "nan"])),
        "block_q": draw(st.sampled_from([1, 7, 16, 256])),
        "block_k": draw(st.sampled_from([1, 5, 32, 1024])),
        "threads": draw(st.sampled_from([1, 2])),
    }


@settings(max_examples=150, deadline=None)
@given(cases())
def test_blocked_equals_stage_keeping_path_float64(case: dict[str, object]) -> None:
    blocks = {k: case.pop(k) for k in ("block_q", "block_k", "threads")}
    full = attention(**case)  # type: ignore[arg-type]
    fast = attention_output(**case, **blocks)  # type: ignore[arg-type]
    np.testing.assert_allclose(fast.output, full.output, rtol=0, atol=1e-12, equal_nan=True)
    assert fast.empty_rows == full.empty_rows


def test_float32_within_1e_5_and_large_enough_to_use_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    workers: list[int] = []
    inner = blocked._run_all

    def counting(items: Any, run: Any, n_threads: int, progress: Any) -> None:
        workers.append(n_threads)
        inner(items, run, n_threads, progress)

    monkeypatch.setattr(blocked, "_run_all", counting)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 800, 64), dtype=np.float32) for _ in range(3))  # H·T·S ≥ SERIAL_BELOW
    for causal in (False, True):
        full = attention(q, k, v, causal=causal, dtype="float32")
        fast = attention_output(q, k, v, causal=causal, dtype="float32", threads=2, block_q=128, block_k=256)
        assert fast.output.dtype == np.float32
        np.testing.assert_allclose(fast.output, full.output, rtol=0, atol=1e-5)
    assert workers == [2, 2]


def test_grouped_query_heads() -> None:
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(8, 40, 16)), rng.normal(size=(2, 40, 16)), rng.normal(size=(2, 40, 4))
    fast = attention_output(q, k, v, causal=True, block_q=16, block_k=8)
    full = attention(q, np.repeat(k, 4, axis=0), np.repeat(v, 4, axis=0), causal=True)
    np.testing.assert_allclose(fast.output, full.output, rtol=0, atol=1e-12)


def test_progress_is_reported_per_work_item() -> None:
    calls: list[tuple[int, int]] = []
    rng = np.random.default_rng(2)
    attention_output(
        rng.normal(size=(10, 4)),
        rng.normal(size=(10, 4)),
        rng.normal(size=(10, 4)),
        block_q=4,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_huge_scores_stay_finite() -> None:
    out = attention_output([[100.0]], [[100.0], [99.0], [-100.0]], np.eye(3), scale=1.0, block_k=1)
    full = attention([[100.0]], [[100.0], [99.0], [-100.0]], np.eye(3), scale=1.0)
    np.testing.assert_allclose(out.output, full.output, rtol=1e-15, atol=1e-300)


def test_bad_grouping_is_named() -> None:
    with pytest.raises(Exception, match="grouped heads need H divisible by G"):
        attention_output(np.ones((3, 2, 2)), np.ones((2, 2, 2)), np.ones((2, 2, 2)))


def test_rows_masked_in_early_blocks_and_very_negative_later() -> None:
    # Key block 1 is fully hidden (−∞); block 2 holds scores near −1e9 (a common "soft" mask value).
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(4, 2)), rng.normal(size=(8, 2)), rng.normal(size=(8, 3))
    mask = np.full((4, 8), -1e9)
    mask[:, :4] = -np.inf
    fast = attention_output(q, k, v, mask=mask, block_k=4)
    full = attention(q, k, v, mask=mask)
    np.testing.assert_allclose(fast.output, full.output, rtol=0, atol=1e-12)
    assert not fast.empty_rows


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_callers_arrays_are_read_not_copied_and_never_written(dtype: str) -> None:
    # attention_output checks q, k and v without a private copy; it must leave them as they were,
    # give the same output for a strided view as for its contiguous copy, and own its output
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((3, 90, 16)).astype(dtype) for _ in range(3))
    before = [a.copy() for a in (q, k, v)]
    views = [a[:, ::2, ::2] for a in (q, k, v)]  # strided, in the dtype: used as they are
    out = attention_output(*views, causal=True, dtype=dtype, block_q=8, block_k=16, threads=2).output
    again = attention_output(*(np.ascontiguousarray(a) for a in views), causal=True, dtype=dtype, block_q=8, block_k=16)
    # (equal to rounding: a strided K's norms may be summed in another order, and so the bound c)
    np.testing.assert_allclose(out, again.output, rtol=0, atol=1e-6 if dtype == "float32" else 1e-14)
    for a, b in zip((q, k, v), before, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.flags.writeable
    assert not any(np.shares_memory(out, a) for a in (q, k, v))
    with pytest.raises(ValueError):
        out[0, 0, 0] = 1  # the output is frozen, the inputs are not
    bad = q.copy()
    bad[1, 4, 2] = np.nan
    with pytest.raises(NumericError, match="row 5, column 3"):
        attention_output(bad, k, v, dtype=dtype)
