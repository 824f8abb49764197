"""A Typer-free reader of `attn compute` and `attn explain` arguments, so that plain invocations start fast.

Importing Typer (with click and pydantic) costs about as much as importing NumPy, which would make
`attn compute … --json` in a shell loop twice as slow as it needs to be, and Typer's reading of
explain's 32 options (a pydantic validator built for each) took a further 0.1 s. This reader
handles the common case — known options with well-formed values — and returns None for anything
else (--help, an unknown option, a value Typer would reject, a sentence starting with '-'), so that
Typer then parses the same arguments and gives its usual messages. tests/cli/test_fastpath.py checks
that both readers give the same parameters for every option, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from attncli.core.settings import CAUSAL_ALIGNS, DTYPES, EMPTY_ROW_POLICIES, POSITIONALS, ROPE_STYLES, WINDOW_RULES
from attncli.i18n import LANGUAGES

FORMATS = ("markdown", "latex", "csv")  # attncli.serialize.export.FORMATS (that module loads NumPy; a test checks)

# The options that compute and explain share: the stages shown, how, in which language, where else saved.
SHARED_OPTIONS: dict[str, tuple[str, Any]] = {
    "--json": ("json_out", "flag=True"),
    "--stage": ("stage", "list"),
    "--precision": ("precision", "int>=0<=15"),
    "--max-memory": ("max_memory", "str"),
    "--save-svg": ("save_svg", "path"),
    "--save-html": ("save_html", "path"),
    "--view": ("view", "path"),
    "--no-color": ("no_color", "flag=True"),
    "--quiet": ("quiet", "flag=True"),
    "--lang": ("lang", LANGUAGES),
    "--debug": ("debug", "flag=True"),
    "--dtype": ("dtype", DTYPES),
}
# option -> (parameter, kind); kind is "str", "float", "int>=N", "flag=VALUE", "list", "path" or a tuple
# of choices.
COMPUTE_OPTIONS: dict[str, tuple[str, Any]] = {
    "--q": ("q", "str"),
    "--k": ("k", "str"),
    "--v": ("v", "str"),
    "--mask": ("mask", "str"),
    "--causal": ("causal", "flag=True"),
    "--no-causal": ("causal", "flag=False"),
    "--causal-align": ("causal_align", CAUSAL_ALIGNS),
    "--scale": ("scale", "float"),
    "--empty-row": ("empty_row", EMPTY_ROW_POLICIES),
    "--window": ("window", "int>=1"),
    "--window-rule": ("window_rule", WINDOW_RULES),
    "--window-right": ("window_right", "int>=0"),
    "--chunk": ("chunk", "int>=1"),
    "--prefix": ("prefix", "int>=1"),
    "--documents": ("documents", "str"),
    "--sink-tokens": ("sink_tokens", "int>=1"),
    "--softcap": ("softcap", "float"),
    "--sinks": ("sinks", "str"),
    "--query-pre-attn-scalar": ("query_pre_attn_scalar", "float"),
    "--input": ("input", "str"),
    "-i": ("input", "str"),
    "--sample": ("sample", "str"),
    "--labels": ("labels", "str"),
    "--k-labels": ("k_labels", "str"),
    "--explain-cell": ("explain_cell", "str"),
    "--decode": ("decode", "int>=1"),
    "--mla": ("mla", "str"),
    "--x": ("x", "str"),
    "--q-input": ("q_input", "str"),
    "--kv-input": ("kv_input", "str"),
    **{f"--{w}": (w, "str") for w in ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")},
    "--heads": ("heads", "int>=1"),
    "--kv-heads": ("kv_heads", "int>=1"),
    "--head": ("head", "int>=1"),
    "--average-heads": ("average_heads", "flag=True"),
    "--random-weights": ("random_weights", "flag=True"),
    "--seed": ("seed", "int>=0"),
    "--positional": ("positional", POSITIONALS),
    "--rope": ("rope", "flag=True"),
    "--rope-style": ("rope_style", ROPE_STYLES),
    "--rope-base": ("rope_base", "float"),
    "--alibi": ("alibi", "flag=True"),
    "--qk-norm": ("qk_norm", "flag=True"),
    "--q-norm": ("q_norm", "str"),
    "--k-norm": ("k_norm", "str"),
    "--qk-norm-eps": ("qk_norm_eps", "float"),
    "--threads": ("threads", "int>=1"),
    "--save": ("save", "path"),
    "--format": ("format", FORMATS),
    **SHARED_OPTIONS,
    "--heatmap": ("heatmap", "flag=True"),
}
MAX_DIGITS = 18  # an integer option longer than this is Typer's to judge
COMPUTE_DEFAULTS: dict[str, Any] = {name: None for name, _ in COMPUTE_OPTIONS.values()}
COMPUTE_DEFAULTS.update(
    json_out=False, precision=4, average_heads=False, debug=False, no_color=False, quiet=False, heatmap=False
)


def _value(kind: Any, text: str) -> tuple[bool, Any]:
    """(ok, value): ok is False when Typer should judge the text instead."""
    if isinstance(kind, tuple):
        return text in kind, text
    if kind in ("str", "list"):
        return True, text
    if kind == "path":
        from pathlib import Path

        return True, Path(text)
    if kind == "float":
        # plain decimal numbers only: nan, inf, 1_000 and the like are Typer's to judge
        if not text or any(c not in "0123456789+-.eE" for c in text):
            return False, None
        try:
            return True, float(text)
        except ValueError:
            return False, None
    # "int>=LOW" or "int>=LOW<=HIGH"
    low_text, _, high_text = kind.removeprefix("int>=").partition("<=")
    digits = text.removeprefix("-").removeprefix("+")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_DIGITS:
        return False, None  # (past MAX_DIGITS, int() itself may refuse the text: Typer judges it)
    n = int(text)
    return int(low_text) <= n and (not high_text or n <= int(high_text)), n


EXPLAIN_OPTIONS: dict[str, tuple[str, Any]] = {
    "--layer": ("layer", "str"),
    "--head": ("head", "str"),
    "--query": ("query", "str"),
    "--key": ("key", "str"),
    "--pieces": ("pieces", "flag=True"),
    "--rollout": ("rollout", "flag=True"),
    "--words": ("words", "flag=True"),
    "--roles": ("roles", "flag=True"),
    "--flow": ("flow", "flag=True"),
    "--residual": ("residual", "float"),
    "--model": ("model", "str"),
    "--embeddings": ("embeddings", "path"),
    **{f"--{w}": (w, "str") for w in ("wq", "wk", "wv")},
    "--heads": ("heads", "int>=1"),
    "--positional": ("positional", POSITIONALS),
    "--rope": ("rope", "flag=True"),
    "--permute": ("permute", "str"),
    "--seed": ("seed", "int>=0"),
    "--causal": ("causal", "flag=True"),
    "--truncate": ("truncate", "flag=True"),
    "--generate": ("generate", "int>=1<=256"),
    "--text-prefix": ("prefix", "str"),
    **SHARED_OPTIONS,
    "--top": ("top", "int>=1<=20"),
}
EXPLAIN_DEFAULTS: dict[str, Any] = {name: None for name, _ in EXPLAIN_OPTIONS.values()}
EXPLAIN_DEFAULTS.update(
    {flag: False for flag, kind in EXPLAIN_OPTIONS.values() if kind == "flag=True"}, residual=0.5, top=3
)
EXPLAIN_DEFAULTS["rope"] = None  # as Typer's: --rope given or not (an encoder refuses it even when False)


def parse_compute(args: list[str]) -> dict[str, Any] | None:
    """The parameters of `attn compute ARGS…`, or None when Typer should parse them."""
    return _parse(args, COMPUTE_OPTIONS, COMPUTE_DEFAULTS, None)


def parse_explain(args: list[str]) -> dict[str, Any] | None:
    """The parameters of `attn explain ARGS…` (the sentence among them), or None when Typer should
    parse them: a sentence that starts with '-', none or two, `--`, anything parse_compute leaves."""
    return _parse(args, EXPLAIN_OPTIONS, EXPLAIN_DEFAULTS, "sentence")


def _parse(
    args: list[str], options: dict[str, tuple[str, Any]], defaults: dict[str, Any], positional: str | None
) -> dict[str, Any] | None:
    params = dict(defaults)
    stages: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if positional is not None and not arg.startswith("-"):
            if positional in params:
                return None  # a second one: Typer's to refuse
            params[positional] = arg
            i += 1
            continue
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in options:
            return None
        field, kind = options[name]
        if isinstance(kind, str) and kind.startswith("flag="):
            if eq:
                return None
            params[field] = kind == "flag=True"
            i += 1
            continue
        if eq:
            text = inline
            i += 1
        elif i + 1 < len(args):
            text = args[i + 1]
            i += 2
        else:
            return None
        ok, value = _value(kind, text)
        if not ok:
            return None
        if kind == "list":
            stages.append(value)
        else:
            params[field] = value
    params["stage"] = stages or None
    if positional is not None and positional not in params:
        return None  # no sentence: Typer says so
    return params
