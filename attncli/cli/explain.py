"""`attn explain` (attention over a real sentence, inside a real pretrained encoder, or over own
embeddings) and `attn model list|download`.

The Typer command is attncli.cli.explain_command's; plain invocations come here through the fast path
(attncli.cli.fastpath) without Typer. numpy, rich, tokenizers and safetensors are imported
inside the commands, so `attn --help` and `attn compute` do not pay for them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from attncli.cli.explain_positions import OwnSentence, PositionFlags, explain_positioned
from attncli.cli.inputs import refuse_over_budget, said_notes
from attncli.cli.output import (
    ProgressBar,
    cli_hints,
    make_console,
    output_settings,
    save_recording,
    start_recording,
    use_language,
    warn,
)
from attncli.cli.sources import MODEL_FLAG, TEXT_PREFIX_FLAG
from attncli.cli.view import check_view, every_head
from attncli.core.stages import TABLE_STAGES, check_stages
from attncli.errors import InputError, ShapeError
from attncli.i18n import _, ngettext
from attncli.models.words import BPE, SENTENCEPIECE, WORDPIECE

if TYPE_CHECKING:
    from attncli.analysis.explanation import HeadView, Overview, Plan, Reading
    from attncli.core.engine import Attention
    from attncli.core.settings import DType
    from attncli.models.base import ModelInfo, Tokens
    from attncli.models.locate import ModelSource

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
    view: Path | None = None  # --view FILE.html: the interactive page
    across: Any = None  # cli.explain_analysis.Across: --key, --pieces, --rollout, --flow, --residual, --roles
    generate: int | None = None  # new tokens for a decoder to generate (--generate)
    prefix: str | None = None  # --text-prefix: text before the sentence (None: the model's own, E5's "passage: ")


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
    units: Any = None  # analysis.heads.Units (words) of a model's sentence, for --words
    readings: tuple[Reading, ...] | None = None  # computed by the analysis; None: read here from the weights


def run(
    sentence: str,
    layer: str | None = None,
    head: str | None = None,
    query: str | None = None,
    key: str | None = None,
    pieces: bool = False,
    rollout: bool = False,
    words: bool = False,
    roles: bool = False,
    flow: bool = False,
    residual: float = 0.5,
    model: str | None = None,
    embeddings: Path | None = None,
    wq: str | None = None,
    wk: str | None = None,
    wv: str | None = None,
    heads: int | None = None,
    positional: str | None = None,
    rope: bool | None = None,
    permute: str | None = None,
    seed: int | None = None,
    causal: bool = False,
    dtype: str | None = None,
    truncate: bool = False,
    generate: int | None = None,
    prefix: str | None = None,
    stage: list[str] | None = None,
    top: int = 3,
    precision: int | None = None,
    json_out: bool = False,
    max_memory: str | None = None,
    save_svg: Path | None = None,
    save_html: Path | None = None,
    view: Path | None = None,
    no_color: bool = False,
    quiet: bool = False,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    """`attn explain` with its options' values (choices as their strings), from the Typer command
    (attncli.cli.explain_command) and from the fast path (attncli.cli.fastpath) alike."""
    use_language(lang)
    check_stages(stage, TABLE_STAGES, "--stage")
    output_settings(no_color, quiet)
    if (save_svg or save_html) and json_out:
        message = _("records the tables of the terminal; it does not go with --json")
        raise InputError(message, argument="--save-svg")
    start_recording(save_svg, save_html)
    check_view(view, (embeddings, wq, wk, wv))
    from attncli.cli.explain_analysis import Across, check

    across = Across(key, not pieces, rollout, residual, roles, words, flow)
    check(across, query, layer, head, view is not None)
    precision = precision if precision is not None else 4 if embeddings is not None else 2
    opts = Options(query, causal, stage, top, precision, json_out, max_memory, view, across, generate, prefix)
    places = PositionFlags(heads, positional, rope, permute, seed)
    with _flags():
        _explain(sentence, layer, head, model, embeddings, (wq, wk, wv), dtype, truncate, opts, places)
    if save_svg or save_html:
        save_recording(make_console(), save_svg, save_html, f"attn explain {sentence!r}")


def _explain(
    sentence: str,
    layer: str | None,
    head: str | None,
    model: str | None,
    embeddings: Path | None,
    projections: tuple[str | None, str | None, str | None],
    dtype: str | None,
    truncate: bool,
    opts: Options,
    places: PositionFlags,
) -> None:
    """The flags that pick a mode (the model, or own embeddings), checked against each other."""
    wq, wk, wv = projections
    if embeddings is not None:
        for flag, value in (
            ("--layer", layer),
            ("--head", head),
            (MODEL_FLAG, model),
            ("--truncate", truncate or None),
            *(("--key", opts.across.key), ("--rollout", opts.across.rollout or None)),
            ("--roles", opts.across.roles or None),
            ("--flow", opts.across.flow or None),
            ("--words", opts.across.word_heatmap or None),
            ("--generate", opts.generate),
            (TEXT_PREFIX_FLAG, opts.prefix),
        ):
            if value is not None:
                raise InputError(_("applies to the pretrained model, not to --embeddings"), argument=flag)
        _explain_embeddings(sentence, embeddings, (wq, wk, wv), cast("DType", dtype or "float64"), opts, places)
        return
    if places.given():
        message = _("goes with --embeddings (a pretrained model has its own positions and heads)")
        raise InputError(message, argument=places.given()[0][0])
    for flag, value in (("--wq", wq), ("--wk", wk), ("--wv", wv)):
        if value is not None:
            raise InputError(_("needs --embeddings (the model has its own W_Q, W_K, W_V)"), argument=flag)
    _explain_model(sentence, layer, head, model, cast("DType", dtype or "float32"), truncate, opts)


# ---- the pretrained model -------------------------------------------------------------------------

# Errors of the floors below name their own parameters; these are the flags (or argument) they were.
FLAGS = {"sentence": "SENTENCE", "query": "--query"}


@contextmanager
def _flags() -> Iterator[None]:
    """Say which flag of `attn explain` an error from the analysis or the model is about."""
    from attncli.errors import AttnError
    from attncli.models.base import SentenceTooLong

    try:
        yield
    except SentenceTooLong as e:
        message = _("the sentence is {n} tokens long; the model takes at most {limit} (--truncate cuts it to fit)")
        raise InputError(message.format(n=e.tokens, limit=e.limit), argument="SENTENCE") from None
    except AttnError as e:
        if e.argument in FLAGS:
            raise e.with_argument(FLAGS[e.argument]) from None
        raise


def _notes(asked: Plan, causal: bool) -> list[str]:
    notes = []
    if asked.prefix:
        said = _(
            "The model reads {text!r}: {prefix!r} comes first, as E5 was trained ('query: ' before a question, "
            "'passage: ' before a text to be found); its tokens take part in the attention. --text-prefix changes it "
            "(--text-prefix 'query: ', or --text-prefix '' for none)."
        )
        notes.append(said.format(text=asked.sentence, prefix=asked.prefix))
    spelled = asked.model.tokenizer.spelled_out(asked.sentence, asked.tokens)
    if spelled:
        shown = "; ".join(f"{word} → {' '.join(pieces)}" for word, pieces in spelled[:4])
        if len(spelled) > 4:
            more = len(spelled) - 4
            shown = ngettext("{shown} (and {n} more)", "{shown} (and {n} more)", more).format(shown=shown, n=more)
    if spelled and _kind(asked) == SENTENCEPIECE:
        unknown = _("These words hold characters the vocabulary does not know, read as <unk>: {words}.")
        notes.append(unknown.format(words=shown))
    elif spelled:
        notes.append(
            _(
                "This model's vocabulary is English: these words became single characters or [UNK], "
                "so their attention says little about their meaning: {words}."
            ).format(words=shown)
        )
    if asked.tokens.truncated_from is not None:
        cut = _("The sentence was cut from {n} to {limit} tokens (--truncate).")
        notes.append(cut.format(n=asked.tokens.truncated_from, limit=asked.model.info.max_positions))
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
    """Map the flags onto analysis.explanation's plan and run, and show what they give."""
    from attncli.analysis.explanation import Overview, check_sentence, parse_index, plan, run
    from attncli.cli import decoder
    from attncli.cli.sources import find_model
    from attncli.models.registry import load

    check_sentence(sentence)
    source = find_model(model)
    loaded = load(source.folder)
    info = loaded.info
    is_decoder = decoder.is_decoder(loaded)
    if is_decoder and opts.causal:
        raise InputError(_("this decoder has its own causal mask already"), argument="--causal")
    if opts.generate is not None and not is_decoder:
        raise InputError(_("needs a decoder that predicts the next token, such as smollm2-135m"), argument="--generate")
    layer = parse_index(layer_text, "--layer", info.layers, _("layers"))
    head = parse_index(head_text, "--head", info.query_heads, _("heads"))
    asked = plan(loaded, sentence, layer=layer, head=head, truncate=truncate, prefix=opts.prefix)
    tokens = asked.tokens
    if tokens.truncated_from is not None:
        cut = _("the sentence has {n} tokens; cut to the model's {limit} (--truncate)")
        warn(cut.format(n=tokens.truncated_from, limit=info.max_positions))
    if opts.query is not None and opts.generate is None and not (opts.across.asked or asked.overview):
        asked = asked.focus(opts.query)
    refuse_over_budget(
        asked.attention_nbytes(dtype), opts.max_memory,
        ngettext("the attention of {n} token", "the attention of {n} tokens", len(tokens)).format(n=len(tokens)),
        _("explain a shorter sentence, or cut it with --truncate"),
    )  # fmt: skip
    progress = ProgressBar(_("layers"))  # shown only if the forward pass takes over a second, on a terminal

    def step(done: int, total: int) -> None:
        progress(done, total)
        if done >= total:
            progress.close()

    if opts.across.asked:
        try:
            _across(asked, source, dtype, (layer, head), opts, step)
        finally:
            progress.close()
        return
    try:
        shown = run(asked, dtype=dtype, causal=opts.causal, top=opts.top, progress=step)
    finally:
        progress.close()
    notes = _notes(asked, opts.causal) + (decoder.notes(cast(Any, loaded)) if is_decoder else [])
    if isinstance(shown, Overview) and opts.query is not None:
        from attncli.cli.explain_analysis import query_heads

        query_heads(shown, opts.across, opts.query, _frame(asked, source, dtype, opts))
        return
    if isinstance(shown, Overview):
        json_text = _overview(shown, source, dtype, notes, opts)
        selected = (shown.layers[0], shown.heads[0])
    else:
        rows = None if shown.plan.rows is None else list(shown.plan.rows)
        subject = _head_subject(shown, source, dtype, notes)
        if is_decoder:
            json_text = _decode(subject, cast(Any, loaded), shown, rows, dtype, opts)
        else:
            json_text = _show(subject, rows, opts)
        selected = (shown.layer, shown.head)
    if opts.view is not None:
        heads = every_head(asked.model, tokens.ids, dtype, opts.causal)
        from attncli.analysis.heads import units

        words = list(units(asked.sentence, tokens).labels)  # as written
        about = {"header": _model_header(source, info, dtype), "selected": selected, "groups": tokens.groups,
                 "words": words}  # fmt: skip
        stages = ["inputs", "scores", "scaled", "masked", "weights", "output"]
        _page(opts, heads, list(tokens.pieces), stages, json_text, sentence=asked.sentence, notes=notes, **about)


