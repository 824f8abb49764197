"""attncli: a command-line attention calculator that shows every stage, exactly.

>>> from attncli import attention
>>> result = attention([[1, 0]], [[0.5, 0.5], [0.3, 0.7]], [[1, 0], [0.5, 0.5]])
>>> result.weights.round(4).tolist()
[[0.5353, 0.4647]]
"""

from attncli.check import CheckReport, check
from attncli.engine import Attention, attention, causal_allowed
from attncli.errors import AttnError, InputError, NumericError, ShapeError
from attncli.problem import Problem, load_problem

__version__ = "0.1.0"

__all__ = [
    "Attention",
    "AttnError",
    "CheckReport",
    "InputError",
    "NumericError",
    "Problem",
    "ShapeError",
    "__version__",
    "attention",
    "causal_allowed",
    "check",
    "load_problem",
]
