"""Benchmark: attncli's blocked path against PyTorch SDPA and NumPy's own GEMM (start-up: explain_speed.py).

    .venv/bin/python benchmarks/bench_attention.py --readme   # the table + the README's block (tunes if untuned)
    .venv/bin/python benchmarks/bench_attention.py --quick    # small sizes only
    .venv/bin/python benchmarks/bench_attention.py --tune     # sweep tile sizes, store the best here
    .venv/bin/python benchmarks/bench_attention.py --reset-tiles
    .venv/bin/python benchmarks/bench_attention.py --tile-parts   # where one tile's time goes, one core

A script, not a test: it prints tables to paste into the README. Every ratio is measured in the
same run against a named baseline (torch SDPA and a 2048 × 2048 NumPy matmul), on 1 and 8 heads;
it prints the CPU, the BLAS library and kernel, the tiles chosen and the load average (on a shared
machine, ratios within one run are what holds).

This environment may set OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) to work around old OpenBLAS
builds; they slow a current NumPy. The script unsets both for its own process (re-executing
itself) unless --keep-blas-env is given, and reports which BLAS kernel ran.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _reexec_without_blas_env(argv: list[str]) -> None:
    if "--keep-blas-env" in argv or not any(k in os.environ for k in BLAS_ENV):
        return
    env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV}
    env["ATTN_BENCH_UNSET"] = ",".join(f"{k}={os.environ[k]}" for k in BLAS_ENV if k in os.environ)
    os.execve(sys.executable, [sys.executable, *argv], env)


_reexec_without_blas_env(sys.argv)

import numpy as np  # noqa: E402  (after the BLAS environment is settled)
from threadpoolctl import threadpool_limits  # noqa: E402

from attncli.core.attention import attention_output  # noqa: E402
from attncli.core.blocked import tiles_for  # noqa: E402
from attncli.machine import (  # noqa: E402
    blas_libraries,
    cpu_model,
    forget_tuned_tiles,
    l2_bytes,
    save_tuned_tiles,
    tiles_file,
    tuned_tiles,
)

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional here: the table then has no torch column
    torch = None


def cpu_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores; load average {load}; Python "
        f"{sys.version.split()[0]}, NumPy {np.__version__}"
        + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch is not None else ", no torch")
    )


def machine() -> str:
    blas = [
        f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture', '?')} "
        f"({i.get('num_threads')} threads)"
        for i in blas_libraries()
    ]
    lines = [cpu_line(), "BLAS: " + "; ".join(blas)]
    unset = os.environ.get("ATTN_BENCH_UNSET")
    lines.append(f"BLAS environment: unset {unset} for this process" if unset else "BLAS environment: as given")
    tuned = tuned_tiles()
    source = f"tuned, from {tiles_file()}" if tuned else f"from the level-2 cache, {l2_bytes() // 1024} KiB"
    chosen = ", ".join(f"{name} {bq}×{bk}" for name, (bq, bk) in chosen_tiles().items())
    lines.append(f"Tiles (block_q × block_k, {source}): {chosen}")
    return "\n".join(lines)


def chosen_tiles() -> dict[str, tuple[int, int]]:
    return {
        f"{dtype}{' causal' if causal else ''}": tiles_for(dtype, causal)
        for dtype in ("float32", "float64")
        for causal in (False, True)
    }


def timed(fn: Callable[[], Any], repeat: int, budget_s: float = 20.0) -> float:
    """Median wall time of `fn` over `repeat` runs after one warm-up (fewer runs if slow)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    runs = max(1, min(repeat, int(budget_s / max(first, 1e-9))))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# Before each timed call: long enough for the previous call's idle BLAS and OpenMP threads to stop
# spinning (OpenBLAS's spin before sleeping is about 0.1 s). Without it, whatever ran just after NumPy's
# 2-thread GEMM shared the cores with its spinning threads: torch at T = 2048 took 18.1 ms after the GEMM
# and 8.7 ms after a pause, the blocked path 16.4 and 13.3 ms (float32, one head, best of 6).
PAUSE_S = 0.3