def _page(
    opts: Options, heads: list[list[Attention]], labels: list[str], stages: list[str], json_text: Any, **about: Any
) -> None:
    """--view: the interactive page of every head (attncli.cli.view)."""
    from attncli.cli.view import page_data, save_view

    data = page_data(heads, {"q": labels, "k": labels}, stages, opts.precision, **about)
    assert opts.view is not None
    save_view(opts.view, data, json_text)


def _frame(asked: Plan, source: ModelSource, dtype: str, opts: Options) -> Any:
    from attncli.cli.explain_analysis import Frame

    header, info = _model_header(source, asked.model.info, dtype), asked.model.info
    notes = _notes(asked, opts.causal)
    return Frame(header, _tokens_title(asked.tokens, _kind(asked)), _model_json(source, info), notes, opts.json_out,
                 opts.precision, dtype, opts.causal or info.causal)  # fmt: skip


def _across(asked: Plan, source: ModelSource, dtype: DType, span: Any, opts: Options, step: Any) -> None:
    """--key, --roles, --rollout and --flow: one forward pass, then cli/explain_analysis.py."""
    from attncli.cli import explain_analysis as across

    weights = across.all_weights(asked, dtype, opts.causal, step)
    frame = _frame(asked, source, dtype, opts)
    doc = None
    if opts.across.roles:
        doc = across.roles(asked, opts.across, weights, frame, across.probe(asked, dtype))
    elif opts.across.rollout:
        across.rollout(asked, opts.across, weights, frame)
    elif opts.across.flow:
        across.flow(asked, opts.across, weights, frame)
    else:
        doc = across.head_search(asked, opts.across, opts.query or "", span, weights, frame)
    if opts.view is not None:  # the page of every head, its model view filtered by the roles or the search
        from attncli.serialize.strict_json import dumps

        assert doc is not None  # --view with --rollout or --flow was refused before the model ran
        tokens = asked.tokens
        heads = every_head(asked.model, tokens.ids, dtype, opts.causal)
        top = doc["heads"][0] if doc["mode"] == "head-search" else {"layer": 1, "head": 1}
        about = {"header": frame.header, "selected": (top["layer"] - 1, top["head"] - 1), "groups": tokens.groups,
                 "analysis": across.view_analysis(doc)}  # fmt: skip
        stages = ["inputs", "scores", "scaled", "masked", "weights", "output"]
        _page(opts, heads, list(tokens.pieces), stages, lambda: dumps(doc), sentence=asked.sentence,
              notes=frame.notes, **about)  # fmt: skip


