"""`attn compute` for multi-head latent attention (--mla, or a document's `mla` key): the problem, its
errors named after the flag or the document key, tables or JSON, and a decoding step against the
latent cache (--decode)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attncli.cli.inputs import blas_threads, named_after_flags, refuse_over_budget, warn_empty_rows
from attncli.core.stages import MULTIHEAD_STAGES, check_stages
from attncli.errors import AttnError, InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from pathlib import Path

    from attncli.cli.output import Presentation
    from attncli.core.decode import DecodeStep
    from attncli.core.mla import MLA
    from attncli.render.format import View

MLA_NAMES = ("w_dkv", "w_kr", "w_uk", "w_uv", "w_q", "w_o", "c_norm", "d_c", "d_rope", "d_nope", "d_v")


def _named(e: AttnError, flags: dict[str, Any], source: str | None) -> AttnError:
    """An MLA weight or width is the flag --mla's, or the document key mla.NAME's."""
    if e.argument in MLA_NAMES:
        if flags.get("mla") is not None:
            return e.with_argument("--mla")
        return e.with_argument(f"{source}: mla.{e.argument}" if source else f"mla.{e.argument}")
    return named_after_flags(e, flags)


@dataclass(frozen=True)
class MLARequest:
    """What `attn compute` asked of an MLA problem, besides the problem: stages, one head, BLAS threads."""

    stages: list[str] | None
    head: int | None
    threads: int | None
    view: Path | None = None  # --view FILE.html
    max_memory: str | None = None  # --max-memory


def compute_mla(
    fields: dict[str, Any], source: str | None, flags: dict[str, Any], request: MLARequest, pres: Presentation
) -> None:
    """Read, solve and show a multi-head latent attention problem."""
    from attncli.problem.document import variants_of
    from attncli.problem.mla import build_mla

    try:
        check_stages(request.stages, MULTIHEAD_STAGES)
    except AttnError as e:
        raise e.with_argument("--stage") from None
    problem = build_mla(fields, source, variants_of(fields, source))
    item = 4 if problem.dtype == "float32" else 8
    # every head's score-like stages (about ten (T, S) tables) and the two score parts
    refuse_over_budget(12 * item * problem.score_cells(), request.max_memory, _("the MLA stage tables"), _(
        "compute a shorter sequence or fewer heads"))  # fmt: skip
    with blas_threads(request.threads):
        try:
            result = problem.solve()
        except AttnError as e:
            raise _named(e, flags, source) from None
    if request.head is not None and request.head > result.heads:
        message = ngettext("there is {n} head; choose 1…{n}", "there are {n} heads; choose 1…{n}", result.heads)
        raise InputError(message.format(n=result.heads), argument="--head")
    warn_empty_rows(result.attention, "head")
    decode = _decode(result, problem.decode, flags, source)
    from attncli.serialize import strict_json as serialize

    def render(view: View) -> Any:
        from rich.console import Group

        from attncli.render.decode import render_decode
        from attncli.render.mla import render_mla

        shown = render_mla(result, request.stages, view, head=request.head)
        if decode is None:
            return shown
        head = 0 if request.head is None else request.head - 1
        return (
            Group(shown, render_decode(decode, view, head=head))
            if request.stages
            else render_decode(decode, view, head)
        )

    def json_text() -> str:
        return serialize.dumps(serialize.with_decode(serialize.mla_dict(result, problem, request.stages), decode))

    pres.show(title=problem.title, labels=problem.labels, json_text=json_text, tables=None, render=render)
    if request.view is not None:
        from attncli.cli.view import compute_page, head_slice

        per_head = [[head_slice(result.attention, h) for h in range(result.heads)]]
        compute_page(request.view, per_head, problem, request.stages, pres.precision, json_text, head=request.head)


def _decode(result: MLA, new: int | None, flags: dict[str, Any], source: str | None) -> DecodeStep | None:
    """The decoding step against MLA's cache: c and k_rope, once for every head."""
    if new is None:
        return None
    from attncli.core.decode import decode_step

    try:
        return decode_step(result.attention, new, 1, k_cache=result.c, v_cache=result.k_rope, names=("c", "k_rope"))
    except AttnError as e:
        if flags.get(e.argument or "") is None and source is not None:
            raise e.with_argument(f"{source}: {e.argument}") from None
        raise e.with_argument("--" + (e.argument or "decode").replace("_", "-")) from None
