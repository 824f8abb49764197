"""attncli: a command-line attention calculator that shows every stage, exactly.

>>> from attncli import attention
>>> result = attention([[1, 0]], [[0.5, 0.5], [0.3, 0.7]], [[1, 0], [0.5, 0.5]])
>>> result.weights.round(4).tolist()
[[0.5353, 0.4647]]

The names below are imported on first use, so that `attn` starts without loading what a command
does not need.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from attncli.core import display as _display
from attncli.version import __version__

# The public API: name -> the module that defines it (imported on first use).
_WHERE = {
    "Attention": "attncli.core.engine",
    "AttentionOutput": "attncli.core.blocked",
    "AttentionSettings": "attncli.core.settings",
    "attention": "attncli.core.attention",
    "attention_output": "attncli.core.attention",
    "causal_allowed": "attncli.core.masks",
    "MultiHead": "attncli.core.multihead",
    "MultiHeadOutput": "attncli.core.multihead",
    "multi_head_attention": "attncli.core.multihead",
    "AttnError": "attncli.errors",
    "InputError": "attncli.errors",
    "NumericError": "attncli.errors",
    "ShapeError": "attncli.errors",
    "Explanation": "attncli.analysis.explanation",
    "explain": "attncli.analysis.explanation",
    "CheckReport": "attncli.analysis.grading",
    "check": "attncli.analysis.grading",
    "Problem": "attncli.problem.document",
    "load_problem": "attncli.problem.document",
}

if TYPE_CHECKING:
    from attncli.analysis.explanation import Explanation, explain
    from attncli.analysis.grading import CheckReport, check
    from attncli.core.attention import attention, attention_output
    from attncli.core.blocked import AttentionOutput
    from attncli.core.engine import Attention
    from attncli.core.masks import causal_allowed
    from attncli.core.multihead import MultiHead, MultiHeadOutput, multi_head_attention
    from attncli.core.settings import AttentionSettings
    from attncli.errors import AttnError, InputError, NumericError, ShapeError
    from attncli.problem.document import Problem, load_problem

__all__ = [
    "Attention",
    "AttentionOutput",
    "AttentionSettings",
    "AttnError",
    "CheckReport",
    "Explanation",
    "InputError",
    "MultiHead",
    "MultiHeadOutput",
    "NumericError",
    "Problem",
    "ShapeError",
    "__version__",
    "attention",
    "attention_output",
    "causal_allowed",
    "check",
    "explain",
    "load_problem",
    "multi_head_attention",
]


def _renderable(result: object) -> Any:
    from attncli.render.display import renderable

    return renderable(result)


def _html(renderable: Any) -> str:
    from attncli.render.tables import html

    return html(renderable)


# The roof wires the floors together: results of the core show themselves through the render floor,
# which neither the core imports nor `attn compute --json` loads.
_display.install(_renderable, _html)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'attncli' has no attribute {name!r}")
