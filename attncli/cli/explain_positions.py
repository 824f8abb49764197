"""`attn explain --embeddings` with positions and heads (--positional, --rope, --heads, as `attn compute`
has them) and the same sentence in another word order (--permute), side by side without and with
positions. The work is attncli.analysis.wordorder's; this module names the flags and prints."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attncli.cli.output import cli_hints, make_console
from attncli.errors import AttnError, InputError
from attncli.i18n import _

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from attncli.core.positions import Positions
    from attncli.core.settings import DType

# Errors of the floors below name their own parameters; these are the flags they were.
FLAGS = {
    "heads": "--heads",
    "kv_heads": "--heads",
    "rope": "--rope",
    "positional": "--positional",
    "wq": "--wq",
    "wk": "--wk",
    "wv": "--wv",
    "x": "--embeddings",
    "permute": "--permute",
    "seed": "--seed",
}


@dataclass(frozen=True)
class PositionFlags:
    """--heads, --positional, --rope, --permute and --seed of `attn explain`."""

    heads: int | None = None
    positional: str | None = None
    rope: bool | None = None
    permute: str | None = None
    seed: int | None = None

    def given(self) -> list[tuple[str, Any]]:
        """The flags given, by name."""
        pairs = (("--heads", self.heads), ("--positional", self.positional), ("--rope", self.rope))
        more = (("--permute", self.permute), ("--seed", self.seed))
        return [(flag, value) for flag, value in (*pairs, *more) if value is not None]

    @property
    def default_positions(self) -> bool:
        """--permute with neither --positional nor --rope: it compares with sinusoidal positions."""
        return self.permute is not None and self.positional is None and not self.rope

    def positions(self) -> Positions:
        from attncli.core.positions import Positions

        positional = "sinusoidal" if self.default_positions else (self.positional or "none")
        return Positions(positional=positional, rope=bool(self.rope))  # type: ignore[arg-type]


def check_flags(flags: PositionFlags, opts: Any) -> None:
    """What does not go together, as one line naming the flag."""
    if flags.seed is not None and flags.permute is None:
        raise InputError(_("goes with --permute random"), argument="--seed")
    if flags.permute is not None:
        for flag, value in (("--causal", opts.causal or None), ("--stage", opts.stages), ("--query", opts.query)):
            if value is not None:
                if flag == "--causal":
                    message = _(
                        "does not go with --permute: a causal mask depends on the order itself, so the outputs "
                        "would change without positions too"
                    )
                else:
                    message = _("does not go with --permute (it shows each word's output in both orders)")
                raise InputError(message, argument=flag)
    for flag, value in (("--query", opts.query), ("--view", opts.view)):
        if value is not None:
            message = _("goes with plain own embeddings, not yet with --heads, --positional or --rope")
            raise InputError(message, argument=flag)


@contextmanager
def named_flags() -> Iterator[None]:
    """Say which flag an error from the analysis or the core is about."""
    try:
        yield
    except AttnError as e:
        if e.argument in FLAGS:
            raise e.with_argument(FLAGS[e.argument]) from None
        raise


@dataclass(frozen=True)
class OwnSentence:
    """A sentence over own embeddings, and what the page says around it."""

    words: list[str]
    emb: NDArray[Any]  # (words, d)
    weights: dict[str, NDArray[Any] | None]  # wq, wk, wv (None: the identity)
    header: str
    json_fields: dict[str, Any]  # mode, embeddings, sentence, tokens
    notes: list[str]


def explain_positioned(own: OwnSentence, flags: PositionFlags, dtype: DType, opts: Any) -> None:
    """Own embeddings through multi-head attention with positions, or in two word orders (--permute)."""
    check_flags(flags, opts)
    if flags.permute is not None:
        _permuted(own, flags, dtype, opts)
        return
    from attncli.analysis.wordorder import embeddings_attention

    words = own.words
    with named_flags():
        mh = embeddings_attention(own.emb, flags.positions(), own.weights, flags.heads or 1, dtype, opts.causal)
    if opts.json_out:
        from attncli.serialize.strict_json import dumps, multihead_dict

        doc = {**multihead_dict(mh, None, opts.stages), **own.json_fields}
        doc.update(labels={"q": words, "k": words}, notes=own.notes)
        sys.stdout.write(dumps(doc) + "\n")
        return
    from attncli.analysis.explanation import read_row
    from attncli.render.explain import reading_view
    from attncli.render.format import View
    from attncli.render.multihead import render_multihead

    console = _start(own, own.notes)
    view = View(precision=opts.precision, width=console.width, labels={"q": words, "k": words}, hints=cli_hints())
    console.print(render_multihead(mh, opts.stages, view))
    console.print()
    weights_read = mh.average_weights
    special = [False] * len(words)
    readings = [read_row(weights_read, i, words, special, opts.top) for i in range(len(words))]
    title = (
        _("Reading: where each word looks")
        if mh.heads == 1
        else _("Reading: where each word looks (the heads' average)")
    )
    from rich.text import Text

    console.print(Text(title, style="bold"))
    more = _("(the first {n} words; {more} more in --json)")
    console.print(reading_view(readings, words, opts.precision, more=more))


def _start(own: OwnSentence, notes: list[str]) -> Any:
    """The header, the words and the notes; returns the console."""
    from rich.text import Text

    from attncli.render.explain import tokens_view

    words = own.words
    console = make_console()
    console.print(Text(own.header, style="dim"))
    console.print(tokens_view(words, [False] * len(words), _("Words ({n})").format(n=len(words))))
    for note in notes:
        console.print(Text(_("note: {note}").format(note=note), style="yellow"))
    console.print()
    return console


def _permuted(own: OwnSentence, flags: PositionFlags, dtype: DType, opts: Any) -> None:
    from attncli.analysis.wordorder import compare_orders, permutation
    from attncli.render.wordorder import render_word_order, word_order_dict

    assert flags.permute is not None
    with named_flags():
        order = permutation(flags.permute, len(own.words), flags.seed)
        compared = compare_orders(own.emb, order, flags.positions(), own.weights, flags.heads or 1, dtype)
    words, notes = own.words, list(own.notes)
    if flags.default_positions:
        notes.append(_("--permute compares with sinusoidal positions unless --positional or --rope says otherwise."))
    if opts.json_out:
        from attncli.serialize.strict_json import SCHEMA_VERSION, dumps

        doc = {"schema_version": SCHEMA_VERSION, **own.json_fields, "heads": flags.heads or 1}
        doc.update(word_order_dict(compared, words))
        doc["permutation"].update(spec=flags.permute, seed=flags.seed)
        doc["notes"] = notes
        sys.stdout.write(dumps(doc) + "\n")
        return
    from attncli.render.format import View

    console = _start(own, notes)
    view = View(precision=opts.precision, width=console.width, hints=cli_hints())
    console.print(render_word_order(compared, words, view))


__all__ = ["FLAGS", "OwnSentence", "PositionFlags", "check_flags", "explain_positioned"]
