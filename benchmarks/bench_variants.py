"""Benchmark: the blocked path with a sliding window, chunks and packed documents against the full
causal run, in the same process. Tiles outside the structured mask are skipped, so a window W costs
in proportion to T·W, not T².

    .venv/bin/python benchmarks/bench_variants.py              # T = 65536 (about a minute)
    .venv/bin/python benchmarks/bench_variants.py --t 16384    # quicker

A script, not a test: it prints a table to paste into the README (CPU and BLAS first), every ratio
against the causal run of the same T in this run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_attention import machine, timed

from attncli.core.attention import attention_output
from attncli.core.settings import AttentionSettings, MaskSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t", type=int, default=65536, help="tokens T = S (default 65536)")
    parser.add_argument("--d", type=int, default=64, help="head width (default 64)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args()
    t, d = args.t, args.d
    print(machine())
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((t, d)).astype(args.dtype) for _ in range(3))
    docs = tuple(np.repeat(np.arange(t // 4096), 4096).tolist()) if t >= 4096 else (0,) * t
    runs = [
        ("causal (the baseline)", AttentionSettings(causal=True, dtype=args.dtype)),  # type: ignore[arg-type]
        *(
            (f"window W = {w} (hf)", AttentionSettings(variants=MaskSpec(window=w), dtype=args.dtype))  # type: ignore[arg-type]
            for w in (256, 1024, 4096)
        ),
        ("chunks C = 4096", AttentionSettings(variants=MaskSpec(chunk=4096), dtype=args.dtype)),  # type: ignore[arg-type]
        (
            "documents of 4096, causal",
            AttentionSettings(causal=True, variants=MaskSpec(documents=docs), dtype=args.dtype),  # type: ignore[arg-type]
        ),
    ]
    print(f"\nT = S = {t}, d = {d}, {args.dtype}; blocked path (attention_output); ratio = time / causal time")
    print("{:28} {:>10} {:>9} {:>12}".format("mask", "median s", "× causal", "visible/T²"))
    base = None
    for name, cfg in runs:
        seconds = timed(lambda cfg=cfg: attention_output(q, k, v, cfg), repeat=1, budget_s=0)
        base = base or seconds
        print(f"{name:28} {seconds:10.2f} {seconds / base:9.3f} {_visible(cfg, t):12.4f}")


def _visible(cfg: AttentionSettings, t: int) -> float:
    """The fraction of T×S cells the mask lets through (counted by rows, without the T×S matrix)."""
    from attncli.core.masks import MaskRule

    rule = MaskRule(t, t, cfg.causal, cfg.causal_align, cfg.variants)
    step = 1024
    return sum(int(rule.cells(i, min(i + step, t), 0, t).sum()) for i in range(0, t, step)) / t / t


if __name__ == "__main__":
    main()
