"""`attn samples`: list the bundled worked problems and print one. Registered by attncli.cli.app."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from attncli.cli.options import LangOpt
from attncli.cli.output import make_console, use_language
from attncli.i18n import _

samples_app = typer.Typer(
    help="The bundled worked problems: list them, print one; run one with `attn compute --sample NAME`.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def register(app: typer.Typer) -> None:
    app.add_typer(samples_app, name="samples")


@samples_app.callback(
    epilog="Examples:\n\n  attn samples\n\n  attn samples show causal-4x4\n\n"
    "  attn compute --sample causal-4x4 --stage weights\n\n  attn check --sample cat-sits",
)
def samples(ctx: typer.Context, lang: LangOpt = None) -> None:
    """List the bundled samples with a one-line description each."""
    use_language(lang.value if lang is not None else None)
    if ctx.invoked_subcommand is not None:
        return
    from rich import box
    from rich.table import Table

    from attncli.problem.samples import list_samples

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column(_("name"), style="bold", no_wrap=True)
    table.add_column(_("what it shows"))
    for s in list_samples():
        table.add_row(s.name, s.title)
    console = make_console()
    console.print(table)
    console.print(_("Run one: attn compute --sample NAME   ·   print it: attn samples show NAME"), style="dim")


@samples_app.command(
    epilog="Examples:\n\n  attn samples show one-query-two-keys | jq .expected\n\n"
    "  attn samples show causal-4x4 > mine.json && attn compute --input mine.json"
)
def show(
    name: Annotated[str, typer.Argument(help="The sample's name, as `attn samples` lists it.")], lang: LangOpt = None
) -> None:
    """Print one sample: its problem document (JSON), ready to edit or to pipe into attn compute."""
    use_language(lang.value if lang is not None else None)
    from attncli.problem.samples import sample_path

    sys.stdout.write(sample_path(name, "samples show").read_text(encoding="utf-8"))
