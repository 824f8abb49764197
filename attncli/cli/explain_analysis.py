"""`attn explain` across heads and layers: --key (which head links two words), --query with --head all
(one query in many heads), --roles, --rollout and --flow; cli/explain.py maps its flags here.

Everything comes from one forward pass (every layer's weights, no stage kept); the numbers from
attncli.analysis.heads, .roles, .rollout and .flow, the tables from attncli.render.across.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attncli.cli.output import cli_hints, make_console
from attncli.errors import InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.analysis.explanation import Overview, Plan
    from attncli.analysis.heads import Units
    from attncli.core.settings import DType

SEARCH_ROWS = 10  # the head search table names this many heads; --json has them all


@dataclass(frozen=True)
class Across:
    """What to look at across heads and layers, as the flags say."""

    key: str | None = None  # --key: rank every head by query → key
    words: bool = True  # False with --pieces
    rollout: bool = False
    residual: float = 0.5  # --residual: w in Â = w·I + (1 − w)·A
    roles: bool = False
    word_heatmap: bool = False  # --words: one head's heatmap in words
    flow: bool = False  # --flow: attention flow (maximum flows through rollout's Â)

    @property
    def asked(self) -> bool:
        return self.key is not None or self.rollout or self.roles or self.flow


@dataclass(frozen=True)
class Frame:
    """What every view says around its numbers (made by cli/explain.py)."""

    header: str
    tokens_title: str
    model_json: dict[str, Any]
    notes: list[str]
    json_out: bool
    precision: int
    dtype: str
    causal: bool  # a causal mask: --causal, or the decoder's own (ModelInfo.causal)


def check(across: Across, query: str | None, layer: str | None, head: str | None, view: bool = False) -> None:
    """The flags that do not go together, refused before the model runs (`view`: --view was given)."""
    from attncli.analysis.rollout import check_residual

    if view and (across.rollout or across.flow):
        message = _("shows every head, and with --roles or --query/--key their scores; not --rollout or --flow")
        raise InputError(message, argument="--view")

    if across.key is not None and query is None:
        raise InputError(_("needs --query (the word whose weight to the key is ranked)"), argument="--key")
    if across.rollout and across.roles:
        raise InputError(_("does not go with --rollout: ask for one at a time"), argument="--roles")
    if across.flow and (across.rollout or across.roles):
        other = "--rollout" if across.rollout else "--roles"
        message = _("does not go with {flag}: ask for one at a time (--flow shows rollout's Â too)")
        raise InputError(message.format(flag=other), argument="--flow")
    for wanted, flag in ((across.rollout, "--rollout"), (across.roles, "--roles"), (across.flow, "--flow")):
        for other, value in (("--query", query), ("--layer", layer), ("--head", head)):
            if wanted and value is not None:
                message = _("does not go with {flag} (it looks at every layer and head)").format(flag=flag)
                raise InputError(message, argument=other)
    try:
        check_residual(across.residual)
    except InputError as e:
        raise e.with_argument("--residual") from None
    if across.word_heatmap and (across.asked or not across.words):
        flag = (
            "--pieces" if not across.words else "--key" if across.key else "--rollout" if across.rollout
            else "--flow" if across.flow else "--roles"
        )  # fmt: skip
        raise InputError(_("shows one head's heatmap in words; it does not go with {flag}").format(flag=flag),
                         argument="--words")  # fmt: skip
    if across.residual != 0.5 and not (across.rollout or across.flow):
        raise InputError(_("applies to --rollout and --flow"), argument="--residual")


def in_words(weights: Any, of: Units, rows: Sequence[int] | None) -> tuple[Any, list[str], list[str]]:
    """One head's heatmap (the query rows `rows` of T, or all) in words: keys summed, query pieces averaged."""
    import numpy as np

    m = of.membership(weights.shape[-1])
    keys = weights @ m  # (rows, U)
    shown = list(range(weights.shape[-1])) if rows is None else list(rows)
    at = {p: i for i, p in enumerate(shown)}
    words = [u for u, group in enumerate(of.positions) if any(p in at for p in group)]
    matrix = np.stack([keys[[at[p] for p in of.positions[u] if p in at]].mean(axis=0) for u in words])
    return matrix, [of.labels[u] for u in words], list(of.labels)


def all_weights(asked: Plan, dtype: DType, causal: bool, progress: Callable[[int, int], None]) -> NDArray[Any]:
    """(L, H, T, T): every layer's weights, from one forward pass that keeps no other stage."""
    import numpy as np

    causal = causal or asked.model.info.causal  # a decoder keeps its mask
    out = asked.model.forward(asked.tokens.ids[None, :], None, dtype=dtype, causal=causal, progress=progress)
    return np.stack([w[0] for w in out.weights])


