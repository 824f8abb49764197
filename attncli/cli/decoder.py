"""What `attn explain` adds for a decoder (a Llama-style GGUF): its own causal mask, the GQA map,
the RoPE stage, the next-token prediction and `--generate N` with a KV cache.

cli/explain.py calls `notes`, `json_fields`, `print_extras` and `show_generated`; everything here is
about a model whose `info.causal` is true (attncli.models.llama.LlamaDecoder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.errors import InputError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from attncli.analysis.explanation import HeadView
    from attncli.models.llama import Generated, LlamaDecoder

TOP = 5  # next tokens shown
PAIRS_SHOWN = 1  # rotation pairs of q and k shown in the RoPE table (the first turns fastest)


def is_decoder(model: Any) -> bool:
    return bool(model.info.causal)


def notes(model: LlamaDecoder) -> list[str]:
    c = model.config
    return [
        _(
            "The causal mask is the model's own: a decoder is trained to predict the next token, so each token "
            "sees only itself and the tokens before it (the upper triangle of the weights is 0)."
        ),
        _(
            "Grouped-query attention: {heads} query heads share {kv} key/value heads, {per} query heads to each "
            "(the table 'GQA map' below)."
        ).format(heads=c.heads, kv=c.kv_heads, per=c.heads // c.kv_heads),
    ]


def next_tokens(model: LlamaDecoder, shown: HeadView) -> list[dict[str, Any]]:
    """The top next tokens after the sentence, with their probabilities."""
    from attncli.models.llama import top_tokens

    assert shown.last_hidden is not None
    return [
        {"id": i, "token": model.tokenizer.label(i), "text": model.tokenizer.decode([i]), "probability": p}
        for i, p in top_tokens(model.logits(shown.last_hidden), TOP)
    ]


def json_fields(model: LlamaDecoder, shown: HeadView) -> dict[str, Any]:
    c = model.config
    rope = model.rope_stages[shown.layer]
    g = c.head_map[shown.head]
    return {
        "causal": "model's own",
        "gqa": {"query_heads": c.heads, "kv_heads": c.kv_heads, "head_map": [h + 1 for h in c.head_map]},
        "rope": {
            "theta": c.rope_base,
            "layout": "adjacent pairs (2i, 2i+1), GGUF's permuted Q/K",
            "q_before": rope.q_before[0, shown.head].tolist(),
            "q_after": rope.q_after[0, shown.head].tolist(),
            "k_before": rope.k_before[0, g].tolist(),
            "k_after": rope.k_after[0, g].tolist(),
        },
        "next_token": next_tokens(model, shown),
    }


def print_extras(console: Any, model: LlamaDecoder, shown: HeadView, labels: list[str], precision: int) -> None:
    """The GQA map, the RoPE stage of the head shown, and the next-token prediction."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from attncli.render.format import fmt

    c = model.config
    gqa = Table(title=_("GQA map: query head → the key/value head it reads"), box=box.SIMPLE_HEAD)
    gqa.add_column(_("query head"), justify="right")
    gqa.add_column(_("key/value head"), justify="right")
    for h, g in enumerate(c.head_map):
        style = "bold" if h == shown.head else ""
        gqa.add_row(str(h + 1), str(g + 1), style=style)
    console.print(gqa)
    g = c.head_map[shown.head]
    rope = model.rope_stages[shown.layer]
    title = _("RoPE, layer {layer}: q (head {head}) and k (key/value head {g}) before → after rotation").format(
        layer=shown.layer + 1, head=shown.head + 1, g=g + 1
    )
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column(_("token"), style="bold")
    table.add_column(_("position"), justify="right")
    table.add_column(_("angle"), justify="right")
    for name in ("q", "k"):
        table.add_column(_("{name} before").format(name=name), justify="right")
        table.add_column(_("{name} after").format(name=name), justify="right")
    n = 2 * PAIRS_SHOWN

    def cols(a: np.ndarray) -> str:
        return " ".join(fmt(float(x), precision) for x in a[:n]) + " …"

    for t, label in enumerate(labels):
        table.add_row(
            label, str(t), fmt(float(t), 2),
            cols(rope.q_before[0, shown.head, t]), cols(rope.q_after[0, shown.head, t]),
            cols(rope.k_before[0, g, t]), cols(rope.k_after[0, g, t]),
        )  # fmt: skip
    console.print(table)
    caption = _(
        "RoPE turns each pair of columns (2i, 2i+1) of q and k by the angle position × {theta}^(−2i/{d}) "
        "radians (the first pair shown, of {pairs}: it turns by 1 radian per position, later pairs more "
        "slowly). This file stores W_Q and W_K permuted for llama.cpp, so the "
        "pairs are adjacent columns, where Hugging Face rotates column i with i + {half}: the same rotation "
        "of the same numbers, so q·k and the weights are identical. Position 0 is not turned."
    )
    console.print(
        Text(
            caption.format(theta=f"{c.rope_base:g}", d=c.head_size, pairs=c.head_size // 2, half=c.head_size // 2),
            style="dim",
        )
    )
    console.print()
    predicted = Table(title=_("Next token after the last layer (softmax of the logits)"), box=box.SIMPLE_HEAD)
    predicted.add_column(_("token"), style="bold")
    predicted.add_column(_("probability"), justify="right")
    predicted.add_column("")
    for row in next_tokens(model, shown):
        predicted.add_row(
            row["token"], fmt(row["probability"], max(precision, 3)), "█" * round(row["probability"] * 20)
        )
    console.print(predicted)
    console.print()


def pick(generated: Generated, model: LlamaDecoder, query: str | None) -> int:
    """The new token (0-based step) --query names with --generate: a number 1…N, or the token's text;
    default the last one."""
    count = len(generated.new_ids)
    if query is None:
        return count - 1
    if query.strip().isdigit():
        n = int(query)
        if not 1 <= n <= count:
            message = ngettext(
                "with --generate, a number picks a new token: 1…{count} ({count} token was generated)",
                "with --generate, a number picks a new token: 1…{count} ({count} tokens were generated)",
                count,
            )
            raise InputError(message.format(count=count), argument="--query")
        return n - 1
    from attncli.models.words import same_word

    for step, token in enumerate(generated.new_ids):
        if same_word(query, model.tokenizer.decode([token]).strip()):
            return step
    message = _("{query!r} is not one of the new tokens: {tokens}")
    shown = " ".join(model.tokenizer.label(t) for t in generated.new_ids)
    raise InputError(message.format(query=query, tokens=shown), argument="--query")


def show_generated(
    console: Any, model: LlamaDecoder, generated: Generated, layer: int, head: int, step: int, opts: Any
) -> dict[str, Any] | None:
    """The continuation, one line per new token, and what the chosen one attended to (layer, head) over
    prompt + generated text. With --json: the document's part instead (returned)."""
    from attncli.models.base import head_attention
    from attncli.models.llama import softmax

    tok = model.tokenizer
    prompt = [tok.label(int(i)) for i in generated.prompt_ids]
    new = [tok.label(t) for t in generated.new_ids]
    everything = [*prompt, *new]
    seen = len(prompt) + step  # the keys when new token `step` was predicted: the prompt, the new ones before it
    if step == 0:  # the prompt's own pass: its last row predicted the first new token
        att = head_attention(_last_row(generated.step_attentions[0][layer]), 0, head)
    else:
        att = head_attention(generated.step_attentions[step][layer], 0, head)
    rows: list[dict[str, Any]] = []
    for s, token in enumerate(generated.new_ids):
        probs = softmax(generated.step_logits[s])
        rows.append({"step": s + 1, "id": token, "token": tok.label(token), "probability": float(probs[token])})
    keys = everything[:seen]
    weights = att.weights[0]
    if opts.json_out:
        return {
            "text": tok.decode([int(i) for i in generated.prompt_ids] + list(generated.new_ids)),
            "new_tokens": rows,
            "chosen": {"step": step + 1, "token": new[step], "layer": layer + 1, "head": head + 1,
                       "keys": keys, "weights": weights.tolist()},
        }  # fmt: skip
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from attncli.render.explain import focus_view
    from attncli.render.format import fmt

    text = tok.decode([int(i) for i in generated.prompt_ids]) + "▸" + tok.decode(list(generated.new_ids))
    console.print(Text(_("Generated greedily, with a KV cache (▸ marks where the new text starts):"), style="bold"))
    console.print(text)
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("#", _("new token"), _("probability"), _("most weight on (layer {layer}, head {head})")):
        table.add_column(name.format(layer=layer + 1, head=head + 1))
    for s, row in enumerate(rows):
        w = head_attention(generated.step_attentions[s][layer], 0, head).weights[-1]
        best = int(np.argmax(w))
        table.add_row(
            str(row["step"]), row["token"], fmt(row["probability"], 3), f"{everything[best]} ({fmt(float(w[best]), 2)})"
        )
    console.print(table)
    title = _("What the new token {n} ({token}) looked at when it was predicted: layer {layer}, head {head}, "
              "over the prompt and the text generated before it").format(
        n=step + 1, token=new[step], layer=layer + 1, head=head + 1)  # fmt: skip
    query_label = prompt[-1] if step == 0 else new[step - 1]
    console.print(focus_view(att, query_label, keys, title, opts.precision))
    return None


def _last_row(att: Any) -> Any:
    from attncli.models.base import map_stages

    return map_stages(att, lambda a: a if a is att.k or a is att.v else a[..., -1:, :], mask=att.mask, empty_rows=())
