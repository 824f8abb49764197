"""`attn explain` (attention over a real sentence, inside a real pretrained encoder, or over own
embeddings) and `attn model list|download`.

Registered by the last line of attncli/cli/app.py. numpy, rich, tokenizers and safetensors are imported
inside the commands, so `attn --help` and `attn compute` do not pay for them.
"""

from __future__ import annotations

import sys
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from attncli.cli.inputs import refuse_over_budget
from attncli.cli.options import (
    DebugOpt,
    DTypeChoice,
    JsonOpt,
    LangOpt,
    MaxMemoryOpt,
    ModelOpt,
    NoColorOpt,
    QuietOpt,
    SaveHtmlOpt,
    SaveSvgOpt,
)
from attncli.cli.output import (
    ProgressBar,
    make_console,
    output_settings,
    save_recording,
    start_recording,
    use_language,
    warn,
)
from attncli.errors import InputError, ShapeError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from attncli.analysis.explanation import Reading
    from attncli.core.engine import Attention
    from attncli.core.settings import DType
    from attncli.models.bert import BertEncoder
    from attncli.models.tokenize import Tokens

EXPLAIN_STAGES = ("inputs", "scores", "scaled", "masked", "softmax", "weights", "output")
FULL_STAGES_UP_TO = 16  # tokens: longer sentences show the weights and the reading unless --stage asks


def causal_note(own_embeddings: bool = False) -> str:
    """The note under a --causal run: the encoder (or a real one) was not trained with that mask."""
    if own_embeddings:
        return _(
            "--causal: every token sees only itself and the tokens before it. A real encoder is trained without a "
            "causal mask (it reads in both directions), so these weights show what the mask does, not what the model "
            "learned."
        )
    return _(
        "--causal: every token sees only itself and the tokens before it. This encoder was trained without a "
        "causal mask (it reads in both directions), so these weights show what the mask does, not what the model "
        "learned."
    )


@dataclass(frozen=True)
class Options:
    """How to show the result, as the flags of `attn explain` say."""

    query: str | None
    causal: bool
    stages: list[str] | None
    top: int
    precision: int
    json_out: bool
    max_memory: str | None  # the budget of the attention arrays (--max-memory)


