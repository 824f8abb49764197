"""The bundled sample problems: worked examples with their expected values.

They live in `samples/` at the top of the repository and are installed inside the package as
`attncli/_samples/`. A sample is a problem document (see attncli.problem.document) with a title.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from attncli.errors import InputError
from attncli.i18n import _

PROBLEM_KEYS = ("q", "x", "q_input")  # a document with one of these is a problem (not, say, embeddings)


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    description: str
    path: Path


def samples_dir() -> Path:
    """Where the samples are: inside the installed package, or beside it in a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the attncli package
    installed = here / "_samples"
    return installed if installed.is_dir() else here.parent / "samples"


def list_samples() -> list[Sample]:
    """Every sample problem, by name."""
    out = []
    for path in sorted(samples_dir().glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and any(k in doc for k in PROBLEM_KEYS):
            out.append(Sample(path.stem, str(doc.get("title", path.stem)), str(doc.get("description", "")), path))
    return out


def sample_path(name: str, argument: str = "sample") -> Path:
    """The file of the sample called `name` (with or without .json)."""
    samples = {s.name: s for s in list_samples()}
    key = name.removesuffix(".json")
    if key not in samples:
        message = _("no sample called {name!r} (samples: {samples})")
        raise InputError(message.format(name=name, samples=", ".join(samples) or _("none found")), argument=argument)
    return samples[key].path
