"""The blocked path's bound shift (attncli/core/blocked.py: exp(score − c) with c a Cauchy–Schwarz
bound, folded into the matrix products) against the stage-keeping engine, on the problems that method
makes risky: huge score ranges, rows whose real maximum is far below the bound (some exactly at the
threshold where a row is recomputed), fully masked rows, every mask and variant it serves; and the
tile sizes, which come from the machine."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attncli.core.blocked as blocked
from attncli import attention, machine
from attncli.core.attention import attention_output
from attncli.core.blocked import tiles_for, tiles_for_cache
from attncli.core.checks import checked_inputs
from attncli.core.memory import blocked_worker_nbytes
from attncli.core.settings import AttentionSettings, MaskSpec

from fuzzing import blocked_tolerance as tolerance


def compare(q: Any, k: Any, v: Any, cfg: AttentionSettings, atol: float | None = None, **blocks: Any) -> None:
    full = attention(q, k, v, settings=cfg)
    fast = attention_output(q, k, v, cfg, **blocks)
    if atol is None:
        atol = tolerance(np.asarray(q), np.asarray(k), np.asarray(v), full.scale, cfg.dtype)
    np.testing.assert_allclose(fast.output, full.output, rtol=0, atol=atol, equal_nan=True)
    assert fast.empty_rows == full.empty_rows


class Recomputed:
    """Counts the rows the bound path hands to the running-maximum path."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        inner = blocked._attend_rows

        def counting(plan: Any, h: Any, i0: int, i1: int, bk: int) -> Any:
            self.rows += i1 - i0
            return inner(plan, h, i0, i1, bk)

        monkeypatch.setattr(blocked, "_attend_rows", counting)


@st.composite
def risky_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, AttentionSettings, dict[str, int]]:
    t, s = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    d, dv = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # huge score ranges: scores up to ±1e4 (float64) or ±300 (float32)
    q_size = draw(st.sampled_from([1e-3, 1.0, 10.0, 100.0 if dtype == "float64" else 30.0]))
    q, k, v = rng.normal(size=(t, d)) * q_size, rng.normal(size=(s, d)), rng.normal(size=(s, dv))
    if s > 1 and draw(st.booleans()):
        # a key of huge norm pointing away from every query (or hidden by the mask below): the bound
        # then sits far above each row's real maximum, near or past the threshold of a recomputed row
        far = draw(st.sampled_from([10.0, 40.0, 80.0, 200.0, 700.0, 1e4]))
        k[0] = -np.sign(q.sum(axis=0) + 1e-9) * far
    mask = None
    kind = draw(st.sampled_from([None, "bool", "empty rows"]))
    if kind is not None:
        mask = rng.random((t, s)) > 0.3
        mask[:, 0] = draw(st.booleans())
        if kind == "empty rows":
            mask[rng.random(t) < 0.4] = False
    window = draw(st.none() | st.integers(1, 12))
    variants = MaskSpec(
        window=window,
        sink_tokens=draw(st.none() | st.integers(1, 3)) if window is not None else None,
        chunk=draw(st.none() | st.integers(1, 12)),
        prefix=draw(st.none() | st.integers(1, 6)),
        sinks=draw(st.none() | st.tuples(st.floats(-5, 30))),
    )
    cfg = AttentionSettings(
        mask=mask,
        causal=draw(st.booleans()),
        causal_align=draw(st.sampled_from(["top-left", "bottom-right"])),
        scale=draw(st.none() | st.floats(0.05, 2)),
        empty_row=draw(st.sampled_from(["zero", "uniform", "nan"])),
        dtype=dtype,
        variants=variants,
    )
    blocks = {"block_q": draw(st.sampled_from([1, 4, 16, 64])), "block_k": draw(st.sampled_from([2, 8, 64]))}
    return q.astype(dtype), k.astype(dtype), v.astype(dtype), cfg, blocks


