"""Multi-head attention's output-only path (keep_stages=False): every head through the blocked path.

Checked against the stage-keeping multi-head path on random problems (hypothesis), against PyTorch
2.13.0 (test-time only: nn.MultiheadAttention, F.scaled_dot_product_attention with grouped heads),
and for its peak memory in a child process on a problem whose stage tables could not exist."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.core.blocked import Tiling
from attncli.core.memory import multihead_output_nbytes
from attncli.core.multihead import MultiHeadOutput, multi_head_attention
from attncli.core.positions import apply_rope, rope_angles
from attncli.core.settings import MaskSpec
from attncli.errors import ShapeError

SMALL_TILES = Tiling(block_q=3, block_k=4, threads=2)  # many tiles, even on small problems


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    """A random multi-head problem: self or cross, grouped heads, positions, masks, biases, dtype."""
    g = draw(st.sampled_from((1, 2)))
    h = g * draw(st.sampled_from((1, 2, 3)))
    d_head, d_model = draw(st.sampled_from((2, 4))), draw(st.integers(2, 7))
    t = draw(st.integers(1, 9))
    s = t if draw(st.booleans()) else draw(st.integers(1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kw: dict[str, Any] = {"heads": h, "kv_heads": g}
    if s == t and draw(st.booleans()):
        kw["x"] = rng.normal(size=(t, d_model))
    else:
        kw["q_input"], kw["kv_input"] = rng.normal(size=(t, d_model)), rng.normal(size=(s, d_model))
    kw.update(wq=rng.normal(size=(d_model, h * d_head)), wk=rng.normal(size=(d_model, g * d_head)))
    kw["wv"] = rng.normal(size=(d_model, g * draw(st.sampled_from((1, 3)))))
    if draw(st.booleans()):
        kw["wo"] = rng.normal(size=(kw["wv"].shape[1] * h // g, d_model))
        kw["bo"] = rng.normal(size=d_model) if draw(st.booleans()) else None
    if draw(st.booleans()):
        kw.update(bq=rng.normal(size=h * d_head), bk=rng.normal(size=g * d_head), bv=rng.normal(size=kw["wv"].shape[1]))
    kw["positional"] = draw(st.sampled_from(("none", "sinusoidal")))
    kw["rope"] = draw(st.booleans())
    kw["rope_style"] = draw(st.sampled_from(("half", "interleaved")))
    kw["qk_norm"] = draw(st.booleans())
    kw["causal"] = draw(st.booleans())
    kw["causal_align"] = draw(st.sampled_from(("top-left", "bottom-right")))
    kw["empty_row"] = draw(st.sampled_from(("zero", "uniform")))
    mask = draw(st.sampled_from((None, "bool", "additive", "per-head")))
    if mask == "bool":
        kw["mask"] = rng.random((t, s)) > 0.3
    elif mask == "additive":
        kw["mask"] = rng.normal(size=(t, s))
    elif mask == "per-head":
        kw["mask"] = rng.random((h, t, s)) > 0.2
    window = draw(st.sampled_from((None, 1, 3)))
    sinks = tuple(rng.normal(size=h).tolist()) if draw(st.booleans()) else None
    if window is not None or sinks is not None:
        kw["variants"] = MaskSpec(window=window, sinks=sinks)
    kw["dtype"] = draw(st.sampled_from(("float64", "float32")))
    return kw


@settings(max_examples=150, deadline=None)
@given(problems())
def test_equals_the_stage_keeping_path(problem: dict[str, Any]) -> None:
    full = multi_head_attention(**problem)
    out = multi_head_attention(**problem, keep_stages=False, tiling=SMALL_TILES)
    assert isinstance(out, MultiHeadOutput)
    tol = 1e-12 if problem["dtype"] == "float64" else 1e-5
    scale = max(1.0, float(np.abs(full.output).max()))  # float32: relative to the output's size
    np.testing.assert_allclose(out.attention.output, full.attention.output, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(out.output, full.output, rtol=0, atol=tol * scale)
    assert out.output.dtype == full.output.dtype and out.output.shape == full.output.shape
    assert out.head_map == full.head_map and out.attention.empty_rows == full.attention.empty_rows
    assert out.attention.scale == full.attention.scale


def test_default_tiling_on_a_problem_large_enough_for_the_worker_threads() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1100, 16))
    kw: dict[str, Any] = {"heads": 4, "kv_heads": 2, "random_weights_seed": 3, "causal": True, "rope": True}
    full, out = multi_head_attention(x, **kw), multi_head_attention(x, **kw, keep_stages=False)
    np.testing.assert_allclose(out.output, full.output, rtol=0, atol=1e-12)


def _mha(e: int, h: int, seed: int) -> torch.nn.MultiheadAttention:
    torch.manual_seed(seed)
    m = torch.nn.MultiheadAttention(e, h, bias=True, batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # PyTorch initialises the biases to 0; make them count
        m.in_proj_bias.normal_()
        m.out_proj.bias.normal_()
    return m


@pytest.mark.parametrize(
    ("e", "h", "t", "s", "causal"), [(8, 2, 5, 5, False), (12, 3, 7, 4, False), (8, 4, 9, 9, True)]
)
def test_matches_nn_multihead_attention(e: int, h: int, t: int, s: int, causal: bool) -> None:
    m = _mha(e, h, seed=e + h)
    rng = np.random.default_rng(e * h)
    xq, xkv = rng.normal(size=(t, e)), rng.normal(size=(s, e))
    w, b = m.in_proj_weight.detach().numpy(), m.in_proj_bias.detach().numpy()
    weights = {"wq": w[:e].T, "wk": w[e : 2 * e].T, "wv": w[2 * e :].T, "wo": m.out_proj.weight.detach().numpy().T}
    weights.update(bq=b[:e], bk=b[e : 2 * e], bv=b[2 * e :], bo=m.out_proj.bias.detach().numpy())
    future = torch.triu(torch.ones(t, s, dtype=torch.bool), 1) if causal else None  # True = NOT allowed
    tq, tkv = torch.from_numpy(xq)[None], torch.from_numpy(xkv)[None]
    ref = m(tq, tkv, tkv, attn_mask=future, need_weights=False)[0][0].detach().numpy()
    ours = multi_head_attention(
        q_input=xq, kv_input=xkv, heads=h, causal=causal, keep_stages=False, tiling=SMALL_TILES, **weights
    )
    np.testing.assert_allclose(ours.output, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grouped_heads_and_rope_match_torch_sdpa(dtype: str) -> None:
    """q (H, T, d), k/v (G, S, d) after the projections and RoPE: SDPA with enable_gqa, then concat·W_o."""
    rng = np.random.default_rng(7)
    t, s, d_model, h, g, d = 13, 11, 8, 4, 2, 4
    xq, xkv = rng.normal(size=(t, d_model)), rng.normal(size=(s, d_model))
    w = {"wq": rng.normal(size=(d_model, h * d)), "wk": rng.normal(size=(d_model, g * d))}
    w.update(wv=rng.normal(size=(d_model, g * d)), wo=rng.normal(size=(h * d, d_model)))
    ours = multi_head_attention(
        q_input=xq, kv_input=xkv, heads=h, kv_heads=g, rope=True, causal=True, causal_align="bottom-right",
        dtype=dtype, keep_stages=False, tiling=SMALL_TILES, **w,
    )  # fmt: skip
    q = (xq @ w["wq"]).reshape(t, h, d).transpose(1, 0, 2)
    k = (xkv @ w["wk"]).reshape(s, g, d).transpose(1, 0, 2)
    v = (xkv @ w["wv"]).reshape(s, g, d).transpose(1, 0, 2)
    q, k = apply_rope(q, rope_angles(t, d, 10000.0)), apply_rope(k, rope_angles(s, d, 10000.0))
    allowed = torch.ones(t, s, dtype=torch.bool).tril(s - t)  # bottom-right causal: True = attend
    heads = F.scaled_dot_product_attention(
        *(torch.from_numpy(a)[None] for a in (q, k, v)), attn_mask=allowed, enable_gqa=True
    )[0].numpy()
    ref = heads.transpose(1, 0, 2).reshape(t, h * d) @ w["wo"]
    tol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(ours.output, ref, rtol=0, atol=tol * max(1.0, float(np.abs(ref).max())))


def test_alibi_is_refused_with_what_to_do() -> None:
    with pytest.raises(ShapeError) as e:
        multi_head_attention(np.eye(4), heads=2, alibi=True, keep_stages=False)
    assert e.value.argument == "alibi" and "keep every stage, or leave ALiBi out" in str(e.value)


def test_given_q_k_v_and_identity_projections() -> None:
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(5, 6)), rng.normal(size=(7, 6)), rng.normal(size=(7, 4))
    for kw in ({"q": q, "k": k, "v": v}, {"q_input": q, "kv_input": k}):
        full = multi_head_attention(**kw, heads=2)
        out = multi_head_attention(**kw, heads=2, keep_stages=False, tiling=SMALL_TILES)
        np.testing.assert_allclose(out.output, full.output, rtol=0, atol=1e-12)


# T = S = 8192, 8 heads of 64 (d_model 512), float32: the stage tables would need 8·8192²·25 bytes ≈ 12.5 GiB.
PEAK_CHILD = """
import sys
import numpy as np
from attncli.core.blocked import Tiling
from attncli.core.multihead import multi_head_attention
x = np.random.default_rng(0).normal(size=(8192, 512)).astype(np.float32)
r = multi_head_attention(x, heads=8, random_weights_seed=1, rope=True, causal=True, dtype="float32",
                         keep_stages=False, tiling=Tiling(threads=2))
assert r.output.shape == (8192, 512) and np.isfinite(r.output).all()
base = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]
print(base)
"""
BASELINE_CHILD = """
import numpy as np
import attncli.core.multihead
x = np.random.default_rng(0).normal(size=(8192, 512)).astype(np.float32)
print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0])
"""


def test_peak_memory_stays_under_the_estimate_where_the_stage_tables_could_not_exist() -> None:
    """VmHWM of a child (ru_maxrss would keep pytest's own peak across the fork): the extra peak over
    importing and making x stays under multihead_output_nbytes, a small fraction of the stage tables."""

    def peak_kib(code: str) -> int:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.split()[-1])

    extra = (peak_kib(PEAK_CHILD) - peak_kib(BASELINE_CHILD)) * 1024
    estimate = multihead_output_nbytes(8192, 8192, (512, 512), (512, 512, 512, 512), (8, 8), "float32", 2)
    tables = 8 * 8192 * 8192 * (6 * 4 + 1)
    assert estimate < tables / 50
    assert extra < estimate, f"peak {extra / 2**20:.0f} MiB over the baseline, estimate {estimate / 2**20:.0f} MiB"
