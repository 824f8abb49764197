"""How results and messages reach the terminal: the output settings (--quiet, --no-color), the consoles
(results on stdout, messages on stderr), warnings and notes, the recording for --save-svg/--save-html,
the CLI's wording of the hints in captions, and how a command presents its result."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from attncli.errors import AttnError, InputError, printable
from attncli.i18n import _

if TYPE_CHECKING:
    from pathlib import Path

    from attncli.render.format import Hints, View
    from attncli.serialize.export import StageTable


class ReaderGone(Exception):
    """stdout's reader went away: raised past click and rich, which would make a closed pipe exit 1
    (`attn check`'s "wrong answer"); attncli.cli.entry ends the run quietly with exit 0."""


@dataclass(frozen=True)
class Output:
    """How the command that runs shows things, set once by it (output_settings)."""

    quiet: bool = False  # --quiet: no warnings, notes or progress bar
    no_color: bool = False  # --no-color (NO_COLOR in the environment works as well: rich reads it)


settings = Output()


def output_settings(no_color: bool, quiet: bool) -> None:
    """--no-color and --quiet, for every command (called once, before anything is shown)."""
    global settings
    settings = Output(quiet=quiet, no_color=no_color)


def cli_hints() -> Hints:
    """What captions tell the reader to do for more, in the flags of the CLI (translated when called)."""
    from attncli.render.format import Hints

    return Hints(
        every_value=_("--json prints every value"),
        all_slices=_("--json prints all"),
        all_outputs=_("--save FILE.npy writes all"),
        other_stages=_("Ask for other --stage values to see them on small inputs."),
        empty_row="--empty-row {empty_row}",
        causal="--causal",
        seed=_("reproducible with the same --seed"),
        pick_head=_("pick one with --head N"),
        all_graded_slices=_("--json has all"),
        tolerance=_("--tol changes it"),
    )


# The flag behind each argument that a renderer may refuse (attncli.render.tables.render_attention).
RENDER_ARGUMENTS = {"stages": "--stage", "explain_cell": "--explain-cell"}


def warn(message: str, note: bool = False) -> None:
    """A warning (or a note) on stderr; --quiet silences both."""
    if not settings.quiet:
        line = _("attn: note: {message}") if note else _("attn: warning: {message}")
        print(line.format(message=message), file=sys.stderr)


_recording: Any = None  # the console that records for --save-svg/--save-html while a command runs


def make_console(stderr: bool = False, record: bool = False) -> Any:
    """A console for results (stdout) or messages (stderr); while recording, every stdout console is
    the one recording console, so that a command printing in several places is exported whole."""
    global _recording
    if not stderr and _recording is not None:
        return _recording
    no_color = True if settings.no_color else None  # None: rich decides, from NO_COLOR
    console = _console_class()(
        stderr=stderr, highlight=False, soft_wrap=False, record=record, emoji=False, no_color=no_color
    )
    if record:
        _recording = console
    return console


@cache
def _console_class() -> Any:
    """rich's Console, except that a reader going away is not exit 1 (`attn check`'s "wrong answer"):
    attncli.cli.entry ends such a run quietly with exit 0."""
    from rich.console import Console

    class AttnConsole(Console):
        def on_broken_pipe(self) -> None:
            raise ReaderGone

    return AttnConsole


def start_recording(svg: Path | None, html: Path | None) -> None:
    """Record what the command shows from now on, if it is to be saved (--save-svg/--save-html)."""
    global _recording
    _recording = None
    if svg is not None or html is not None:
        make_console(record=True)


@dataclass(frozen=True)
class Presentation:
    """How a command shows its result: JSON, a text format, or rich tables (optionally exported)."""

    json_out: bool = False
    format: str | None = None  # markdown, latex or csv
    precision: int = 4
    explain_cell: tuple[int, int] | None = None
    save_svg: Path | None = None
    save_html: Path | None = None
    heatmap: bool = False

    def check(self) -> None:
        if self.json_out and self.format:
            raise InputError(_("give --json or --format, not both"), argument="--format")
        if (self.save_svg or self.save_html) and (self.json_out or self.format):
            flag = "--save-svg" if self.save_svg else "--save-html"
            raise InputError(
                _("records the tables shown in the terminal; it does not go with --json or --format"), argument=flag
            )

    def show(
        self,
        *,
        title: str | None,
        labels: Any,
        json_text: Callable[[], str],
        tables: Callable[[], list[StageTable]] | None,
        render: Callable[[View], Any],
    ) -> None:
        """Print the result the way that was asked for, and export what the terminal showed."""
        if self.json_out:
            sys.stdout.write(json_text() + "\n")
            return
        if self.format:
            from attncli.serialize import export

            if tables is None:
                raise InputError(_("there are no stage tables to format here (only the output)"), argument="--format")
            if self.format == "csv":  # data for a spreadsheet: every digit
                sys.stdout.write(export.to_csv(tables()))
            else:
                writer = export.to_markdown if self.format == "markdown" else export.to_latex
                sys.stdout.write(writer(tables(), self.precision))
            return
        from attncli.render.format import View

        start_recording(self.save_svg, self.save_html)
        console = make_console()
        if title:
            console.print(f"[bold]{escape(title)}[/bold]")
        view = View(
            precision=self.precision, width=console.width, labels=terminal_labels(labels),
            explain_cell=self.explain_cell, heatmap=self.heatmap, hints=cli_hints(),
        )  # fmt: skip
        try:
            shown = render(view)
        except AttnError as e:  # a stage or a cell the renderer refuses: say which flag asked for it
            flag = RENDER_ARGUMENTS.get(e.argument or "")
            if flag is None:
                raise
            raise e.with_argument(flag) from None
        console.print(shown)
        save_recording(console, self.save_svg, self.save_html, title)


def save_recording(console: Any, svg: Path | None, html: Path | None, title: str | None) -> None:
    """Write what a recording console showed as SVG and/or HTML (rich's own export), and stop recording."""
    global _recording
    _recording = None
    if svg is None and html is None:
        return
    from attncli.render.exports import FONT_ASPECT_RATIO, readable_export, svg_with_font
    from attncli.serialize.files import write_text_atomic

    for path, flag in ((svg, "--save-svg"), (html, "--save-html")):
        if path is not None:  # clear=False: the SVG and the HTML both get everything that was shown
            if path == svg:
                shown = console.export_svg(title=title or "attncli", clear=False, font_aspect_ratio=FONT_ASPECT_RATIO)
                text = svg_with_font(readable_export(shown, "svg"))
            else:
                text = readable_export(console.export_html(clear=False), "html")
            write_text_atomic(path, text, flag)
            warn(_("saved what was shown to {path}").format(path=path), note=True)


def use_language(lang: str | None) -> None:
    """--lang, when given (attncli.cli.entry has already read it from the arguments; this is for direct calls)."""
    if lang is not None:
        from attncli.i18n import set_language

        set_language(lang)


def escape(text: str) -> str:
    """Text from a document shown as is by rich: no [markup], and control characters (an ANSI escape
    sequence that would clear the screen or fake a line) written out as \\x1b and the like."""
    return printable(text).replace("[", "\\[")


def terminal_labels(labels: Any) -> dict[str, list[str]]:
    """A document's labels with their control characters written out (see escape), for the terminal."""
    return {key: [printable(str(label)) for label in values] for key, values in (labels or {}).items()}


class ProgressBar:
    """A progress bar on stderr that appears only once work has run for a second, and only on a TTY."""

    def __init__(self, what: str) -> None:
        import time

        self.what = what
        self.start = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None
        self.enabled = sys.stderr.isatty() and not settings.quiet

    def __call__(self, done: int, total: int) -> None:
        import time

        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.start < 1.0 or done >= total:
                return
            from rich.progress import Progress

            self.bar = Progress(console=make_console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