@settings(max_examples=300, deadline=None)
@given(risky_cases())
def test_bound_path_equals_the_stage_path_on_risky_problems(case: Any) -> None:
    q, k, v, cfg, blocks = case
    compare(q, k, v, cfg, threads=1, **blocks)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rows_just_inside_and_past_the_threshold(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Row i's bound is c_i = |q_i|·|k_0| with k_0 anti-aligned, so its real maximum is c_i·(cos) far
    # below: the gaps sweep across the threshold ln(1/τ) + ln S where rows start being recomputed.
    s, d = 50, 2
    log_tau = blocked._accept_threshold(np.dtype(dtype).type, s)
    gaps = np.linspace(0.2, 2.0, 30) * (-log_tau)
    rng = np.random.default_rng(5)
    k = rng.normal(size=(s, d)) * 0.1
    k[0] = (-1.0, 0.0)
    q = np.stack([gaps, np.zeros_like(gaps)], axis=1)  # c_i = gap_i, every other score ≈ ±0.1·gap
    v = rng.normal(size=(s, 3))
    counted = Recomputed(monkeypatch)
    cfg = AttentionSettings(scale=1.0, dtype=dtype)  # type: ignore[arg-type]
    atol = 1e-12 if dtype == "float64" else 1e-5  # the other scores stay within ±0.4·gap
    compare(q.astype(dtype), k.astype(dtype), v.astype(dtype), cfg, atol=atol, block_q=8, block_k=16, threads=1)
    assert 0 < counted.rows < len(gaps) + 8  # some rows past the threshold, not all


def test_a_row_whose_best_key_is_masked_is_recomputed(monkeypatch: pytest.MonkeyPatch) -> None:
    # key 0 aligns with the query and has a huge norm, but the mask hides it: the bound is its score
    q = np.array([[1.0, 0.0]])
    k = np.array([[1e4, 0.0], [0.0, 1.0], [0.5, 0.5]])
    v = np.arange(9.0).reshape(3, 3)
    mask = np.array([[False, True, True]])
    counted = Recomputed(monkeypatch)
    compare(q, k, v, AttentionSettings(mask=mask, scale=1.0))
    assert counted.rows == 1


def test_fully_masked_rows_keep_their_policy_on_the_bound_path() -> None:
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 7, 4)), rng.normal(size=(3, 7, 2))
    mask = np.ones((5, 7), dtype=bool)
    mask[[1, 3]] = False
    for policy in ("zero", "uniform", "nan"):
        compare(q, k, v, AttentionSettings(mask=mask, empty_row=policy), block_q=2, block_k=3)  # type: ignore[arg-type]


def test_random_problems_take_the_bound_path_without_recomputing(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((2, 600, 64), dtype=np.float32) for _ in range(3))
    counted = Recomputed(monkeypatch)
    for causal in (False, True):
        cfg = AttentionSettings(causal=causal, dtype="float32")
        fast = attention_output(q, k, v, cfg, block_q=64, block_k=128, threads=2)
        full = attention(q, k, v, settings=cfg)
        np.testing.assert_allclose(fast.output, full.output, rtol=0, atol=1e-5)
    assert counted.rows == 0


def test_float32_bound_path_is_as_close_to_float64_as_the_stage_path() -> None:
    # scores up to ±300 in float32: neither path can be within 1e-5 of the other, but the bound path
    # must not be less accurate than the stage path against the float64 truth
    rng = np.random.default_rng(8)
    q, k, v = rng.normal(size=(64, 16)) * 20, rng.normal(size=(64, 16)), rng.normal(size=(64, 4))
    truth = attention(q, k, v).output
    q32, k32, v32 = (a.astype(np.float32) for a in (q, k, v))
    stages = np.abs(attention(q32, k32, v32, dtype="float32").output - truth).max()
    fast = np.abs(attention_output(q32, k32, v32, dtype="float32", block_q=16, block_k=16).output - truth).max()
    assert fast <= 4 * stages + 1e-6


def test_overflowing_scores_are_still_refused_on_the_bound_path() -> None:
    with pytest.raises(Exception, match="overflow float64"):
        attention_output([[0.0, 1e300]], [[0.0, 3e8]], [[1.0]])


