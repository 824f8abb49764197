"""Write attncli/locale/help.pot: every --help text of the live `attn` command tree, one message a
paragraph (commands' help and epilogs, options' help, help panels; example commands are left out).

    python scripts/help_messages.py attncli/locale/help.pot      (`make locale` runs it)

The texts are read from the application as Typer builds it, not from the source, so an option added
anywhere (and Typer's own --help, --install-completion) is in the catalogue without a list to keep;
`make locale` then updates and compiles attncli/locale/ru/LC_MESSAGES/help.po (domain "help").
"""

from __future__ import annotations

import sys

import typer
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from attncli.cli.app import app
from attncli.cli.helptext import help_messages


def main(out: str) -> None:
    catalog = Catalog(project="attncli")
    for message in help_messages(typer.main.get_command(app)):
        catalog.add(message)
    with open(out, "wb") as f:
        write_po(f, catalog, width=120, omit_header=True, no_location=True)


if __name__ == "__main__":
    main(sys.argv[1])