def best_alternating(fns: list[Callable[[], Any]], repeat: int, budget_s: float = 30.0) -> list[float]:
    """The best wall time of each function over `repeat` rounds that run them in turn (after one
    warm-up each; fewer rounds when slow), each after a pause of PAUSE_S. On a shared machine the best
    of alternating runs is the time with the least interference, and both sides get the same chances at it."""
    start = time.perf_counter()
    for fn in fns:
        fn()
    rounds = max(2, min(repeat, int(budget_s / max(time.perf_counter() - start, 1e-9))))
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            time.sleep(PAUSE_S)
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def gemm_call(dtype: str, n: int = 2048) -> tuple[Callable[[], Any], float]:
    """NumPy's own square matrix product (n × n), the yardstick, and its flop count."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    return partial(np.matmul, a, b, out=np.empty((n, n), dtype=dtype)), 2.0 * n**3


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak memory NumPy allocated while `fn` ran (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


# heads, dtype, causal, T, blocked s, torch s, GEMM GFLOP/s, peak bytes
Row = tuple[int, str, bool, int, float, float | None, float, int | None]


def measure(heads: int, dtype: str, causal: bool, t: int, threads: int, repeat: int) -> Row:
    """The blocked path, torch SDPA and NumPy's GEMM in turn (so the GEMM rate is that of the same moments)."""
    d = 64
    rng = np.random.default_rng(t)
    q, k, v = (rng.standard_normal((heads, t, d)).astype(dtype) for _ in range(3))
    blocked = partial(attention_output, q, k, v, causal=causal, dtype=dtype, threads=threads)
    gemm, gemm_flops = gemm_call(dtype)
    fns: list[Callable[[], Any]] = [blocked, gemm]
    if torch is not None:
        # (1, H, T, d): SDPA's fused CPU kernel wants batch and head dimensions (2-D input takes a slower path)
        tq, tk, tv = (torch.from_numpy(a)[None] for a in (q, k, v))
        fns.append(partial(F.scaled_dot_product_attention, tq, tk, tv, is_causal=causal))
    with threadpool_limits(threads, user_api="blas"):
        times = best_alternating(fns, repeat)
        peak = peak_bytes(blocked) if heads * t <= 16384 else None
    return heads, dtype, causal, t, times[0], times[2] if len(times) > 2 else None, gemm_flops / times[1] / 1e9, peak


def flops(heads: int, causal: bool, t: int) -> float:
    return heads * 4 * t * t * 64 / (2 if causal else 1)


def attention_table(sizes: list[int], dtypes: list[str], heads_list: list[int], repeat: int, threads: int) -> list[Row]:
    if torch is not None:
        torch.set_num_threads(threads)
    print(
        f"\nd = 64, T = S, {threads} threads each; GFLOP/s counts 4·H·T·S·d (half when causal); best of runs that "
        "alternate the blocked path, torch SDPA and NumPy's own 2048 × 2048 GEMM; × torch = blocked time / torch "
        "time; % GEMM = blocked GFLOP/s / the GEMM's GFLOP/s in the same rounds."
    )
    header = (
        "heads",
        "dtype",
        "causal",
        "T",
        "blocked ms",
        "torch ms",
        "× torch",
        "GFLOP/s",
        "GEMM",
        "% GEMM",
        "peak mem",
    )
    print("{:>5} {:8} {:6} {:>6} {:>11} {:>10} {:>8} {:>8} {:>6} {:>7} {:>10}".format(*header))
    rows = []
    for heads in heads_list:
        for dtype in dtypes:
            for causal in (False, True):
                for t in sizes:
                    row = measure(heads, dtype, causal, t, threads, repeat)
                    rows.append(row)
                    _h, _dt, _c, _t, sec, torch_s, gemm, peak = row
                    rate = flops(heads, causal, t) / sec / 1e9
                    ratio = f"{sec / torch_s:.2f}" if torch_s else "—"
                    torch_ms = f"{torch_s * 1e3:.1f}" if torch_s else "—"
                    print(
                        f"{heads:5d} {dtype:8} {causal!s:6} {t:6d} {sec * 1e3:11.1f} {torch_ms:>10} {ratio:>8} "
                        f"{rate:8.1f} {gemm:6.1f} {100 * rate / gemm:6.0f}% {fmt_bytes(peak):>10}"
                    )
                    sys.stdout.flush()
    return rows