@pytest.mark.parametrize(
    ("l2", "itemsize", "tiles"),
    [(512 * 1024, 4, (128, 512)), (512 * 1024, 8, (128, 256)), (1 << 20, 4, (128, 1024)), (2 << 20, 4, (128, 2048)),
     (32 * 1024, 4, (64, 128)), (64 << 20, 4, (128, 4096))],
)  # fmt: skip
def test_tiles_follow_the_level_2_cache(l2: int, itemsize: int, tiles: tuple[int, int]) -> None:
    assert tiles_for_cache(l2, itemsize) == tiles
    bq, bk = tiles
    assert bq * bk * itemsize <= max(l2 // 2, 128 * 64 * itemsize)


def test_tuned_tiles_are_kept_per_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tiles.json"
    monkeypatch.setenv("ATTN_TILES_CACHE", str(path))
    monkeypatch.setattr(machine, "_tuned", None)
    assert machine.tuned_tiles() == {}
    assert tiles_for("float32", False) == tiles_for_cache(machine.l2_bytes(), 4)
    other = {"AMD Imaginary | openblas 0.0 Nehalem": {"float32": [8, 8]}}
    path.write_text(json.dumps(other))
    assert machine.save_tuned_tiles({"float32": (64, 1024), "float64 causal": (32, 256)}) == path
    data = json.loads(path.read_text())
    assert data["AMD Imaginary | openblas 0.0 Nehalem"] == {"float32": [8, 8]}  # another machine's entry stays
    assert data[machine.machine_key()] == {"float32": [64, 1024], "float64 causal": [32, 256]}
    assert tiles_for("float32", False) == (64, 1024)
    assert tiles_for("float64", True) == (32, 256)
    assert tiles_for("float64", False) == tiles_for_cache(machine.l2_bytes(), 8)
    assert machine.forget_tuned_tiles() and not path.exists()
    assert tiles_for("float32", False) == tiles_for_cache(machine.l2_bytes(), 4)
    assert not machine.forget_tuned_tiles()


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"KEY": {"float32": [0, 5]}}', '{"KEY": {"float32": "x"}}'])
def test_a_damaged_tiles_file_counts_as_none(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tiles.json"
    path.write_text(text.replace("KEY", machine.machine_key().replace('"', '\\"')))
    monkeypatch.setenv("ATTN_TILES_CACHE", str(path))
    monkeypatch.setattr(machine, "_tuned", None)
    assert machine.tuned_tiles() == {}


def test_the_machine_is_described() -> None:
    assert machine.cpu_model()
    key = machine.machine_key()
    assert machine.cpu_model() in key and any(b["internal_api"] in key for b in machine.blas_libraries())
    sizes = machine.cache_sizes()
    assert all(level >= 1 and size > 0 for level, size in sizes.items())


@pytest.mark.parametrize(
    ("cpuinfo", "model"),
    [
        # x86: a VM may name two generations alike ("AMD EPYC"); family and model tell them apart
        ("processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\n"
         "cpu family\t: 99\n", "AMD EPYC (family 25 model 17)"),
        ("processor\t: 0\nmodel name\t: Some CPU\n", "Some CPU"),  # no numbers: the name alone
        # ARM: the processors' blocks, then one more with the board's "Model"
        ("processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd08\n\nprocessor\t: 1\nBogoMIPS\t: 108.00\n\n"
         "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n", "Raspberry Pi 4 Model B Rev 1.4"),
        ("system type\t\t: generic-loongson-machine\n\nprocessor\t\t: 0\nModel Name\t\t: Loongson-3A5000\n",
         "Loongson-3A5000"),
    ],
)  # fmt: skip
def test_the_cpu_model_names_family_and_model(cpuinfo: str, model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(machine, "open", lambda *a, **k: io.StringIO(cpuinfo), raising=False)
    assert machine.cpu_model() == model


@st.composite
def headed_cases(draw: st.DrawFn) -> tuple[Any, ...]:
    """Heads (H query heads over G K/V heads), per-head masks and sinks, both dtypes, odd tiles."""
    h = draw(st.sampled_from([2, 4]))
    g = draw(st.sampled_from([x for x in (1, 2, h) if h % x == 0]))
    t, s, d = draw(st.integers(1, 30)), draw(st.integers(1, 30)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = rng.normal(size=(h, t, d)) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    k, v = rng.normal(size=(g, s, d)), rng.normal(size=(g, s, 3))
    mask = None
    if draw(st.booleans()):
        mask = rng.random(draw(st.sampled_from([(t, s), (h, t, s)]))) > draw(st.sampled_from([0.3, 0.9]))
    sinks = draw(st.none() | st.just((2.0,)) | st.tuples(*[st.floats(-5, 20)] * h))
    cfg = AttentionSettings(
        mask=mask,
        causal=draw(st.booleans()),
        causal_align=draw(st.sampled_from(["top-left", "bottom-right"])),
        empty_row=draw(st.sampled_from(["zero", "uniform", "nan"])),
        dtype=dtype,
        variants=MaskSpec(sinks=sinks),
    )
    blocks = {"block_q": draw(st.sampled_from([1, 3, 8, 32])), "block_k": draw(st.sampled_from([2, 7, 64]))}
    return q.astype(dtype), k.astype(dtype), v.astype(dtype), cfg, blocks


@settings(max_examples=150, deadline=None)
@given(headed_cases())
def test_bound_path_on_heads_groups_and_two_workers(case: Any) -> None:
    # SERIAL_BELOW = 0: two workers even on these small problems, so the plan (its kept diagonal
    # masks included) is shared by two threads; the stage path gets K/V repeated per query head
    q, k, v, cfg, blocks = case
    group = q.shape[0] // k.shape[0]
    full = attention(q, np.repeat(k, group, axis=0), np.repeat(v, group, axis=0), settings=cfg)
    with patch.object(blocked, "SERIAL_BELOW", 0):
        fast = attention_output(q, k, v, cfg, threads=2, **blocks)
    atol = tolerance(q, k, v, full.scale, cfg.dtype)
    np.testing.assert_allclose(fast.output, full.output, rtol=0, atol=atol, equal_nan=True)
    assert fast.empty_rows == full.empty_rows


@pytest.mark.parametrize("sink", [2.35e38, 2.36e38, 3e38])
def test_float32_sinks_near_the_float_maximum(sink: float) -> None:
    # the tiles are base 2 in float32; the sink must not be: 3e38 × log2 e is inf in float32
    q = k = v = np.eye(2, dtype=np.float32)
    cfg = AttentionSettings(dtype="float32", variants=MaskSpec(sinks=(sink,)))
    np.testing.assert_array_equal(attention_output(q, k, v, cfg).output, attention(q, k, v, settings=cfg).output)


def test_diagonal_masks_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # block_k ≫ block_q with a bottom-right offset: every query block crosses the diagonal at another
    # place, so all but DIAGONALS_KEPT of its masks are made and dropped, and the output is unchanged
    plans: list[Any] = []
    inner = blocked._plan

    def keeping(checked: Any) -> Any:
        plans.append(inner(checked))
        return plans[-1]

    monkeypatch.setattr(blocked, "_plan", keeping)
    rng = np.random.default_rng(9)
    q, k, v = rng.normal(size=(2, 37, 4)), rng.normal(size=(2, 50, 4)), rng.normal(size=(2, 50, 3))
    for dtype in ("float64", "float32"):
        cfg = AttentionSettings(causal=True, causal_align="bottom-right", dtype=dtype)  # type: ignore[arg-type]
        compare(q.astype(dtype), k.astype(dtype), v.astype(dtype), cfg, block_q=3, block_k=64, threads=1)
        assert len(plans[-1].diagonals) == blocked.DIAGONALS_KEPT


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["causal", "causal and a boolean mask", "every row recomputed"])
def test_a_workers_tile_memory_stays_within_the_estimate(dtype: str, kind: str) -> None:
    # core/memory.py's blocked_worker_nbytes, the multi-head estimate's share of each worker (the kept
    # diagonal masks apart; rows recomputed by the running-maximum path hold its tile and masks as
    # well): measured per query block, for the blocks that keep no new mask
    rng = np.random.default_rng(0)
    t, bq, bk = 512, 64, 256
    q, k, v = (rng.standard_normal((t, 16)).astype(dtype) for _ in range(3))
    mask = rng.random((t, t)) > 0.1 if kind == "causal and a boolean mask" else None
    if kind == "every row recomputed":
        k[0] = -np.sign(q.sum(axis=0)) * 1e3  # a bound far above every row's maximum
    plan = blocked._plan(checked_inputs(q, k, v, AttentionSettings(causal=True, mask=mask, dtype=dtype)))  # type: ignore[arg-type]
    worst = 0
    for i0 in range(0, t, bq):
        kept = len(plan.diagonals)
        tracemalloc.start()
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            blocked._attend_rows_bound(plan, (), i0, i0 + bq, bk)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if len(plan.diagonals) == kept:
            worst = max(worst, peak)
    assert 0 < worst <= blocked_worker_nbytes(bq, bk, 16, dtype)
