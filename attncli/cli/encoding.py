"""Terminals whose encoding is not UTF-8 (cp1251, KOI8-R, latin-1, ASCII): tables are shown with what
the encoding can carry. Mathematical signs get plain stand-ins (− as -, ∞ as inf, ᵀ as ^T, √ as sqrt);
any other character the encoding lacks is shown as ?, and one warning at the end says which ones."""

from __future__ import annotations

import codecs
import sys
from typing import Any

from attncli.i18n import _

HANDLER = "attncli-stand-in"
STAND_INS = {
    "−": "-", "∞": "inf", "ᵀ": "^T", "√": "sqrt", "·": "*", "×": "x", "÷": "/", "…": "...", "≈": "~",
    "≤": "<=", "≥": ">=", "≠": "!=", "→": "->", "←": "<-", "Σ": "sum", "—": "-", "–": "-", "«": '"', "»": '"',
    "‘": "'", "’": "'", "“": '"', "”": '"', "✓": "ok", "✗": "x", "│": "|", "─": "-", "█": "#", "▏": "|",
    **{chr(0x2080 + i): str(i) for i in range(10)},  # subscript digits
    "⁰": "^0", "¹": "^1", "²": "^2", "³": "^3", **{chr(0x2070 + i): f"^{i}" for i in range(4, 10)},
}  # fmt: skip
_unshown: dict[str, None] = {}  # characters shown as ?, in the order met
_encodings: list[str] = []


def _stand_in(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = []
    for c in error.object[error.start : error.end]:
        if c in STAND_INS:
            out.append(STAND_INS[c])
        else:
            _unshown[c] = None
            out.append("?")
    return "".join(out), error.end


def carry_what_the_encoding_can() -> None:
    """Let stdout and stderr show stand-ins (and ?) for characters their encoding lacks, instead of failing."""
    codecs.register_error(HANDLER, _stand_in)
    _unshown.clear()
    _encodings.clear()
    for stream in (sys.stdout, sys.stderr):
        encoding: Any = getattr(stream, "encoding", None)
        reconfigure = getattr(stream, "reconfigure", None)
        if not encoding or reconfigure is None:
            continue
        try:
            if codecs.lookup(encoding).name in ("utf-8", "utf-16", "utf-32", "utf-8-sig"):
                continue
        except LookupError:
            continue
        reconfigure(errors=HANDLER)
        _encodings.append(encoding)


def say_what_was_not_shown() -> None:
    """One warning naming the characters the terminal's encoding could not carry (shown as ?), if any."""
    if _unshown and _encodings:
        chars = " ".join(f"U+{ord(c):04X}" for c in list(_unshown)[:20])
        from attncli.cli.output import warn

        message = _("the output's encoding ({encoding}) cannot show {chars}; they were shown as ?")
        warn(message.format(encoding=_encodings[0], chars=chars))
        _unshown.clear()
