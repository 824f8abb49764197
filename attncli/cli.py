"""The `attn` command: a thin Typer layer over parsing → engine → render/serialize.

Errors: every attncli.errors.AttnError and every usage error becomes one line on stderr,
`attn: error: …`, and exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from attncli import __version__
from attncli.errors import AttnError, InputError

if TYPE_CHECKING:
    from attncli.blocked import AttentionOutput
    from attncli.engine import Attention
    from attncli.problem import MultiHeadProblem, Problem

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


class PositionalChoice(StrEnum):
    none = "none"
    sinusoidal = "sinusoidal"


class RopeStyleChoice(StrEnum):
    half = "half"
    interleaved = "interleaved"


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

MHA = "Multi-head attention"  # the help panel of the multi-head options


def _matrix_option(help: str) -> Any:
    return typer.Option(help=help, rich_help_panel=MHA)


def load_cli_fields(
    *, matrices: dict[str, str | None], input: str | None, settings: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The problem fields the flags describe: a document (--input, or piped stdin) with flags laid over it.

    `matrices` maps field names (q, k, v, mask, x, wq, …) to flag text. Stdin is read when --input is
    '-', or when the flags alone are incomplete and stdin is not a TTY.
    """
    from attncli.parsing import parse_matrix, read_text
    from attncli.problem import document_fields, read_document

    given = {name for name, text in matrices.items() if text is not None}
    complete = {"q", "k", "v"} <= given or "x" in given or {"q_input", "kv_input"} <= given
    fields: dict[str, Any] = {}
    source: str | None = None
    text: str | None = None
    base: Path | None = None
    if input == "-":
        text, source = _read_stdin("--input -"), "stdin"
    elif input is not None:
        text, base, source = read_text(Path(input), "--input"), Path(input).parent, input
    elif not complete and not sys.stdin.isatty():
        data = sys.stdin.read()
        if data.strip():
            text, source = data, "stdin"
    if text is not None and source is not None:
        fields = document_fields(read_document(text, source), source, base)
    for name, value in matrices.items():
        if value is not None:
            fields[name] = parse_matrix(value, _flag(name), "mask" if name == "mask" else "matrix")
    fields.update({key: val for key, val in settings.items() if val is not None})
    return fields, source


def load_cli_problem(
    *,
    q: str | None,
    k: str | None,
    v: str | None,
    mask: str | None,
    input: str | None,
    settings: dict[str, Any],
) -> Problem:
    """The single-head problem the flags describe (see load_cli_fields)."""
    from attncli.problem import build_problem

    fields, source = load_cli_fields(matrices={"q": q, "k": k, "v": v, "mask": mask}, input=input, settings=settings)
    return build_problem(fields, source)


def _flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _named(e: AttnError, flags: dict[str, Any]) -> AttnError:
    """The engine names fields (q, kv_heads); say the flag (--q, --kv-heads) when a flag gave the value."""
    if e.argument is not None and flags.get(e.argument) is not None and flags.get(e.argument) is not False:
        return e.with_argument(_flag(e.argument))
    return e.with_argument(e.argument or "input")


def _warn_mask(mask: Any) -> None:
    if mask is not None and mask.dtype != bool:
        import numpy as np

        if set(np.unique(mask).tolist()) <= {0.0, 1.0}:
            warn(
                "the mask holds only 0 and 1, so it is additive (added to the scores); "
                "write true/false for a boolean mask (True = attend)"
            )


def _warn_empty_rows(result: Attention, slice_name: str = "slice") -> None:
    policy = {"zero": "weights and output set to 0", "uniform": "weights set to uniform", "nan": "weights set to NaN"}
    for idx in result.empty_rows:
        where = f"q{idx[-1] + 1}"
        if len(idx) > 1:
            where += f" of head {idx[0] + 1}" if slice_name == "head" else f" of slice {list(idx[:-1])}"
        warn(f"row {where} is fully masked: {policy[result.empty_row]} (--empty-row {result.empty_row})")


