"""`attn explain`: the Typer command (its options and help). The work is attncli.cli.explain's `run`,
which the fast path (attncli.cli.fastpath) calls without Typer for plain invocations; a test checks
that both readers give `run` the same parameters."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from attncli.cli.compute import HeadsOpt, PositionalOpt, RopeOpt
from attncli.cli.explain import run
from attncli.cli.options import (
    DebugOpt,
    DTypeChoice,
    GenerateOpt,
    JsonOpt,
    LangOpt,
    MaxMemoryOpt,
    ModelOpt,
    NoColorOpt,
    QuietOpt,
    SaveHtmlOpt,
    SaveSvgOpt,
    TextPrefixOpt,
    ViewOpt,
)
from attncli.core.stages import TABLE_STAGES

PermuteOpt = Annotated[
    str | None,
    typer.Option(
        help="With --embeddings: the same sentence in another word order ('3 1 2', reverse or random), "
        "without and with positions side by side.",
        metavar="ORDER",
    ),
]
PermuteSeedOpt = Annotated[int | None, typer.Option(min=0, help="Seed of --permute random (default 0).")]

EPILOG = (
    "Examples:\n\n"
    '  attn explain "The miniature Eiffel tower is a toy"\n\n'
    '  attn explain "The miniature Eiffel tower is a toy" --layer 3 --head 7 --query tower\n\n'
    '  attn explain "The animal didn\'t cross the street because it was too tired" --head all\n\n'
    '  attn explain "Этот фильм потрясающий" --embeddings samples/embeddings-ru.json --query потрясающий\n\n'
    "  attn explain \"The cat sat\" --json | jq '.stages.weights'"
)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG)(explain)


def explain(
    sentence: Annotated[str, typer.Argument(help="The sentence to look at.", show_default=False)],
    layer: Annotated[
        str | None, typer.Option(help="Layer 1…L, or 'all' for an overview (default: chosen, and said why).")
    ] = None,
    head: Annotated[
        str | None, typer.Option(help="Head 1…H, or 'all' for an overview of every head (default: chosen).")
    ] = None,
    query: Annotated[
        str | None, typer.Option(help="Focus on one query token (a token such as 'tower' or a whole word).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="With --query: rank every layer × head by the query's weight to this word.")
    ] = None,
    pieces: Annotated[
        bool, typer.Option("--pieces", help="Read WordPiece pieces, not words, in --key, --rollout and --head all.")
    ] = False,
    rollout: Annotated[
        bool, typer.Option("--rollout", help="Attention rollout: what each final token draws on through all layers.")
    ] = False,
    words: Annotated[
        bool, typer.Option("--words", help="With one head: the weights heatmap in words (pieces of a word added up).")
    ] = False,
    roles: Annotated[
        bool, typer.Option("--roles", help="What each head does: previous-token, [SEP] sink, induction, … scores.")
    ] = False,
    flow: Annotated[
        bool, typer.Option("--flow", help="Attention flow: the maximum flow from each final token to each input token.")
    ] = False,
    residual: Annotated[
        float, typer.Option(help="The residual's weight w in Â = w·I + (1 − w)·A of --rollout and --flow (0.5).")
    ] = 0.5,
    model: ModelOpt = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(help="Own embeddings: a JSON file mapping words to vectors; no model is used.", metavar="FILE"),
    ] = None,
    wq: Annotated[str | None, typer.Option(help="With --embeddings: Q = E·W_Q (d×d_k matrix, forms as --q).")] = None,
    wk: Annotated[str | None, typer.Option(help="With --embeddings: K = E·W_K.")] = None,
    wv: Annotated[str | None, typer.Option(help="With --embeddings: V = E·W_V.")] = None,
    heads: HeadsOpt = None,
    positional: PositionalOpt = None,
    rope: RopeOpt = None,
    permute: PermuteOpt = None,
    seed: PermuteSeedOpt = None,
    causal: Annotated[
        bool, typer.Option("--causal", help="Hide later tokens from each token (a causal mask).")
    ] = False,
    dtype: Annotated[
        DTypeChoice | None,
        typer.Option(
            help="float32 (default with the model, its own precision) or float64 (default with --embeddings)."
        ),
    ] = None,
    truncate: Annotated[
        bool, typer.Option("--truncate", help="Cut a sentence longer than the model's limit (with a warning).")
    ] = False,
    generate: GenerateOpt = None,
    prefix: TextPrefixOpt = None,
    stage: Annotated[
        list[str] | None,
        typer.Option(help="Show only this stage (repeatable): " + ", ".join(TABLE_STAGES) + "."),
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=20, help="Keys named per query in the reading.")] = 3,
    precision: Annotated[
        int | None,
        typer.Option(min=0, max=15, help="Decimals in tables (default 2 with a model, 4 with --embeddings)."),
    ] = None,
    json_out: JsonOpt = False,
    max_memory: MaxMemoryOpt = None,
    save_svg: SaveSvgOpt = None,
    save_html: SaveHtmlOpt = None,
    view: ViewOpt = None,
    no_color: NoColorOpt = False,
    quiet: QuietOpt = False,
    lang: LangOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Attention over a real sentence inside a pretrained transformer (see attn model list), with a reading.

    Tokens, then one head's Q, K, V, scores, weights (a heatmap) and output, by attncli's NumPy engine;
    with --embeddings, the textbook version over your own word vectors instead.
    """
    options = dict(locals())  # every parameter by name: exactly run's (a test checks); choices as their strings
    run(**{name: value.value if isinstance(value, Enum) else value for name, value in options.items()})
