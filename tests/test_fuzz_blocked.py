"""Fuzzing the blocked path's bound shift (attncli/core/blocked.py): matrices of extreme values —
huge and tiny cells, a key of huge norm pointing away from the queries, masks that hide a row's best
key or every key of a row — through `attn compute --stage output` (which takes the blocked path)
beside the stage-keeping run of the same problem. Every run keeps the rule of tests/fuzzing.py, and
the two runs agree: the same exit code, the same error line, or the same output (to the tolerance of
tests/core/test_blocked_bound.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conftest import RunAttn
from fuzzing import EXTREME_NUMBERS, blocked_tolerance, fuzz_settings, run_clean

CELLS = st.one_of(
    st.sampled_from([x for x in EXTREME_NUMBERS if abs(x) < 1e200]),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-3, 3).map(float),
)


@st.composite
def problems(draw: st.DrawFn) -> tuple[list[list[float]], list[list[float]], list[list[float]], list[str]]:
    t, s, d = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    q = draw(st.lists(st.lists(CELLS, min_size=d, max_size=d), min_size=t, max_size=t))
    k = draw(st.lists(st.lists(CELLS, min_size=d, max_size=d), min_size=s, max_size=s))
    v = draw(st.lists(st.lists(CELLS, min_size=2, max_size=2), min_size=s, max_size=s))
    if draw(st.booleans()):  # the far key: its norm sets every row's bound, its score is the lowest
        far = draw(st.sampled_from([50.0, 800.0, 1e5, 1e150]))
        k[0] = [-far if sum(col) >= 0 else far for col in zip(*q, strict=True)]
    extras: list[str] = []
    if draw(st.booleans()):
        extras += ["--causal", *draw(st.sampled_from([[], ["--causal-align", "bottom-right"]]))]
    if draw(st.booleans()):  # a boolean mask; some rows entirely hidden
        rows = [" ".join(draw(st.sampled_from(["true", "false"])) for _ in range(s)) for _ in range(t)]
        extras += ["--mask", "; ".join(rows), "--empty-row", draw(st.sampled_from(["zero", "uniform", "nan"]))]
    extras += draw(st.sampled_from([[], ["--window", "2"], ["--chunk", "2"], ["--sinks", "3"], ["--dtype", "float32"]]))
    return q, k, v, extras


def text(m: list[list[float]]) -> str:
    return json.dumps(m)


@fuzz_settings()
@given(problem=problems())
def test_the_blocked_path_agrees_with_the_stage_path_on_extreme_values(attn: RunAttn, problem: Any) -> None:
    q, k, v, extras = problem
    args = ["compute", "--q", text(q), "--k", text(k), "--v", text(v), "--scale", "1", *extras, "--json"]
    full = run_clean(attn, *args)
    fast = run_clean(attn, *args, "--stage", "output")
    assert fast.code == full.code, (args, full.err, fast.err)
    if full.code != 0:  # the same error (warnings differ: only the stage path has weights to mention)
        if "overflow" in full.err:  # the blocked path names the row, the stage path the cell as well
            rows = [re.findall(r"row \d+", r.err)[:1] for r in (fast, full)]
            assert "overflow" in fast.err and rows[0] == rows[1], args
        else:
            assert fast.err == full.err, args
        return
    expected = np.array(json.loads(full.out)["output"], dtype=float)
    got = np.array(json.loads(fast.out)["output"], dtype=float)
    dtype = "float32" if "float32" in extras else "float64"
    atol = blocked_tolerance(np.array(q), np.array(k), np.array(v), 1.0, dtype)
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol, equal_nan=True, err_msg=str(args))
