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

if TYPE_CHECKING:
    from attncli.engine import Attention, attention, causal_allowed
    from attncli.errors import AttnError, InputError, NumericError, ShapeError
    from attncli.explanation import Explanation, explain
    from attncli.grading import CheckReport, check
    from attncli.problem import Problem, load_problem

__version__ = "0.1.0"

_WHERE = {
    "Attention": "attncli.engine",
    "attention": "attncli.engine",
    "causal_allowed": "attncli.engine",
    "AttnError": "attncli.errors",
    "InputError": "attncli.errors",
    "NumericError": "attncli.errors",
    "ShapeError": "attncli.errors",
    "Explanation": "attncli.explanation",
    "explain": "attncli.explanation",
    "CheckReport": "attncli.grading",
    "check": "attncli.grading",
    "Problem": "attncli.problem",
    "load_problem": "attncli.problem",
}

__all__ = [
    "Attention",
    "AttnError",
    "CheckReport",
    "Explanation",
    "InputError",
    "NumericError",
    "Problem",
    "ShapeError",
    "__version__",
    "attention",
    "causal_allowed",
    "check",
    "explain",
    "load_problem",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'attncli' has no attribute {name!r}")