@dataclass(frozen=True)
class Subject:
    """One attention to show (a head of the model, or own embeddings) and what to say around it."""

    att: Attention
    labels: list[str]  # one per token (query rows and key columns alike)
    special: list[bool]  # True for [CLS]/[SEP]
    where: str  # "layer 3, head 7" or "own embeddings"
    header: str
    tokens_title: str
    notes: list[str]
    origins: dict[str, str]  # where Q, K and V come from
    mask_note: str  # said when nothing is masked
    reading_title: str
    json_fields: dict[str, Any]  # mode, tokens, layer, head, … for --json
    default_stages: tuple[str, ...]
    reason: str | None = None  # why this layer and head, when chosen for the user
    pieces_note: str | None = None


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
    model: ModelOpt = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(help="Own embeddings: a JSON file mapping words to vectors; no model is used.", metavar="FILE"),
    ] = None,
    wq: Annotated[str | None, typer.Option(help="With --embeddings: Q = E·W_Q (d×d_k matrix, forms as --q).")] = None,
    wk: Annotated[str | None, typer.Option(help="With --embeddings: K = E·W_K.")] = None,
    wv: Annotated[str | None, typer.Option(help="With --embeddings: V = E·W_V.")] = None,
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
    stage: Annotated[
        list[str] | None,
        typer.Option(help="Show only this stage (repeatable): " + ", ".join(EXPLAIN_STAGES) + "."),
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
    no_color: NoColorOpt = False,
    quiet: QuietOpt = False,
    lang: LangOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Attention over a real sentence inside a pretrained transformer (all-MiniLM-L6-v2), with a reading.

    Tokens, then one head's Q, K, V, scores, weights (a heatmap) and output, by attncli's NumPy engine.

    With --embeddings: the textbook version over your own word vectors instead.
    """
    use_language(lang.value if lang is not None else None)
    for name in stage or ():
        if name not in EXPLAIN_STAGES:
            message = _("unknown stage {name!r} (choose from {stages})")
            raise InputError(message.format(name=name, stages=", ".join(EXPLAIN_STAGES)), argument="--stage")
    output_settings(no_color, quiet)
    if (save_svg or save_html) and json_out:
        message = _("records the tables of the terminal; it does not go with --json")
        raise InputError(message, argument="--save-svg")
    start_recording(save_svg, save_html)
    _explain(sentence, layer, head, query, model, embeddings, (wq, wk, wv), causal, dtype, truncate, stage, top,
             precision, json_out, max_memory)  # fmt: skip
    if save_svg or save_html:
        save_recording(make_console(), save_svg, save_html, f"attn explain {sentence!r}")


def _explain(
    sentence: str,
    layer: str | None,
    head: str | None,
    query: str | None,
    model: str | None,
    embeddings: Path | None,
    projections: tuple[str | None, str | None, str | None],
    causal: bool,
    dtype: DTypeChoice | None,
    truncate: bool,
    stage: list[str] | None,
    top: int,
    precision: int | None,
    json_out: bool,
    max_memory: str | None,
) -> None:
    wq, wk, wv = projections
    own = embeddings is not None
    default_precision = 4 if own else 2
    opts = Options(
        query, causal, stage, top, default_precision if precision is None else precision, json_out, max_memory
    )
    if embeddings is not None:
        for flag, value in (("--layer", layer), ("--head", head), ("--model", model), ("--truncate", truncate or None)):
            if value is not None:
                raise InputError(_("applies to the pretrained model, not to --embeddings"), argument=flag)
        _explain_embeddings(sentence, embeddings, (wq, wk, wv), cast("DType", dtype or "float64"), opts)
        return
    for flag, value in (("--wq", wq), ("--wk", wk), ("--wv", wv)):
        if value is not None:
            raise InputError(_("needs --embeddings (the model has its own W_Q, W_K, W_V)"), argument=flag)
    _explain_model(sentence, layer, head, model, cast("DType", dtype or "float32"), truncate, opts)


# ---- the pretrained model -------------------------------------------------------------------------


def _load(model: str | None) -> tuple[BertEncoder, Any, str]:
    from attncli.models.bert import TOKENIZER_FILE, BertEncoder
    from attncli.models.locate import resolve
    from attncli.models.tokenize import WordPiece

    source = resolve(model)
    encoder = BertEncoder(source.folder)
    return encoder, WordPiece(source.folder / TOKENIZER_FILE), source.how


def _notes(sentence: str, tokens: Tokens, causal: bool, max_positions: int) -> list[str]:
    from attncli.models.tokenize import spelled_out

    notes = []
    spelled = spelled_out(sentence, tokens)
    if spelled:
        shown = "; ".join(f"{word} → {' '.join(pieces)}" for word, pieces in spelled[:4])
        if len(spelled) > 4:
            more = len(spelled) - 4
            shown = ngettext("{shown} (and {n} more)", "{shown} (and {n} more)", more).format(shown=shown, n=more)
        notes.append(
            _(
                "This model's vocabulary is English: these words became single characters or [UNK], "
                "so their attention says little about their meaning: {words}."
            ).format(words=shown)
        )
    if tokens.truncated_from is not None:
        cut = _("The sentence was cut from {n} to {limit} tokens (--truncate).")
        notes.append(cut.format(n=tokens.truncated_from, limit=max_positions))
    if causal:
        notes.append(causal_note())
    return notes


def _explain_model(
    sentence: str,
    layer_text: str | None,
    head_text: str | None,
    model: str | None,
    dtype: DType,
    truncate: bool,
    opts: Options,
) -> None:
    from attncli.analysis.explanation import choose_head, find_query, parse_index

    if not sentence.strip():
        raise InputError(_("the sentence is empty"), argument="SENTENCE")
    encoder, tokenizer, how = _load(model)
    config = encoder.config
    layer = parse_index(layer_text, "--layer", config.num_layers, _("layers"))
    head = parse_index(head_text, "--head", config.num_heads, _("heads"))
    tokens = tokenizer.encode(sentence, config.max_positions, truncate)
    if tokens.truncated_from is not None:
        cut = _("the sentence has {n} tokens; cut to the model's {limit} (--truncate)")
        warn(cut.format(n=tokens.truncated_from, limit=config.max_positions))
    pieces = list(tokens.pieces)
    special = [tokens.is_special(i) for i in range(len(tokens))]
    rows = find_query(opts.query, pieces, pieces, special) if opts.query is not None else None

    every_layer = range(config.num_layers)
    # Keep every stage of all layers only while that is small; a long sentence runs a second pass for one layer.
    overview = layer == -1 or head == -1
    keep: Container[int] = every_layer if len(tokens) <= 128 else ({layer} if layer is not None else ())
    kept = 0 if overview else config.num_layers if len(tokens) <= 128 else 1
    refuse_over_budget(
        encoder.attention_nbytes(len(tokens), dtype, kept), opts.max_memory,
        ngettext("the attention of {n} token", "the attention of {n} tokens", len(tokens)).format(n=len(tokens)),
        _("explain a shorter sentence, or cut it with --truncate"),
    )  # fmt: skip
    progress = ProgressBar(_("layers"))  # shown only if the forward pass takes over a second, on a terminal
    try:
        out = encoder.forward(
            tokens.ids[None, :], None, dtype=dtype, causal=opts.causal, keep=() if overview else keep, progress=progress
        )
    finally:
        progress.close()
    weights = [w[0] for w in out.weights]  # per layer (H, T, T)
    notes = _notes(sentence, tokens, opts.causal, config.max_positions)

    if overview:
        if opts.query is not None:
            raise InputError(_("shows one head; use it without --layer all / --head all"), argument="--query")
        layers = list(every_layer) if layer == -1 else None
        heads = list(range(config.num_heads)) if head == -1 else None
        scope_note = None
        if layers is None:  # --head all: the given layer, or the one the default choice lands in
            if layer is None:
                layer = choose_head(weights, special, every_layer, range(config.num_heads)).layer
                scope_note = _("layer {layer} is the layer of the default head; --layer N shows another")
                scope_note = scope_note.format(layer=layer + 1)
            layers = [layer]
        if heads is None:  # --layer all: the given head, or every head
            heads = [head] if head is not None else list(range(config.num_heads))
        _overview(
            sentence, tokens, special, weights, layers, heads, how, encoder, dtype, notes, scope_note, opts.json_out
        )
        return

    if layer is None or head is None:
        choice = choose_head(
            weights,
            special,
            [layer] if layer is not None else list(every_layer),
            [head] if head is not None else list(range(config.num_heads)),
        )
        layer, head, reason = choice.layer, choice.head, choice.reason
    else:
        reason = None
    if layer not in out.attentions:
        out = encoder.forward(tokens.ids[None, :], None, dtype=dtype, causal=opts.causal, keep={layer})
    from attncli.models.bert import head_attention

    subject = Subject(
        att=head_attention(out.attentions[layer], 0, head),
        labels=pieces,
        special=special,
        header=_model_header(encoder, how, dtype),
        tokens_title=_tokens_title(tokens),
        where=_("layer {layer}, head {head}").format(layer=layer + 1, head=head + 1),
        reason=reason,
        notes=notes,
        json_fields={
            "mode": "model",
            "model": _model_json(encoder, how),
            "sentence": sentence,
            "tokens": pieces,
            "token_ids": tokens.ids.tolist(),
            "layer": layer + 1,
            "head": head + 1,
            "choice": reason or "given",
        },
        pieces_note=_pieces_note(tokens),
        origins=_origins(encoder, layer, head),
        mask_note=_(
            "3 · mask: one sentence has no [PAD] tokens, so no key is masked. [CLS] and [SEP] are ordinary "
            "keys: the model attends to them (many heads park weight on [SEP])."
        ),
        reading_title=_("Reading: where each query token looks (the pieces of a word added up)"),
        default_stages=("inputs", "scores", "scaled", "masked", "weights", "output"),
    )
    _show(subject, rows, opts)


def _origins(encoder: BertEncoder, layer: int, head: int) -> dict[str, str]:
    """Where the model's Q, K and V of one head come from, for the captions."""
    c = encoder.config
    first, last = head * c.head_size + 1, (head + 1) * c.head_size
    x = _("the embeddings' output") if layer == 0 else _("layer {layer}'s output").format(layer=layer)
    origin = _(
        "{n} = x·W_{n}ᵀ + b_{n}, columns {first}…{last} of {hidden} (head {head}), x = {x} ({hidden} numbers per token)"
    )
    return {n: origin.format(n=n, first=first, last=last, hidden=c.hidden_size, head=head + 1, x=x) for n in "QKV"}


def _model_header(encoder: BertEncoder, how: str, dtype: str) -> str:
    c = encoder.config
    return _(
        "{name}: {layers} layers × {heads} heads, hidden {hidden}, head size {size}; {dtype}, attncli's NumPy engine"
    ).format(
        name=_model_name(encoder, how), layers=c.num_layers, heads=c.num_heads, hidden=c.hidden_size,
        size=c.head_size, dtype=dtype,
    )  # fmt: skip


def _model_name(encoder: BertEncoder, how: str) -> str:
    from attncli.models.locate import DEFAULT_NAME

    return DEFAULT_NAME if how.startswith("package") else encoder.folder.name


def _model_json(encoder: BertEncoder, how: str) -> dict[str, Any]:
    c = encoder.config
    return {
        "name": _model_name(encoder, how),
        "base": c.name,
        "path": str(encoder.folder),
        "source": how,
        "layers": c.num_layers,
        "heads": c.num_heads,
        "hidden_size": c.hidden_size,
        "head_size": c.head_size,
    }


def _tokens_title(tokens: Tokens) -> str:
    n = len(tokens)
    title = ngettext(
        "Tokens ({n}: [CLS], {pieces} WordPiece piece, [SEP])",
        "Tokens ({n}: [CLS], {pieces} WordPiece pieces, [SEP])",
        n - 2,
    )
    return title.format(n=n, pieces=n - 2)


def _pieces_note(tokens: Tokens) -> str | None:
    from attncli.analysis.explanation import word_groups, word_text

    special = [tokens.is_special(i) for i in range(len(tokens))]
    split = [g for g in word_groups(tokens.pieces, special) if len(g) > 1]
    if not split:
        return None
    examples = ", ".join(f"{word_text(tokens.pieces, g)} = {' '.join(tokens.pieces[i] for i in g)}" for g in split[:3])
    return _("'##' marks a piece that continues the word before it: {examples}.").format(examples=examples)


def _overview(
    sentence: str,
    tokens: Tokens,
    special: list[bool],
    weights: list[Any],
    layers: list[int],
    heads: list[int],
    how: str,
    encoder: BertEncoder,
    dtype: str,
    notes: list[str],
    scope_note: str | None,
    json_out: bool,
) -> None:
    from rich.text import Text

    from attncli.analysis.explanation import summarize_head
    from attncli.render.explain import overview_view, tokens_view

    pieces = list(tokens.pieces)
    summaries = [summarize_head(weights[li][hi], li, hi, special, pieces) for li in layers for hi in heads]
    if json_out:
        from attncli.serialize.strict_json import SCHEMA_VERSION, dumps, jsonable

        doc = {
            "schema_version": SCHEMA_VERSION,
            "mode": "overview",
            "model": _model_json(encoder, how),
            "config": {"dtype": dtype, "causal": causal_note() in notes},
            "sentence": sentence,
            "tokens": pieces,
            "token_ids": tokens.ids.tolist(),
            "heads": [
                {
                    "layer": s.layer + 1,
                    "head": s.head + 1,
                    "pattern": s.pattern,
                    "share": s.share,
                    "pairs": [{"query": pieces[q], "key": pieces[k], "weight": w} for q, k, w in s.pairs],
                    "weights": jsonable(weights[s.layer][s.head]),
                }
                for s in summaries
            ],
            "notes": notes,
        }
        sys.stdout.write(dumps(doc) + "\n")
        return
    console = make_console()
    console.print(Text(_model_header(encoder, how, dtype), style="dim"))
    console.print(tokens_view(pieces, special, _tokens_title(tokens)))
    console.print()
    if len(layers) == 1:
        scope = _("Overview: layer {layer}, every head").format(layer=layers[0] + 1)
    elif len(heads) == 1:
        scope = _("Overview: head {head} in every layer").format(head=heads[0] + 1)
    else:
        scope = _("Overview: every layer and head")
    console.print(Text(scope, style="bold"))
    if scope_note:
        console.print(Text(f"({scope_note})"))
    console.print(overview_view(summaries, pieces))
    console.print(
        Text(
            _(
                "pattern: where most of a head's weight goes, averaged over the query tokens (self, previous token, "
                "next token, [CLS], [SEP]; 'broad' when the weights are spread out), with that share; '—' when no "
                "single pattern holds half of it. Pairs skip [CLS]/[SEP], the token itself and its neighbours.\n"
                "Look at one head with --layer L --head H."
            ),
            style="dim",
        )
    )
    for note in notes:
        console.print(Text(_("note: {note}").format(note=note), style="yellow"))


# ---- showing one attention (a model head, or own embeddings) ----------------------------------------


def _focus(att: Attention, rows: list[int]) -> Attention:
    """The attention of the query rows `rows` only (K, V and every key column stay)."""
    from attncli.models.bert import map_stages

    mask = att.mask
    if mask is not None and mask.shape[-2] != 1:
        mask = mask[..., rows, :]
    return map_stages(
        att,
        lambda a: a if a is att.k or a is att.v else a[..., rows, :],
        mask=mask,
        empty_rows=tuple((rows.index(e[-1]),) for e in att.empty_rows if e[-1] in rows),
    )


def _show(subject: Subject, rows: list[int] | None, opts: Options) -> None:
    """Print (or write as JSON) the stages of one attention, its heatmap and the reading."""
    from attncli.analysis.explanation import read_row

    query_rows = rows if rows is not None else list(range(len(subject.labels)))
    readings = [read_row(subject.att.weights, i, subject.labels, subject.special, opts.top) for i in query_rows]
    shown = _focus(subject.att, rows) if rows is not None else subject.att  # the focused query rows only
    if opts.json_out:
        _write_json(subject, shown, rows, readings)
    else:
        _print_text(subject, shown, rows, readings, opts)


def _write_json(subject: Subject, shown: Attention, rows: list[int] | None, readings: list[Reading]) -> None:
    from attncli.serialize.strict_json import SCHEMA_VERSION, dumps, result_dict

    labels = subject.labels
    q_labels = labels if rows is None else [labels[i] for i in rows]
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, **subject.json_fields}
    doc.update(result_dict(shown, None, None))
    doc.update(
        {
            "query": None if rows is None else {"tokens": q_labels, "positions": [i + 1 for i in rows]},
            "labels": {"q": q_labels, "k": labels},
            "reading": [
                {"query": labels[r.query], "keys": [{"key": k, "weight": w} for k, w in r.keys]} for r in readings
            ],
            "notes": subject.notes,
        }
    )
    sys.stdout.write(dumps(doc) + "\n")


