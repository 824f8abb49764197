"""--help in the user's language, with metavars a user understands.

The help texts stay in English where each command and option is declared: they are the msgids of the
help catalogue (domain "help", attncli/locale/ru/LC_MESSAGES/help.po), which scripts/help_messages.py
harvests from the live command tree on `make locale`, so an option added anywhere is picked up with no
list to keep. A text is translated paragraph by paragraph; an indented paragraph (an example command)
stays as written, so adding an example needs no new translation.

Nothing here runs unless a help page is drawn: `install()` wraps Typer's `format_help`, and just before
a page is drawn `prepare(command, ctx)` gives that command's options their metavars (MATRIX, FILE, N,
top-left|bottom-right; none for a flag, which takes no value) and, in Russian, translates its texts and
Typer's own words (Usage, Options, [default: …]). English help is the declared text, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from attncli.i18n import _, help_text, language

# The value an option takes, named as its help names it ("COMMAND --option" wins over "--option").
# An option not listed gets one from its type: N (an integer), NUMBER, FILE, its choices a|b|c, none
# for a flag, else TEXT.
MATRICES = ("--q", "--k", "--v", "--mask", "--x", "--q-input", "--kv-input", "--wq", "--wk", "--wv", "--wo")
CLAIMS = ("--expect-scores", "--expect-scaled", "--expect-masked", "--expect-weights", "--expect-output")
METAVARS: dict[str, str] = {
    **dict.fromkeys(MATRICES + CLAIMS, "MATRIX"),
    **dict.fromkeys(("--bq", "--bk", "--bv", "--bo"), "VECTOR"),
    "--sinks": "NUMBERS",
    "--documents": "IDS",
    "--input": "FILE",
    "--sample": "NAME",
    "--stage": "STAGE",
    "--explain-cell": "I,J",
    "--max-memory": "SIZE",
    "--tol": "TOL",
    "--window": "W",
    "--window-right": "R",
    "--chunk": "C",
    "--prefix": "P",
    "--sink-tokens": "K",
    "--softcap": "C",
    "--heads": "H",
    "--kv-heads": "G",
    "--out": "DIR",
    "--topic": "TOPIC",
    "--query": "WORD",
    "explain --key": "WORD",
    "explain --layer": "N|all",
    "explain --head": "N|all",
    "explain --residual": "W",
    "check --format": "table|csv|json",
    "exercise --format": "markdown|latex|html",
}
ARGUMENTS = {"sentence": "SENTENCE", "name": "NAME"}  # an argument's metavar, by its parameter name


def _words() -> dict[str, str]:
    """The metavar words in the current language (a letter such as N or W stays as it is)."""
    return {
        "MATRIX": _("MATRIX"),
        "VECTOR": _("VECTOR"),
        "NUMBERS": _("NUMBERS"),
        "NUMBER": _("NUMBER"),
        "IDS": _("IDS"),
        "FILE": _("FILE"),
        "DIR": _("DIR"),
        "NAME": _("NAME"),
        "PATH": _("PATH"),
        "STAGE": _("STAGE"),
        "SIZE": _("SIZE"),
        "TOL": _("TOL"),
        "TOPIC": _("TOPIC"),
        "WORD": _("WORD"),
        "TEXT": _("TEXT"),
        "SENTENCE": _("SENTENCE"),
    }


def metavar(param: Any, command: str) -> str:
    """What the help shows as the value of an option (or the name of an argument), in English."""
    if param.param_type_name == "argument":
        return ARGUMENTS.get(param.name, str(param.name).upper())
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    for opt in param.opts:
        for key in (f"{command} {opt}", opt):
            if key in METAVARS:
                return METAVARS[key]
    desc = param.type_descriptor
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    if desc.is_path:
        return "FILE"
    kind = desc.annotation
    kind = getattr(kind, "__args__", (kind,))[0] if desc.is_list else kind
    return {int: "N", float: "NUMBER"}.get(kind, "TEXT")


def in_language(word: str, words: dict[str, str]) -> str:
    """A metavar in the current language: NAME|PATH -> ИМЯ|ПУТЬ (choices and letters stay)."""
    return "|".join(",".join(words.get(w, w) for w in part.split(",")) for part in word.split("|"))


def paragraphs(text: str) -> Iterator[tuple[str, bool]]:
    """(paragraph, translatable) of a help text; an indented paragraph (an example) is kept as it is."""
    for paragraph in text.split("\n\n"):
        yield paragraph, bool(paragraph.strip()) and not paragraph[:1].isspace() and "\b" not in paragraph


def msgid(paragraph: str) -> str:
    """A paragraph as a message: its lines joined (the help page joins them too)."""
    return " ".join(paragraph.split())


def translated(text: str | None) -> str | None:
    """A help text in the current language, paragraph by paragraph."""
    if not text:
        return text
    return "\n\n".join(help_text(msgid(p)) if ok else p for p, ok in paragraphs(text))


def texts(command: Any, ctx: Any) -> Iterator[str]:
    """Every translatable text of a command's help page: its help, epilog and options', and the panels'."""
    for text in (command.help, command.short_help, command.epilog):
        yield from (msgid(p) for p, ok in paragraphs(text or "") if ok)
    for param in command.get_params(ctx):
        yield from (msgid(p) for p, ok in paragraphs(getattr(param, "help", None) or "") if ok)
        if getattr(param, "rich_help_panel", None):
            yield param.rich_help_panel


