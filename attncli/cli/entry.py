"""The `attn` console script: errors as one line, and a fast start for plain `attn compute` and `attn explain`.

Every attncli.errors.AttnError and every usage error becomes one line on stderr, `attn: error: …`
(`attn: ошибка: …` in Russian: the language, from --lang, ATTN_LANG or the locale, is set before
anything else, so that errors raised while reading the arguments are translated too), with exit
code 2 (`--debug` shows the traceback instead); Ctrl-C exits with 130; a closed pipe (`attn … | head -1`)
ends quietly.
"""

from __future__ import annotations

import errno
import io
import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

# A run of more than LONG_WORD non-space characters in an error (a 5,000-character value echoed back)
# is cut to its first SHORT_WORD characters.
LONG_WORD, SHORT_WORD = 120, 100


# What writing the result to stdout can fail with (a file's own errors are reported where it is opened):
# no space (/dev/full), a closed descriptor (>&-), an I/O error, a quota or a size limit.
STDOUT_ERRNOS = (errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT, errno.EFBIG)


def fail(message: str, code: int = 2) -> NoReturn:
    from attncli.i18n import _

    print(_("attn: error: {message}").format(message=shorten(one_line(message))), file=sys.stderr)
    raise SystemExit(code)


def shorten(message: str) -> str:
    """The message with every very long run of non-space characters cut, so an error stays readable."""
    return re.sub(rf"\S{{{LONG_WORD + 1},}}", lambda m: m.group()[:SHORT_WORD] + "…", message)


def one_line(message: str) -> str:
    """The message with line breaks and other control characters (which user input may carry into it)
    escaped, so that an error is always exactly one line."""
    from attncli.errors import printable

    return printable(message)


def guarded(run: Callable[[], Any], debug: bool) -> NoReturn:
    """Run a command and turn every way it can end into an exit code."""
    from attncli.cli.output import ReaderGone
    from attncli.errors import AttnError
    from attncli.i18n import _

    try:
        code = run()
        sys.stdout.flush()  # here, not at exit, so that a full disk or a closed stdout is reported
    except AttnError as e:
        if debug:
            raise
        fail(str(e))
    except KeyboardInterrupt:
        fail(_("interrupted"), 130)
    except (BrokenPipeError, ReaderGone):
        # The reader went away (`attn … | head -1`): stop quietly, as other Unix tools do.
        _stdout_to_devnull()
        raise SystemExit(0) from None
    except SystemExit:
        raise
    except OSError as e:
        if not (_stdout_failed() or e.errno in STDOUT_ERRNOS):
            if debug:
                raise
            fail(_("internal error: {error} (this is a bug; rerun with --debug for a traceback)").format(error=e), 70)
        _stdout_to_devnull()
        fail(_("stdout: cannot write the result: {reason}").format(reason=e.strerror or e))
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


def _stdout_failed() -> bool:
    """Whether stdout cannot take what was written to it (a full disk, a closed descriptor)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return True
    return False


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (lives until the process ends)


class _ClosedStdout(io.TextIOBase):
    """stdout when the shell closed it (`attn … >&-`): writing to it fails as writing to a closed
    descriptor does, so that the command says so (exit 2) instead of crashing on None."""

    def write(self, text: str) -> int:
        raise OSError(9, os.strerror(9))

    def flush(self) -> None:
        return None


def _closed_streams() -> None:
    """stdout or stderr closed by the shell: hold their descriptors with /dev/null (so that no file this
    run opens becomes descriptor 1 or 2), write errors nowhere, and fail on the first result written."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (/dev/null: an empty stdin)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 (/dev/null, for the rest of the process)


def _undecodable(args: list[str]) -> None:
    """Refuse an argument holding bytes that are not UTF-8 (the shell passes them as they are), naming it."""
    for i, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            from attncli.parse.matrix import decode_text

            if arg.startswith("--"):
                name = arg.partition("=")[0]
            elif i and args[i - 1].startswith("-"):
                name = args[i - 1]
            else:
                from attncli.i18n import _

                name = _("argument {n}").format(n=i + 1)
            decode_text(arg.encode("utf-8", "surrogateescape"), name.encode("utf-8", "replace").decode())


def _usage_message(e: Any) -> str:
    """`ARGUMENT: what is wrong` of a click usage error: the option or parameter, else the command."""
    message = " ".join(str(e.format_message()).split())
    from attncli.i18n import language

    if language() != "en":
        from attncli.cli.usage_errors import translate

        message = translate(message, e)
    ctx = getattr(e, "ctx", None)
    param: Any = getattr(e, "param", None)
    argument = getattr(e, "option_name", None) or (param.opts[0] if getattr(param, "opts", None) else None)
    argument = argument or getattr(param, "name", None) or (ctx.command_path if ctx is not None else None) or "attn"
    if ctx is not None and ctx.command_path:
        from attncli.i18n import _

        message += _(" (see '{command} --help')").format(command=ctx.command_path)
    return f"{argument}: {message}"


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


def after_root_lang(args: list[str]) -> list[str]:
    """The arguments after the root's own `--lang X` / `--lang=X` (`attn --lang ru compute …`), so that
    such a command takes the fast path too (the language is set already); an unknown X is left to Typer."""
    from attncli.i18n import LANGUAGES

    while args:
        if args[0] == "--lang" and args[1:2] and args[1] in LANGUAGES:
            args = args[2:]
        elif args[0].startswith("--lang=") and args[0].partition("=")[2] in LANGUAGES:
            args = args[1:]
        else:
            break
    return args


def script() -> NoReturn:
    """The `attn` console script (and `python -m attncli`): main(), then the process ends without
    Python's teardown, which frees every module and array one by one and joins the BLAS threads — 35 ms
    after `attn compute --json` and 80 ms after its tables on the project's VM (a fifth to two fifths of
    `import numpy`), for nothing a command needs: main() has flushed stdout, every file it writes is
    written, closed and renamed into place before it returns, and attncli registers nothing to run at
    exit. Only a process that is attn and nothing else may end this way: tests call main()."""
    code: object = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):  # as Python would: the message on stderr, status 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the `attn` command (see script)."""
    args = list(sys.argv[1:] if argv is None else argv)
    from attncli.i18n import set_language

    set_language(language_from_args(args))  # first, so that every message (errors too) is in that language
    debug = "--debug" in args or bool(os.environ.get("ATTN_DEBUG"))
    _closed_streams()
    from attncli.cli.encoding import carry_what_the_encoding_can
    from attncli.parse.files import forget_reads

    forget_reads()
    carry_what_the_encoding_can()
    if not all(a.isascii() for a in args):
        from attncli.errors import AttnError

        try:
            _undecodable(args)
        except AttnError as e:
            fail(str(e))
    command = after_root_lang(args)
    if command[:1] == ["compute"]:
        from attncli.cli.fastpath import parse_compute

        params = parse_compute(command[1:])
        if params is not None:
            from attncli.cli.run_compute import ComputeRequest, run_compute

            guarded(lambda: run_compute(ComputeRequest.from_options(params)), debug)
    if command[:1] == ["explain"]:
        from attncli.cli.fastpath import parse_explain

        found = parse_explain(command[1:])
        if found is not None:
            from attncli.cli.explain import run

            guarded(lambda: run(**found), debug)
    from attncli.cli.app import run_typer

    guarded(lambda: run_typer(args), debug)
