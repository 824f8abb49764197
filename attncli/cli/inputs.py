"""From flags and documents to a problem, and solving it with the errors named after the flags: stdin,
--sample, the memory budget (--max-memory), BLAS threads, warnings about masks and empty rows."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from attncli.cli.output import ProgressBar, warn
from attncli.errors import AttnError, InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from pathlib import Path

    from attncli.core.blocked import AttentionOutput
    from attncli.core.engine import Attention
    from attncli.problem.document import MultiHeadProblem, Problem


def _read_stdin(argument: str) -> str:
    from attncli.parse.matrix import read_stream

    data = read_stream(sys.stdin, "stdin")
    if not data.strip():
        raise InputError(_("stdin is empty: expected a JSON problem document"), argument=argument)
    return data


def resolve_sample(sample: str | None, input: str | None) -> str | None:
    """--sample NAME is --input with the sample's file."""
    if sample is None:
        return input
    if input is not None:
        raise InputError(_("give --input or --sample, not both"), argument="--sample")
    from attncli.problem.samples import sample_path

    return str(sample_path(sample, "--sample"))


def load_cli_fields(**options: Any) -> tuple[dict[str, Any], str | None]:
    """_load_cli_fields, with the notes on how text was read (decimal commas) said on stderr."""
    with said_notes():
        return _load_cli_fields(**options)


@contextmanager
def said_notes() -> Iterator[None]:
    """Say, as notes on stderr, how the text read inside this block was read where it could be read two
    ways (attncli.parse.separators)."""
    from attncli.parse.separators import collect_notes

    with collect_notes() as notes:
        yield
    for note in notes:
        warn(note, note=True)