def _decode(subject: Subject, loaded: Any, shown: HeadView, rows: list[int] | None, dtype: DType, opts: Options) -> Any:
    """A decoder's head, then its GQA map, RoPE stage and next token; with --generate the continuation.
    Returns what --json prints, as a function (for --view)."""
    from attncli.cli import decoder
    from attncli.models.llama import generate

    made, step = None, 0
    if opts.generate is not None:
        eos = loaded.gguf.metadata.get("tokenizer.ggml.eos_token_id")
        made = generate(loaded, shown.plan.tokens.ids, opts.generate, dtype, stop=eos)
        step = decoder.pick(made, loaded, opts.query)
    if opts.json_out:
        subject.json_fields.update(decoder.json_fields(loaded, shown))
        if made is not None:
            subject.json_fields["generated"] = decoder.show_generated(
                None, loaded, made, shown.layer, shown.head, step, opts
            )
        return _show(subject, rows, opts)
    json_text = _show(subject, rows, opts)
    console = make_console()
    decoder.print_extras(console, loaded, shown, subject.labels, opts.precision)
    if made is not None:
        decoder.show_generated(console, loaded, made, shown.layer, shown.head, step, opts)
    return json_text


def _head_subject(shown: HeadView, source: ModelSource, dtype: str, notes: list[str]) -> Subject:
    """What to say around one head of the model."""
    from attncli.analysis.heads import units

    tokens, info = shown.plan.tokens, shown.plan.model.info
    layer, head = shown.layer, shown.head
    return Subject(
        att=shown.attention,
        labels=list(tokens.pieces),
        special=list(tokens.special),
        header=_model_header(source, info, dtype),
        tokens_title=_tokens_title(tokens, _kind(shown.plan)),
        where=_("layer {layer}, head {head}").format(layer=layer + 1, head=head + 1),
        reason=shown.reason,
        notes=notes,
        json_fields={
            "mode": "model",
            "model": _model_json(source, info),
            "sentence": shown.plan.sentence,
            "prefix": shown.plan.prefix,
            "tokens": list(tokens.pieces),
            "token_ids": tokens.ids.tolist(),
            "layer": layer + 1,
            "head": head + 1,
            "choice": shown.reason or "given",
        },
        pieces_note=_pieces_note(tokens, _kind(shown.plan)),
        origins=_origins(info, layer, head),
        mask_note=_mask_note(tokens, _kind(shown.plan)),
        reading_title=_("Reading: where each query token looks (the pieces of a word added up)"),
        default_stages=("inputs", "scores", "scaled", "masked", "weights", "output"),
        readings=shown.readings,
        units=units(shown.plan.sentence, tokens),
    )


