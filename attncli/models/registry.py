"""The architectures attncli can run, keyed by name, and the loader that picks one for a folder.

    ARCHITECTURES["bert"]  -> the Architecture (recognise, inspect, load)
    architecture_for(folder) -> the first registered one that recognises the folder, else the default
    load(folder) -> Model,  inspect(folder) -> ModelInfo

A new kind of model (a Llama-style decoder in GGUF, a BERT-style encoder in another weight format)
is one module with an Architecture subclass, added here with `register`; the CLI and the analysis
only ever see attncli.models.base.Model.
"""

from __future__ import annotations

from pathlib import Path

from attncli.models.base import Architecture, Model, ModelInfo
from attncli.models.bert import Bert
from attncli.models.e5 import E5Architecture
from attncli.models.llama import Llama

ARCHITECTURES: dict[str, Architecture] = {}
DEFAULT = "bert"  # the architecture a folder that no architecture recognises is checked as


def register(architecture: Architecture) -> None:
    """Make `architecture` available under its name (a later one with the same name replaces it)."""
    ARCHITECTURES[architecture.name] = architecture


register(Bert())
register(Llama())
register(E5Architecture())


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
