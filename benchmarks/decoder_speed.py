"""Whole-process time and peak memory of `attn explain --model smollm2-135m` (next-token prediction
included) on a 10-token sentence, beside a bare `import numpy` and (with --reference) beside
transformers + torch doing the same forward pass (attentions out, next token) from the same GGUF;
then `--generate 32`, with the time per generated token measured in-process.

    .venv/bin/python benchmarks/decoder_speed.py [--runs 10] [--reference]

Each command is a fresh process, as a user types it, the commands interleaved (benchmarks/timing.py);
the median, the fastest, the ratio to import numpy's, the CPU time and the peak resident memory of
the process are given, then the load average and the issue's targets met or not. attncli runs twice
first: the first run of a model file dequantizes its weights into the cache (attncli.models.cache),
later runs map them; the cold row (ATTN_CACHE=off) shows a run without the cache. The machine is
shared: quote the median.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time

from explain_speed import NUMPY, attn
from timing import Command, header, interleaved, table

SENTENCE = "The quick brown fox jumps over the lazy dog and"  # 10 tokens of SmolLM2's tokenizer
TARGET = 2.0  # seconds, whole process, from the issue; and at most half of transformers' time


def per_token(path: str, count: int = 32) -> float:
    from pathlib import Path

    from attncli.models.llama import LlamaDecoder, generate

    model = LlamaDecoder(Path(path))
    ids = model.tokenizer.encode("Once upon a time", 100).ids
    generate(model, ids, 2)  # weights mapped in
    start = time.perf_counter()
    made = generate(model, ids, count)
    return (time.perf_counter() - start) / max(1, len(made.new_ids))


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--reference", action="store_true", help="also time transformers + torch (about 50 s a run, 2 runs)"
    )
    args = parser.parse_args()
    from attncli.models.catalog import KNOWN, SMOLLM2

    path = KNOWN[SMOLLM2].path()
    if path is None:
        sys.exit("smollm2-135m is not installed: attn model download smollm2-135m")
    py = sys.executable
    explain = [*attn(), "explain", SENTENCE, "--model", SMOLLM2]
    subprocess.run([*explain, "--json"], check=True, stdout=subprocess.DEVNULL)  # fills the cache
    doc = json.loads(subprocess.run([*explain, "--json"], check=True, capture_output=True, text=True).stdout)
    ours = "attn explain SENTENCE --model smollm2-135m"
    commands = [
        Command(NUMPY, [py, "-c", "import numpy"]),
        Command(ours, explain),
        Command("  … --json", [*explain, "--json"]),
        Command("  … without the cache (ATTN_CACHE=off)", explain, {"ATTN_CACHE": "off"}),
        Command("  … --generate 32", [*explain, "--generate", "32"]),
    ]
    reference = "transformers + torch, same forward pass"
    if args.reference and importlib.util.find_spec("transformers") and importlib.util.find_spec("torch"):
        code = (
            "import torch; from transformers import AutoModelForCausalLM, AutoTokenizer; "
            f"d, f = {str(path.parent)!r}, {path.name!r}; t = AutoTokenizer.from_pretrained(d, gguf_file=f); "
            "m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, attn_implementation='eager').eval(); "
            f"torch.no_grad().__enter__(); o = m(**t({SENTENCE!r}, return_tensors='pt'), output_attentions=True); "
            "print(t.decode(o.logits[0, -1].argmax()))"
        )
        commands.append(Command(reference, [py, "-c", code], runs=2))
    what = f"sentence: {SENTENCE!r} ({len(doc['tokens'])} tokens); next token {doc['next_token'][0]['token']!r}"
    header(what, args.runs)
    timings, loads = interleaved(commands, args.runs)
    table(timings, NUMPY, {ours: ("s", TARGET)}, loads)
    if reference in timings:
        share = timings[ours].median / timings[reference].median
        print(f"target: ≤ half of transformers' time: {share:.2f} × — {'met' if share <= 0.5 else 'NOT met'}")
    print(f"--generate 32, in-process: {per_token(str(path)) * 1000:.1f} ms per new token (KV cache)")


if __name__ == "__main__":
    main()