def _print_text(
    subject: Subject, shown: Attention, rows: list[int] | None, readings: list[Reading], opts: Options
) -> None:
    from rich.text import Text

    from attncli.render.explain import focus_view, qkv_view, reading_view, tokens_view
    from attncli.render.format import View
    from attncli.render.heatmap import short
    from attncli.render.tables import render_attention

    console = make_console()
    labels, where = subject.labels, subject.where
    q_labels = labels if rows is None else [labels[i] for i in rows]
    t = len(labels)
    cut_note = None
    if opts.stages:
        wanted = list(opts.stages)
    elif t <= FULL_STAGES_UP_TO or rows is not None:  # one focused row is short whatever the length
        wanted = list(subject.default_stages)
    else:
        wanted = ["weights"]
        cut_note = _("{t} tokens: showing the weights and the reading; --stage inputs --stage scores … shows more.")
        cut_note = cut_note.format(t=t)
    # key labels cut to 6 characters when the full ones would push key columns off the screen
    too_wide = max(map(len, q_labels)) + len(labels) * (max(map(len, labels)) + 3) > console.width
    k_labels = [short(k, 6) for k in labels] if too_wide else labels
    view = View(precision=opts.precision, width=console.width, labels={"q": q_labels, "k": k_labels})

    console.print(Text(subject.header, style="dim"))
    console.print(tokens_view(labels, subject.special, subject.tokens_title))
    if subject.pieces_note:
        console.print(Text(subject.pieces_note, style="dim"))
    console.print()
    console.print(Text(where[0].upper() + where[1:], style="bold reverse"))
    if subject.reason:
        chosen = _("(default: {reason}; choose with --layer/--head, or compare heads with --head all)")
        console.print(Text(chosen.format(reason=subject.reason)))
    if rows is not None:
        focus = _("Focus on the query {query} (--query): its row only; K and V keep every token.")
        console.print(Text(focus.format(query=" ".join(q_labels))))
    for note in subject.notes:
        console.print(Text(_("note: {note}").format(note=note), style="yellow"))
    if cut_note:
        console.print(Text(cut_note, style="dim"))
    console.print()

    if "inputs" in wanted:
        console.print(qkv_view(subject.att, labels, view, _("of {where}").format(where=where), rows, subject.origins))
        console.print()
    if rows is not None and len(rows) == 1 and any(n in wanted for n in ("scores", "scaled", "weights")):
        # one query: its row of every stage on its side, one line per key, so no key column is cut
        title = _("1–4 · the query {query}, {where}: one line per key").format(query=q_labels[0], where=where)
        console.print(focus_view(shown, q_labels[0], labels, title, opts.precision))
        console.print()
    else:
        _stage_tables(subject, shown, wanted, view, q_labels, opts.precision)
    if "output" in wanted:
        console.print(render_attention(shown, ["output"], view))
    console.print(Text(subject.reading_title, style="bold"))
    console.print(reading_view(readings, labels, opts.precision))