def _origins(info: ModelInfo, layer: int, head: int) -> dict[str, str]:
    """Where the model's Q, K and V of one head come from, for the captions."""
    first, last = head * info.head_size + 1, (head + 1) * info.head_size
    x = _("the embeddings' output") if layer == 0 else _("layer {layer}'s output").format(layer=layer)
    if info.kv_heads != info.query_heads or info.architecture == "llama":
        g = head // (info.query_heads // info.kv_heads)
        q = _("Q = RMSNorm(x)·W_Qᵀ, then turned by RoPE; columns {first}…{last} (head {head}), x = {x}")
        kv = _(
            "{n} = RMSNorm(x)·W_{n}ᵀ{rope}; columns {first}…{last} of key/value head {g}, shared by {per} query heads"
        )
        size, per = info.head_size, info.query_heads // info.kv_heads
        return {
            "Q": q.format(first=first, last=last, head=head + 1, x=x),
            **{
                n: kv.format(n=n, rope=_(", then turned by RoPE") if n == "K" else "", first=g * size + 1,
                             last=(g + 1) * size, g=g + 1, per=per)
                for n in "KV"
            },
        }  # fmt: skip
    origin = _(
        "{n} = x·W_{n}ᵀ + b_{n}, columns {first}…{last} of {hidden} (head {head}), x = {x} ({hidden} numbers per token)"
    )
    return {n: origin.format(n=n, first=first, last=last, hidden=info.hidden_size, head=head + 1, x=x) for n in "QKV"}