def readme_block(rows: list[Row], threads: int) -> str:
    """The README's table for this machine: one line per heads × dtype × causal, one column per T."""
    sizes = sorted({r[3] for r in rows})
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    blas = "; ".join(
        f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture', '?')}" for i in blas_libraries()
    )
    tiles = ", ".join(f"{name} {bq}×{bk}" for name, (bq, bk) in chosen_tiles().items())
    tiles += " (tuned by --tune)" if tuned_tiles() else " (from the cache size)"
    lines = [
        f"**{cpu_model()}**, {len(os.sched_getaffinity(0))} cores, {time.strftime('%Y-%m-%d')} (BLAS {blas}; "
        f"torch {torch.__version__ if torch is not None else '—'}; {threads} threads each; tiles {tiles}; load "
        f"average at the end {load}). Each cell: blocked time / torch SDPA time, and in brackets the "
        "blocked path's GFLOP/s as a share of NumPy's own GEMM measured in the same run.",
        "",
        "| heads, dtype, causal | " + " | ".join(f"T = {t}" for t in sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    for key in dict.fromkeys((r[0], r[1], r[2]) for r in rows):
        cells = []
        for t in sizes:
            match = [r for r in rows if (r[0], r[1], r[2], r[3]) == (*key, t)]
            if not match:
                cells.append("—")
                continue
            heads, _dtype, causal, _t, sec, torch_s, gemm, _peak = match[0]
            share = 100 * flops(heads, causal, t) / sec / 1e9 / gemm
            cells.append((f"{sec / torch_s:.2f}× " if torch_s else "") + f"({share:.0f} %)")
        lines.append(f"| {key[0]}, {key[1]}{', causal' if key[2] else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


BIG_RUN = """
import sys, time, tracemalloc
import numpy as np
from attncli.core.blocked import attention_output
t, d = int(sys.argv[1]), 64
rng = np.random.default_rng(0)
q, k, v = (rng.standard_normal((t, d), dtype=np.float32) for _ in range(3))
tracemalloc.start()
start = time.perf_counter()
attention_output(q, k, v, dtype="float32", threads=int(sys.argv[2]))
sec = time.perf_counter() - start
# VmHWM (peak resident memory of this address space); ru_maxrss would include the parent's, from before exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(sec, tracemalloc.get_traced_memory()[1], hwm * 1024)
"""


def big(threads: int, t: int = 65536) -> None:
    """T = S = 65536 in a fresh process (no torch, nothing else allocated), so its peak memory is its own."""
    d = 64
    out = subprocess.run(
        [sys.executable, "-c", BIG_RUN, str(t), str(threads)], capture_output=True, text=True, check=True
    )
    sec, peak, rss = (float(x) for x in out.stdout.split())
    print(
        f"\nT = S = {t}, d = {d}, float32, blocked path, own process: {sec:.1f} s, {4 * t * t * d / sec / 1e9:.0f} "
        f"GFLOP/s; peak NumPy memory {fmt_bytes(int(peak))}, process peak RSS {fmt_bytes(int(rss))} (inputs and "
        f"Python included; the T×S float32 matrix alone would be {fmt_bytes(t * t * 4)})."
    )


def tune(threads: int, repeat: int, t: int = 4096) -> None:
    """A short sweep of tile sizes at T = S = t for each dtype × causal; the fastest are stored for this
    CPU + BLAS (attncli.machine.save_tuned_tiles) and used by every later run on this machine."""
    d = 64
    print(f"\nTile sweep at T = S = {t}, d = {d}, {threads} threads: best of alternating runs, ms")
    rng = np.random.default_rng(0)
    best: dict[str, tuple[int, int]] = {}
    candidates = [(bq, bk) for bq in (64, 128, 256, 512) for bk in (256, 512, 1024, 2048)]
    for dtype in ("float32", "float64"):
        q, k, v = (rng.standard_normal((t, d)).astype(dtype) for _ in range(3))
        for causal in (False, True):
            fns: list[Callable[[], Any]] = [
                partial(attention_output, q, k, v, causal=causal, dtype=dtype, threads=threads, block_q=bq, block_k=bk)
                for bq, bk in candidates
            ]
            with threadpool_limits(threads, user_api="blas"):
                times = best_alternating(fns, repeat, budget_s=20.0)
            ranked = sorted(zip(times, candidates, strict=True))
            name = f"{dtype}{' causal' if causal else ''}"
            best[name] = ranked[0][1]
            shown = ", ".join(f"{bq}×{bk}: {sec * 1e3:.0f}" for sec, (bq, bk) in ranked[:4])
            worst = ranked[-1]
            print(f"{name}: best {shown}; worst {worst[1][0]}×{worst[1][1]}: {worst[0] * 1e3:.0f}")
    print(f"Stored for this machine in {save_tuned_tiles(best)} (--reset-tiles forgets them).")


def tile_parts(repeat: int = 200, s: int = 4096, d: int = 64) -> None:
    """Where a tile's time goes, on one core (BLAS limited to 1 thread): the median of `repeat` runs of
    each step, in ns per score, for the bound path's key-major tile ([K|1]·[Q·scale|−c]ᵀ, the
    exponential, [V|1]ᵀ times it) beside the query-major one it replaced (Q·Kᵀ, e^x, P·V), over the
    S keys of one query block; and one whole block of the blocked path (attncli.core.blocked)."""
    from attncli.core import blocked
    from attncli.core.checks import checked_inputs
    from attncli.core.settings import AttentionSettings

    print(f"\nOne tile, one core: S = {s} keys, d = {d} (+1: the bound's column), median of {repeat}; ns per score")
    print("dtype    tile      Q·Kᵀ  e^x    P·V  | K·Qᵀ  2^x/e^x  Vᵀ·S | query-major key-major  whole block")
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        base, exponential = blocked._exponential(np.dtype(dtype).type)
        q, k, v = (rng.standard_normal((s, d)).astype(dtype) for _ in range(3))
        plan = blocked._plan(checked_inputs(q, k, v, AttentionSettings(dtype=dtype)))
        for bq, bk in ((256, 512), (512, 512), (256, 1024)):
            k1, v1 = plan.k_ones[:bk], plan.v_ones[:bk]
            q1t = blocked._bounded_queries(plan, (), 0, bq, blocked._key_tiles(plan, 0, bq, bk), base)[0]
            q1 = np.ascontiguousarray(q1t.T)
            by_query, by_key = np.empty((bq, bk), dtype), np.empty((bk, bq), dtype)
            rows, cols = np.empty((bq, d + 1), dtype), np.empty((d + 1, bq), dtype)
            # the exponentials read the real scores (minus the bound) and write beside them, as in place
            # they would be taken again and again, of their own results
            scores_by_query, scores_by_key = np.matmul(q1, k1.T), np.matmul(k1, q1t)
            steps = [
                partial(np.matmul, q1, k1.T, out=by_query),
                partial(np.exp, scores_by_query / base, out=by_query),
                partial(np.matmul, by_query, v1, out=rows),
                partial(np.matmul, k1, q1t, out=by_key),
                partial(exponential, scores_by_key, out=by_key),
                partial(np.matmul, v1.T, by_key, out=cols),
            ]
            with threadpool_limits(1, user_api="blas"), np.errstate(over="ignore", under="ignore"):
                ns = [_median_ns(step, repeat) / (bq * bk) for step in steps]
                block = _median_ns(partial(blocked._attend_rows_bound, plan, (), 0, bq, bk), max(repeat // 10, 5))
            parts = "  ".join(f"{x:5.2f}" for x in ns)
            sums = f"{sum(ns[:3]):5.2f}       {sum(ns[3:]):5.2f}      {block / (bq * s):5.2f}"
            print(f"{dtype}  {bq}×{bk:<5} {parts} | {sums}")


def _median_ns(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return float(statistics.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="sizes 512 and 2048, one head only")
    p.add_argument("--sizes", help="comma-separated T values (default 512,2048,8192,16384)")
    p.add_argument("--heads", default="1,8", help="comma-separated head counts (default 1,8)")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--tune", action="store_true", help="sweep tile sizes, store the best for this CPU + BLAS")
    p.add_argument("--reset-tiles", action="store_true", help="forget the stored tiles (back to the cache rule)")
    p.add_argument("--readme", action="store_true", help="also print the README's table for this machine")
    p.add_argument("--tile-parts", action="store_true", help="where one tile's time goes, on one core")
    p.add_argument("--no-big", action="store_true", help="skip the T = 65536 memory run")
    p.add_argument("--keep-blas-env", action="store_true", help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE")
    args = p.parse_args()
    if args.reset_tiles:
        print("Stored tiles forgotten." if forget_tuned_tiles() else "No stored tiles.")
        return
    if args.tune:
        tune(args.threads, args.repeat)
        return
    if args.tile_parts:
        print(machine())
        tile_parts()
        return
    if args.readme and not tuned_tiles() and tiles_file() is not None:  # the README's tables: this machine's tiles
        tune(args.threads, args.repeat)
    print(machine())
    sizes = [512, 2048] if args.quick else [int(x) for x in (args.sizes or "512,2048,8192,16384").split(",")]
    heads = [1] if args.quick else [int(x) for x in args.heads.split(",")]
    rows = attention_table(sizes, args.dtypes.split(","), heads, args.repeat, args.threads)
    print("\n" + cpu_line())
    if args.readme:
        print("\nREADME block:\n\n" + readme_block(rows, args.threads) + "\n")
    if not args.quick and not args.no_big:
        big(args.threads)
    # Start-up is benchmarks/explain_speed.py's: timed in this process, the fresh processes would share the
    # cores with the BLAS and torch worker threads still spinning after the runs above (twice as slow).


if __name__ == "__main__":
    main()
