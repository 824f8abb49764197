"""Errors that attncli raises for bad input. Only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class AttnError(Exception):
    """Base class: a problem with what the user asked for (exit code 2 in the CLI)."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.message = message

    def __str__(self) -> str:
        return f"{self.argument}: {self.message}" if self.argument else self.message

    def with_argument(self, argument: str) -> AttnError:
        """The same error, attributed to `argument` (e.g. '--q' or 'problem.json: q')."""
        return type(self)(self.message, argument=argument)


class InputError(AttnError):
    """Text, a file or a document could not be read as the value it should be."""


class ShapeError(AttnError):
    """Arrays whose shapes do not fit together."""


class NumericError(AttnError):
    """Values that are not finite, or a computation that would overflow."""


class ModelError(AttnError):
    """A pretrained model that is missing, incomplete or not of a kind attncli can run."""


def printable(text: str) -> str:
    """The text with line breaks and other control characters (an ANSI escape sequence too) written out
    as \\n, \\x1b, \\u2028…, so that text from a document shows as what it is and stays on its line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
