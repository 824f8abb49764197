"""--view FILE.html: the interactive page of a run (attncli.serialize.view), for `attn explain` and
`attn compute`. The stage tables carry the captions the terminal prints (taken from attncli.render),
and the file is written atomically, never over one of the run's inputs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attncli.cli.output import warn
from attncli.errors import InputError
from attncli.i18n import _

if TYPE_CHECKING:
    from attncli.core.engine import Attention
    from attncli.serialize.view import Caption

VIEW_FLAG = "--view"


def check_view(path: Path | None, inputs: Iterable[str | Path | None]) -> None:
    """Refuse a --view path that is one of the run's input files (or a folder) before anything is computed."""
    if path is None:
        return
    if path.is_dir():
        raise InputError(
            _("'{path}' is a folder; give a file name such as page.html").format(path=path), argument=VIEW_FLAG
        )
    target = path.resolve()
    for given in inputs:
        if given is None:
            continue
        text = str(given)
        name = text[1:] if text.startswith("@") else text
        try:
            same = bool(name) and name != "-" and Path(name).resolve() == target
        except (OSError, ValueError):  # inline numbers, not a path
            same = False
        if same:
            message = _("'{path}' is an input of this run; the page would overwrite it (choose another file)")
            raise InputError(message.format(path=path), argument=VIEW_FLAG)


def head_captions(att: Attention, stages: Sequence[str], labels: dict[str, list[str]], precision: int) -> list[Any]:
    """Each table of `stages` for one 2-D attention: (array name, the title and caption the terminal prints)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from attncli.cli.output import cli_hints
    from attncli.render.format import View
    from attncli.render.tables import render_attention
    from attncli.serialize.view import STAGE_ARRAYS, Caption

    # narrow: the tables are drawn only for their titles and captions (the page prints every cell itself)
    view = View(precision=precision, width=40, labels=labels, hints=cli_hints())
    out: list[tuple[str, Caption]] = []
    for stage in stages:
        # the page draws the tables of STAGE_ARRAYS, when kept
        if stage not in STAGE_ARRAYS or any(getattr(att, n) is None for n in STAGE_ARRAYS[stage]):
            continue
        flat: list[Any] = []

        def walk(r: Any, into: list[Any] = flat) -> None:
            inner = getattr(r, "renderables", None)
            if isinstance(r, Group) or inner is not None:
                for x in inner or ():
                    walk(x, into)
            else:
                into.append(r)

        walk(render_attention(att, [stage], view))
        names = iter(STAGE_ARRAYS[stage])
        for i, r in enumerate(flat):
            if not isinstance(r, Table):
                continue
            title = flat[i - 1].plain if i and isinstance(flat[i - 1], Text) else ""
            after = flat[i + 1] if i + 1 < len(flat) else None
            caption = after.plain if isinstance(after, Text) and after.style == "dim" else ""
            name = next(names)
            extra = [c.header for c in r.columns if c.style == "italic"]
            shape = getattr(att, name).shape
            if r.row_count < shape[0] or len(r.columns) - 1 - len(extra) < shape[1]:
                # cut to fit the narrow view, but the page shows every cell: no "(showing 2 of 32 columns; …)"
                caption = "\n".join(caption.split("\n")[:-1])
            out.append((name, Caption(title, caption, str(extra[0]) if extra else None)))
    return out


def page_data(
    heads: Sequence[Sequence[Attention]],
    labels: dict[str, list[str]],
    stages: Sequence[str],
    precision: int,
    **about: Any,
) -> dict[str, Any]:
    """The page's data: every head of every layer (its weights and stage tables), the labels, and `about`
    (title, header, selected layer and head, groups of pieces into words, notes)."""
    from attncli.render.format import fmt
    from attncli.serialize.view import head_data

    def cell(x: float) -> str:
        return fmt(float(x), precision)

    blocks = [
        head_data(att, head_captions(att, stages, labels, precision), cell, li, hi)
        for li, layer in enumerate(heads)
        for hi, att in enumerate(layer)
    ]
    return {
        "layers": len(heads),
        "heads_per_layer": len(heads[0]),
        "labels": labels,
        "precision": precision,
        "blocks": blocks,
        **about,
    }


def save_view(path: Path, data: dict[str, Any], json_text: Callable[[], str]) -> None:
    """Write the page to `path` atomically (a temporary file beside it, then renamed over it)."""
    import tempfile  # (here: `attn compute` starts without it)

    from attncli.serialize.view import page

    text = page(data, json_text())
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        message = _("cannot write '{path}': {reason}").format(path=path, reason=e.strerror)
        raise InputError(message, argument=VIEW_FLAG) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as e:
        Path(temp).unlink(missing_ok=True)
        message = _("cannot write '{path}': {reason}").format(path=path, reason=e.strerror)
        raise InputError(message, argument=VIEW_FLAG) from None
    size = len(text.encode("utf-8"))
    warn(_("wrote the interactive page to {path} ({kb} kB)").format(path=path, kb=round(size / 1024)), note=True)


def every_head(model: Any, ids: Any, dtype: str, causal: bool) -> list[list[Attention]]:
    """Every layer's heads of a model over one sentence (token ids (T,)), as 2-D attentions."""
    from attncli.models.base import head_attention

    info = model.info
    out = model.forward(ids[None, :], None, dtype=dtype, causal=causal, keep=set(range(info.layers)))
    return [[head_attention(out.attentions[li], 0, hi) for hi in range(info.query_heads)] for li in range(info.layers)]


def head_slice(att: Attention, h: int) -> Attention:
    """Head h of an attention with a leading head axis (H, T, ·), as a 2-D attention."""
    from attncli.models.base import map_stages

    def part(a: Any) -> Any:
        return a[h] if a.shape[0] != 1 or a.ndim == 2 else a[0]

    mask = att.mask
    if mask is not None and mask.ndim > 2:
        mask = part(mask)
    return map_stages(att, part, mask=mask, empty_rows=tuple((e[-1],) for e in att.empty_rows if e[0] == h))


def compute_page(
    path: Path, heads: list[list[Attention]], problem: Any, stages: Sequence[str] | None, precision: int,
    json_text: Callable[[], str], head: int | None = None,
) -> None:  # fmt: skip
    """--view of `attn compute`: the problem's heads (one layer) and their stages."""
    from attncli.core.stages import TABLE_STAGES

    t, s = heads[0][0].scores.shape
    given = problem.labels or {}
    labels = {
        "q": list(given.get("q") or [f"q{i + 1}" for i in range(t)]),
        "k": list(given.get("k") or [f"k{j + 1}" for j in range(s)]),
    }
    shown = [x for x in (stages or TABLE_STAGES) if x in TABLE_STAGES]
    if "softmax" in shown:
        shown = [x for x in shown if x != "weights"]
    selected = (0, 0 if head is None else head - 1)
    data = page_data(heads, labels, shown, precision, title=problem.title, selected=selected,
                     header=getattr(problem, "description", None))  # fmt: skip
    save_view(path, data, json_text)