def _units(asked: Plan, across: Across) -> Units:
    from attncli.analysis.heads import units

    return units(asked.sentence, asked.tokens, words=across.words)


def _start(frame: Frame, of: Units) -> Any:
    """The console, with the model header and the words (or pieces) printed."""
    from rich.text import Text

    from attncli.render.explain import tokens_view

    console = make_console()
    console.print(Text(frame.header, style="dim"))
    title = frame.tokens_title if not of.words else _("Words ({n}; pieces of a word read as one)").format(n=len(of))
    console.print(tokens_view(list(of.labels), list(of.special), title))
    console.print()
    return console


def _rule(of: Units) -> str:
    if of.words:
        return _(
            "Word-level: the weight to a word is the sum over its pieces as keys; a query word of several pieces "
            "takes the mean over them (--pieces reads single pieces)."
        )
    return _("Pieces: every WordPiece piece on its own (without --pieces, words).")


def _notes(console: Any, frame: Frame) -> None:
    from rich.text import Text

    for note in frame.notes:
        console.print(Text(_("note: {note}").format(note=note), style="yellow"))


def document(frame: Frame, of: Units, asked: Plan, fields: dict[str, Any]) -> dict[str, Any]:
    """What --json prints for a view across heads: its own fields, then the model, the sentence, the units."""
    from attncli.serialize.strict_json import SCHEMA_VERSION

    return {
        "schema_version": SCHEMA_VERSION,
        **fields,
        "model": frame.model_json,
        "config": {"dtype": frame.dtype, "causal": frame.causal},
        "sentence": asked.sentence,
        "prefix": asked.prefix,
        "tokens": list(asked.tokens.pieces),
        "level": "words" if of.words else "pieces",
        "units": list(of.labels),
        "notes": frame.notes,
    }


def _write(frame: Frame, of: Units, asked: Plan, fields: dict[str, Any]) -> None:
    from attncli.serialize.strict_json import dumps

    sys.stdout.write(dumps(document(frame, of, asked, fields)) + "\n")


def head_search(
    asked: Plan, across: Across, query: str, span: tuple[int | None, int | None], weights: Any, frame: Frame
) -> dict[str, Any]:
    """--query X --key Y: every head (of --layer / --head when given) ranked by X → Y; returns the JSON."""
    from rich.text import Text

    from attncli.analysis.explanation import ALL
    from attncli.analysis.heads import pick, search
    from attncli.render.across import links_view

    of = _units(asked, across)
    q = pick(query, of, asked.tokens, "--query")
    k = pick(across.key or "", of, asked.tokens, "--key")
    layer, head = span
    links = search(weights, of, q, k)
    links = [x for x in links if layer in (None, ALL, x.layer) and head in (None, ALL, x.head)]
    q_text, k_text = of.labels[q[0]], of.labels[k[0]]
    rows = [{"layer": x.layer + 1, "head": x.head + 1, "weight": x.weight, "rank": x.rank} for x in links]
    fields = {"mode": "head-search", "query": q_text, "key": k_text, "keys": links[0].keys, "heads": rows}
    if frame.json_out:
        _write(frame, of, asked, fields)
        return document(frame, of, asked, fields)
    console = _start(frame, of)
    title = _("Which heads link {query} → {key}: {n} heads, strongest first")
    console.print(Text(title.format(query=q_text, key=k_text, n=len(links)), style="bold"))
    console.print(links_view(links[:SEARCH_ROWS], frame.precision))
    caption = _(
        "weight: how much {query} gives {key} in that head; rank: {key}'s place among the {n} keys {query} "
        "looks at there (1 = its strongest)."
    ).format(query=q_text, key=k_text, n=links[0].keys)
    if len(links) > SEARCH_ROWS:
        more = ngettext("The first {shown} of {n} head; --json has every one", "The first {shown} of {n} heads; "
                        "--json has every one", len(links))  # fmt: skip
        caption += " " + more.format(shown=SEARCH_ROWS, n=len(links))
    console.print(Text(caption + "\n" + _rule(of), style="dim"))
    _notes(console, frame)
    return document(frame, of, asked, fields)