def solve_cli(problem: Problem, flags: dict[str, Any]) -> Attention:
    """Solve, naming the flag (--q) rather than the field (q) in errors; warn about odd masks and empty rows."""
    try:
        result = problem.solve()
    except AttnError as e:
        raise _named(e, flags) from None
    _warn_mask(problem.mask)
    _warn_empty_rows(result)
    return result


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
            help="Also show the head-averaged weights (nn.MultiheadAttention's default).", rich_help_panel=MHA
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
    max_memory: Annotated[
        str | None, typer.Option(help="Memory budget for the stage tables, e.g. 2G or 500M (default ¼ of free RAM).")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Compute attention and show every stage: scores, scaling, mask, softmax, weighted sum.

    With --x (or --q-input and --kv-input) and projection weights, or --heads, it runs multi-head
    attention: projections, heads, positions (sinusoidal, RoPE, ALiBi), concatenation, output projection.
    """
    from attncli.problem import build_multihead, build_problem, is_multihead

    cell = _parse_cell(explain_cell) if explain_cell else None
    matrices = {
        "q": q, "k": k, "v": v, "mask": mask, "x": x, "q_input": q_input, "kv_input": kv_input,
        "wq": wq, "wk": wk, "wv": wv, "wo": wo, "bq": bq, "bk": bk, "bv": bv, "bo": bo,
    }  # fmt: skip
    settings = {
        "causal": causal,
        "causal_align": causal_align.value if causal_align else None,
        "scale": scale,
        "empty_row": empty_row.value if empty_row else None,
        "dtype": dtype.value if dtype else None,
        "heads": heads,
        "kv_heads": kv_heads,
        "random_weights": random_weights,
        "seed": seed,
        "positional": positional.value if positional else None,
        "rope": rope,
        "rope_style": rope_style.value if rope_style else None,
        "rope_base": rope_base,
        "alibi": alibi,
    }
    fields, source = load_cli_fields(matrices=matrices, input=input, settings=settings)
    flags = {**matrices, **settings}
    stages = list(stage) if stage else None
    if is_multihead(fields) or head is not None or average_heads:
        _compute_multihead(
            build_multihead(fields, source), flags, stages, json_out, precision, cell, head, average_heads
        )
        return
    from attncli.render import STAGES

    for name in stages or ():
        if name not in STAGES:
            raise InputError(f"unknown stage {name!r} (choose from {', '.join(STAGES)})", argument="--stage")
    if save is not None and save.suffix not in (".npy", ".npz"):
        raise InputError(f"unknown file type '{save.suffix or save.name}' (use .npy or .npz)", argument="--save")
    problem = build_problem(fields, source)
    output_only = _output_only(problem, stages, max_memory)
    with _blas_threads(threads):
        if output_only:
            out = solve_output_cli(problem, flags, threads)
        else:
            result = solve_cli(problem, flags)
    if save is not None:
        _save(save, out.output if output_only else result)
        if not json_out:
            return
    if json_out:
        from attncli.serialize import output_dict, to_json

        if output_only:
            from attncli.serialize import dumps

            sys.stdout.write(dumps(output_dict(out, problem)) + "\n")
        else:
            sys.stdout.write(to_json(result, problem, stages) + "\n")
        return
    from attncli.render import View, render_attention, render_output

    console = _console()
    view = View(precision=precision, width=console.width, labels=problem.labels, explain_cell=cell)
    if problem.title:
        console.print(f"[bold]{problem.title}[/bold]")
    console.print(render_output(out, view) if output_only else render_attention(result, stages, view))


def _output_only(problem: Problem, stages: list[str] | None, max_memory: str | None) -> bool:
    """Whether to take the blocked path: asked for (--stage output), or the stage tables would not fit."""
    from attncli.blocked import memory_budget, parse_size, stages_nbytes

    if stages == ["output"]:
        return True
    budget = parse_size(max_memory, "--max-memory") if max_memory is not None else memory_budget()
    need = stages_nbytes(problem.q.shape, problem.k.shape, problem.v.shape, problem.dtype)
    if need <= budget:
        return False
    sizes = f"the stage tables would need {_gib(need)} (budget {_gib(budget)}, --max-memory)"
    if stages is None:
        warn(f"{sizes}: computing only the output with the blocked path, as --stage output does")
        return True
    raise InputError(
        f"{sizes}; ask for --stage output to compute only the output in bounded memory", argument="--stage"
    )


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _blas_threads(threads: int | None) -> Any:
    """Limit BLAS to `threads` threads while computing (threadpoolctl); no-op when not asked."""
    if threads is None:
        from contextlib import nullcontext

        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def solve_output_cli(problem: Problem, flags: dict[str, Any], threads: int | None) -> AttentionOutput:
    """The output only, by the blocked path, with a progress bar on stderr for long runs."""
    from attncli.blocked import attention_output

    progress = _Progress("attention")
    try:
        out = attention_output(
            problem.q, problem.k, problem.v, mask=problem.mask, causal=problem.causal,
            causal_align=cast(Any, problem.causal_align), scale=problem.scale, empty_row=cast(Any, problem.empty_row),
            dtype=cast(Any, problem.dtype), threads=threads, progress=progress,
        )  # fmt: skip
    except AttnError as e:
        raise _named(e, flags) from None
    finally:
        progress.close()
    _warn_mask(problem.mask)
    policy = {"zero": "output set to 0", "uniform": "weights set to uniform", "nan": "output set to NaN"}
    for idx in out.empty_rows[:10]:
        warn(f"row q{idx[-1] + 1} is fully masked: {policy[out.empty_row]} (--empty-row {out.empty_row})")
    return out


class _Progress:
    """A progress bar on stderr that appears only once work has run for a second, and only on a TTY."""

    def __init__(self, what: str) -> None:
        import time

        self.what = what
        self.start = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None
        self.enabled = sys.stderr.isatty() and not os.environ.get("ATTN_QUIET")

    def __call__(self, done: int, total: int) -> None:
        import time

        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.start < 1.0 or done >= total:
                return
            from rich.progress import Progress

            self.bar = Progress(console=_console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _save(path: Path, result: Any) -> None:
    """Write the output (.npy) or every kept stage (.npz)."""
    import numpy as np

    from attncli.engine import Attention

    try:
        if path.suffix == ".npy":
            np.save(path, result.output if isinstance(result, Attention) else result)
        else:
            arrays = _stage_arrays(result) if isinstance(result, Attention) else {"output": result}
            np.savez(path, **arrays)
    except OSError as e:
        raise InputError(f"cannot write '{path}': {e.strerror}", argument="--save") from None
    print(f"attn: saved {'the output' if path.suffix == '.npy' else 'the stages'} to {path}", file=sys.stderr)


def _stage_arrays(result: Attention) -> dict[str, Any]:
    names = ("q", "k", "v", "scores", "scaled", "masked", "row_max", "shifted", "exp", "row_sum", "weights", "output")
    return {n: getattr(result, n) for n in names if getattr(result, n) is not None}


def _compute_multihead(
    problem: MultiHeadProblem,
    flags: dict[str, Any],
    stages: list[str] | None,
    json_out: bool,
    precision: int,
    cell: tuple[int, int] | None,
    head: int | None,
    average_heads: bool,
) -> None:
    from attncli.render_multihead import MULTIHEAD_STAGES, render_multihead

    for name in stages or ():
        if name not in MULTIHEAD_STAGES:
            raise InputError(f"unknown stage {name!r} (choose from {', '.join(MULTIHEAD_STAGES)})", argument="--stage")
    try:
        result = problem.solve()
    except AttnError as e:
        raise _named(e, flags) from None
    if head is not None and head > result.heads:
        raise InputError(f"there are {result.heads} heads; choose 1…{result.heads}", argument="--head")
    _warn_mask(problem.mask)
    _warn_empty_rows(result.attention, "head")
    if json_out:
        from attncli.serialize import dumps, multihead_dict

        sys.stdout.write(dumps(multihead_dict(result, problem, stages, average_heads)) + "\n")
        return
    from attncli.render import View

    console = _console()
    view = View(precision=precision, width=console.width, labels=problem.labels, explain_cell=cell)
    if problem.title:
        console.print(f"[bold]{problem.title}[/bold]")
    console.print(render_multihead(result, stages, view, head=head, average=average_heads))


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


from attncli import cli_check  # noqa: E402,F401  (registers `attn check`)