def _stage_tables(
    subject: Subject, shown: Attention, wanted: list[str], view: Any, q_labels: list[str], precision: int
) -> None:
    """Scores, scaled, mask, softmax steps and the weights heatmap, one table each."""
    from rich.text import Text

    from attncli.render.heatmap import heatmap
    from attncli.render.tables import render_attention

    console = make_console()
    for name in ("scores", "scaled", "masked", "softmax"):
        if name not in wanted:
            continue
        if name == "masked" and shown.masked is None:
            console.print(Text(subject.mask_note, style="dim"))
            console.print()
        else:
            console.print(render_attention(shown, [name], view))
    if "weights" in wanted or "softmax" in wanted:
        console.print(
            heatmap(
                shown.weights,
                q_labels,
                subject.labels,
                title=(
                    _("the weights as a heatmap, {where}: rows = queries, columns = keys")
                    if "softmax" in wanted
                    else _("4 · weights = softmax(scaled), {where}: rows = queries, columns = keys")
                ).format(where=subject.where),
                caption=_("Each row sums to 1; bold = the row's largest weight; brighter colour = more weight."),
                width=console.width,
                precision=precision,
            )
        )
        console.print()


# ---- own embeddings --------------------------------------------------------------------------------


def _explain_embeddings(
    sentence: str, path: Path, projections: tuple[str | None, str | None, str | None], dtype: DType, opts: Options
) -> None:
    from attncli.analysis.explanation import find_query, load_embeddings, split_words
    from attncli.core.attention import attention
    from attncli.core.memory import tables_nbytes
    from attncli.parse.matrix import parse_matrix

    table = load_embeddings(path)
    if not sentence.strip():
        raise InputError(_("the sentence is empty"), argument="SENTENCE")
    words = split_words(sentence)
    if not words:
        message = _("{sentence!r} holds no words (only punctuation or symbols)").format(sentence=sentence)
        raise InputError(message, argument="SENTENCE")
    refuse_over_budget(
        tables_nbytes(len(words) ** 2, dtype), opts.max_memory,
        ngettext("the stage tables of {n} word", "the stage tables of {n} words", len(words)).format(n=len(words)),
        _("explain a shorter sentence"),
    )  # fmt: skip
    emb = table.lookup(words)
    inputs = []
    for name, text in zip(("q", "k", "v"), projections, strict=True):
        if text is None:
            inputs.append(emb)
            continue
        w = parse_matrix(text, f"--w{name}")
        if w.shape[0] != table.dim:
            message = ngettext(
                "has {rows} row, but the embeddings have {dim} numbers per word (E·W needs them equal)",
                "has {rows} rows, but the embeddings have {dim} numbers per word (E·W needs them equal)",
                w.shape[0],
            )
            raise ShapeError(message.format(rows=w.shape[0], dim=table.dim), argument=f"--w{name}")
        inputs.append(emb @ w)
    if inputs[0].shape[1] != inputs[1].shape[1]:
        message = _(
            "Q has {q} columns but K has {k}; Q·Kᵀ needs them equal "
            "(give --wq and --wk with the same number of columns)"
        )
        raise ShapeError(message.format(q=inputs[0].shape[1], k=inputs[1].shape[1]), argument="--wq/--wk")
    att = attention(*inputs, causal=opts.causal, dtype=dtype)
    special = [False] * len(words)
    rows = find_query(opts.query, words, words, special) if opts.query is not None else None
    given = [f"W_{n.upper()}" for n, p in zip("qkv", projections, strict=True) if p is not None]
    if given:
        how = _("Q, K, V = E·W where given ({given})").format(given=", ".join(given))
    else:
        how = _("Q = K = V = the embeddings")
    notes = [causal_note(own_embeddings=True)] if opts.causal else []
    subject = Subject(
        att=att,
        labels=words,
        special=special,
        header=_("{title}\n({path}: {words} words × {dim} numbers; {how}; {dtype})").format(
            title=table.title or _("Own embeddings"),
            path=path,
            words=len(table.vectors),
            dim=table.dim,
            how=how,
            dtype=dtype,
        ),
        tokens_title=_("Words ({n})").format(n=len(words)),
        where=_("own embeddings"),
        notes=notes,
        json_fields={
            "mode": "embeddings",
            "embeddings": str(path),
            "sentence": sentence,
            "tokens": words,
            "layer": None,
            "head": None,
        },
        origins={
            n.upper(): _("{N} = E·W_{N}: each word's embedding times --w{n}").format(N=n.upper(), n=n)
            if p is not None
            else _("{N} = E: each word's embedding, as it is").format(N=n.upper())
            for n, p in zip("qkv", projections, strict=True)
        },
        mask_note=_("3 · mask: nothing is masked (every word sees every word; --causal hides later ones)."),
        reading_title=_("Reading: where each word looks"),
        default_stages=("inputs", "scores", "scaled", "masked", "softmax", "output"),
    )
    _show(subject, rows, opts)
