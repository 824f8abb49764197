"""Write attncli/locale/help.pot: every --help text of the live `attn` command tree, one message a
paragraph (commands' help and epilogs, options' help, help panels; example commands are left out).

    python scripts/help_messages.py attncli/locale/help.pot                    (extract)
    python scripts/help_messages.py --compile attncli/locale/ru/LC_MESSAGES/help.po

`make locale` runs both, with `pybabel update` between them. The texts are read from the application
as Typer builds it, not from the source, so an option added anywhere (and Typer's own --help,
--install-completion) is in the catalogue without a list to keep.

Compiled here rather than by `pybabel compile`, whose python-format check would refuse a help text
such as "±TOL×100% for values above 1" (it reads "% f" as a placeholder): help texts are never
%-formatted, so that check says nothing about them.
"""

from __future__ import annotations

import sys

import typer
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from attncli.cli.app import app
from attncli.cli.helptext import help_messages


def main(out: str) -> None:
    catalog = Catalog(project="attncli")
    for message in help_messages(typer.main.get_command(app)):
        catalog.add(message)
    with open(out, "wb") as f:
        write_po(f, catalog, width=120, omit_header=True, no_location=True)


def compile_po(po: str) -> None:
    """Write the .mo beside `po` (translated, non-fuzzy messages, as `pybabel compile` does)."""
    with open(po, "rb") as f:
        catalog = read_po(f)
    messages = [m for m in catalog if m.id]
    done = [m for m in messages if m.string and not m.fuzzy]
    with open(po.removesuffix(".po") + ".mo", "wb") as f:
        write_mo(f, catalog)
    print(f"{len(done)} of {len(messages)} help texts translated in {po}")


if __name__ == "__main__":
    if sys.argv[1] == "--compile":
        compile_po(sys.argv[2])
    else:
        main(sys.argv[1])
