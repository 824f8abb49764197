"""Exercise sheets and worked keys as Markdown, LaTeX or HTML text. Nothing here prints.

A sheet is a list of blocks (Heading, Paragraph, Grid); `exercise_blocks` gives an exercise's statement
and inputs, attncli.render.worksheet adds the worked key (attncli's own stage captions), and
to_markdown / to_latex / to_html write the blocks out:
    Markdown  GitHub-flavoured, pipe tables;
    LaTeX     a whole document for pdflatex: English needs no package at all (the text is plain ASCII,
              symbols as LaTeX math); Russian loads fontenc (T2A) and babel, which every TeX
              distribution with Cyrillic fonts has;
    HTML      one self-contained page (UTF-8, inline style), every text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.i18n import _, language
from attncli.serialize.export import _LATEX_SPECIAL

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.analysis.exercises import Exercise

SHEET_FORMATS = ("markdown", "latex", "html")


@dataclass(frozen=True)
class Heading:
    text: str
    level: int  # 1 the sheet, 2 an exercise, 3 its answer, 4 a stage of it


@dataclass(frozen=True)
class Paragraph:
    text: str  # lines split by "\n" stay lines


@dataclass(frozen=True)
class Grid:
    """A labelled table: `header` names the columns (its first cell is over the row labels)."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


Block = Heading | Paragraph | Grid


def _cell(x: object) -> str:
    if isinstance(x, bool | np.bool_):
        return "true" if x else "false"
    value = float(x)  # type: ignore[arg-type]
    if np.isneginf(value):
        return "−∞"
    return str(int(value)) if value.is_integer() else f"{value:g}"


def matrix_grid(title: str, a: NDArray[np.generic], rows: str, columns: str) -> Grid:
    """An input matrix as a Grid, rows named rows+1…, columns columns+1…"""
    header = ["", *(f"{columns}{j + 1}" for j in range(a.shape[1]))]
    return Grid(title, header, [[f"{rows}{i + 1}", *(_cell(x) for x in row)] for i, row in enumerate(a)])


def exercise_blocks(exercise: Exercise) -> list[Block]:
    """An exercise's heading, statement and inputs."""
    from attncli.analysis.exercises import input_tables, statement, topic_name

    title = _("Exercise {number} · {topic}").format(number=exercise.number, topic=topic_name(exercise.topic))
    blocks: list[Block] = [Heading(title, 2), Paragraph(statement(exercise))]
    return blocks + [matrix_grid(*table) for table in input_tables(exercise)]


# --- Markdown ------------------------------------------------------------------------------------------

_MD_SPECIAL = set("\\`*_[]<>|#")


def _md(text: str) -> str:
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def to_markdown(blocks: Sequence[Block]) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + _md(b.text))
        elif isinstance(b, Paragraph):
            parts.append("  \n".join(_md(line) for line in b.text.split("\n")))
        else:
            lines = [f"**{_md(b.title)}**", ""] if b.title else []
            lines.append("| " + " | ".join(_md(c) for c in b.header) + " |")
            lines.append("|---|" + "---:|" * (len(b.header) - 1))
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in b.rows]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# --- LaTeX ---------------------------------------------------------------------------------------------

# Symbols of the captions as LaTeX itself writes them (no package needed).
_LATEX_SYMBOLS = {
    "·": r"\ensuremath{\cdot}", "ᵀ": r"\ensuremath{^{T}}", "×": r"\ensuremath{\times}", "−": "-",
    "∞": r"\ensuremath{\infty}", "√": r"\ensuremath{\surd}", "Σ": r"\ensuremath{\Sigma}", "÷": r"\ensuremath{\div}",
    "…": r"\ldots{}", "≈": r"\ensuremath{\approx}", "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}",
    "≠": r"\ensuremath{\neq}", "→": r"\ensuremath{\rightarrow}", "—": "---", "–": "--", "⋮": r"\ensuremath{\vdots}",
    "±": r"\ensuremath{\pm}", "’": "'", "“": "``", "”": "''", "«": "<<", "»": ">>", "\u00a0": "~",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "θ": r"\ensuremath{\theta}", "≪": r"\ensuremath{\ll}", "⌊": r"\ensuremath{\lfloor}",
    "⌋": r"\ensuremath{\rfloor}", "✓": r"\ensuremath{\surd}",  # (no check mark without a package)
}  # fmt: skip


def latex_text(text: str, cyrillic: bool = False) -> str:
    """Text as LaTeX source: specials escaped, symbols as LaTeX; any other non-ASCII character becomes
    '?' (so that pdflatex needs no package), except Cyrillic letters when `cyrillic`."""
    out = []
    for ch in text:
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ch in _LATEX_SYMBOLS:
            out.append(_LATEX_SYMBOLS[ch] if not (cyrillic and ch in "«»") else ch)
        elif ch.isascii() or (cyrillic and ("\u0400" <= ch <= "\u04ff")):
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def to_latex(blocks: Sequence[Block], title: str) -> str:
    """A whole LaTeX document (article) for pdflatex."""
    ru = language() == "ru"

    def tex(text: str) -> str:
        return latex_text(text, cyrillic=ru)

    lines = [r"\documentclass{article}"]
    if ru:
        lines += [r"\usepackage[T2A]{fontenc}", r"\usepackage[utf8]{inputenc}", r"\usepackage[russian]{babel}"]
    lines += [r"\begin{document}", r"\title{" + tex(title) + "}", r"\date{}", r"\maketitle", ""]
    for b in blocks:
        if isinstance(b, Heading):
            command = {1: "section*", 2: "subsection*", 3: "subsubsection*"}.get(b.level, "paragraph*")
            lines.append(f"\\{command}{{{tex(b.text)}}}")
        elif isinstance(b, Paragraph):
            lines.append(r"\\".join(tex(line) for line in b.text.split("\n")))
        else:
            lines.append(r"\par\medskip\noindent")
            if b.title:
                lines.append(r"\textbf{" + tex(b.title) + r"}\\[2pt]")
            lines.append(r"\begin{tabular}{l" + "r" * (len(b.header) - 1) + "}")
            lines.append(" & ".join(tex(c) for c in b.header) + r" \\ \hline")
            lines += [" & ".join(tex(c) for c in row) + r" \\" for row in b.rows]
            lines.append(r"\end{tabular}\par\medskip")
        lines.append("")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


# --- HTML ----------------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;margin:.3em 0 1em}td,th{padding:.15em .7em;text-align:right}"
    "th{border-bottom:1px solid #888}td:first-child{font-weight:bold;text-align:left}"
    ".caption{color:#444}"
)


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language()}"><head><meta charset="utf-8"><title>{e(title)}</title>',
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            level = min(b.level + 1, 6)
            parts.append(f"<h{level}>{e(b.text)}</h{level}>")
        elif isinstance(b, Paragraph):
            parts.append('<p class="caption">' + "<br>".join(e(line) for line in b.text.split("\n")) + "</p>")
        else:
            rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            head = "<tr>" + "".join(f"<th>{e(c)}</th>" for c in b.header) + "</tr>"
            caption = f"<caption><b>{e(b.title)}</b></caption>" if b.title else ""
            parts.append(f"<table>{caption}<thead>{head}</thead><tbody>{rows}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_sheet(blocks: Sequence[Block], title: str, format: str) -> str:
    """The blocks in one of SHEET_FORMATS."""
    if format == "latex":
        return to_latex(blocks, title)
    if format == "html":
        return to_html(blocks, title)
    return to_markdown([Heading(title, 1), *blocks])
