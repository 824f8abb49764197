"""What the commands do, without Typer: reading problems from flags, documents and stdin, solving,
warnings, the blocked path, saving, and printing tables or JSON.

attncli.cli declares the Typer commands and calls these; attncli.entry calls run_compute directly for
plain `attn compute` invocations, so they start without importing Typer (see attncli.fastpath).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from attncli.errors import AttnError, InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from pathlib import Path

    from attncli.blocked import AttentionOutput
    from attncli.engine import Attention
    from attncli.export import StageTable
    from attncli.problem import MultiHeadProblem, Problem
    from attncli.render import View


def warn(message: str, note: bool = False) -> None:
    """A warning (or a note) on stderr; ATTN_QUIET (set by --quiet) silences both."""
    if not os.environ.get("ATTN_QUIET"):
        line = _("attn: note: {message}") if note else _("attn: warning: {message}")
        print(line.format(message=message), file=sys.stderr)


def _read_stdin(argument: str) -> str:
    from attncli.parsing import read_stream

    data = read_stream(sys.stdin, "stdin")
    if not data.strip():
        raise InputError(_("stdin is empty: expected a JSON problem document"), argument=argument)
    return data


def _parse_cell(text: str) -> tuple[int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        i, j = (int(p) for p in parts)
    except ValueError:
        message = _("expected ROW,COLUMN like 1,2 (1-based), got {text!r}").format(text=text)
        raise InputError(message, argument="--explain-cell") from None
    return i, j


_recording: Any = None  # the console that records for --save-svg/--save-html while a command runs


def _console(stderr: bool = False, record: bool = False) -> Any:
    """A console for results (stdout) or messages (stderr); while recording, every stdout console is
    the one recording console, so that a command printing in several places is exported whole."""
    global _recording
    if not stderr and _recording is not None:
        return _recording
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=False, record=record, emoji=False)
    if record:
        _recording = console
    return console


def start_recording(svg: Path | None, html: Path | None) -> None:
    """Record what the command shows from now on, if it is to be saved (--save-svg/--save-html)."""
    global _recording
    _recording = None
    if svg is not None or html is not None:
        _console(record=True)


@dataclass(frozen=True)
class Presentation:
    """How a command shows its result: JSON, a text format, or rich tables (optionally exported)."""

    json_out: bool = False
    format: str | None = None  # markdown, latex or csv
    precision: int = 4
    explain_cell: tuple[int, int] | None = None
    save_svg: Path | None = None
    save_html: Path | None = None
    heatmap: bool = False

    def check(self) -> None:
        if self.json_out and self.format:
            raise InputError(_("give --json or --format, not both"), argument="--format")
        if (self.save_svg or self.save_html) and (self.json_out or self.format):
            flag = "--save-svg" if self.save_svg else "--save-html"
            raise InputError(
                _("records the tables shown in the terminal; it does not go with --json or --format"), argument=flag
            )

    def show(
        self,
        *,
        title: str | None,
        labels: Any,
        json_text: Callable[[], str],
        tables: Callable[[], list[StageTable]] | None,
        render: Callable[[View], Any],
    ) -> None:
        """Print the result the way that was asked for, and export what the terminal showed."""
        if self.json_out:
            sys.stdout.write(json_text() + "\n")
            return
        if self.format:
            from attncli import export

            if tables is None:
                raise InputError(_("there are no stage tables to format here (only the output)"), argument="--format")
            if self.format == "csv":  # data for a spreadsheet: every digit
                sys.stdout.write(export.to_csv(tables()))
            else:
                writer = export.to_markdown if self.format == "markdown" else export.to_latex
                sys.stdout.write(writer(tables(), self.precision))
            return
        from attncli.render import View

        start_recording(self.save_svg, self.save_html)
        console = _console()
        if title:
            console.print(f"[bold]{escape(title)}[/bold]")
        view = View(
            precision=self.precision, width=console.width, labels=labels, explain_cell=self.explain_cell,
            heatmap=self.heatmap,
        )  # fmt: skip
        console.print(render(view))
        save_recording(console, self.save_svg, self.save_html, title)


def save_recording(console: Any, svg: Path | None, html: Path | None, title: str | None) -> None:
    """Write what a recording console showed as SVG and/or HTML (rich's own export), and stop recording."""
    global _recording
    _recording = None
    for path, save in ((svg, console.save_svg), (html, console.save_html)):
        if path is not None:
            try:  # clear=False: the SVG and the HTML both get everything that was shown
                extra = {"title": title or "attncli"} if path == svg else {}
                save(str(path), clear=False, **extra)
            except OSError as e:
                flag = "--save-svg" if path == svg else "--save-html"
                message = _("cannot write '{path}': {reason}").format(path=path, reason=e.strerror)
                raise InputError(message, argument=flag) from None
            warn(_("saved what was shown to {path}").format(path=path), note=True)


def output_settings(no_color: bool, quiet: bool) -> None:
    """--no-color and --quiet, for every command: as the NO_COLOR and ATTN_QUIET variables."""
    if no_color:
        os.environ["NO_COLOR"] = "1"
    if quiet:
        os.environ["ATTN_QUIET"] = "1"


def use_language(lang: str | None) -> None:
    """--lang, when given (attncli.entry has already read it from the arguments; this is for direct calls)."""
    if lang is not None:
        from attncli.i18n import set_language

        set_language(lang)


def escape(text: str) -> str:
    """Text shown as is by rich (no [markup])."""
    return text.replace("[", "\\[")


def resolve_sample(sample: str | None, input: str | None) -> str | None:
    """--sample NAME is --input with the sample's file."""
    if sample is None:
        return input
    if input is not None:
        raise InputError(_("give --input or --sample, not both"), argument="--sample")
    from attncli.samples import sample_path

    return str(sample_path(sample))


def load_cli_fields(
    *, matrices: dict[str, str | None], input: str | None, settings: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The problem fields the flags describe: a document (--input, or piped stdin) with flags laid over it.

    `matrices` maps field names (q, k, v, mask, x, wq, …) to flag text. Stdin is read when --input is
    '-', or when the flags alone are incomplete and stdin is not a TTY.
    """
    from attncli.parsing import parse_matrix, read_stream, read_text
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
        from pathlib import Path  # only for a file: pathlib is not imported on the way to a result

        text, base, source = read_text(Path(input), "--input"), Path(input).parent, input
    elif not complete and not sys.stdin.isatty():
        data = read_stream(sys.stdin, "stdin")
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
    return e.with_argument(e.argument or _("input"))


def _warn_mask(mask: Any) -> None:
    if mask is not None and mask.dtype != bool:
        import numpy as np

        if set(np.unique(mask).tolist()) <= {0.0, 1.0}:
            warn(
                _(
                    "the mask holds only 0 and 1, so it is additive (added to the scores); "
                    "write true/false for a boolean mask (True = attend)"
                )
            )


def _warn_empty_rows(result: Attention, slice_name: str = "slice") -> None:
    policy = {
        "zero": _("weights and output set to 0"),
        "uniform": _("weights set to uniform"),
        "nan": _("weights set to NaN"),
    }
    for idx in result.empty_rows:
        where = f"q{idx[-1] + 1}"
        if len(idx) > 1:
            if slice_name == "head":
                where = _("{row} of head {head}").format(row=where, head=idx[0] + 1)
            else:
                where = _("{row} of slice {slice}").format(row=where, slice=list(idx[:-1]))
        message = _("row {row} is fully masked: {policy} (--empty-row {empty_row})")
        warn(message.format(row=where, policy=policy[result.empty_row], empty_row=result.empty_row))


def solve_cli(problem: Problem, flags: dict[str, Any]) -> Attention:
    """Solve, naming the flag (--q) rather than the field (q) in errors; warn about odd masks and empty rows."""
    try:
        result = problem.solve()
    except AttnError as e:
        raise _named(e, flags) from None
    _warn_mask(problem.mask)
    _warn_empty_rows(result)
    return result


def run_compute(
    *,
    q: Any,
    k: Any,
    v: Any,
    mask: Any,
    causal: Any,
    causal_align: Any,
    scale: Any,
    empty_row: Any,
    dtype: Any,
    input: Any,
    sample: Any,
    json_out: Any,
    stage: Any,
    precision: Any,
    explain_cell: Any,
    x: Any,
    q_input: Any,
    kv_input: Any,
    wq: Any,
    wk: Any,
    wv: Any,
    wo: Any,
    bq: Any,
    bk: Any,
    bv: Any,
    bo: Any,
    heads: Any,
    kv_heads: Any,
    head: Any,
    average_heads: Any,
    random_weights: Any,
    seed: Any,
    positional: Any,
    rope: Any,
    rope_style: Any,
    rope_base: Any,
    alibi: Any,
    threads: Any,
    save: Any,
    max_memory: Any,
    format: Any,
    heatmap: Any,
    save_svg: Any,
    save_html: Any,
    no_color: Any,
    quiet: Any,
    lang: Any,
    debug: Any,
) -> None:
    """`attn compute`: parse the problem, compute, then render tables or print JSON (see attncli.cli)."""
    use_language(lang)
    input = resolve_sample(sample, input)

    from attncli.problem import build_multihead, build_problem, is_multihead

    cell = _parse_cell(explain_cell) if explain_cell else None
    pres = Presentation(json_out, format, precision, cell, save_svg, save_html, bool(heatmap))
    pres.check()
    output_settings(no_color, quiet)
    matrices = {
        "q": q, "k": k, "v": v, "mask": mask, "x": x, "q_input": q_input, "kv_input": kv_input,
        "wq": wq, "wk": wk, "wv": wv, "wo": wo, "bq": bq, "bk": bk, "bv": bv, "bo": bo,
    }  # fmt: skip
    settings = {
        "causal": causal,
        "causal_align": causal_align,
        "scale": scale,
        "empty_row": empty_row,
        "dtype": dtype,
        "heads": heads,
        "kv_heads": kv_heads,
        "random_weights": random_weights,
        "seed": seed,
        "positional": positional,
        "rope": rope,
        "rope_style": rope_style,
        "rope_base": rope_base,
        "alibi": alibi,
    }
    fields, source = load_cli_fields(matrices=matrices, input=input, settings=settings)
    flags = {**matrices, **settings}
    stages = list(stage) if stage else None
    if is_multihead(fields) or head is not None or average_heads:
        _compute_multihead(build_multihead(fields, source), flags, stages, pres, head, average_heads, max_memory)
        return
    from attncli.problem import TABLE_STAGES as STAGES

    for name in stages or ():
        if name not in STAGES:
            message = _("unknown stage {name!r} (choose from {stages})").format(name=name, stages=", ".join(STAGES))
            raise InputError(message, argument="--stage")
    if save is not None and save.suffix not in (".npy", ".npz"):
        message = _("unknown file type '{suffix}' (use .npy or .npz)").format(suffix=save.suffix or save.name)
        raise InputError(message, argument="--save")
    problem = build_problem(fields, source)
    try:
        output_only = _output_only(problem, stages, max_memory)
    except AttnError as e:
        raise _named(e, flags) from None
    with _blas_threads(threads):
        if output_only:
            out = solve_output_cli(problem, flags, threads)
        else:
            result = solve_cli(problem, flags)
    if save is not None:
        _save(save, out.output if output_only else result)
        if not json_out and not pres.format:
            return
    from attncli import serialize
    from attncli.export import stage_tables

    # rich (through attncli.render) is imported only when tables are drawn
    def draw_output(view: View) -> Any:
        from attncli.render import render_output

        return render_output(out, view)

    def draw_stages(view: View) -> Any:
        from attncli.render import render_attention

        return render_attention(result, stages, view)

    if output_only:
        json_text = lambda: serialize.dumps(serialize.output_dict(out, problem))  # noqa: E731
        pres.show(title=problem.title, labels=problem.labels, json_text=json_text, tables=None, render=draw_output)
    else:
        pres.show(
            title=problem.title,
            labels=problem.labels,
            json_text=lambda: serialize.to_json(result, problem, stages),
            tables=lambda: stage_tables(result, stages, problem.labels),
            render=draw_stages,
        )


def stage_budget(max_memory: str | None) -> int:
    """Bytes the stage tables may take: --max-memory, else a quarter of the memory available now."""
    from attncli.blocked import memory_budget
    from attncli.parsing import parse_size

    return parse_size(max_memory, "--max-memory") if max_memory is not None else memory_budget()


def refuse_over_budget(need: int, max_memory: str | None, what: str, instead: str) -> None:
    """Before allocating: an error saying how much `what` would need and what to do `instead`, if over budget."""
    budget = stage_budget(max_memory)
    if need > budget:
        message = _("{what} would need {need} (budget {budget}, --max-memory); {instead}")
        raise InputError(
            message.format(what=what, need=_gib(need), budget=_gib(budget), instead=instead), argument="--max-memory"
        )


def _output_only(problem: Problem, stages: list[str] | None, max_memory: str | None) -> bool:
    """Whether to take the blocked path: asked for (--stage output), or the stage tables would not fit."""
    from attncli.blocked import stages_nbytes

    if stages == ["output"]:
        return True
    budget = stage_budget(max_memory)
    need = stages_nbytes(problem.q.shape, problem.k.shape, problem.v.shape, problem.dtype)
    if need <= budget:
        return False
    sizes = {"need": _gib(need), "budget": _gib(budget)}
    if stages is None:
        message = _(
            "the stage tables would need {need} (budget {budget}, --max-memory): "
            "computing only the output with the blocked path, as --stage output does"
        )
        warn(message.format(**sizes))
        return True
    message = _(
        "the stage tables would need {need} (budget {budget}, --max-memory); "
        "ask for --stage output to compute only the output in bounded memory"
    )
    raise InputError(message.format(**sizes), argument="--stage")


def _gib(n: int) -> str:
    if n >= 2**80:  # past float range for a huge head count: say the order of magnitude
        return _("about 2^{power} bytes").format(power=n.bit_length() - 1)
    if n >= 2**30:
        return _("{n:.1f} GiB").format(n=n / 2**30)
    if n >= 2**20:
        return _("{n:.0f} MiB").format(n=n / 2**20)
    return _("{n:.0f} KiB").format(n=n / 2**10) if n >= 2**10 else ngettext("{n} byte", "{n} bytes", n).format(n=n)


def only_the_output() -> str:
    """What to do instead when a command that needs every stage table is over the memory budget."""
    return _(
        "attn compute --q … --k … --v … --stage output computes one head's output alone in bounded memory "
        "(the blocked path), or use fewer tokens"
    )


def multihead_nbytes(problem: MultiHeadProblem) -> int:
    """The multi-head path's stage tables (every head), plus ALiBi's bias and the combined mask."""
    import numpy as np

    from attncli.blocked import tables_nbytes

    cells = problem.score_cells()
    extra = 2 * cells * np.dtype(problem.dtype).itemsize if problem.alibi else 0
    return tables_nbytes(cells, problem.dtype) + extra


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

    progress = _Progress(_("attention"))
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
    policy = {"zero": _("output set to 0"), "uniform": _("weights set to uniform"), "nan": _("output set to NaN")}
    for idx in out.empty_rows[:10]:
        message = _("row {row} is fully masked: {policy} (--empty-row {empty_row})")
        warn(message.format(row=f"q{idx[-1] + 1}", policy=policy[out.empty_row], empty_row=out.empty_row))
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
        message = _("cannot write '{path}': {reason}").format(path=path, reason=e.strerror)
        raise InputError(message, argument="--save") from None
    saved = _("attn: saved the output to {path}") if path.suffix == ".npy" else _("attn: saved the stages to {path}")
    print(saved.format(path=path), file=sys.stderr)


def _stage_arrays(result: Attention) -> dict[str, Any]:
    names = ("q", "k", "v", "scores", "scaled", "masked", "row_max", "shifted", "exp", "row_sum", "weights", "output")
    return {n: getattr(result, n) for n in names if getattr(result, n) is not None}


def _compute_multihead(
    problem: MultiHeadProblem,
    flags: dict[str, Any],
    stages: list[str] | None,
    pres: Presentation,
    head: int | None,
    average_heads: bool,
    max_memory: str | None,
) -> None:
    from attncli.problem import MULTIHEAD_STAGES

    for name in stages or ():
        if name not in MULTIHEAD_STAGES:
            message = _("unknown stage {name!r} (choose from {stages})")
            raise InputError(message.format(name=name, stages=", ".join(MULTIHEAD_STAGES)), argument="--stage")
    refuse_over_budget(multihead_nbytes(problem), max_memory, _("the multi-head stage tables"), only_the_output())
    try:
        result = problem.solve()
    except AttnError as e:
        raise _named(e, flags) from None
    if head is not None and head > result.heads:
        message = ngettext("there is {n} head; choose 1…{n}", "there are {n} heads; choose 1…{n}", result.heads)
        raise InputError(message.format(n=result.heads), argument="--head")
    _warn_mask(problem.mask)
    _warn_empty_rows(result.attention, "head")
    from attncli import serialize
    from attncli.export import stage_tables

    def tables() -> list[StageTable]:
        from attncli.problem import TABLE_STAGES

        shown = [s for s in (stages or TABLE_STAGES) if s in TABLE_STAGES]
        per_head = stage_tables(result.attention, shown, problem.labels, slice_name="head")
        return [t for t in per_head if head is None or t.slice_index == (head - 1,)]

    def render(view: View) -> Any:
        from attncli.render_multihead import render_multihead

        return render_multihead(result, stages, view, head=head, average=average_heads)

    pres.show(
        title=problem.title,
        labels=problem.labels,
        json_text=lambda: serialize.dumps(serialize.multihead_dict(result, problem, stages, average_heads)),
        tables=tables,
        render=render,
    )
