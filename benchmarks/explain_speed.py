"""Start-up: whole-process time of `attn compute` on a tiny problem and of `attn explain` on a
10-token sentence (all-MiniLM-L6-v2), against a bare `python -c "import numpy"` timed in the same run;
with --reference, also the transformers pipeline on the same model.

    .venv/bin/python benchmarks/explain_speed.py [--runs 10] [--reference]

Each command runs as a fresh process (as a user types it), the commands interleaved (see timing.py);
the table gives the median, the fastest, the ratio of the median to import numpy's, the CPU time and
the peak memory, then the load average and each target of issue #20 with its ratio. The row with
`--` is the same explain read by Typer (the fast path leaves anything after `--` to it): the
difference is what the Typer-free reading saves. The machine may be shared:
the ratios within one run are the figures to quote. attncli is byte-compiled first, as an install
leaves it.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

from timing import Command, header, interleaved, machine, table

__all__ = ["NUMPY", "attn", "machine", "timed"]  # (machine and timed: for the other benchmarks here)

SENTENCE = "The animal didn't cross the street"  # [CLS] the animal didn ' t cross the street [SEP]: 10 tokens
SMALL = ["--q", "[[1,0]]", "--k", "[[0.5,0.5],[0.3,0.7]]", "--v", "[[1,0],[0.5,0.5]]"]
NUMPY = "python -c 'import numpy'"
TARGETS = {  # issue #20: the median's ratio to import numpy's
    "attn compute … --json": ("×", 1.3),
    "attn compute … (tables)": ("×", 1.6),
    "attn explain SENTENCE": ("×", 3.0),
}


def timed(command: list[str], runs: int) -> list[float]:
    """Seconds of each of `runs` runs of `command`, one after another."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def attn() -> list[str]:
    """The console script as a user runs it (beside this Python), else `python -m attncli`."""
    script = Path(sys.executable).with_name("attn")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "attncli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--reference", action="store_true", help="also time transformers (about 5 s a run)")
    args = parser.parse_args()

    import compileall

    import attncli
    from attncli.models.locate import package_folder
    from attncli.models.tokenize import WordPiece

    # Byte-compiled as an install leaves it (make does the same): with PYTHONDONTWRITEBYTECODE set, a module
    # edited since would be compiled again by every run and its compile time counted as start-up.
    compileall.compile_dir(Path(attncli.__file__).parent, quiet=1)

    folder = package_folder()
    if folder is None:
        sys.exit("the model package is not installed: attn model download")
    n_tokens = len(WordPiece(folder / "tokenizer.json").encode(SENTENCE, 512))

    py, a = sys.executable, attn()
    commands = [
        Command(NUMPY, [py, "-c", "import numpy"]),
        Command("attn --version (Typer's start-up)", [*a, "--version"]),
        Command("attn compute … --json", [*a, "compute", *SMALL, "--json"]),
        Command("attn compute … (tables)", [*a, "compute", *SMALL]),
        Command("attn explain SENTENCE", [*a, "explain", SENTENCE]),
        Command("attn explain -- SENTENCE (through Typer)", [*a, "explain", "--", SENTENCE]),
        Command("attn explain SENTENCE --json", [*a, "explain", SENTENCE, "--json"]),
        Command("attn explain SENTENCE --head all", [*a, "explain", SENTENCE, "--head", "all"]),
    ]
    if args.reference and importlib.util.find_spec("transformers") and importlib.util.find_spec("torch"):
        attentions = (
            "import torch; from transformers import AutoTokenizer, BertModel; "
            f"t = AutoTokenizer.from_pretrained({str(folder)!r}); "
            f"m = BertModel.from_pretrained({str(folder)!r}, attn_implementation='eager').eval(); "
            f"torch.no_grad().__enter__(); m(**t({SENTENCE!r}, return_tensors='pt'), output_attentions=True)"
        )
        commands.append(Command("transformers BertModel, output_attentions", [py, "-c", attentions], runs=2))
    header(f"compute: a 1×2 problem; explain: {SENTENCE!r} ({n_tokens} tokens), all-MiniLM-L6-v2", args.runs)
    timings, loads = interleaved(commands, args.runs)
    table(timings, NUMPY, TARGETS, loads)


if __name__ == "__main__":
    main()