def query_heads(view: Overview, across: Across, query: str, frame: Frame) -> None:
    """--query X with --head all (or --layer all): X's word-level row in every head of the overview."""
    import numpy as np
    from rich.text import Text

    from attncli.analysis.heads import pick, query_rows
    from attncli.render.heatmap import heatmap

    asked = view.plan
    of = _units(asked, across)
    q = pick(query, of, asked.tokens, "--query")
    weights = np.stack(view.weights)[list(view.layers)][:, list(view.heads)]
    rows = query_rows(weights, of, q).reshape(-1, len(of))  # (layers × heads, U)
    names = [(li, hi) for li in view.layers for hi in view.heads]
    q_text = of.labels[q[0]]
    if frame.json_out:
        pairs = zip(names, rows, strict=True)
        heads = [{"layer": li + 1, "head": hi + 1, "weights": row.tolist()} for (li, hi), row in pairs]
        _write(frame, of, asked, {"mode": "query-heads", "query": q_text, "heads": heads})
        return
    console = _start(frame, of)
    if view.layer_chosen:
        chosen = _("(layer {layer} is the layer of the default head; --layer N shows another, --layer all every one)")
        console.print(Text(chosen.format(layer=view.layers[0] + 1), style="dim"))
    labels = [_("L{layer} H{head}").format(layer=li + 1, head=hi + 1) for li, hi in names]
    title = _("Where {query} looks in every head: rows = heads, columns = keys").format(query=q_text)
    caption = _("Each row sums to 1; bold = the head's strongest key.") + "\n" + _rule(of)
    console.print(heatmap(rows, labels, list(of.labels), title=title, caption=caption, width=console.width,
                          precision=frame.precision, hints=cli_hints()))  # fmt: skip
    _notes(console, frame)


def rollout(asked: Plan, across: Across, weights: Any, frame: Frame) -> None:
    """--rollout: what each final token draws on through every layer, beside the last layer's attention."""
    from attncli.analysis.heads import aggregate
    from attncli.analysis.rollout import rollout as roll

    of = _units(asked, across)
    r = aggregate(roll(weights, across.residual), of)
    last = aggregate(weights[-1].mean(axis=0), of)
    w = across.residual
    if frame.json_out:
        fields = {"mode": "rollout", "residual": w, "rollout": r.tolist(), "last_layer": last.tolist()}
        _write(frame, of, asked, fields)
        return
    n = weights.shape[0]
    title = _("Attention rollout through all {n} layers: rows = final tokens, columns = input tokens")
    how = _(
        "Â = {w}·I + {a}·(mean of the heads) in every layer (the residual connection as I; --residual sets w), "
        "R = Â_{n}·…·Â_1 (Abnar & Zuidema 2020)."
    ).format(w=fmt_w(w), a=fmt_w(1 - w), n=n)
    _beside_last(asked, of, frame, (r, title.format(n=n), how), (last, n, _not_shown("rollout")))


def _not_shown(method: str) -> str:
    """What --rollout and --flow leave out."""
    return _(
        "What these do not show: {method} follows the attention weights only; it ignores the value vectors "
        "(how much each head writes) and the MLPs, so it is a rough map of where information can flow."
    ).format(method=method)


def _beside_last(asked: Plan, of: Units, frame: Frame, main: tuple[Any, str, str], last: tuple[Any, int, str]) -> None:
    """The heatmap of --rollout or --flow, then the last layer's own attention for comparison."""
    from rich.text import Text

    from attncli.render.heatmap import heatmap

    console = _start(frame, of)
    labels = list(of.labels)
    matrix, title, how = main
    console.print(heatmap(matrix, labels, labels, title=title, caption=how, width=console.width,
                          precision=frame.precision, hints=cli_hints()))  # fmt: skip
    console.print()
    weights, n, caption = last
    title = _("For comparison, layer {n} alone: the mean of its heads' weights").format(n=n)
    console.print(heatmap(weights, labels, labels, title=title, caption=caption + "\n" + _rule(of),
                          width=console.width, precision=frame.precision, hints=cli_hints()))  # fmt: skip
    if frame.causal:
        console.print(Text(_("The causal mask is kept: no token draws on a later one."), style="dim"))
    _notes(console, frame)


def flow(asked: Plan, across: Across, weights: Any, frame: Frame) -> None:
    """--flow: the maximum flow from each final token to each input token through rollout's Â."""
    from attncli.analysis.flow import attention_flow, normalised
    from attncli.analysis.heads import aggregate
    from attncli.cli.output import ProgressBar

    of = _units(asked, across)
    progress = ProgressBar(_("flows"))
    try:
        raw = attention_flow(weights, across.residual, causal=frame.causal, progress=progress)
    finally:
        progress.close()
    shares = aggregate(normalised(raw), of)
    last = aggregate(weights[-1].mean(axis=0), of)
    w = across.residual
    if frame.json_out:
        # max_flow: the flows themselves, per piece (rows and columns as "tokens"): a word's is not their sum
        fields = {"mode": "flow", "residual": w, "flow": shares.tolist(), "max_flow": raw.tolist(),
                  "last_layer": last.tolist()}  # fmt: skip
        _write(frame, of, asked, fields)
        return
    n = weights.shape[0]
    title = _("Attention flow through all {n} layers: rows = final tokens, columns = input tokens")
    how = _(
        "The maximum flow from each final token to each input token through the {n} layers, every edge's "
        "capacity an entry of Â = {w}·I + {a}·(mean of the heads) (the residual connection as I; --residual sets "
        "w); each row divided by its sum, as in Abnar & Zuidema 2020 (--json also has the flows themselves)."
    ).format(w=fmt_w(w), a=fmt_w(1 - w), n=n)
    _beside_last(asked, of, frame, (shares, title.format(n=n), how), (last, n, _not_shown("flow")))


