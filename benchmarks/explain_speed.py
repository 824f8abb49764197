"""Whole-process time of `attn explain` on a 10-token sentence, against a bare `import numpy` and,
when transformers is installed, the transformers pipeline on the same model.

    .venv/bin/python benchmarks/explain_speed.py [--runs 7]

Each command runs as a fresh process (as a user types it); the table gives the median and the
fastest of the runs. The machine is shared, so the median is the figure to quote.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import time

SENTENCE = "The animal didn't cross the street"  # [CLS] the animal didn ' t cross the street [SEP]: 10 tokens
TARGET = 0.5  # seconds, whole process, from the issue


def timed(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from attncli.models.locate import package_folder
    from attncli.models.tokenize import WordPiece

    folder = package_folder()
    if folder is None:
        sys.exit("the model package is not installed: attn model download")
    n_tokens = len(WordPiece(folder / "tokenizer.json").encode(SENTENCE, 512))

    py = sys.executable
    commands: list[tuple[str, list[str]]] = [
        ("python -c 'import numpy'", [py, "-c", "import numpy"]),
        ("attn --version (the CLI's start-up alone)", [py, "-m", "attncli", "--version"]),
        ("attn explain SENTENCE", [py, "-m", "attncli", "explain", SENTENCE]),
        ("attn explain SENTENCE --json", [py, "-m", "attncli", "explain", SENTENCE, "--json"]),
        ("attn explain SENTENCE --head all", [py, "-m", "attncli", "explain", SENTENCE, "--head", "all"]),
    ]
    if importlib.util.find_spec("transformers") and importlib.util.find_spec("torch"):
        pipeline = (
            "from transformers import pipeline; "
            f"p = pipeline('feature-extraction', model={str(folder)!r}, device='cpu'); p({SENTENCE!r})"
        )
        attentions = (
            "import torch; from transformers import AutoTokenizer, BertModel; "
            f"t = AutoTokenizer.from_pretrained({str(folder)!r}); "
            f"m = BertModel.from_pretrained({str(folder)!r}, attn_implementation='eager').eval(); "
            f"torch.no_grad().__enter__(); m(**t({SENTENCE!r}, return_tensors='pt'), output_attentions=True)"
        )
        commands.append(("transformers pipeline (feature-extraction)", [py, "-c", pipeline]))
        commands.append(("transformers BertModel, output_attentions", [py, "-c", attentions]))
    else:
        print("(transformers/torch not installed: their rows are left out)")

    print(f"machine: {machine()}")
    print(f"sentence: {SENTENCE!r} ({n_tokens} tokens), {args.runs} runs each, whole process\n")
    print(f"{'command':<46} {'median':>8} {'fastest':>8}")
    for name, command in commands:
        times = timed(command, args.runs)
        print(f"{name:<46} {statistics.median(times):>7.3f}s {min(times):>7.3f}s", flush=True)
    print(f"\ntarget for attn explain: < {TARGET} s")


if __name__ == "__main__":
    main()
