"""Stage tables as Markdown, LaTeX or CSV text, for reports and slides. Nothing here prints.

stage_tables(result)   -> the stages as labelled 2-D tables (one per stage and leading slice)
to_markdown / to_latex / to_csv(tables, precision)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.engine import Attention
from attncli.core.stages import TABLE_STAGES
from attncli.errors import printable
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

FORMATS = ("markdown", "latex", "csv")


@dataclass(frozen=True)
class StageTable:
    stage: str  # scores, scaled, …
    title: str  # e.g. "scores = Q·Kᵀ [slice 0]"
    rows: Sequence[str]
    columns: Sequence[str]
    values: NDArray[np.floating]  # (rows, columns)
    slice_index: tuple[int, ...] = ()


_TITLES = {
    "q": "Q",
    "k": "K",
    "v": "V",
    "scores": "scores = Q·Kᵀ",
    "scaled": "scaled = scores × scale",
    "capped": "capped = c·tanh(scaled / c)",
    "masked": "masked",
    "allowed": "visible (1 = the query sees the key)",
    "shifted": "shifted = logits − row max",  # translated where it is used
    "exp": "exp(shifted)",
    "weights": "weights = softmax",
    "output": "output = weights · V",
}

# The stage a table belongs to, where it differs from the array's name (the visible-keys grid is `allowed`).
_STAGE_OF = {"allowed": "visible"}


def stage_tables(
    result: Attention,
    stages: Iterable[str] | None = None,
    labels: Mapping[str, Sequence[str]] | None = None,
    slice_name: str = "slice",
) -> list[StageTable]:
    """The requested stages (default: all that apply) as 2-D tables, slice by slice ("head" slices are
    numbered from 1 in titles, as the tables number them)."""
    wanted = list(TABLE_STAGES if stages is None else stages)
    t, s = result.scores.shape[-2:]
    labels = labels or {}
    q_rows = list(labels.get("q") or [f"q{i + 1}" for i in range(t)])
    k_rows = list(labels.get("k") or [f"k{j + 1}" for j in range(s)])
    names: list[str] = []
    for stage in (s for s in TABLE_STAGES if s in wanted):  # in the order they are computed
        if stage == "inputs":
            names += ["q", "k", "v"]
        elif stage == "softmax":
            names += ["shifted", "exp", "weights"]
        elif (stage == "masked" and result.masked is None) or (stage == "capped" and result.capped is None):
            continue
        elif stage == "visible":
            if result.allowed is not None and (stages is not None or result.variants.any):
                names.append("allowed")
        elif stage not in names:
            names.append(stage)
    lead = result.scores.shape[:-2]
    out: list[StageTable] = []
    for idx in [tuple(int(i) for i in ix) for ix in np.ndindex(*lead)] if lead else [()]:
        for name in dict.fromkeys(names):
            a = np.asarray(getattr(result, name))
            a = a.astype(np.float64) if a.dtype == np.bool_ else a
            a = a[tuple(0 if n == 1 else i for i, n in zip(idx[len(idx) - (a.ndim - 2) :], a.shape[:-2], strict=True))]
            rows = k_rows if name in ("k", "v") else q_rows
            if name in ("q", "k", "v", "output"):
                cols = [f"d{j + 1}" for j in range(a.shape[-1])]
            else:
                cols = k_rows
            where = ", ".join(str(i + 1) if slice_name == "head" else str(i) for i in idx)
            title = _("shifted = logits − row max") if name == "shifted" else _TITLES[name]
            if idx:
                label = _("[head {index}]") if slice_name == "head" else _("[slice {index}]")
                title += " " + label.format(index=where)
            out.append(StageTable(_STAGE_OF.get(name, name), title, rows, cols, a, idx))
    return out


def _cell(x: float, precision: int) -> str:
    if np.isneginf(x):
        return "-inf"
    if np.isnan(x):
        return "nan"
    text = f"{x:.{precision}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def to_markdown(tables: Iterable[StageTable], precision: int = 4) -> str:
    """GitHub-flavoured Markdown: a heading and a pipe table per stage (−∞ written as −∞)."""
    parts = []
    for tb in tables:
        header = "| | " + " | ".join(_md(c) for c in tb.columns) + " |"
        rule = "|---|" + "---:|" * len(tb.columns)
        body = [
            f"| **{_md(r)}** | " + " | ".join(_cell(x, precision).replace("-inf", "−∞") for x in row) + " |"
            for r, row in zip(tb.rows, tb.values, strict=True)
        ]
        parts.append("\n".join([f"#### {tb.title}", "", header, rule, *body]))
    return "\n\n".join(parts) + "\n"


def _md(text: str) -> str:
    """A label in Markdown: HTML escaped (a Markdown viewer renders HTML), | escaped, control characters written out."""
    import html  # (here: `attn compute` starts without it)

    return html.escape(printable(text), quote=False).replace("|", "\\|")


def _csv_text(text: str) -> str:
    """A text cell of a CSV export: never read as a spreadsheet formula (a leading =, +, -, @, tab or CR
    gets a ' before it), control characters written out."""
    text = printable(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip
_LATEX_TITLE = {"·": r"$\cdot$", "ᵀ": r"$^\top$", "×": r"$\times$", "−": "-", "≈": r"$\approx$"}


def _tex(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in printable(text))
    for a, b in _LATEX_TITLE.items():
        out = out.replace(a, b)
    return out


def to_latex(tables: Iterable[StageTable], precision: int = 4) -> str:
    """One `tabular` per stage with row and column labels (needs no package beyond LaTeX itself);
    −∞ is $-\\infty$. Paste into a document, or wrap it in \\begin{document}…\\end{document}."""
    parts = []
    for tb in tables:
        lines = [
            f"% {tb.title}",
            r"\begin{tabular}{l" + "r" * len(tb.columns) + "}",
            r"\multicolumn{" + str(len(tb.columns) + 1) + "}{l}{" + _tex(tb.title) + r"} \\",
            r"\hline",
            " & ".join(["", *(_tex(c) for c in tb.columns)]) + r" \\",
            r"\hline",
        ]
        for r, row in zip(tb.rows, tb.values, strict=True):
            cells = [_cell(x, precision).replace("-inf", r"$-\infty$") for x in row]
            lines.append(" & ".join([_tex(r), *cells]) + r" \\")
        lines += [r"\hline", r"\end{tabular}"]
        parts.append("\n".join(lines))
    return "\n\n\\bigskip\n\n".join(parts) + "\n"


def to_csv(tables: Iterable[StageTable], precision: int | None = None) -> str:
    """Long format, one value per line: stage,slice,row,column,value (−∞ as -inf), at full precision
    unless `precision` is given."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["stage", "slice", "row", "column", "value"])
    for tb in tables:
        where = ":".join(map(str, tb.slice_index))
        for r, row in zip(tb.rows, tb.values, strict=True):
            for c, x in zip(tb.columns, row, strict=True):
                value = _cell(x, precision) if precision is not None else ("-inf" if np.isneginf(x) else repr(float(x)))
                w.writerow([tb.stage, where, _csv_text(r), _csv_text(c), value])
    return buf.getvalue()
