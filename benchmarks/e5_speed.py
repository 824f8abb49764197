"""Whole-process time and peak memory of `attn explain --model multilingual-e5-small` on a 10-token
input ("passage: " + «Этот фильм потрясающий»: <s> ▁passage : ▁Этот ▁фильм ▁потр я са ющий </s>),
beside a bare `import numpy`, beside `attn explain` on all-MiniLM-L6-v2 (10 tokens of English, the
baseline of benchmarks/explain_speed.py) and beside transformers + torch doing the same forward pass
(BertModel with the file's dequantized weights, every layer's attentions out; with --reference).

    .venv/bin/python benchmarks/e5_speed.py [--runs 10] [--reference]

Each command is a fresh process, as a user types it, the commands interleaved (benchmarks/timing.py);
the median, the fastest, the ratio to import numpy's, the CPU time and the peak resident memory of
the process are given, then the load average and the issue's target (≤ 1.0 s) met or not. attncli
runs twice first: the first run of the file dequantizes its weights (and builds the tokenizer's piece
index) into the cache (attncli.models.cache); later runs map them. The cold row (ATTN_CACHE=off) is a run without the
cache. The transformers row gets the same weights from an .npz written here once (its own reading of
the E5S1 format does not exist), so its time is torch's import, BertModel and the forward pass. The
machine is shared: quote the median, and the ratios within one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from explain_speed import NUMPY, attn
from timing import Command, header, interleaved, table

SENTENCE = "Этот фильм потрясающий"  # 10 tokens with the "passage: " prefix
MODEL = "multilingual-e5-small"
TARGET = 1.0  # seconds, whole process, from the issue
MINILM_SENTENCE = "The animal didn't cross the street"  # 10 tokens: benchmarks/explain_speed.py's, a baseline

_REFERENCE = """
import numpy as np, torch, transformers
f = np.load({npz!r})
c = transformers.BertConfig(vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=1536, max_position_embeddings=512, layer_norm_eps=1e-12, attn_implementation="eager")
m = transformers.BertModel(c, add_pooling_layer=False).eval()
m.load_state_dict({{k: torch.from_numpy(f[k]) for k in f.files}}, strict=False)
with torch.no_grad():
    o = m(torch.tensor([[{ids}]]), output_attentions=True)
print(float(o.attentions[-1].sum()))
"""


def weights_npz(folder: Path) -> Path:
    """The file's dequantized weights under BertModel's names, for the transformers row."""
    import numpy as np

    from attncli.models.catalog import KNOWN
    from attncli.models.e5 import E5File, hf_names

    path = KNOWN[MODEL].path()
    assert path is not None
    f = E5File(path)
    out = folder / "e5.npz"
    np.savez(out, **{hf: np.asarray(f.tensor(short)) for hf, short in hf_names(f.dims.layers).items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--reference", action="store_true", help="also time transformers + torch (about 14 s a run, 2 runs)"
    )
    args = parser.parse_args()
    from attncli.models.catalog import KNOWN

    if KNOWN[MODEL].path() is None:
        sys.exit(f"{MODEL} is not installed: attn model download {MODEL}")
    py = sys.executable
    explain = [*attn(), "explain", SENTENCE, "--model", MODEL]
    subprocess.run([*explain, "--json"], check=True, stdout=subprocess.DEVNULL)  # fills the cache
    doc = json.loads(subprocess.run([*explain, "--json"], check=True, capture_output=True, text=True).stdout)
    ours = f"attn explain {SENTENCE!r} --model {MODEL}"
    minilm = f"attn explain {MINILM_SENTENCE!r} (MiniLM)"
    commands = [
        Command(NUMPY, [py, "-c", "import numpy"]),
        Command(ours, explain),
        Command("  … --json", [*explain, "--json"]),
        Command("  … --head all", [*explain, "--head", "all"]),
        Command("  … without the cache (ATTN_CACHE=off)", explain, {"ATTN_CACHE": "off"}),
        Command(minilm, [*attn(), "explain", MINILM_SENTENCE]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        reference = "transformers + torch, same forward pass"
        if args.reference and importlib.util.find_spec("transformers") and importlib.util.find_spec("torch"):
            code = _REFERENCE.format(npz=str(weights_npz(Path(tmp))), ids=", ".join(map(str, doc["token_ids"])))
            commands.append(Command(reference, [py, "-c", code], runs=2))
        header(f"input: {doc['sentence']!r} ({len(doc['tokens'])} tokens: {' '.join(doc['tokens'])})", args.runs)
        timings, loads = interleaved(commands, args.runs)
    table(timings, NUMPY, {ours: ("s", TARGET), "  … --json": ("s", TARGET)}, loads)
    print(f"attn explain --model {MODEL} = {timings[ours].median / timings[minilm].median:.2f} × MiniLM", end="")
    if reference in timings:
        print(f", {timings[ours].median / timings[reference].median:.2f} × transformers + torch", end="")
    print()


if __name__ == "__main__":
    main()
