"""The `attn` command: a thin Typer layer over parsing → engine → render/serialize.

Errors: every attncli.errors.AttnError and every usage error becomes one line on stderr,
`attn: error: …`, and exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from attncli import __version__
from attncli.errors import AttnError, InputError

if TYPE_CHECKING:
    from attncli.engine import Attention
    from attncli.problem import Problem

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


def warn(message: str) -> None:
    print(f"attn: warning: {message}", file=sys.stderr)


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


def _read_stdin(argument: str) -> str:
    data = sys.stdin.read()
    if not data.strip():
        raise InputError("stdin is empty: expected a JSON problem document", argument=argument)
    return data


def _parse_cell(text: str) -> tuple[int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        i, j = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"expected ROW,COLUMN like 1,2 (1-based), got {text!r}", argument="--explain-cell") from None
    return i, j


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print strict JSON instead of tables.")]
DebugOpt = Annotated[bool, typer.Option(help="Show a traceback on errors.")]


def load_cli_problem(
    *,
    q: str | None,
    k: str | None,
    v: str | None,
    mask: str | None,
    input: str | None,
    settings: dict[str, Any],
) -> Problem:
    """The problem the flags describe: a document (--input, or piped stdin) with flags laid over it.

    Stdin is read when --input is '-', or when the flags alone are incomplete and stdin is not a TTY.
    """
    from attncli.parsing import parse_matrix, read_text
    from attncli.problem import build_problem, document_fields, read_document

    fields: dict[str, Any] = {}
    source = "input"
    flags_complete = q is not None and k is not None and v is not None
    text: str | None = None
    base: Path | None = None
    if input == "-":
        text, source = _read_stdin("--input -"), "stdin"
    elif input is not None:
        text, base, source = read_text(Path(input), "--input"), Path(input).parent, input
    elif not flags_complete and not sys.stdin.isatty():
        data = sys.stdin.read()
        if data.strip():
            text, source = data, "stdin"
    if text is not None:
        fields = document_fields(read_document(text, source), source, base)
    for name, value in (("q", q), ("k", k), ("v", v), ("mask", mask)):
        if value is not None:
            fields[name] = parse_matrix(value, f"--{name}", "mask" if name == "mask" else "matrix")
    fields.update({key: val for key, val in settings.items() if val is not None})
    return build_problem(fields, source)


def solve_cli(problem: Problem, flags: dict[str, Any]) -> Attention:
    """Solve, naming the flag (--q) rather than the field (q) in errors when a flag gave the value."""
    try:
        result = problem.solve()
    except AttnError as e:
        given = e.argument is not None and flags.get(e.argument) is not None
        raise e.with_argument(f"--{e.argument}" if given else e.argument or "input") from None
    if problem.mask is not None and problem.mask.dtype != bool:
        import numpy as np

        if set(np.unique(problem.mask).tolist()) <= {0.0, 1.0}:
            warn(
                "the mask holds only 0 and 1, so it is additive (added to the scores); "
                "write true/false for a boolean mask (True = attend)"
            )
    policy = {
        "zero": "weights and output set to 0",
        "uniform": "weights set to uniform",
        "nan": "weights set to NaN",
    }
    for idx in result.empty_rows:
        where = f"q{idx[-1] + 1}" + (f" of slice {list(idx[:-1])}" if len(idx) > 1 else "")
        warn(f"row {where} is fully masked: {policy[result.empty_row]} (--empty-row {result.empty_row})")
    return result


@app.command(
    epilog="Examples:\n\n"
    "  attn compute --q '[[1,0]]' --k '[[0.5,0.5],[0.3,0.7]]' --v '[[1,0],[0.5,0.5]]'\n\n"
    "  attn compute --q '1 0; 0 1' --k '1 0; 0 1' --v '1 0; 0 1' --causal\n\n"
    "  attn compute --input samples/cat-sits.json --json | jq '.stages.weights'",
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
    json_out: JsonOpt = False,
    stage: Annotated[
        list[str] | None,
        typer.Option(
            help="Show only this stage (repeatable): inputs, scores, scaled, masked, softmax, weights, output."
        ),
    ] = None,
    precision: Annotated[int, typer.Option(min=0, max=15, help="Decimals shown in tables.")] = 4,
    explain_cell: Annotated[
        str | None, typer.Option(help="Expand one score cell term by term, e.g. 1,2 (query 1, key 2).")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Compute attention and show every stage: scores, scaling, mask, softmax, weighted sum."""
    from attncli.render import STAGES

    stages = list(stage) if stage else None
    for name in stages or ():
        if name not in STAGES:
            raise InputError(f"unknown stage {name!r} (choose from {', '.join(STAGES)})", argument="--stage")
    cell = _parse_cell(explain_cell) if explain_cell else None
    settings = {
        "causal": causal,
        "causal_align": causal_align.value if causal_align else None,
        "scale": scale,
        "empty_row": empty_row.value if empty_row else None,
        "dtype": dtype.value if dtype else None,
    }
    problem = load_cli_problem(q=q, k=k, v=v, mask=mask, input=input, settings=settings)
    result = solve_cli(problem, {"q": q, "k": k, "v": v, "mask": mask, "scale": scale})

    if json_out:
        from attncli.serialize import to_json

        sys.stdout.write(to_json(result, problem, stages) + "\n")
        return
    from attncli.render import View, render_attention

    console = _console()
    view = View(precision=precision, width=console.width, labels=problem.labels, explain_cell=cell)
    if problem.title:
        console.print(f"[bold]{problem.title}[/bold]")
    console.print(render_attention(result, stages, view))


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"attn: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `attn` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("ATTN_DEBUG"))
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="attn", standalone_mode=False)
    except AttnError as e:
        if debug:
            raise
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (`attn … | head -1`): stop quietly, as other Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
    except Exception as e:
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # a click usage error
            if debug:
                raise
            _fail(_usage_message(e), 2)
        if type(e).__name__ == "Abort":
            _fail("aborted", 130)
        if debug:
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (this is a bug; rerun with --debug for a traceback)", 70)
    raise SystemExit(code or 0)


def _usage_message(e: Any) -> str:
    message = " ".join(str(e.format_message()).split())
    ctx = getattr(e, "ctx", None)
    if ctx is not None and ctx.command_path:
        message += f" (see '{ctx.command_path} --help')"
    return message


from attncli import cli_explain  # noqa: E402,F401  (registers attn explain/model)
