"""Benchmark: attncli's engine against naive NumPy and PyTorch SDPA, cold start, and attn explain.

    .venv/bin/python benchmarks/bench_attention.py            # the full table (several minutes)
    .venv/bin/python benchmarks/bench_attention.py --quick    # small sizes only
    .venv/bin/python benchmarks/bench_attention.py --tune     # sweep the blocked path's tile sizes

A script, not a test: it prints tables to paste into the README. Every ratio is measured in the
same run against a named baseline (torch SDPA for speed, `python -c "import numpy"` for start-up).

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
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from attncli import attention  # noqa: E402
from attncli.core.attention import attention_output  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional here: the table then has no torch column
    torch = None


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = [
        f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture', '?')} "
        f"({i.get('num_threads')} threads)"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    lines = [
        f"CPU: {cpu}, {len(os.sched_getaffinity(0))} cores; Python {sys.version.split()[0]}, NumPy {np.__version__}"
        + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch is not None else ", no torch"),
        "BLAS: " + "; ".join(blas),
    ]
    unset = os.environ.get("ATTN_BENCH_UNSET")
    lines.append(f"BLAS environment: unset {unset} for this process" if unset else "BLAS environment: as given")
    return "\n".join(lines)


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


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak memory NumPy allocated while `fn` ran (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def naive(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    """The textbook formula in plain NumPy: the baseline a user would write."""
    s = q @ k.T / np.sqrt(q.shape[-1]).astype(q.dtype)
    if causal:
        s[np.triu_indices(s.shape[0], 1)] = -np.inf
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return (e / e.sum(axis=1, keepdims=True)) @ v


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def attention_table(sizes: list[int], dtypes: list[str], repeat: int, threads: int) -> None:
    d = 64
    print(
        f"\nSingle head, d = {d}, T = S; GFLOP/s counts 4·T·S·d (2·T·S·d when causal); "
        f"ratio = time / torch SDPA time ({threads} threads each)."
    )
    header = ("dtype", "causal", "T", "path", "median ms", "GFLOP/s", "× torch", "peak mem")
    print("{:8} {:6} {:>6}  {:8} {:>10} {:>8} {:>8} {:>10}".format(*header))
    if torch is not None:
        torch.set_num_threads(threads)
    for dtype in dtypes:
        for causal in (False, True):
            for t in sizes:
                rng = np.random.default_rng(t)
                q, k, v = (rng.standard_normal((t, d)).astype(dtype) for _ in range(3))
                flops = 4 * t * t * d / (2 if causal else 1)
                rows: list[tuple[str, float, int | None]] = []
                torch_s = None
                if torch is not None:
                    # (1, 1, T, d): SDPA's fused CPU kernel wants batch and head dimensions (2-D input takes a
                    # slower generic path)
                    tq, tk, tv = (torch.from_numpy(a)[None, None] for a in (q, k, v))
                    torch_s = timed(partial(F.scaled_dot_product_attention, tq, tk, tv, is_causal=causal), repeat)
                blocked = partial(attention_output, q, k, v, causal=causal, dtype=dtype, threads=threads)
                with threadpool_limits(threads, user_api="blas"):
                    rows.append(("blocked", timed(blocked, repeat), peak_bytes(blocked) if t <= 16384 else None))
                    if t <= 2048:
                        stages = partial(attention, q, k, v, causal=causal, dtype=dtype)
                        rows.append(("stages", timed(stages, repeat), peak_bytes(stages)))
                    if t <= 8192:
                        plain = partial(naive, q, k, v, causal)
                        rows.append(("naive", timed(plain, repeat), peak_bytes(plain)))
                if torch_s is not None:
                    rows.append(("torch", torch_s, None))
                for name, sec, peak in rows:
                    ratio = f"{sec / torch_s:.2f}" if torch_s else "—"
                    print(
                        f"{dtype:8} {causal!s:6} {t:6d}  {name:8} {sec * 1e3:10.1f} {flops / sec / 1e9:8.1f} "
                        f"{ratio:>8} {fmt_bytes(peak):>10}"
                    )
            sys.stdout.flush()


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


def tune(threads: int, repeat: int) -> None:
    d, t = 64, 4096
    print(f"\nTile sweep at T = S = {t}, d = {d}, {threads} threads: median ms")
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        q, k, v = (rng.standard_normal((t, d)).astype(dtype) for _ in range(3))
        for causal in (False, True):
            results = []
            for bq in (128, 256, 512):
                for bk in (256, 512, 1024, 2048):
                    fn = partial(
                        attention_output, q, k, v, causal=causal, dtype=dtype, threads=threads, block_q=bq, block_k=bk
                    )
                    results.append((timed(fn, repeat), bq, bk))
            results.sort()
            best = ", ".join(f"{bq}×{bk}: {sec * 1e3:.0f}" for sec, bq, bk in results[:4])
            worst = results[-1]
            print(f"{dtype} causal={causal}: best {best}; worst {worst[1]}×{worst[2]}: {worst[0] * 1e3:.0f}")


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def startup(runs: int) -> None:
    py = sys.executable
    # byte-compiled, as a regular install is (PYTHONDONTWRITEBYTECODE may keep an editable one from it)
    subprocess.run([py, "-m", "compileall", "-q", str(ROOT / "attncli")], check=True)
    attn = [py, "-m", "attncli"]
    small = ["--q", "[[1,0]]", "--k", "[[0.5,0.5],[0.3,0.7]]", "--v", "[[1,0],[0.5,0.5]]"]
    cases = [
        ('python -c "import numpy"', [py, "-c", "import numpy"]),
        ("attn compute … --json", [*attn, "compute", *small, "--json"]),
        ("attn compute … (tables)", [*attn, "compute", *small]),
    ]
    explain = [*attn, "explain", "The miniature Eiffel tower is a toy"]
    if subprocess.run(explain, capture_output=True, check=False).returncode == 0:
        cases.append(('attn explain "The miniature Eiffel tower is a toy"', explain))
    print(f'\nWhole-process wall time, median of {runs} runs (baseline: python -c "import numpy")')
    base = None
    for name, cmd in cases:
        sec = wall(cmd, runs)
        base = base or sec
        print(f"{name:45} {sec * 1e3:7.0f} ms  {sec / base:5.2f}×")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="sizes 128 and 512 only")
    p.add_argument("--sizes", help="comma-separated T values (default 128,512,2048,8192,16384)")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--tune", action="store_true", help="sweep tile sizes instead of the main table")
    p.add_argument("--no-big", action="store_true", help="skip the T = 65536 memory run")
    p.add_argument("--no-startup", action="store_true", help="skip the cold-start comparison")
    p.add_argument("--keep-blas-env", action="store_true", help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE")
    args = p.parse_args()
    print(machine())
    if args.tune:
        tune(args.threads, args.repeat)
        return
    sizes = [128, 512] if args.quick else [int(x) for x in (args.sizes or "128,512,2048,8192,16384").split(",")]
    attention_table(sizes, args.dtypes.split(","), args.repeat, args.threads)
    if not args.quick and not args.no_big:
        big(args.threads)
    if not args.no_startup:
        startup(runs=10)


if __name__ == "__main__":
    main()
