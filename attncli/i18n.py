"""Messages in English or Russian, with GNU gettext catalogues (attncli/locale/ru/LC_MESSAGES/attncli.po).

Every caption, narrative, diagnosis and error message is written in English in the source, wrapped in
`_()` (or `ngettext()` where a count decides the form: Russian has three, 1 строка, 2 строки, 5 строк)
and formatted with named placeholders afterwards: `_("row {row} is empty").format(row=2)`, so that a
translation may put the words in its own order.

The language: `--lang en|ru` (attncli.cli.entry reads it from the arguments before anything else, so even
errors raised while parsing come out in it), else the ATTN_LANG environment variable, else the locale
when it is Russian (the first of LC_ALL, LC_MESSAGES, LANG that is set), else English. English needs no
catalogue: the message is its own text. `make locale` extracts, updates and compiles the catalogues.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gettext import NullTranslations

LANGUAGES = ("en", "ru")
DOMAIN = "attncli"
# The --help texts of the commands and options: harvested from the live command tree by
# scripts/help_messages.py (`make locale`), not from `_()` calls, so they have a catalogue of their own.
HELP_DOMAIN = "help"
LOCALE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")  # os.path: pathlib costs start-up

_chosen: str | None = None  # set by set_language; None: decided by the environment on first use
_catalogues: dict[tuple[str, str], NullTranslations] = {}


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """ATTN_LANG (en, ru, or a locale name such as ru_RU.UTF-8), else the locale when it is Russian, else en."""
    env = os.environ if environ is None else environ
    chosen = env.get("ATTN_LANG", "").strip()
    if chosen:
        code = chosen.replace("-", "_").split("_")[0].split(".")[0].lower()
        return code if code in LANGUAGES else "en"
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):  # the first one set decides, as in POSIX
        value = env.get(var, "")
        if value:
            return "ru" if value.lower().startswith("ru") else "en"
    return "en"


def set_language(lang: str | None) -> None:
    """Use `lang` (en or ru) from now on; None goes back to the environment's choice."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (choose from {', '.join(LANGUAGES)})")
    _chosen = lang


def language() -> str:
    """The language messages come out in: en or ru."""
    return _chosen if _chosen is not None else language_from_env()


def _catalogue(lang: str, domain: str = DOMAIN) -> NullTranslations:
    if (lang, domain) not in _catalogues:
        import gettext  # only for a translation: English needs no catalogue (and `attn` starts faster)

        _catalogues[lang, domain] = gettext.translation(domain, LOCALE_DIR, languages=[lang], fallback=True)
    return _catalogues[lang, domain]


def _(message: str) -> str:
    """`message` in the current language (the English text itself when there is no translation)."""
    lang = language()
    return message if lang == "en" else _catalogue(lang).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for the count `n` (English: 2 forms; Russian: 3, by the catalogue's rule)."""
    lang = language()
    if lang == "en":
        return singular if n == 1 else plural
    return _catalogue(lang).ngettext(singular, plural, n)


def help_text(message: str) -> str:
    """A --help text (a command's or an option's, as declared in English) in the current language."""
    lang = language()
    return message if lang == "en" else _catalogue(lang, HELP_DOMAIN).gettext(message)
