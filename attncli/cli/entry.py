"""The `attn` console script: errors as one line, and a fast start for plain `attn compute`.

Every attncli.errors.AttnError and every usage error becomes one line on stderr, `attn: error: …`
(`attn: ошибка: …` in Russian: the language, from --lang, ATTN_LANG or the locale, is set before
anything else, so that errors raised while reading the arguments are translated too), with exit
code 2 (`--debug` shows the traceback instead); Ctrl-C exits with 130; a closed pipe (`attn … | head -1`)
ends quietly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn


def fail(message: str, code: int = 2) -> NoReturn:
    from attncli.i18n import _

    print(_("attn: error: {message}").format(message=one_line(message)), file=sys.stderr)
    raise SystemExit(code)


def one_line(message: str) -> str:
    """The message with line breaks and other control characters (which user input may carry into it)
    escaped, so that an error is always exactly one line."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)


def guarded(run: Callable[[], Any], debug: bool) -> NoReturn:
    """Run a command and turn every way it can end into an exit code."""
    from attncli.errors import AttnError
    from attncli.i18n import _

    try:
        code = run()
    except AttnError as e:
        if debug:
            raise
        fail(str(e))
    except KeyboardInterrupt:
        fail(_("interrupted"), 130)
    except BrokenPipeError:
        # The reader went away (`attn … | head -1`): stop quietly, as other Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
    except SystemExit:
        raise
    except Exception as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `attn` or `attn model` alone: the help was shown
            raise SystemExit(0) from None
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # a click usage error
            if debug:
                raise
            fail(_usage_message(e), 2)
        if type(e).__name__ == "Abort":
            fail(_("aborted"), 130)
        if debug:
            raise
        fail(
            _("internal error: {error} (this is a bug; rerun with --debug for a traceback)").format(
                error=f"{type(e).__name__}: {e}"
            ),
            70,
        )
    raise SystemExit(code or 0)


def _usage_message(e: Any) -> str:
    message = " ".join(str(e.format_message()).split())
    ctx = getattr(e, "ctx", None)
    if ctx is not None and ctx.command_path:
        from attncli.i18n import _

        message += _(" (see '{command} --help')").format(command=ctx.command_path)
    return message


def language_from_args(args: list[str]) -> str | None:
    """The value of the last `--lang X` or `--lang=X` before a `--`, if it names a language we have."""
    found = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--lang="):
            found = arg.partition("=")[2]
    from attncli.i18n import LANGUAGES

    return found if found in LANGUAGES else None


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the `attn` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    from attncli.i18n import set_language

    set_language(language_from_args(args))  # first, so that every message (errors too) is in that language
    debug = "--debug" in args or bool(os.environ.get("ATTN_DEBUG"))
    if args[:1] == ["compute"]:
        from attncli.cli.fastpath import parse_compute

        params = parse_compute(args[1:])
        if params is not None:
            from attncli.cli.run_compute import ComputeRequest, run_compute

            guarded(lambda: run_compute(ComputeRequest.from_options(params)), debug)
    from attncli.cli.app import run_typer

    guarded(lambda: run_typer(args), debug)