def _load_cli_fields(
    *,
    matrices: dict[str, str | None],
    input: str | None,
    settings: dict[str, Any],
    before_loading: Callable[[dict[str, tuple[int, ...]], str], None] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """The problem fields the flags describe: a document (--input, or piped stdin) with flags laid over it.

    `matrices` maps field names (q, k, v, mask, x, wq, …) to flag text. Stdin is read when --input is
    '-', or when the flags alone are incomplete and stdin is not a TTY. `before_loading` sees the shapes
    the .npy inputs' headers promise, and the dtype, before any of them is loaded (a memory estimate may
    refuse the run).
    """
    from attncli.parse.matrix import parse_matrix, read_stream, read_text
    from attncli.problem.document import document_fields, read_document

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
    doc = read_document(text, source) if text is not None and source is not None else None
    shapes = _promised_shapes(doc, source, base, matrices)
    if shapes:
        _refuse_inputs_over_memory(shapes)
        if before_loading is not None:
            before_loading(shapes, _dtype_asked(settings, doc))
    if doc is not None and source is not None:
        fields = document_fields(doc, source, base)
    for name, value in matrices.items():
        if value is not None:
            fields[name] = parse_matrix(value, _flag(name), "mask" if name == "mask" else "matrix")
    fields.update({key: val for key, val in settings.items() if val is not None})
    return fields, source


def _promised_shapes(
    doc: dict[str, Any] | None, source: str | None, base: Path | None, matrices: dict[str, str | None]
) -> dict[str, tuple[int, ...]]:
    """The shapes of the .npy inputs (the document's, with the flags' laid over them), from their headers."""
    from attncli.parse.matrix import npy_shape
    from attncli.problem.document import document_npy_shapes

    shapes = document_npy_shapes(doc, source or "stdin", base) if doc is not None else {}
    for name, value in matrices.items():
        shape = npy_shape(value, _flag(name)) if value is not None else None
        if shape is not None:
            shapes[name] = shape
        elif value is not None:
            shapes.pop(name, None)  # a flag given another way replaces the document's file
    return shapes


def _dtype_asked(settings: dict[str, Any], doc: dict[str, Any] | None) -> str:
    """The dtype the flags or the document ask for (float64 by default; float32 for anything unclear,
    so that an estimate never refuses what would fit)."""
    config = doc.get("config") if doc is not None else None
    asked = (
        settings.get("dtype") or (doc or {}).get("dtype") or (config.get("dtype") if isinstance(config, dict) else None)
    )
    return "float64" if asked in (None, "float64") else "float32"


def _refuse_inputs_over_memory(shapes: dict[str, tuple[int, ...]]) -> None:
    """Refuse .npy inputs that together need more memory (as float64) than there is, before loading any."""
    import math

    from attncli.core.memory import memory_budget

    need, room = sum(8 * math.prod(shape) for shape in shapes.values()), memory_budget() * 4
    if need > room:
        message = _("the .npy inputs ({names}) would need {need} as float64, more than the {room} available")
        names = ", ".join(_flag(name) for name in shapes)
        raise InputError(message.format(names=names, need=_gib(need), room=_gib(room)), argument=names)


def apply_labels(fields: dict[str, Any], labels: str | None, k_labels: str | None) -> None:
    """--labels (the queries', and the keys' when there are as many) and --k-labels over the document's
    labels; a count that does not match the rows is one line naming the flag."""
    if labels is None and k_labels is None:
        return
    given = dict(fields.get("labels") or {})
    t, s = _rows(fields, ("q", "x", "q_input")), _rows(fields, ("k", "x", "kv_input"))
    if labels is not None:
        given["q"] = _label_words(labels, "--labels", t, "q")
        if k_labels is None and s == len(given["q"]):
            given["k"] = given["q"]
    if k_labels is not None:
        given["k"] = _label_words(k_labels, "--k-labels", s, "k")
    fields["labels"] = given


def _rows(fields: dict[str, Any], names: tuple[str, ...]) -> int | None:
    """The row count (T or S) of the first of these matrices the fields hold."""
    return next((int(fields[n].shape[-2]) for n in names if getattr(fields.get(n), "ndim", 0) >= 2), None)


def _label_words(text: str, flag: str, rows: int | None, side: str) -> tuple[str, ...]:
    """Names split at spaces, or a JSON list of strings; as many as there are rows."""
    import json

    names: Any = text.split()
    if text.strip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(_("expected words separated by spaces or a JSON list of strings"), argument=flag)
    if not names:
        raise InputError(_("is empty"), argument=flag)
    if rows is not None and len(names) != rows:
        message = (
            _("one name per query: {rows} needed, {n} given")
            if side == "q"
            else _("one name per key: {rows} needed, {n} given")
        )
        raise InputError(message.format(n=len(names), rows=rows), argument=flag)
    return tuple(names)


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
    fields, source = load_cli_fields(matrices={"q": q, "k": k, "v": v, "mask": mask}, input=input, settings=settings)
    return problem_from(fields, source)


def problem_from(fields: dict[str, Any], source: str | None) -> Problem:
    """The single-head problem of these fields; missing inputs are said with the flags that give them."""
    from attncli.problem.document import MissingInputs, build_problem

    try:
        return build_problem(fields, source)
    except MissingInputs as e:
        names = ", ".join(f"--{k}" for k in e.missing)
        message = _("no {missing} given: pass {flags}, or a problem document with --input FILE or on stdin")
        raise InputError(message.format(missing="/".join(e.missing), flags=names), argument=source) from None


def multihead_from(fields: dict[str, Any], source: str | None) -> MultiHeadProblem:
    """The multi-head problem of these fields; missing inputs are said with the flags that give them."""
    from attncli.problem.document import MissingInputs, build_multihead

    try:
        return build_multihead(fields, source)
    except MissingInputs:
        message = _(
            "no inputs given: pass --x (self-attention), --q-input and --kv-input (cross-attention), "
            "or --q, --k and --v"
        )
        raise InputError(message, argument=source) from None


def _flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def named_after_flags(e: AttnError, flags: dict[str, Any]) -> AttnError:
    """The engine names fields (q, kv_heads); say the flag (--q, --kv-heads) when a flag gave the value."""
    if e.argument is not None and flags.get(e.argument) is not None and flags.get(e.argument) is not False:
        return e.with_argument(_flag(e.argument))
    return e.with_argument(e.argument or _("input"))


def warn_mask(mask: Any) -> None:
    if mask is not None and mask.dtype != bool:
        import numpy as np

        if set(np.unique(mask).tolist()) <= {0.0, 1.0}:
            warn(
                _(
                    "the mask holds only 0 and 1, so it is additive (added to the scores); "
                    "write true/false for a boolean mask (True = attend)"
                )
            )


def warn_empty_rows(result: Attention, slice_name: str = "slice") -> None:
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
        raise named_after_flags(e, flags) from None
    warn_mask(problem.mask)
    warn_empty_rows(result)
    return result


def stage_budget(max_memory: str | None) -> int:
    """Bytes the stage tables may take: --max-memory, else a quarter of the memory available now."""
    from attncli.core.memory import memory_budget
    from attncli.parse.matrix import parse_size

    return parse_size(max_memory, "--max-memory") if max_memory is not None else memory_budget()


def refuse_over_budget(need: int, max_memory: str | None, what: str, instead: str) -> None:
    """Before allocating: an error saying how much `what` would need and what to do `instead`, if over budget."""
    budget = stage_budget(max_memory)
    if need > budget:
        message = _("{what} would need {need} (budget {budget}, --max-memory); {instead}")
        raise InputError(
            message.format(what=what, need=_gib(need), budget=_gib(budget), instead=instead), argument="--max-memory"
        )


def output_only_needed(
    problem: Problem, stages: list[str] | None, max_memory: str | None, json_out: bool = False
) -> bool:
    """Whether to take the blocked path: asked for (--stage output), or the stage tables (and, for --json,
    their printing) would not fit."""
    from attncli.core.memory import stages_nbytes

    if stages == ["output"]:
        return True
    need = stages_nbytes(problem.q.shape, problem.k.shape, problem.v.shape, problem.dtype)
    tables = _("the stage tables and their JSON") if json_out else _("the stage tables")
    sizes = _tables_over_budget(need, problem.dtype, max_memory, json_out, tables)
    if sizes is None:
        return False
    if stages is None:
        message = _(
            "{tables} would need {need} (budget {budget}, --max-memory): "
            "computing only the output with the blocked path, as --stage output does"
        )
        warn(message.format(**sizes))
        return True
    message = _(
        "{tables} would need {need} (budget {budget}, --max-memory); "
        "ask for --stage output to compute only the output in bounded memory"
    )
    raise InputError(message.format(**sizes), argument="--stage")


def _tables_over_budget(need: int, dtype: str, max_memory: str | None, json_out: bool, tables: str
                        ) -> dict[str, str] | None:  # fmt: skip
    """None when stage tables of `need` bytes (and, for --json, their printing) fit the budget; else
    what the messages say of them: {tables, need, budget}."""
    if json_out:
        need += json_cost(need, dtype)
    budget = stage_budget(max_memory)
    if need <= budget:
        return None
    return {"tables": tables, "need": _gib(need), "budget": _gib(budget)}


def json_cost(tables: int, dtype: str) -> int:
    """Bytes printing stage tables that take `tables` bytes as JSON needs besides them."""
    from attncli.core.memory import json_nbytes, tables_nbytes

    return json_nbytes(tables // tables_nbytes(1, dtype)) if tables else 0


def _gib(n: int) -> str:
    if n >= 2**80:  # past float range for a huge head count: say the order of magnitude
        return _("about 2^{power} bytes").format(power=n.bit_length() - 1)
    if n >= 2**30:
        return _("{n:.1f} GiB").format(n=n / 2**30)
    if n >= 2**20:
        return _("{n:.0f} MiB").format(n=n / 2**20)
    return _("{n:.0f} KiB").format(n=n / 2**10) if n >= 2**10 else ngettext("{n} byte", "{n} bytes", n).format(n=n)


def multihead_output_only(problem: MultiHeadProblem, stages: list[str] | None, max_memory: str | None,
                          json_out: bool, threads: int | None, needs_stages: str | None) -> bool:  # fmt: skip
    """Whether a multi-head problem takes the output-only path: asked for (--stage output), or every
    head's stage tables (and, for --json, their printing) would not fit; then said once on stderr.
    Refused, saying how much they need: explicit stages that do not fit; ALiBi (its bias is a table of
    heads × queries × keys) or the flag `needs_stages` (--head, …) without the stages; an output path
    that would not fit either."""
    if stages != ["output"]:
        tables = _("the multi-head stage tables and their JSON") if json_out else _("the multi-head stage tables")
        sizes = _tables_over_budget(multihead_nbytes(problem), problem.dtype, max_memory, json_out, tables)
        if sizes is None:
            return False
        if stages is not None:
            message = _(
                "{tables} would need {need} (budget {budget}, --max-memory); ask for --stage output to compute "
                "only the output of every head in bounded memory"
            )
            raise InputError(message.format(**sizes), argument="--stage")
        if problem.alibi or needs_stages is not None:
            message = _(
                "{tables} would need {need} (budget {budget}, --max-memory), and {flag} needs them "
                "(the output-only path keeps no table of queries × keys): use fewer tokens, or leave out {flag}"
            )
            flag = "--alibi" if problem.alibi else needs_stages
            raise InputError(message.format(**sizes, flag=flag), argument="--max-memory")
    elif problem.alibi:
        message = _(
            "ALiBi's bias has a cell for every head, query and key, which the output-only path does not hold: "
            "leave out --stage output (to keep the stage tables) or --alibi"
        )
        raise InputError(message, argument="--alibi")
    elif needs_stages is not None:
        message = _("needs the heads' weights, which --stage output does not keep")
        raise InputError(message, argument=needs_stages)
    _refuse_multihead_output_over_budget(problem, max_memory, threads, json_out)
    if stages is None and sizes is not None:  # (sizes: set above whenever the stages were not asked)
        message = _(
            "{tables} would need {need} (budget {budget}, --max-memory): computing only the output, every "
            "head by the blocked path, as --stage output does"
        )
        warn(message.format(**sizes))
    return True


def _refuse_multihead_output_over_budget(problem: MultiHeadProblem, max_memory: str | None, threads: int | None,
                                         json_out: bool) -> None:  # fmt: skip
    """Refuse, before computing, an output-only multi-head problem whose projections, outputs (and
    JSON) alone exceed the budget (attncli.core.memory.multihead_output_nbytes)."""
    from attncli.core.memory import JSON_BYTES_PER_VALUE
    from attncli.machine import cpu_threads

    need = problem.output_nbytes(threads or cpu_threads())
    if json_out:
        need += JSON_BYTES_PER_VALUE * problem.printed_values()
    what = _("computing only the output (the blocked path, every head)")
    refuse_over_budget(need, max_memory, what, _("use fewer tokens"))


def only_the_output() -> str:
    """What to do instead when a command that needs every stage table is over the memory budget."""
    return _(
        "attn compute … --stage output computes only the output (of one head, or of every head with --heads) "
        "in bounded memory (the blocked path), or use fewer tokens"
    )


def multihead_nbytes(problem: MultiHeadProblem) -> int:
    """The multi-head path's stage tables (every head), plus ALiBi's bias and the combined mask."""
    import numpy as np

    from attncli.core.memory import tables_nbytes

    cells = problem.score_cells()
    extra = 2 * cells * np.dtype(problem.dtype).itemsize if problem.alibi else 0
    return tables_nbytes(cells, problem.dtype) + extra


def blas_threads(threads: int | None) -> Any:
    """Limit BLAS to `threads` threads while computing (threadpoolctl); no-op when not asked."""
    if threads is None:
        from contextlib import nullcontext

        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def solve_output_cli(problem: Problem, flags: dict[str, Any], threads: int | None) -> AttentionOutput:
    """The output only, by the blocked path, with a progress bar on stderr for long runs."""
    from attncli.core.attention import attention_output

    progress = ProgressBar(_("attention"))
    try:
        out = attention_output(problem.q, problem.k, problem.v, problem.settings, threads=threads, progress=progress)
    except AttnError as e:
        raise named_after_flags(e, flags) from None
    finally:
        progress.close()
    warn_mask(problem.mask)
    warn_output_empty_rows(out)
    return out


def warn_output_empty_rows(out: AttentionOutput, per_head: bool = False) -> None:
    """The blocked path's fully masked rows (the first ten), on stderr; `per_head`: its leading axis is
    the heads of a multi-head problem (and named so)."""
    policy = {"zero": _("output set to 0"), "uniform": _("weights set to uniform"), "nan": _("output set to NaN")}
    for idx in out.empty_rows[:10]:
        where = f"q{idx[-1] + 1}"
        if len(idx) > 1 and per_head:
            where = _("{row} of head {head}").format(row=where, head=idx[0] + 1)
        message = _("row {row} is fully masked: {policy} (--empty-row {empty_row})")
        warn(message.format(row=where, policy=policy[out.empty_row], empty_row=out.empty_row))