def _model_header(source: ModelSource, info: ModelInfo, dtype: str) -> str:
    return _(
        "{name}: {layers} layers × {heads} heads, hidden {hidden}, head size {size}; {dtype}, attncli's NumPy engine"
    ).format(
        name=_model_name(source), layers=info.layers, heads=info.query_heads, hidden=info.hidden_size,
        size=info.head_size, dtype=dtype,
    )  # fmt: skip


def _model_name(source: ModelSource) -> str:
    from attncli.models.locate import DEFAULT_NAME

    return DEFAULT_NAME if source.origin == "package" else source.folder.name


def _model_json(source: ModelSource, info: ModelInfo) -> dict[str, Any]:
    from attncli.cli.sources import how

    return {
        "name": _model_name(source),
        "base": info.name,
        "path": str(source.folder),
        "source": how(source),
        "layers": info.layers,
        "heads": info.query_heads,
        "hidden_size": info.hidden_size,
        "head_size": info.head_size,
    }


def _kind(asked: Plan) -> str:
    """The tokenizer's scheme: WORDPIECE, BPE or SENTENCEPIECE (attncli.models.words)."""
    return str(getattr(asked.model.tokenizer, "kind", WORDPIECE))


def _tokens_title(tokens: Tokens, kind: str) -> str:
    n = len(tokens)
    if kind == BPE:
        return ngettext(
            "Tokens ({n} byte-level BPE piece; Ġ = a space before it)",
            "Tokens ({n} byte-level BPE pieces; Ġ = a space before them)",
            n,
        ).format(n=n)
    if kind == SENTENCEPIECE:
        title = ngettext(
            "Tokens ({n}: <s>, {pieces} SentencePiece piece, </s>; ▁ = a space before it)",
            "Tokens ({n}: <s>, {pieces} SentencePiece pieces, </s>; ▁ = a space before them)",
            n - 2,
        )
        return title.format(n=n, pieces=n - 2)
    title = ngettext(
        "Tokens ({n}: [CLS], {pieces} WordPiece piece, [SEP])",
        "Tokens ({n}: [CLS], {pieces} WordPiece pieces, [SEP])",
        n - 2,
    )
    return title.format(n=n, pieces=n - 2)


def _pieces_note(tokens: Tokens, kind: str) -> str | None:
    from attncli.models.tokenize import word_text

    split = [g for g in tokens.groups if len(g) > 1]
    if not split:
        return None
    texts = tokens.texts or tuple(word_text(tokens.pieces, g) for g in tokens.groups)
    words = [(texts[n], g) for n, g in enumerate(tokens.groups) if len(g) > 1]
    examples = ", ".join(f"{w} = {' '.join(tokens.pieces[i] for i in g)}" for w, g in words[:3])
    if kind == WORDPIECE:
        return _("'##' marks a piece that continues the word before it: {examples}.").format(examples=examples)
    return _("Words of more than one piece (the reading adds their weights up): {examples}.").format(examples=examples)


