"""The options the commands share, defined once (Typer's Annotated types), and the choice sets as
Typer wants them (str enums; their values are the core's choice sets, which a test checks)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from attncli.cli.sources import MODEL_FLAG, TEXT_PREFIX_FLAG


class CausalAlignChoice(StrEnum):
    top_left = "top-left"
    bottom_right = "bottom-right"


class EmptyRowChoice(StrEnum):
    zero = "zero"
    uniform = "uniform"
    nan = "nan"


class DTypeChoice(StrEnum):
    float64 = "float64"
    float32 = "float32"


class FormatChoice(StrEnum):
    markdown = "markdown"
    latex = "latex"
    csv = "csv"


class LangChoice(StrEnum):
    en = "en"
    ru = "ru"


class PositionalChoice(StrEnum):
    none = "none"
    sinusoidal = "sinusoidal"


class RopeStyleChoice(StrEnum):
    half = "half"
    interleaved = "interleaved"


class WindowRuleChoice(StrEnum):
    hf = "hf"
    gym = "gym"
    jax = "jax"


# Options shared by every command that takes a problem (defined once, reused).
QOpt = Annotated[str | None, typer.Option(help="Queries Q (T×d_k): JSON '[[1,0]]', rows '1 0; 0 1', or @file.")]
KOpt = Annotated[str | None, typer.Option(help="Keys K (S×d_k), same forms as --q.")]
VOpt = Annotated[str | None, typer.Option(help="Values V (S×d_v), same forms as --q.")]
MaskOpt = Annotated[
    str | None,
    typer.Option(help="Mask (T×S, broadcast): true/false (True = attend) or numbers added to the scaled scores."),
]
CausalOpt = Annotated[bool | None, typer.Option("--causal/--no-causal", help="Hide later keys from each query.")]
AlignOpt = Annotated[
    CausalAlignChoice | None, typer.Option(help="Causal alignment when T ≠ S (default top-left, as PyTorch).")
]
ScaleOpt = Annotated[float | None, typer.Option(help="Score scale (default 1/√d_k).")]
EmptyRowOpt = Annotated[
    EmptyRowChoice | None, typer.Option(help="Weights of a fully masked row (default zero, as PyTorch SDPA).")
]
DTypeOpt = Annotated[DTypeChoice | None, typer.Option(help="Compute in float64 (default) or float32.")]
InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="A JSON problem document; '-' reads stdin.")]
SampleOpt = Annotated[str | None, typer.Option(help="A bundled sample problem (see `attn samples`), as --input.")]
LabelsOpt = Annotated[
    str | None,
    typer.Option(
        help="Names of the queries, and of the keys too when there are as many: words separated by spaces "
        "('Этот фильм потрясающий') or a JSON list; tables, captions and the JSON use them.",
        metavar="WORDS",
    ),
]
KLabelsOpt = Annotated[
    str | None, typer.Option("--k-labels", help="Names of the keys (and values), as --labels.", metavar="WORDS")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print strict JSON instead of tables.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
FormatOpt = Annotated[
    FormatChoice | None, typer.Option(help="Print the stage tables as markdown, latex or csv text instead.")
]
SaveSvgOpt = Annotated[Path | None, typer.Option(help="Also save what is shown as an SVG picture.")]
SaveHtmlOpt = Annotated[Path | None, typer.Option(help="Also save what is shown as an HTML page.")]
ViewOpt = Annotated[
    Path | None,
    typer.Option(help="Also write an interactive page (head view, model view, stages) to FILE.html.", metavar="FILE"),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colours (as the NO_COLOR variable).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bar, warnings or notes on stderr.")]
LangOpt = Annotated[
    LangChoice | None,
    typer.Option(help="Language of captions and messages: en or ru (default: $ATTN_LANG, else a Russian locale)."),
]
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option(help="Memory budget for the stage tables, e.g. 2G or 500M (default ¼ of the available RAM)."),
]

StageOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="Show only this stage (repeatable): inputs, scores, scaled, masked, visible, softmax, weights, "
        "output; with heads also positional, projected, heads, qk_norm, rope, alibi, concat, projection."
    ),
]
ExplainCellOpt = Annotated[
    str | None, typer.Option(help="Expand one score cell term by term, e.g. 1,2 (query 1, key 2).")
]

VARIANTS = "Structured masks"  # the help panel of the sliding window, chunks, prefix-LM and documents


def _variant(low: int | None, help: str) -> Any:
    return typer.Option(min=low, help=help, rich_help_panel=VARIANTS)


WindowOpt = Annotated[int | None, _variant(1, "Sliding window of W keys (see --window-rule; default rule hf).")]
WindowRuleOpt = Annotated[
    WindowRuleChoice | None,
    _variant(
        None,
        "Window convention: hf (default; Mistral/Gemma, i−W < j ≤ i, W keys), gym (attention-gym, "
        "i−j ≤ W, W+1 keys) or jax (local_window_size=(W, R): i−W ≤ j ≤ i+R).",
    ),
]
WindowRightOpt = Annotated[int | None, _variant(0, "Keys to the right of the query for --window-rule jax (default 0).")]
ChunkOpt = Annotated[int | None, _variant(1, "Chunked attention (Llama 4): ⌊j/C⌋ = ⌊i/C⌋ and causal.")]
PrefixOpt = Annotated[int | None, _variant(1, "Prefix-LM: the first P keys are seen by every query, causal after.")]
DocumentsOpt = Annotated[
    str | None,
    _variant(None, "Packed documents: one id per token, e.g. 0,0,0,1,1; a query sees its own document only."),
]
SoftcapOpt = Annotated[
    float | None, _variant(None, "Logit soft-capping (Gemma 2): scaled scores become c·tanh(s/c), before the mask.")
]
SinksOpt = Annotated[
    str | None,
    _variant(None, "Learned attention sinks (gpt-oss): one logit per head, e.g. 0.5,-1; rows then sum to < 1."),
]
QueryPreAttnScalarOpt = Annotated[
    float | None,
    _variant(None, "Gemma 2's scale rule: scale = N^-1/2 (query_pre_attn_scalar, e.g. 256) instead of 1/√d_k."),
]
SinkTokensOpt = Annotated[int | None, _variant(1, "StreamingLLM: the first k keys stay visible beside the --window.")]

MHA = "Multi-head attention"  # the help panel of the multi-head options


def matrix_option(help: str) -> Any:
    return typer.Option(help=help, rich_help_panel=MHA)


ModelOpt = Annotated[
    str | None,
    typer.Option(
        MODEL_FLAG,
        metavar="NAME|PATH",
        help="A model by name (attn model list: minilm, multilingual-e5-small, smollm2-135m), a local Hugging Face "
        "BERT folder (config.json, model.safetensors, tokenizer.json), a Llama .gguf file or an E5S1 .bin file; "
        "default $ATTN_MODEL, then the installed all-MiniLM-L6-v2 package.",
    ),
]

TextPrefixOpt = Annotated[
    str | None,
    typer.Option(
        TEXT_PREFIX_FLAG,
        metavar="TEXT",
        help="Text put before the sentence, as the model was trained to read it (multilingual-e5-small: "
        "'passage: ' unless this says 'query: ' or ''; the other models: none). Its tokens are shown.",
        show_default=False,
    ),
]

GenerateOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=256,
        metavar="N",
        help="A decoder only: continue the sentence with N tokens (greedy, KV cache); --query picks one.",
    ),
]
