"""The stage vocabulary: the names of the stages, in order, defined once for the engine, the problem
documents, the renderers, the exports and the CLI."""

from __future__ import annotations

from attncli.errors import InputError
from attncli.i18n import _

STAGE_NAMES = ("scores", "scaled", "capped", "masked", "weights", "output")  # the stages a document may claim


# What --stage may show: single-head tables, and the multi-head pipeline's stages around them.
TABLE_STAGES = ("inputs", "scores", "scaled", "capped", "masked", "visible", "softmax", "weights", "output")


MULTIHEAD_STAGES = (
    "inputs",
    "positional",
    "projected",
    "heads",
    "qk_norm",
    "rope",
    "alibi",
    *TABLE_STAGES[1:],
    "concat",
    "projection",
)


def check_stages(names: list[str] | None, known: tuple[str, ...], argument: str = "stage") -> None:
    """An InputError naming the first of `names` that is not one of the `known` stages."""
    for name in names or ():
        if name not in known:
            message = _("unknown stage {name!r} (choose from {stages})").format(name=name, stages=", ".join(known))
            raise InputError(message, argument=argument)