def _mask_note(tokens: Tokens, kind: str) -> str:
    if kind == SENTENCEPIECE:
        return _(
            "3 · mask: one sentence has no <pad> tokens, so no key is masked. <s> and </s> are ordinary "
            "keys: the model attends to them (many heads park weight on them)."
        )
    return _(
        "3 · mask: one sentence has no [PAD] tokens, so no key is masked. [CLS] and [SEP] are ordinary "
        "keys: the model attends to them (many heads park weight on [SEP])."
    )


def _overview_caption(summaries: list[Any], of: Any, tokens: Tokens, decoder: bool) -> str:
    """What the overview's numbers are, the pairs' with an example from the table itself; named after this
    model's special tokens ([CLS]/[SEP], <s>/</s>), or a decoder's first token."""
    ends = list(dict.fromkeys(p for p, special in zip(tokens.pieces, tokens.special, strict=True) if special))
    if decoder:
        pattern = _(
            "pattern: what the head mostly does, and how much: the mean, over the query tokens, of the weight each "
            "gives itself (self), the token before it, or the first token (where a decoder parks the weight it "
            "does not need), named when it reaches 0.5; else 'broad' when the weights are spread out (its number: "
            "the rows' entropy ÷ log of the number of tokens, 1 = even); else '—'. A token sees only the tokens "
            "before it."
        )
        skipped = _("the first token")
    else:
        pattern = _(
            "pattern: what the head mostly does, and how much: the mean, over the query tokens, of the weight each "
            "gives itself (self), the token before or after it, {ends}, named when it reaches 0.5; else 'broad' "
            "when the weights are spread out (its number: the rows' entropy ÷ log of the number of tokens, "
            "1 = even); else '—'."
        ).format(ends=_(" or ").join(ends))
        skipped = "/".join(ends)
    example = next((s.pairs[0] for s in summaries if s.pairs), None)
    if example is None:
        pairs = _("pairs: the weight a query word gives a key word; {skipped}, a word itself and its neighbours "
                  "are left out.").format(skipped=skipped)  # fmt: skip
    else:
        q, k, w = example
        pairs = _(
            "pairs: '{query}→{key} {w}' means the word {query}, as a query, gives {key} {w} of its weight (1 in "
            "all); {skipped}, a word itself and its neighbours are left out."
        ).format(query=of.labels[q], key=of.labels[k], w=f"{w:.2f}", skipped=skipped)
    return pattern + "\n" + pairs + "\n" + _("Look at one head with --layer L --head H.")


def _overview(view: Overview, source: ModelSource, dtype: str, notes: list[str], opts: Options) -> Any:
    """Print the overview (or its JSON); return what --json prints, as a function."""
    from dataclasses import replace

    from rich.text import Text

    from attncli.analysis.heads import units, word_pairs
    from attncli.render.explain import overview_view, tokens_view

    tokens, info = view.plan.tokens, view.plan.model.info
    pieces, json_out = list(tokens.pieces), opts.json_out
    of = units(view.plan.sentence, tokens, words=opts.across.words)  # the pairs in words, or pieces on request
    decoder = view.plan.model.info.causal
    summaries = [replace(s, pairs=word_pairs(view.weights[s.layer][s.head], of, sink=decoder)) for s in view.summaries]

    def json_text() -> str:
        from attncli.serialize.strict_json import SCHEMA_VERSION, dumps, jsonable

        doc = {
            "schema_version": SCHEMA_VERSION,
            "mode": "overview",
            "model": _model_json(source, info),
            "config": {"dtype": dtype, "causal": causal_note() in notes},
            "sentence": view.plan.sentence,
            "prefix": view.plan.prefix,
            "tokens": pieces,
            "token_ids": tokens.ids.tolist(),
            "heads": [
                {
                    "layer": s.layer + 1,
                    "head": s.head + 1,
                    "pattern": s.pattern,
                    "share": s.share,
                    "pairs": [{"query": of.labels[q], "key": of.labels[k], "weight": w} for q, k, w in s.pairs],
                    "weights": jsonable(view.weights[s.layer][s.head]),
                }
                for s in summaries
            ],
            "notes": notes,
        }
        return dumps(doc)

    if json_out:
        sys.stdout.write(json_text() + "\n")
        return json_text
    console = make_console()
    console.print(Text(_model_header(source, info, dtype), style="dim"))
    console.print(tokens_view(pieces, list(tokens.special), _tokens_title(tokens, _kind(view.plan))))
    console.print()
    if len(view.layers) == 1:
        scope = _("Overview: layer {layer}, every head").format(layer=view.layers[0] + 1)
    elif len(view.heads) == 1:
        scope = _("Overview: head {head} in every layer").format(head=view.heads[0] + 1)
    else:
        scope = _("Overview: every layer and head")
    console.print(Text(scope, style="bold"))
    if view.layer_chosen:
        scope_note = _("layer {layer} is the layer of the default head; --layer N shows another")
        console.print(Text(f"({scope_note.format(layer=view.layers[0] + 1)})"))
    console.print(overview_view(summaries, list(of.labels)))
    console.print(Text(_overview_caption(summaries, of, tokens, decoder), style="dim"))
    for note in notes:
        console.print(Text(_("note: {note}").format(note=note), style="yellow"))
    return json_text


