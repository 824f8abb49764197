"""The `attn` command: the Typer application, with every command registered on it.

Each command module (compute, check, explain_command, model, samples) declares its Typer function and a
`register(app)`; this module imports them and registers them, so arrows only point down from here.
Errors: attncli.cli.entry turns every attncli.errors.AttnError and every usage error into one line on
stderr, `attn: error: …`, and exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.core

from attncli.cli import check, compute, exercise, explain_command, helptext, model, samples
from attncli.cli.options import LangOpt
from attncli.cli.output import ReaderGone
from attncli.version import __version__


class _Group(typer.core.TyperGroup):
    """The root group: a reader that goes away is passed on as ReaderGone, because click would make a
    closed pipe exit 1, which is `attn check`'s "wrong answer"."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as e:
            raise ReaderGone from e


app = typer.Typer(
    cls=_Group,
    name="attn",
    help="attncli: see every stage of attention, exactly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"attn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    lang: LangOpt = None,
) -> None:
    """attncli: see every stage of attention, exactly."""
    # (--lang before the command, `attn --lang ru compute …`: attncli.cli.entry has read it already,
    # with the last --lang of the command line winning, so there is nothing to do with it here)


for command in (compute, check, exercise, explain_command, model, samples):
    command.register(app)


def run_typer(args: list[str]) -> Any:
    """Parse `args` with Typer and run the command; errors propagate (attncli.cli.entry turns them into exit codes)."""
    helptext.install()
    return typer.main.get_command(app).main(args=args, prog_name="attn", standalone_mode=False)
