"""click's, Typer's and pydantic's own usage errors in the user's language.

Typer (0.29, requirements/run.lock) parses with its own copy of click, whose messages are English
f-strings, not gettext calls, and the reason inside "Invalid value for '--precision': …" is pydantic's.
So a message is translated when it is shown (attncli.cli.entry, only when the language is not English):
each English form below, with its {fields}, is matched against the whole message, and the fields are
carried into the translation (a field named reason is itself a message, translated in turn; 'quoted'
names become «quoted»). A message no form matches is shown as it is; tests/cli/test_help_i18n.py runs
the common errors through the real entry point in Russian, so an upgrade that rewords one fails there.
"""

from __future__ import annotations

import re
from typing import Any

from attncli.i18n import _, ngettext

EXTRA = re.compile(r"Got unexpected extra argument\(s\) \((?P<args>.*)\)")


def forms() -> list[tuple[str, str]]:
    """(the English as click, Typer or pydantic words it, the same in the current language), the most
    specific first."""
    return [
        (
            "No such option: {option} (Possible options: {options})",
            _("No such option: {option} (Possible options: {options})"),
        ),
        ("No such option: {option}", _("No such option: {option}")),
        ("No such command {name}. Did you mean {names}?", _("No such command {name}. Did you mean {names}?")),
        ("No such command {name}.", _("No such command {name}.")),
        ("Missing command.", _("Missing command.")),
        ("Missing option {option}.", _("Missing option {option}.")),
        ("Missing argument {name}.", _("Missing argument {name}.")),
        ("Missing parameter: {name}", _("Missing parameter: {name}")),
        ("Option {option} requires an argument.", _("Option {option} requires an argument.")),
        ("Option {option} requires {n} arguments.", _("Option {option} requires {n} arguments.")),
        ("Option {option} does not take a value.", _("Option {option} does not take a value.")),
        ("Invalid value for {option}: {reason}", _("Invalid value for {option}: {reason}")),
        ("Invalid value: {reason}", _("Invalid value: {reason}")),
        ("Input should be less than or equal to {n}", _("Input should be less than or equal to {n}")),
        ("Input should be greater than or equal to {n}", _("Input should be greater than or equal to {n}")),
        ("Input should be less than {n}", _("Input should be less than {n}")),
        ("Input should be greater than {n}", _("Input should be greater than {n}")),
        (
            "Input should be a valid integer, unable to parse string as an integer",
            _("Input should be a valid integer, unable to parse string as an integer"),
        ),
        (
            "Input should be a valid integer, got a number with a fractional part",
            _("Input should be a valid integer, got a number with a fractional part"),
        ),
        (
            "Input should be a valid number, unable to parse string as a number",
            _("Input should be a valid number, unable to parse string as a number"),
        ),
        ("Input should be a finite number", _("Input should be a finite number")),
        ("Value error, {value} is not one of {choices}.", _("Value error, {value} is not one of {choices}.")),
        ("File {path} does not exist.", _("File {path} does not exist.")),
        ("Directory {path} does not exist.", _("Directory {path} does not exist.")),
        ("Path {path} does not exist.", _("Path {path} does not exist.")),
        ("File {path} is a directory.", _("File {path} is a directory.")),
        ("Directory {path} is a file.", _("Directory {path} is a file.")),
    ]


def _pattern(english: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", english)  # text, field, text, field, …, text
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)))


def _quoted(value: str) -> str:
    """'--precision', 'float64' (Python's repr, as click quotes) -> «--precision», «float64»."""
    return re.sub(r"'([^']*)'", "«\\1»", value)


def translate(message: str, error: Any = None) -> str:
    """A usage error's message (one line) in the current language; as it is when no form matches."""
    extra = EXTRA.fullmatch(message)
    if extra:
        ctx = getattr(error, "ctx", None)
        n = len(ctx.args) if ctx is not None and getattr(ctx, "args", None) else len(extra["args"].split())
        return ngettext("unexpected extra argument: {args}", "unexpected extra arguments: {args}", n).format(
            args=extra["args"]
        )
    for english, translation in forms():
        match = _pattern(english).fullmatch(message)
        if match:
            fields = {k: translate(v) if k == "reason" else _quoted(v) for k, v in match.groupdict().items()}
            return translation.format(**fields)
    return message
