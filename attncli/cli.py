"""The `attn` command: a thin Typer layer over parsing → engine → render/serialize.

Errors: every attncli.errors.AttnError and every usage error becomes one line on stderr,
`attn: error: …`, and exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from attncli import __version__

# Re-exported (`as`) for the command modules that register themselves below.
from attncli.commands import _console as _console
from attncli.commands import load_cli_fields as load_cli_fields
from attncli.commands import load_cli_problem as load_cli_problem
from attncli.commands import run_compute
from attncli.commands import solve_cli as solve_cli
from attncli.commands import warn as warn

app = typer.Typer(
    name="attn",
    help="attncli: see every stage of attention, exactly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


def _version(value: bool) -> None:
    if value:
        print(f"attn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """attncli: see every stage of attention, exactly."""


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


def _matrix_option(help: str) -> Any:
    return typer.Option(help=help, rich_help_panel=MHA)


@app.command(
    epilog="Examples:\n\n"
    "  attn compute --q '[[1,0]]' --k '[[0.5,0.5],[0.3,0.7]]' --v '[[1,0],[0.5,0.5]]'\n\n"
    "  attn compute --q '1 0; 0 1' --k '1 0; 0 1' --v '1 0; 0 1' --causal\n\n"
    "  attn compute --input samples/cat-sits.json --json | jq '.stages.weights'\n\n"
    "  attn compute --input samples/mha-2heads.json --head 1\n\n"
    "  attn compute --x '[[1,0,1,0],[0,2,0,2]]' --heads 8 --kv-heads 2 --random-weights --seed 7",
)
def compute(
    q: QOpt = None,
    k: KOpt = None,
    v: VOpt = None,
    mask: MaskOpt = None,
    causal: CausalOpt = None,
    causal_align: AlignOpt = None,
    scale: ScaleOpt = None,
    empty_row: EmptyRowOpt = None,
    dtype: DTypeOpt = None,
    input: InputOpt = None,
    sample: SampleOpt = None,
    json_out: JsonOpt = False,
    stage: Annotated[
        list[str] | None,
        typer.Option(
            help="Show only this stage (repeatable): inputs, scores, scaled, masked, softmax, weights, output; "
            "with heads also positional, projected, heads, rope, alibi, concat, projection."
        ),
    ] = None,
    precision: Annotated[int, typer.Option(min=0, max=15, help="Decimals shown in tables.")] = 4,
    explain_cell: Annotated[
        str | None, typer.Option(help="Expand one score cell term by term, e.g. 1,2 (query 1, key 2).")
    ] = None,
    x: Annotated[
        str | None, _matrix_option("Inputs X (T×d_model) for self-attention; projected by --wq/--wk/--wv.")
    ] = None,
    q_input: Annotated[str | None, _matrix_option("Query-side inputs (T×d_model) for cross-attention.")] = None,
    kv_input: Annotated[str | None, _matrix_option("Key/value-side inputs (S×d_model) for cross-attention.")] = None,
    wq: Annotated[str | None, _matrix_option("W_q (d_model × heads·d_head): Q = X·W_q (nn.Linear's weight.T).")] = None,
    wk: Annotated[str | None, _matrix_option("W_k (d_model × kv_heads·d_head).")] = None,
    wv: Annotated[str | None, _matrix_option("W_v (d_model × kv_heads·d_v).")] = None,
    wo: Annotated[str | None, _matrix_option("W_o (heads·d_v × d_out): output = concat·W_o.")] = None,
    bq: Annotated[str | None, _matrix_option("Bias added to Q.")] = None,
    bk: Annotated[str | None, _matrix_option("Bias added to K.")] = None,
    bv: Annotated[str | None, _matrix_option("Bias added to V.")] = None,
    bo: Annotated[str | None, _matrix_option("Bias added to the output.")] = None,
    heads: Annotated[int | None, typer.Option(min=1, help="Number of heads H.", rich_help_panel=MHA)] = None,
    kv_heads: Annotated[
        int | None, typer.Option(min=1, help="K/V heads G (grouped-query; H divisible by G).", rich_help_panel=MHA)
    ] = None,
    head: Annotated[int | None, typer.Option(min=1, help="Show only head N (1-based).", rich_help_panel=MHA)] = None,
    average_heads: Annotated[
        bool,
        typer.Option(
            "--average-heads",
            help="Also show the head-averaged weights (nn.MultiheadAttention's default).",
            rich_help_panel=MHA,
        ),
    ] = False,
    random_weights: Annotated[
        bool | None,
        typer.Option("--random-weights", help="Reproducible demo weights (see --seed).", rich_help_panel=MHA),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of --random-weights (default 0).", rich_help_panel=MHA)
    ] = None,
    positional: Annotated[
        PositionalChoice | None,
        typer.Option(help="Add sinusoidal position encodings to the inputs.", rich_help_panel=MHA),
    ] = None,
    rope: Annotated[
        bool | None, typer.Option("--rope", help="Rotary position embedding on q and k.", rich_help_panel=MHA)
    ] = None,
    rope_style: Annotated[
        RopeStyleChoice | None,
        typer.Option(help="half (GPT-NeoX, Llama; default) or interleaved (RoFormer, GPT-J).", rich_help_panel=MHA),
    ] = None,
    rope_base: Annotated[float | None, typer.Option(help="RoPE base (default 10000).", rich_help_panel=MHA)] = None,
    alibi: Annotated[
        bool | None, typer.Option("--alibi", help="ALiBi distance penalties per head.", rich_help_panel=MHA)
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Worker and BLAS threads (default: the cores available).")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(
            help="Write the result to FILE.npy (the output) or FILE.npz (every stage kept) instead of tables."
        ),
    ] = None,
    max_memory: MaxMemoryOpt = None,
    format: FormatOpt = None,
    heatmap: Annotated[bool, typer.Option("--heatmap", help="Also show the weights as a coloured heatmap.")] = False,
    save_svg: SaveSvgOpt = None,
    save_html: SaveHtmlOpt = None,
    no_color: NoColorOpt = False,
    quiet: QuietOpt = False,
    lang: LangOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compute attention and show every stage: scores, scaling, mask, softmax, weighted sum.

    With --x (or --q-input and --kv-input) and projection weights, or --heads, it runs multi-head
    attention: projections, heads, positions (sinusoidal, RoPE, ALiBi), concatenation, output projection.
    """
    # every parameter as it is, but choices (str enums) as their plain values
    params = {name: value.value if isinstance(value, StrEnum) else value for name, value in locals().items()}
    run_compute(**params)


def run_typer(args: list[str]) -> Any:
    """Parse `args` with Typer and run the command; errors propagate (attncli.entry turns them into exit codes)."""
    return typer.main.get_command(app).main(args=args, prog_name="attn", standalone_mode=False)


def main(argv: list[str] | None = None) -> None:
    """The `attn` entry point (see attncli.entry)."""
    from attncli.entry import main as entry_main

    entry_main(argv)


# The other commands register themselves on `app` when imported.
from attncli import cli_check, cli_explain, cli_samples  # noqa: E402,F401