# ---- showing one attention (a model head, or own embeddings) ----------------------------------------


def _focus(att: Attention, rows: list[int]) -> Attention:
    """The attention of the query rows `rows` only (K, V and every key column stay)."""
    from attncli.models.base import map_stages

    mask = att.mask
    if mask is not None and mask.shape[-2] != 1:
        mask = mask[..., rows, :]
    return map_stages(
        att,
        lambda a: a if a is att.k or a is att.v else a[..., rows, :],
        mask=mask,
        empty_rows=tuple((rows.index(e[-1]),) for e in att.empty_rows if e[-1] in rows),
    )


def _show(subject: Subject, rows: list[int] | None, opts: Options) -> Any:
    """Print (or write as JSON) the stages of one attention, its heatmap and the reading; return what
    --json prints, as a function."""
    from attncli.analysis.explanation import read_row

    query_rows = rows if rows is not None else list(range(len(subject.labels)))
    readings = (
        list(subject.readings)
        if subject.readings is not None
        else [read_row(subject.att.weights, i, subject.labels, subject.special, opts.top) for i in query_rows]
    )
    shown = _focus(subject.att, rows) if rows is not None else subject.att  # the focused query rows only

    def json_text() -> str:
        return _json_text(subject, shown, rows, readings)

    if opts.json_out:
        sys.stdout.write(json_text() + "\n")
    else:
        _print_text(subject, shown, rows, readings, opts)
    return json_text


def _json_text(subject: Subject, shown: Attention, rows: list[int] | None, readings: list[Reading]) -> str:
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
    return dumps(doc)


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
    view = View(precision=opts.precision, width=console.width, labels={"q": q_labels, "k": k_labels}, hints=cli_hints())

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
        _stage_tables(subject, shown, wanted, view, q_labels, opts, rows)
    if "output" in wanted:
        console.print(render_attention(shown, ["output"], view))
    console.print(Text(subject.reading_title, style="bold"))
    more = _("(the first {n} query tokens; {more} more in --json, or pick one with --query)")
    console.print(reading_view(readings, labels, opts.precision, more=more))


