"""`attn exercise`: fresh exercises for a hand calculation, their worked keys, and problem documents
that `attn check` grades. Registered by attncli.cli.app."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attncli.cli.options import JsonOpt, LangOpt
from attncli.cli.output import use_language, warn
from attncli.errors import AttnError, InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from attncli.analysis.exercises import Exercise

EPILOG = (
    "Examples:\n\n"
    "  attn exercise --topic softmax --count 5 --seed 7 --format markdown > sheet.md\n\n"
    "  attn exercise --topic softmax --count 5 --seed 7 --key --format latex > key.tex\n\n"
    "  attn exercise --topic single-head --count 10 --seed 7 --out problems/\n\n"
    "  attn check --input problems/3.json"
)
TOPIC_HELP = (  # attncli.analysis.exercises.TOPICS
    "dot, scaling, softmax, single-head, causal, padding, cross, two-heads, rope, sinusoidal, "
    "window, prefix, documents, softcap, sinks, chunked, sink-tokens, window-jax or alibi."
)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG)(exercise)


def exercise(
    topic: Annotated[str, typer.Option(help="The step of the notes: " + TOPIC_HELP)],
    count: Annotated[int, typer.Option(help="How many exercises (1…1000).")] = 5,
    seed: Annotated[int, typer.Option(help="The same seed gives the same sheet on every machine.")] = 0,
    level: Annotated[int, typer.Option(help="1 (smallest, whole numbers), 2 or 3 (one decimal).")] = 1,
    key: Annotated[bool, typer.Option("--key", help="The worked answer key instead of the sheet.")] = False,
    format: Annotated[str, typer.Option("--format", help="markdown, latex or html.")] = "markdown",
    out: Annotated[
        Path | None,
        typer.Option(help="Write the problem documents DIR/1.json… (with --key: their answers) instead."),
    ] = None,
    json_out: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """Generate exercises with hand-friendly numbers, their worked answer keys, or problem documents.

    A student answers a problem document by adding an "expected" object with the stages asked for,
    e.g. "expected": {"scores": [[2, 4], [2, 6]], "weights": [[0.27, 0.73], [0.12, 0.88]]}, and
    `attn check --input FILE` grades it.
    """
    use_language(lang.value if lang is not None else None)
    from attncli.analysis.exercises import generate
    from attncli.serialize.worksheet import SHEET_FORMATS

    if format not in SHEET_FORMATS:
        message = _("must be one of {choices}, got {value!r}").format(choices=", ".join(SHEET_FORMATS), value=format)
        raise InputError(message, argument="--format")
    try:
        exercises = generate(topic, count=count, seed=seed, level=level)
    except AttnError as e:
        raise e.with_argument("--" + (e.argument or "topic")) from None
    if out is not None:
        _write_documents(exercises, out, key=key)
        return
    if json_out:
        from attncli.serialize.strict_json import dumps

        docs = [e.document(key=key) for e in exercises]
        head = {"topic": topic, "level": level, "seed": seed, "count": count}
        sys.stdout.write(dumps({**head, "exercises": docs}) + "\n")
        return
    from attncli.render.worksheet import sheet

    sys.stdout.write(sheet(exercises, key=key, format=format))


def _write_documents(exercises: list[Exercise], out: Path, *, key: bool) -> None:
    """DIR/1.json … DIR/N.json; nothing is written when any of them exists already (nothing is overwritten)."""
    from attncli.serialize.strict_json import dumps

    if out.exists() and not out.is_dir():
        raise InputError(_("'{path}' is not a directory").format(path=out), argument="--out")
    paths = [out / f"{e.number}.json" for e in exercises]
    taken = [p for p in paths if p.exists() or p.is_symlink()]
    if taken:
        message = _("{path} exists already; nothing was written (attncli never overwrites a file)")
        raise InputError(message.format(path=taken[0]), argument="--out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for e, path in zip(exercises, paths, strict=True):
            with path.open("x", encoding="utf-8") as f:  # "x": fails rather than overwrite
                f.write(dumps(e.document(key=key)) + "\n")
    except OSError as error:
        message = _("cannot write '{path}': {reason}").format(path=out, reason=error.strerror)
        raise InputError(message, argument="--out") from None
    if key:
        done = ngettext("wrote {n} answer key to {path}", "wrote {n} answer keys to {path}", len(paths))
    else:
        done = ngettext("wrote {n} problem document to {path}", "wrote {n} problem documents to {path}", len(paths))
    warn(done.format(n=len(paths), path=out), note=True)
