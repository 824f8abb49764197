"""The architectures attncli can run, keyed by name, and the loader that picks one for a folder.

    ARCHITECTURES["bert"]  -> the Architecture (recognise, inspect, load)
    architecture_for(folder) -> the first registered one that recognises the folder, else the default
    load(folder) -> Model,  inspect(folder) -> ModelInfo

A new kind of model (a Llama-style decoder in GGUF, a BERT-style encoder in another weight format)
is one module with an Architecture subclass, added here with `register`; the CLI and the analysis
only ever see attncli.models.base.Model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attncli.models.base import Architecture, Model, ModelInfo
from attncli.models.bert import Bert
from attncli.models.formats import gguf_path, is_e5s1

ARCHITECTURES: dict[str, Architecture] = {}
DEFAULT = "bert"  # the architecture a folder that no architecture recognises is checked as


def register(architecture: Architecture) -> None:
    """Make `architecture` available under its name (a later one with the same name replaces it)."""
    ARCHITECTURES[architecture.name] = architecture


class Deferred(Architecture):
    """An architecture whose module is imported when a folder is recognised as its kind (by a cheap
    check of attncli.models.formats), so that a run of another kind does not import it."""

    def __init__(self, name: str, where: str, recognizes: Callable[[Path], Any]) -> None:
        self.name, self.files, self._where, self._recognizes = name, (), where, recognizes
        self._real: Architecture | None = None

    def real(self) -> Architecture:
        if self._real is None:
            module, _, cls = self._where.partition(":")
            self._real = getattr(importlib.import_module(module), cls)()
        return self._real

    def recognizes(self, folder: Path) -> bool:
        return bool(self._recognizes(folder))

    def inspect(self, folder: Path) -> ModelInfo:
        return self.real().inspect(folder)

    def load(self, folder: Path) -> Model:
        return self.real().load(folder)


register(Bert())
register(Deferred("llama", "attncli.models.llama:Llama", gguf_path))
register(Deferred("e5", "attncli.models.e5:E5Architecture", is_e5s1))


def architecture_for(folder: Path) -> Architecture:
    """The architecture of the model in `folder` (the default when none recognises it, so that its
    checks say which file is missing or wrong)."""
    for architecture in ARCHITECTURES.values():
        if architecture.name != DEFAULT and architecture.recognizes(folder):
            return architecture
    return ARCHITECTURES[DEFAULT]


def is_single_file(path: Path) -> bool:
    """Whether `path` is a file that a registered architecture reads by itself (a .gguf, an E5S1 file)."""
    return path.is_file() and any(a.name != DEFAULT and a.recognizes(path) for a in ARCHITECTURES.values())


def inspect(folder: Path) -> ModelInfo:
    """The description of the model in `folder`, its weights' names and shapes checked (headers only)."""
    return architecture_for(folder).inspect(folder)


def load(folder: Path) -> Model:
    """The model in `folder`, ready to tokenize and run."""
    return architecture_for(folder).load(folder)