def _stage_tables(
    subject: Subject, shown: Attention, wanted: list[str], view: Any, q_labels: list[str], opts: Options, rows: Any
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
    precision, weights, k_labels = opts.precision, shown.weights, subject.labels
    if opts.across.word_heatmap and subject.units is not None:  # --words: the heatmap in words
        from attncli.cli.explain_analysis import in_words

        weights, q_labels, k_labels = in_words(weights, subject.units, rows)
    if "weights" in wanted or "softmax" in wanted:
        console.print(
            heatmap(
                weights,
                q_labels,
                k_labels,
                title=(
                    _("the weights as a heatmap, {where}: rows = queries, columns = keys")
                    if "softmax" in wanted
                    else _("4 · weights = softmax(scaled), {where}: rows = queries, columns = keys")
                ).format(where=subject.where),
                caption=_("Each row sums to 1; bold = the row's largest weight; brighter colour = more weight."),
                width=console.width,
                precision=precision,
                hints=cli_hints(),
            )
        )
        console.print()


# ---- own embeddings --------------------------------------------------------------------------------


def _projection_weights(projections: tuple[str | None, str | None, str | None], dim: int) -> dict[str, Any]:
    """--wq, --wk, --wv parsed (None where not given), each with as many rows as the embeddings' width."""
    from attncli.parse.matrix import parse_matrix

    weights: dict[str, Any] = {}
    for name, text in zip(("q", "k", "v"), projections, strict=True):
        if text is None:
            weights[name] = None
            continue
        with said_notes():
            w = parse_matrix(text, f"--w{name}")
        if w.shape[0] != dim:
            message = ngettext(
                "has {rows} row, but the embeddings have {dim} numbers per word (E·W needs them equal)",
                "has {rows} rows, but the embeddings have {dim} numbers per word (E·W needs them equal)",
                w.shape[0],
            )
            raise ShapeError(message.format(rows=w.shape[0], dim=dim), argument=f"--w{name}")
        weights[name] = w
    return weights


def _explain_embeddings(
    sentence: str,
    path: Path,
    projections: tuple[str | None, str | None, str | None],
    dtype: DType,
    opts: Options,
    places: PositionFlags,
) -> None:
    from attncli.analysis.explanation import check_sentence, find_query, load_embeddings, split_words
    from attncli.core.attention import attention
    from attncli.core.memory import tables_nbytes

    table = load_embeddings(path, "--embeddings")
    check_sentence(sentence)
    words = split_words(sentence)
    if not words:
        message = _("{sentence!r} holds no words (only punctuation or symbols)").format(sentence=sentence)
        raise InputError(message, argument="SENTENCE")
    runs = (places.heads or 1) * (4 if places.permute is not None else 1)  # --permute: 2 orders × 2 settings
    refuse_over_budget(
        tables_nbytes(runs * len(words) ** 2, dtype), opts.max_memory,
        ngettext("the stage tables of {n} word", "the stage tables of {n} words", len(words)).format(n=len(words)),
        _("explain a shorter sentence"),
    )  # fmt: skip
    emb = table.lookup(words)
    weights = _projection_weights(projections, table.dim)
    inputs = [emb if w is None else emb @ w for w in weights.values()]
    if inputs[0].shape[1] != inputs[1].shape[1]:
        message = _(
            "Q has {q} columns but K has {k}; Q·Kᵀ needs them equal "
            "(give --wq and --wk with the same number of columns)"
        )
        raise ShapeError(message.format(q=inputs[0].shape[1], k=inputs[1].shape[1]), argument="--wq/--wk")
    given = [f"W_{n.upper()}" for n, p in zip("qkv", projections, strict=True) if p is not None]
    if given:
        how = _("Q, K, V = E·W where given ({given})").format(given=", ".join(given))
    else:
        how = _("Q = K = V = the embeddings")
    notes = [causal_note(own_embeddings=True)] if opts.causal else []
    header = _("{title}\n({path}: {words} words × {dim} numbers; {how}; {dtype})").format(
        title=table.title or _("Own embeddings"), path=path, words=len(table.vectors), dim=table.dim, how=how,
        dtype=dtype,
    )  # fmt: skip
    fields = {"mode": "embeddings", "embeddings": str(path), "sentence": sentence, "tokens": words}
    if places.given():
        projections_given = {f"w{n}": w for n, w in weights.items()}
        own = OwnSentence(words, emb, projections_given, header, fields, notes)
        explain_positioned(own, places, dtype, opts)
        return
    att = attention(*inputs, causal=opts.causal, dtype=dtype)
    special = [False] * len(words)
    rows = find_query(opts.query, words, words, special) if opts.query is not None else None
    subject = Subject(
        att=att,
        labels=words,
        special=special,
        header=header,
        tokens_title=_("Words ({n})").format(n=len(words)),
        where=_("own embeddings"),
        notes=notes,
        json_fields={**fields, "layer": None, "head": None},
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
    json_text = _show(subject, rows, opts)
    if opts.view is not None:
        stages = list(subject.default_stages)
        _page(opts, [[att]], words, stages, json_text, sentence=sentence, header=subject.header, notes=notes)