def probe(asked: Plan, dtype: DType) -> tuple[Any, int, int] | None:
    """For a causal decoder: the weights (L, H, P, P) on a repeated random sequence, n and the BOS offset."""
    import numpy as np

    from attncli.analysis.roles import PROBE_TOKENS, probe_ids

    if not asked.model.info.causal:
        return None
    tokens = asked.tokens
    bos = int(tokens.ids[0]) if tokens.special[0] else None
    specials = {int(i) for i, s in zip(tokens.ids, tokens.special, strict=True) if s}
    vocab = [i for i in range(asked.model.info.vocab_size) if i not in specials]
    n = min(PROBE_TOKENS, (asked.model.info.max_positions - int(bos is not None)) // 2)  # a short context
    ids = probe_ids(vocab, bos, n)
    out = asked.model.forward(ids[None, :], None, dtype=dtype, causal=True)
    return np.stack([w[0] for w in out.weights]), n, int(bos is not None)


def roles(
    asked: Plan, across: Across, weights: Any, frame: Frame, probed: tuple[Any, int, int] | None
) -> dict[str, Any]:
    """--roles: every head's role scores, the strongest role of each, a heatmap per role, the top three;
    returns the JSON."""
    from rich.text import Text

    from attncli.analysis.roles import probe_roles, sentence_roles
    from attncli.analysis.roles import roles as collect
    from attncli.render.across import role_texts, roles_grid, roles_top
    from attncli.render.heatmap import heatmap

    causal = frame.causal
    scored = sentence_roles(weights, asked.sentence, asked.tokens, causal)
    if probed is not None:
        scored.update(probe_roles(*probed))
    found = collect(scored)
    of = _units(asked, across)
    doc = {r: found.score(r).tolist() for r in found.names}
    grid = [[None if c is None else {"role": c[0], "score": c[1]} for c in row] for row in found.strongest()]
    probe_doc = None if probed is None else {"tokens": probed[1], "bos": bool(probed[2])}
    fields = {"mode": "roles", "roles": doc, "strongest": grid, "probe": probe_doc}
    if frame.json_out:
        _write(frame, of, asked, fields)
        return document(frame, of, asked, fields)
    console = _start(frame, of)
    texts = role_texts()
    console.print(Text(_("What each head does: its strongest role and score (rows = layers, columns = heads)"),
                       style="bold"))  # fmt: skip
    console.print(roles_grid(found, console.width))
    legend = ", ".join(f"{texts[r][0]} = {texts[r][1]}" for r in found.names)
    named = _(
        "A role is named when it scores at least 0.5 ('broad' at least 0.8, and only if no other does); '—': none."
    )
    console.print(Text(legend + "\n" + named, style="dim"))
    console.print()
    layers, heads = weights.shape[0], weights.shape[1]
    for role in found.names:
        title = _("{role}: score of every head (rows = layers, columns = heads)").format(role=texts[role][1])
        console.print(heatmap(found.score(role), [str(li + 1) for li in range(layers)],
                              [str(hi + 1) for hi in range(heads)], title=title, caption=texts[role][2],
                              width=console.width, precision=frame.precision, hints=cli_hints(),
                              rows_are_layers=True))  # fmt: skip
        console.print()
    console.print(Text(_("The three strongest heads of each role"), style="bold"))
    console.print(roles_top(found))
    if probed is None:
        skipped = _("duplicate-token and induction heads are scored for causal decoders only (this is an encoder).")
        console.print(Text(skipped, style="dim"))
    _notes(console, frame)
    return document(frame, of, asked, fields)


def view_analysis(doc: dict[str, Any]) -> dict[str, Any]:
    """For --view: the role scores or the head search of the run, as the page's model view filters them."""
    from attncli.render.across import role_texts

    if doc["mode"] == "roles":
        texts = role_texts()
        names = {r: texts[r][1] for r in doc["roles"]}
        return {"roles": doc["roles"], "role_names": names, "role_help": {r: texts[r][2] for r in doc["roles"]}}
    return {"search": {"query": doc["query"], "key": doc["key"], "keys": doc["keys"], "heads": doc["heads"]}}


def fmt_w(w: float) -> str:
    return f"{w:g}"


__all__ = [
    "Across",
    "Frame",
    "all_weights",
    "check",
    "document",
    "flow",
    "head_search",
    "in_words",
    "probe",
    "query_heads",
    "roles",
    "rollout",
    "view_analysis",
]
