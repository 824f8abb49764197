"""The renderable of each displayable result, for attncli.core.display (rich's `__rich__`, Jupyter)."""

from __future__ import annotations

from typing import Any

from attncli.analysis.explanation import Explanation
from attncli.core.engine import Attention
from attncli.core.multihead import MultiHead
from attncli.render.format import View
from attncli.render.multihead import render_multihead
from attncli.render.tables import html, render_attention


def renderable(result: object) -> Any:
    """The tables that stand for `result` when rich or Jupyter shows it."""
    if isinstance(result, Attention):
        return render_attention(result)
    if isinstance(result, MultiHead):
        return render_multihead(result)
    if isinstance(result, Explanation):  # the stages of that head, words as labels
        labels = {"q": result.tokens, "k": result.tokens}
        return render_attention(result.attention, ["scores", "weights", "output"], View(precision=2, labels=labels))
    raise TypeError(f"nothing renders a {type(result).__name__}")


__all__ = ["html", "renderable"]
