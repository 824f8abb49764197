"""Benchmark: multi-head attention's output-only path against single-head × H, in the same run.

    .venv/bin/python benchmarks/bench_multihead.py                 # T = 4096, 8192; float32, float64
    .venv/bin/python benchmarks/bench_multihead.py --t 32768 --dtype float32 --repeat 1

A script, not a test. For each size: 8 heads of d = 64 run (a) one head at a time through
`attention_output` (single-head, eight calls) and (b) as one `multi_head_attention(q=…, k=…, v=…,
heads=8, keep_stages=False)` call (the projections given, so both time attention alone), and (c) the
whole layer from X (T × 512) with random W_q, W_k, W_v, W_o. "per head ×" = (b)'s time per head over
(a)'s (the median of interleaved pairs); the peak is NumPy's (tracemalloc) beside multihead_output_nbytes' estimate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_attention import machine, peak_bytes, timed  # (it re-executes without the BLAS overrides)

from attncli.core.attention import attention_output
from attncli.core.blocked import Tiling
from attncli.core.memory import multihead_output_nbytes
from attncli.core.multihead import multi_head_attention

HEADS, D_HEAD = 8, 64


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def row(t: int, dtype: Any, causal: bool, repeat: int, threads: int) -> str:
    rng = np.random.default_rng(0)
    width = HEADS * D_HEAD
    q, k, v = (rng.normal(size=(t, width)).astype(dtype) for _ in range(3))
    heads = [tuple(np.ascontiguousarray(a[:, h * D_HEAD : (h + 1) * D_HEAD]) for a in (q, k, v)) for h in range(HEADS)]
    tiling = Tiling(threads=threads)

    def single() -> None:
        for qh, kh, vh in heads:
            attention_output(qh, kh, vh, causal=causal, dtype=dtype, threads=threads)

    def multi() -> None:
        multi_head_attention(q=q, k=k, v=v, heads=HEADS, causal=causal, dtype=dtype, keep_stages=False, tiling=tiling)

    def layer() -> None:
        multi_head_attention(
            q,
            heads=HEADS,
            random_weights_seed=1,
            causal=causal,
            dtype=dtype,
            keep_stages=False,
            tiling=tiling,
        )

    # interleaved, so that a burst of load on the shared machine hits both sides alike
    single()  # warm-up
    multi()
    pairs = [(_seconds(single), _seconds(multi)) for _ in range(repeat)]
    one, many = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    full = timed(layer, 1)
    peak = peak_bytes(layer)
    estimate = multihead_output_nbytes(t, t, (width, width), (width,) * 4, (HEADS, HEADS), dtype, threads)
    load = os.getloadavg()[0]
    return (
        f"{dtype:8} {causal!s:6} {t:6}  {one:9.2f}  {many:9.2f}  {ratio:8.2f}  {full:9.2f}"
        f"  {peak / 2**20:7.0f} MiB  {estimate / 2**20:7.0f} MiB  {load:4.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--keep-blas-env", action="store_true", help="leave OPENBLAS_CORETYPE/L2_SIZE as given")
    args = parser.parse_args()
    print(machine())
    print(f"\n{HEADS} heads of d = {D_HEAD}, T = S, {args.threads} worker threads; times in seconds (median).")
    print("single × 8 = attention_output once per head; multi = multi_head_attention(keep_stages=False) on the")
    print("projected q, k, v; layer = the same from X with W_q, W_k, W_v, W_o; per head × = multi / (single × 8),")
    print("the median of interleaved pairs.")
    print("dtype    causal      T  single×8      multi  per head×      layer   peak (NumPy)    estimate  load")
    for dtype in args.dtype:
        for causal in (False, True):
            for t in args.t:
                print(row(t, dtype, causal, args.repeat, args.threads), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
