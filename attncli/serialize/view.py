"""The interactive page (head view, model view, stage tables) as one self-contained HTML file.

page(data, json_text) -> the HTML text: the template in attncli/view/ with its script, style and
the data inlined, so that the file opens from disk in any browser with no network. Nothing is fetched.

head_data(att, tables, …) -> one head's part of the data: its exact weights and its stage tables as the
terminal prints them (the numbers as text, at the precision of the tables).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from attncli.core.engine import Attention
from attncli.i18n import _, language

# The arrays behind each stage's tables, in the order the terminal prints them.
STAGE_ARRAYS = {
    "inputs": ("q", "k", "v"),
    "scores": ("scores",),
    "scaled": ("scaled",),
    "capped": ("capped",),
    "masked": ("masked",),
    "visible": ("allowed",),
    "softmax": ("shifted", "exp", "weights"),
    "weights": ("weights",),
    "output": ("output",),
}
# The extra column a table has at its right (softmax steps and the weights).
EXTRAS = {"shifted": "row_max", "exp": "row_sum", "weights": "sum", "allowed": "seen"}
VISIBLE_MARKS = ("=·", "=✓")  # the visible-keys grid's cells, compact (attncli.render.tables draws the same)


@dataclass(frozen=True)
class Caption:
    """A table's title and caption, as the terminal shows them."""

    title: str
    caption: str
    extra: str | None = None  # the name of the column at the right (row max, row sum, Σ)


def exact(values: Any, dtype: str) -> list[Any]:
    """Every number exactly: the shortest text that reads back as the same float32 (or float64) value,
    as numbers for the JSON; −∞ and NaN as null."""
    a = np.asarray(values, dtype=np.float64)
    if dtype == "float32":
        a32 = a.astype(np.float32)
        texts = [[None if not np.isfinite(x) else float(str(x)) for x in row] for row in a32]
        return texts
    cells = a.astype(object)
    cells[~np.isfinite(a)] = None
    result: list[Any] = cells.tolist()
    return result


def compact(text: str) -> str:
    """A printed cell, shorter: its digits without the decimal point ("-0.0781" -> "-781", read back at the
    page's precision); text that is not a plain number ("−∞", "NaN") or too long to read back exactly as a
    JavaScript number starts with "=" and stays as it is."""
    digits = text.replace(".", "", 1)
    if digits.lstrip("-").isdigit() and len(digits) <= 15:
        return str(int(digits))
    return "=" + text


def head_data(
    att: Attention,
    captions: Sequence[tuple[str, Caption]],
    cell: Any,
    layer: int,
    head: int,
) -> dict[str, Any]:
    """One head: its weights exactly and its stage tables (array name, title, caption, rows of printed cells).

    `captions` pairs each table's array name with what the terminal says around it; `cell(x)` prints a
    number as the terminal does."""
    tables = []
    for name, cap in captions:
        a = np.asarray(getattr(att, name))
        rows = [[VISIBLE_MARKS[bool(x)] for x in row] for row in a] if name == "allowed" else None
        table: dict[str, Any] = {
            "name": name,
            "title": cap.title,
            "caption": cap.caption,
            "rows": "k" if name in ("k", "v") else "q",
            "cols": "d" if name in ("q", "k", "v", "output") else "k",
            "cells": [" ".join(r) for r in rows] if rows else [" ".join(compact(cell(x)) for x in row) for row in a],
        }
        if cap.extra is not None and name == "allowed":
            table["extra"] = {"name": cap.extra, "cells": " ".join(f"={int(n)}" for n in a.sum(axis=1))}
        elif cap.extra is not None:
            extra = {"row_max": att.row_max[:, 0], "row_sum": att.row_sum[:, 0]}.get(EXTRAS[name])
            if extra is None:
                extra = np.nansum(att.weights, axis=1)
            table["extra"] = {"name": cap.extra, "cells": " ".join(compact(cell(x)) for x in extra)}
        tables.append(table)
    return {
        "layer": layer,
        "head": head,
        "weights": exact(att.weights, att.dtype),
        "scale": float(att.scale),
        "softcap": att.variants.softcap,
        "tables": tables,
    }