def help_messages(root: Any) -> list[str]:
    """Every help text of the command tree under `root`, in order, once (for the catalogue and its test)."""
    from typer._click.core import Context

    found: dict[str, None] = {}

    def walk(command: Any, parent: Any) -> None:
        ctx = Context(command, info_name=command.name, parent=parent)
        found.update(dict.fromkeys(texts(command, ctx)))
        for child in (getattr(command, "commands", None) or {}).values():
            walk(child, ctx)

    walk(root, None)
    return list(found)


_ENGLISH: dict[str, Any] = {}  # Typer's own words as it defines them, kept to go back to English


def _typer_words() -> dict[str, str]:
    """Typer's help-page words (typer.rich_utils' constants) in the current language."""
    return {
        "DEPRECATED_STRING": _("(deprecated) "),
        "DEFAULT_STRING": _("[default: {}]"),
        "ENVVAR_STRING": _("[env var: {}]"),
        "REQUIRED_LONG_STRING": _("[required]"),
        "ARGUMENTS_PANEL_TITLE": _("Arguments"),
        "OPTIONS_PANEL_TITLE": _("Options"),
        "COMMANDS_PANEL_TITLE": _("Commands"),
    }


def _set_typer_words(english: bool) -> None:
    import typer.rich_utils as rich_utils

    words = _typer_words()
    if not _ENGLISH:
        _ENGLISH.update({name: getattr(rich_utils, name) for name in words})
        rich_utils.OptionHighlighter.highlights.append(r"(?P<usage>Использование: )")
    for name, word in words.items():
        setattr(rich_utils, name, _ENGLISH[name] if english else word)


def _usage_formatter(usage: str) -> Any:
    """click's help formatter with `usage` ("Usage: " in the language) before the usage line."""
    from typer._click.formatting import HelpFormatter

    class Formatter(HelpFormatter):
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, usage if prefix is None else prefix)

    return Formatter


def prepare(command: Any, ctx: Any) -> None:
    """Make `command`'s help page ready to draw: metavars, and the texts in the current language."""
    english = language() == "en"
    words = {} if english else _words()
    for param in command.get_params(ctx):
        shown = metavar(param, str(command.name))
        param.metavar = shown if english else in_language(shown, words)
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None  # the name says it; "<str>" says nothing
    if english:
        if _ENGLISH:
            _set_typer_words(english=True)
        return
    _set_typer_words(english=False)
    command.help, command.epilog = translated(command.help), translated(command.epilog)
    command.short_help = translated(command.short_help)
    for child in (getattr(command, "commands", None) or {}).values():
        child.help, child.short_help = translated(child.help), translated(child.short_help)
    for param in command.get_params(ctx):
        param.help = translated(getattr(param, "help", None))
        if getattr(param, "rich_help_panel", None):
            param.rich_help_panel = help_text(param.rich_help_panel)
    command.options_metavar = _("[OPTIONS]")
    if hasattr(command, "subcommand_metavar"):
        command.subcommand_metavar = _("COMMAND [ARGS]...")
    ctx.formatter_class = _usage_formatter(_("Usage: "))


def install() -> None:
    """Wrap Typer's format_help (once) so that every help page is prepared first."""
    import typer.core

    for cls in (typer.core.TyperCommand, typer.core.TyperGroup):
        original = cls.format_help
        if getattr(original, "prepares_help", False):
            continue

        def format_help(self: Any, ctx: Any, formatter: Any, _original: Any = original) -> None:
            prepare(self, ctx)
            _original(self, ctx, formatter)

        format_help.prepares_help = True  # type: ignore[attr-defined]
        cls.format_help = format_help  # type: ignore[method-assign]
