"""Whole-process time of `attn explain` across heads and layers (--key, --query with --head all,
--rollout, --roles; --flow for information) on a 20-token sentence, beside a bare `python -c "import
numpy"` and the plain `attn explain`; the issue's target is 1.5 s for MiniLM (flow's own benchmark:
flow_speed.py).

    .venv/bin/python benchmarks/across_speed.py [--runs 7]

Each command runs as a fresh process (as a user types it). The runs go round by round (every command
once, then again), so that a change in the load of a shared machine falls on all of them alike; the
table gives the median and the fastest of the runs and the median as a multiple of `import numpy`'s,
with the CPU, the BLAS library and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from explain_speed import machine  # this folder's other benchmark (run as a script: it is on sys.path)

# [CLS] the miniature eiffel … [SEP]: 20 tokens (checked below)
SENTENCE = "The miniature Eiffel tower is a toy that my little sister keeps on her shelf."
TARGET = 1.5  # seconds, whole process, from the issue
NUMPY = "python -c 'import numpy'"


def blas() -> str:
    from threadpoolctl import threadpool_info

    found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)" for i in found)


def rounds(commands: list[tuple[str, list[str]]], runs: int) -> dict[str, list[float]]:
    """Seconds of every run of every command, run round by round (each command once per round)."""
    times: dict[str, list[float]] = {name: [] for name, _ in commands}
    for _ in range(runs):
        for name, command in commands:
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    return times


def in_process(runs: int) -> None:
    """The parts after start-up, in this process: the forward pass once, then each analysis on its weights."""
    import numpy as np

    from attncli.analysis.flow import attention_flow
    from attncli.analysis.heads import search, units
    from attncli.analysis.roles import roles, sentence_roles
    from attncli.analysis.rollout import rollout
    from attncli.models.locate import package_folder
    from attncli.models.registry import load

    folder = package_folder()
    assert folder is not None
    model = load(folder)
    tokens = model.tokenizer.encode(SENTENCE, 512)
    of = units(SENTENCE, tokens)
    steps = {
        "forward pass (every layer's weights)": lambda: model.forward(tokens.ids[None, :]),
    }
    weights = np.stack([w[0] for w in model.forward(tokens.ids[None, :]).weights])
    steps["head search (72 heads)"] = lambda: search(weights, of, (4,), (2,))
    steps["roles (72 heads × 7 roles)"] = lambda: roles(sentence_roles(weights, SENTENCE, tokens, False))
    steps["rollout (6 layers)"] = lambda: rollout(weights)
    steps["flow (6 layers, 400 maximum flows)"] = lambda: attention_flow(weights)
    for name, step in steps.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print(f"| {name} | {1000 * statistics.median(times):.1f} ms | {1000 * min(times):.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    import numpy  # noqa: F401  (loads the BLAS that machine() reports)

    from attncli.models.locate import package_folder
    from attncli.models.tokenize import WordPiece

    folder = package_folder()
    if folder is None:
        sys.exit("the model package is not installed: attn model download")
    n_tokens = len(WordPiece(folder / "tokenizer.json").encode(SENTENCE, 512))
    attn = [sys.executable, "-m", "attncli", "explain", SENTENCE]
    commands = [
        (NUMPY, [sys.executable, "-c", "import numpy"]),
        ("attn explain SENTENCE", attn),
        ("… --query tower --key miniature", [*attn, "--query", "tower", "--key", "miniature"]),
        ("… --query tower --head all", [*attn, "--query", "tower", "--head", "all"]),
        ("… --rollout", [*attn, "--rollout"]),
        ("… --roles", [*attn, "--roles"]),
        ("… --roles --json", [*attn, "--roles", "--json"]),
        ("… --flow (no target)", [*attn, "--flow"]),
    ]
    print(f"{n_tokens} tokens: {SENTENCE!r}")
    print(f"Machine: {machine()}; BLAS: {blas() or 'none found'}; load average before: {os.getloadavg()[0]:.2f}")
    times = rounds(commands, args.runs)
    numpy_time = statistics.median(times[NUMPY])
    print(f"{args.runs} runs each, round by round")
    print(f"| command | median | fastest | median ÷ import numpy | ≤ {TARGET} s |")
    print("| --- | --- | --- | --- | --- |")
    for name, _ in commands:
        median = statistics.median(times[name])
        print(f"| `{name}` | {median:.3f} s | {min(times[name]):.3f} s | {median / numpy_time:.1f}× "
              f"| {'yes' if median <= TARGET else 'no'} |")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("| in-process step | median | fastest |")
    print("| --- | --- | --- |")
    in_process(args.runs)


if __name__ == "__main__":
    main()