def ui_strings() -> dict[str, str]:
    """The words of the page, in the language of the run."""
    return {
        "head_view": _("Head view"),
        "model_view": _("Model view"),
        "stages": _("The stages"),
        "layer": _("Layer"),
        "head": _("Head"),
        "heads": _("Heads"),
        "several": _("Several heads at once (each in its colour)"),
        "level": _("Tokens"),
        "pieces": _("pieces"),
        "words": _("words"),
        "queries": _("queries"),
        "keys": _("keys"),
        "head_view_help": _(
            "Lines go from each query (left) to the keys it attends to (right); the stronger the weight, the darker "
            "the line. Hover or focus a token (Tab, then ↑/↓) to keep only its lines and read its exact weights."
        ),
        "model_view_help": _(
            "Every layer × head: its weights as a small heatmap (rows = queries, columns = keys; darker = more "
            "weight). Click one (or Enter) to open it in the head view."
        ),
        "stages_help": _(
            "The tables the terminal prints for the selected head, with the same numbers. Hover or focus a cell to "
            "see how it is computed, term by term."
        ),
        "words_note": _(
            "Words: a query word's weights are the mean of its pieces' rows; a key word's weight is the sum over its "
            "pieces (each row still sums to 1). The stage tables stay per piece."
        ),
        "weight_of": _("weight of {key} for {query}"),
        "exact": _("exact value"),
        "printed": _("as printed"),
        "expand_scores": _("{cell} = row {query} of Q · row {key} of K"),
        "expand_scaled": _("{cell} = score × scale"),
        "expand_weights": _("{cell} = exp(logit − row max) ÷ Σ exp(… − row max) over the row"),
        "expand_output": _("{cell} = Σ over keys of weight × V"),
        "expand_shifted": _("{cell} = logit − row max"),
        "expand_exp": _("{cell} = exp(shifted)"),
        "expand_masked": _("{cell} = scaled + mask (−∞ where masked)"),
        "expand_capped": _("{cell} = c·tanh(scaled / c), c = {c}"),
        "expand_seen": _("{cell}: query {query} sees key {key}"),
        "expand_hidden": _("{cell}: query {query} does not see key {key} (masked: −∞, weight 0)"),
        "expand_input": _("{cell}: an input value"),
        "open_head": _("open layer {layer}, head {head} in the head view"),
        "layer_head": _("layer {layer}, head {head}"),
        "json_note": _(
            "This file holds the numbers of the run as JSON, exactly as the command prints them with its JSON option."
        ),
        "save_json": _("Save the JSON"),
        "filter": _("Highlight the heads by"),
        "no_filter": _("nothing (every head alike)"),
        "role_filter": _("role: {role}"),
        "search_filter": _("head search: {query} → {key}"),
        "search_help": _("The weight {query} gives {key} in each head."),
        "search_rank": _("rank {rank} of {n}"),
        "filter_help": _(
            "Each thumbnail shows its score; the higher the score, the less faded; the three strongest are "
            "outlined. The list names the five strongest: choose one (or Enter) to open it in the head view."
        ),
    }


def page(data: dict[str, Any], json_text: str) -> str:
    """The whole page: the template with its style, script, the data and the run's JSON inlined."""
    folder = resources.files("attncli") / "view"
    template = (folder / "page.html").read_text(encoding="utf-8")
    style = (folder / "view.css").read_text(encoding="utf-8")
    script = (folder / "view.js").read_text(encoding="utf-8")
    data = {"lang": language(), "ui": ui_strings(), **data}
    parts = {
        "{{lang}}": language(),
        "{{title}}": _html_escape(str(data.get("title") or "attncli")),
        "{{style}}": style,
        "{{data}}": _script_json(json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))),
        "{{json}}": _script_json(json_text),
        "{{script}}": script,
    }
    # one pass: a sentence that reads "{{script}}" stays as it is
    return re.sub(r"\{\{\w+\}\}", lambda m: parts[m.group(0)], template)


def _script_json(text: str) -> str:
    """JSON safe inside <script>: no '<' (so no '</script>' or '<!--' can end it early), still the same JSON."""
    return text.replace("<", "\\u003c")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
