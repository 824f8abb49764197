"""The options the commands share, defined once (Typer's Annotated types), and the choice sets as
Typer wants them (str enums; their values are the core's choice sets, which a test checks)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print strict JSON instead of tables.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
FormatOpt = Annotated[
    FormatChoice | None, typer.Option(help="Print the stage tables as markdown, latex or csv text instead.")
]
SaveSvgOpt = Annotated[Path | None, typer.Option(help="Also save what is shown as an SVG picture.")]
SaveHtmlOpt = Annotated[Path | None, typer.Option(help="Also save what is shown as an HTML page.")]
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

MHA = "Multi-head attention"  # the help panel of the multi-head options


def matrix_option(help: str) -> Any:
    return typer.Option(help=help, rich_help_panel=MHA)


MODEL_FLAG = "--model"
ModelOpt = Annotated[
    str | None,
    typer.Option(
        MODEL_FLAG,
        metavar="NAME|PATH",
        help="A model by name (attn model list: minilm, smollm2-135m), a local Hugging Face BERT folder "
        "(config.json, model.safetensors, tokenizer.json) or a Llama .gguf file; "
        "default $ATTN_MODEL, then the installed all-MiniLM-L6-v2 package.",
    ),
]
