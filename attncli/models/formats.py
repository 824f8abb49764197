"""How the single-file formats are recognised, cheaply (a file name, four bytes), without importing
the modules that read them: the registry asks these before it imports attncli.models.llama or
attncli.models.e5 (with NumPy's readers, 10–20 ms), so a run on a BERT folder never imports them."""

from __future__ import annotations

from pathlib import Path

GGUF_SUFFIX = ".gguf"
E5_MAGIC = b"E5S1"


def gguf_path(path: Path) -> Path | None:
    """The .gguf file `path` names: itself, or the only .gguf in the folder `path`; else None."""
    if path.is_file() and path.suffix == GGUF_SUFFIX:
        return path
    if path.is_dir():
        found = sorted(path.glob("*" + GGUF_SUFFIX))
        return found[0] if len(found) == 1 else None
    return None


def is_e5s1(path: Path) -> bool:
    """Whether `path` is an E5S1 file: named .bin (a damaged one too: its reader then says what is wrong),
    or starting with the magic."""
    if not path.is_file():
        return False
    if path.suffix == ".bin":
        return True
    try:
        with path.open("rb") as f:
            return f.read(4) == E5_MAGIC
    except OSError:
        return False
