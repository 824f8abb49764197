"""Multi-head attention with projections, grouped K/V heads and positions: pure NumPy, every stage kept.

    X_q, X_kv        inputs (T × d_model), (S × d_model); X_q = X_kv = X for self-attention
    (+ PE)           sinusoidal encodings added to the inputs, if asked ("Attention Is All You Need")
    Q = X_q·W_q + b_q    W_q: d_model × (H·d_head)    (textbook convention: weights on the right)
    K = X_kv·W_k + b_k   W_k: d_model × (G·d_head)    G = kv_heads (G = H: ordinary multi-head)
    V = X_kv·W_v + b_v   W_v: d_model × (G·d_v)
    split into heads     Q (H, T, d_head), K (G, S, d_head), V (G, S, d_v)
    (QK-norm)        RMSNorm of each head's q and k rows, times learned weights (d_head each), before RoPE
    (RoPE)           q and k rotated by position, per head
    head h attends with K/V head h // (H/G)      as PyTorch SDPA's enable_gqa
    (ALiBi)          −slope_h·|i − j| added to the scaled scores of head h
    concat           (T, H·d_v)
    output = concat·W_o + b_o

PyTorch's nn.Linear stores weight as (out, in) and computes x·Wᵀ: pass `weight.T` here.
Without projection weights, Q, K and V are the inputs themselves (identity projections), or
q/k/v may be given already projected and are only split into heads.

With keep_stages=False only the output is computed: the projections (T·H·d_head, S·G·d_head, …
numbers, never T×S), then every head through the blocked path (attncli.core.blocked: heads as a
leading dimension, grouped K/V heads mapped, no T×S table), then concat and W_o. ALiBi's bias is an
H × T × S table, so it is refused there. multihead_output_nbytes (attncli.core.memory) is the peak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Unpack, cast, overload

import numpy as np

from attncli.core.attention import attention
from attncli.core.blocked import AttentionOutput, Tiling, blocked_output
from attncli.core.checks import Checked, as_finite, first_bad, resolve_scale
from attncli.core.display import Displayable
from attncli.core.engine import Attention
from attncli.core.masks import combine_with_bias
from attncli.core.positions import (
    Positions,
    alibi_bias,
    alibi_slopes,
    apply_rope,
    rms_norm,
    rope_angles,
    sinusoidal_encoding,
)
from attncli.core.settings import (
    SETTING_NAMES,
    AttentionSettings,
    PositionalKind,
    RopeStyle,
    SettingKeywords,
    settings_from,
)
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.floating]

WEIGHT_NAMES = ("wq", "wk", "wv", "wo")
BIAS_NAMES = ("bq", "bk", "bv", "bo")
NORM_NAMES = ("q_norm", "k_norm")  # QK-norm's learned weights, one per column of a head


def random_weights(
    d_model: int, heads: int, kv_heads: int, d_head: int, seed: int, d_kv_model: int | None = None
) -> dict[str, Array]:
    """Reproducible demo weights, N(0, 1/fan_in) (keeps activations near unit scale)."""
    rng = np.random.default_rng(seed)
    d_kv = d_kv_model or d_model
    return {
        "wq": rng.normal(0, 1 / np.sqrt(d_model), (d_model, heads * d_head)),
        "wk": rng.normal(0, 1 / np.sqrt(d_kv), (d_kv, kv_heads * d_head)),
        "wv": rng.normal(0, 1 / np.sqrt(d_kv), (d_kv, kv_heads * d_head)),
        "wo": rng.normal(0, 1 / np.sqrt(heads * d_head), (heads * d_head, d_model)),
    }


@dataclass(frozen=True)
class Positional:
    """Sinusoidal encodings added to the inputs: before, the encodings, after."""

    q_before: Array
    q_encoding: Array
    q_after: Array
    kv_before: Array
    kv_encoding: Array
    kv_after: Array


@dataclass(frozen=True)
class Rope:
    """q and k per head before and after the rotation; angles (n, d_head/2) for queries and keys."""

    style: RopeStyle
    base: float
    q_before: Array  # (H, T, d_head)
    k_before: Array  # (G, S, d_head)
    q_after: Array
    k_after: Array
    q_angles: Array  # (T, d_head/2)
    k_angles: Array  # (S, d_head/2)


@dataclass(frozen=True)
class QKNorm:
    """RMSNorm of q and k per head (Gemma 3, Qwen 3): before, the root mean square of each row, after."""

    eps: float
    q_weight: Array  # (d_head,)
    k_weight: Array  # (d_head,)
    q_before: Array  # (H, T, d_head)
    k_before: Array  # (G, S, d_head)
    q_rms: Array  # (H, T, 1): √(mean(q²) + eps)
    k_rms: Array  # (G, S, 1)
    q_after: Array
    k_after: Array


@dataclass(frozen=True)
class MultiHead(Displayable):
    """Every stage of a multi-head attention. `attention` holds the per-head stages with a leading
    head axis H (K and V already repeated for grouped heads)."""

    heads: int
    kv_heads: int
    d_head: int
    d_v: int
    projection: str  # "given", "random" or "identity" (Q, K, V are the inputs) or "none" (q/k/v given)
    x_q: Array | None  # the inputs as given (before positions); None when q/k/v were given directly
    x_kv: Array | None
    weights: dict[str, Array]  # the projection weights and biases used (wq, wk, wv, wo, bq, …)
    positional: Positional | None
    projected: tuple[Array, Array, Array]  # Q (T, H·d_head), K (S, G·d_head), V (S, G·d_v)
    head_map: tuple[int, ...]  # query head h uses K/V head head_map[h]
    rope: Rope | None
    alibi_slopes: Array | None  # (H,)
    alibi_bias: Array | None  # (H, T, S)
    attention: Attention  # q (H, T, d_head), k/v (H, S, ·), weights (H, T, S), output (H, T, d_v)
    concat: Array  # (T, H·d_v)
    output: Array  # (T, d_out): concat·W_o + b_o, or concat when there is no W_o
    qk_norm: QKNorm | None = None  # the QK-norm before RoPE, when asked

    @property
    def average_weights(self) -> Array:
        """Head-averaged weights (T, S), what nn.MultiheadAttention returns by default."""
        avg: Array = self.attention.weights.mean(axis=0)
        return avg


@dataclass(frozen=True)
class MultiHeadOutput:
    """The output of a multi-head attention computed without its stages (keep_stages=False): the
    per-head outputs of the blocked path (attention.output, (H, T, d_v)) and the final output."""

    heads: int
    kv_heads: int
    d_head: int
    d_v: int
    projection: str  # as MultiHead.projection
    x_q: Array | None  # the inputs as given (before positions); None when q/k/v were given directly
    x_kv: Array | None
    weights: dict[str, Array]
    positions: Positions
    head_map: tuple[int, ...]
    attention: AttentionOutput  # output (H, T, d_v), the scale, the settings, the empty rows (head, row)
    output: Array  # (T, d_out): concat·W_o + b_o, or the concatenation when there is no W_o
    qkv_shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # q (H, T, d_head), k, v (G, S, ·)


def _matrix(x: ArrayLike, name: str, ftype: type[np.floating]) -> Array:
    a = as_finite(x, name, ftype)
    if a.ndim == 1 and name.startswith("b"):
        return a
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ShapeError(_("must be a 2-D matrix, got shape {shape}").format(shape=a.shape), argument=name)
    return a


def _product(a: Array, b: Array, what: str, name: str) -> Array:
    """a·b (or a + b for a bias), with an overflow reported as a NumericError naming the step."""
    with np.errstate(over="ignore", invalid="ignore"):
        out: Array = a + b if b.ndim == 1 else a @ b
    if not np.isfinite(out).all():
        message = _("{what} overflows {dtype} ({where}); the inputs or weights are too large")
        raise NumericError(message.format(what=what, dtype=a.dtype, where=first_bad(out)), argument=name)
    return out


def _bias(b: ArrayLike | None, width: int, name: str, ftype: type[np.floating]) -> Array | None:
    if b is None:
        return None
    a = as_finite(b, name, ftype).reshape(-1)
    if a.shape[0] != width:
        message = ngettext(
            "has {n} value but the projection gives {width} columns",
            "has {n} values but the projection gives {width} columns",
            a.shape[0],
        )
        raise ShapeError(message.format(n=a.shape[0], width=width), argument=name)
    return a


def _chain(x: Array, w: Array, x_name: str, w_name: str) -> None:
    if x.shape[-1] != w.shape[0]:
        message = ngettext(
            "has {rows} row but {x} has {columns} columns; {x}·{w} needs them equal",
            "has {rows} rows but {x} has {columns} columns; {x}·{w} needs them equal",
            w.shape[0],
        )
        raise ShapeError(message.format(rows=w.shape[0], x=x_name, columns=x.shape[-1], w=w_name), argument=w_name)


class MultiHeadKeywords(SettingKeywords, total=False):
    """multi_head_attention's inputs, weights and the settings it also takes one by one."""

    q_input: ArrayLike | None
    kv_input: ArrayLike | None
    q: ArrayLike | None
    k: ArrayLike | None
    v: ArrayLike | None
    wq: ArrayLike | None
    wk: ArrayLike | None
    wv: ArrayLike | None
    wo: ArrayLike | None
    bq: ArrayLike | None
    bk: ArrayLike | None
    bv: ArrayLike | None
    bo: ArrayLike | None
    random_weights_seed: int | None
    positional: PositionalKind
    rope: bool
    rope_style: RopeStyle
    rope_base: float
    alibi: bool
    q_norm: ArrayLike | None
    k_norm: ArrayLike | None
    qk_norm: bool
    qk_norm_eps: float


INPUT_NAMES = ("q_input", "kv_input", "q", "k", "v", *WEIGHT_NAMES, *BIAS_NAMES, *NORM_NAMES)
POSITION_NAMES = ("positional", "rope", "rope_style", "rope_base", "alibi", "qk_norm", "qk_norm_eps")


@overload
def multi_head_attention(
    x: ArrayLike | None = ...,
    *,
    heads: int = ...,
    kv_heads: int | None = ...,
    settings: AttentionSettings | None = ...,
    positions: Positions | None = ...,
    keep_stages: Literal[True] = ...,
    tiling: Tiling | None = ...,
    **given: Unpack[MultiHeadKeywords],
) -> MultiHead: ...


@overload
def multi_head_attention(
    x: ArrayLike | None = ...,
    *,
    heads: int = ...,
    kv_heads: int | None = ...,
    settings: AttentionSettings | None = ...,
    positions: Positions | None = ...,
    keep_stages: Literal[False],
    tiling: Tiling | None = ...,
    **given: Unpack[MultiHeadKeywords],
) -> MultiHeadOutput: ...


def multi_head_attention(
    x: ArrayLike | None = None,
    *,
    heads: int = 1,
    kv_heads: int | None = None,
    settings: AttentionSettings | None = None,
    positions: Positions | None = None,
    keep_stages: bool = True,
    tiling: Tiling | None = None,
    **given: Unpack[MultiHeadKeywords],
) -> MultiHead | MultiHeadOutput:
    """Multi-head (or grouped-query) attention, self or cross, with every stage kept.

    Give `x` (self-attention) or `q_input` and `kv_input` (cross-attention), with projection weights
    `wq`, `wk`, `wv` (all three, or none for identity projections, or `random_weights_seed`), optional
    `wo` and biases `bq`, `bk`, `bv`, `bo`; or give `q`, `k`, `v` already projected. QK-norm
    (positions' qk_norm, or its weights `q_norm`, `k_norm`: d_head each, ones when not given) normalises
    every head's q and k rows before RoPE. `heads` H splits
    the projections; `kv_heads` G (H divisible by G) shares each K/V head among H/G query heads.
    The attention settings (mask, broadcast to (H, T, S) or (T, S); causal, causal_align; scale,
    default 1/√d_head; empty_row; dtype) come as an AttentionSettings or as keywords, and so do the
    positions (positional, rope, rope_style, rope_base, alibi: a Positions or keywords).

    keep_stages=False computes only the output (a MultiHeadOutput), every head by the blocked path in
    memory that grows with T + S, not T×S; `tiling` (attncli.core.blocked.Tiling: tile sizes, worker
    threads, progress) is how it runs. ALiBi is refused there (its bias is H × T × S).
    """
    unknown = sorted(set(given) - {*INPUT_NAMES, *SETTING_NAMES, *POSITION_NAMES, "random_weights_seed"})
    if unknown:
        raise ShapeError(_("unexpected {names}").format(names=", ".join(unknown)), argument=unknown[0])
    chosen = settings_from(settings, cast(SettingKeywords, {n: given[n] for n in SETTING_NAMES if n in given}))  # type: ignore[literal-required]
    g = _kv_heads(heads, kv_heads)
    place = {n: given[n] for n in POSITION_NAMES if n in given}  # type: ignore[literal-required]
    if positions is not None and place:
        message = _("give positions or the keywords {names}, not both").format(names=", ".join(sorted(place)))
        raise ShapeError(message, argument="positions")
    spec = _checked(x, dict(given), heads, g, chosen, positions or Positions(**place))
    return _multi_head(spec) if keep_stages else _multi_head_output(spec, tiling or Tiling())


def _kv_heads(heads: int, kv_heads: int | None) -> int:
    """G, the number of K/V heads (H when not given); H must be a multiple of it."""
    g = heads if kv_heads is None else kv_heads
    if heads < 1:
        raise ShapeError(_("must be at least 1, got {value}").format(value=heads), argument="heads")
    if g < 1 or heads % g:
        raise ShapeError(
            _("heads = {heads} is not divisible by kv_heads = {g}").format(heads=heads, g=g), argument="kv_heads"
        )
    return g


@dataclass(frozen=True)
class _Spec:
    """A multi-head problem whose every shape was checked, before anything is computed."""

    heads: int
    kv_heads: int
    projection: str  # as MultiHead.projection
    x_q: Array | None  # the inputs (T, d_model), (S, d_model), or None when q, k, v are given
    x_kv: Array | None
    x_names: tuple[str, str]  # how messages name them: ("x", "x") or ("q_input", "kv_input")
    qkv: tuple[Array, Array, Array] | None  # q, k, v given already projected
    weights: dict[str, Array]  # wq, wk, wv (unless identity), wo, and the biases, checked
    settings: AttentionSettings
    positions: Positions


def _checked(
    x: ArrayLike | None, given: Mapping[str, Any], heads: int, g: int, settings: AttentionSettings, positions: Positions
) -> _Spec:
    """Every check of multi_head_attention, in the order a reader meets the inputs: the inputs, the
    weights, the heads, the positions, the output projection."""
    ftype = settings.ftype
    qkv_given = [given.get(n) is not None for n in ("q", "k", "v")]
    x_given = x is not None or given.get("q_input") is not None or given.get("kv_input") is not None
    if any(qkv_given) and x_given:
        raise ShapeError(
            _("give either x (or q_input and kv_input) with weights, or q, k and v; not both"), argument="x"
        )
    if x_given:
        x_q, x_kv, names = _inputs(x, given, ftype)
        projection, weights = _projection_weights(given, x_q, x_kv, names, heads, g, ftype)
        widths = _projected_widths(projection, weights, x_q, x_kv)
        qkv = None
    else:
        qkv = _given_qkv(given, qkv_given, positions, ftype)
        x_q, x_kv = None, None
        names = ("x", "x")
        projection, weights = "none", {}
        widths = (qkv[0].shape[1], qkv[1].shape[1], qkv[2].shape[1])
    for name, width in zip(("bq", "bk", "bv"), widths, strict=True):
        bias = _bias(given.get(name), width, name, ftype)
        if bias is not None:
            weights[name] = bias
    if qkv is not None and given.get("wo") is not None:
        weights["wo"] = _matrix(given["wo"], "wo", ftype)
    rows = (qkv[0].shape[0], qkv[1].shape[0], qkv[2].shape[0]) if qkv is not None else None
    d_head, d_v = _check_heads(widths, rows, heads, g, projection, positions)
    _check_output_projection(weights, given.get("bo"), heads * d_v, ftype)
    if positions.qk_norm or any(given.get(n) is not None for n in NORM_NAMES):
        from dataclasses import replace

        positions = replace(positions, qk_norm=True)
        for name in NORM_NAMES:
            weights[name] = _norm_weight(given.get(name), d_head, name, ftype)
    return _Spec(heads, g, projection, x_q, x_kv, names, qkv, weights, settings, positions)


def _norm_weight(w: ArrayLike | None, d_head: int, name: str, ftype: type[np.floating]) -> Array:
    """A QK-norm weight: d_head numbers (ones when not given)."""
    if w is None:
        return np.ones(d_head, dtype=ftype)
    a = as_finite(w, name, ftype).reshape(-1)
    if a.shape[0] != d_head:
        message = ngettext(
            "has {n} value but a head has d_head = {d} columns: give one weight per column",
            "has {n} values but a head has d_head = {d} columns: give one weight per column",
            a.shape[0],
        )
        raise ShapeError(message.format(n=a.shape[0], d=d_head), argument=name)
    return a


def _inputs(
    x: ArrayLike | None, given: Mapping[str, Any], ftype: type[np.floating]
) -> tuple[Array, Array, tuple[str, str]]:
    """(X_q, X_kv, their names): x for self-attention, or q_input and kv_input for cross-attention."""
    q_input, kv_input = given.get("q_input"), given.get("kv_input")
    if x is not None and (q_input is not None or kv_input is not None):
        raise ShapeError(_("give x for self-attention or q_input and kv_input for cross-attention"), argument="x")
    if x is None and (q_input is None or kv_input is None):
        missing = "kv_input" if q_input is not None else "q_input"
        raise ShapeError(_("cross-attention needs both q_input and kv_input"), argument=missing)
    if x is not None:
        x_q = _matrix(x, "x", ftype)
        return x_q, x_q, ("x", "x")
    assert q_input is not None and kv_input is not None
    return _matrix(q_input, "q_input", ftype), _matrix(kv_input, "kv_input", ftype), ("q_input", "kv_input")


def _projection_weights(
    given: Mapping[str, Any],
    x_q: Array,
    x_kv: Array,
    names: tuple[str, str],
    heads: int,
    g: int,
    ftype: type[np.floating],
) -> tuple[str, dict[str, Array]]:
    """("given", "random" or "identity", the weights): checked to chain with the inputs."""
    given_w: dict[str, ArrayLike] = {n: given[n] for n in ("wq", "wk", "wv") if given.get(n) is not None}
    wo, seed = given.get("wo"), given.get("random_weights_seed")
    if seed is not None:
        if given_w or wo is not None:
            raise ShapeError(_("give projection weights or random weights, not both"), argument="random_weights")
        d_model = x_q.shape[1]
        if d_model % heads:
            message = _("d_model = {d_model} is not divisible by heads = {heads}")
            raise ShapeError(message.format(d_model=d_model, heads=heads), argument="heads")
        drawn = random_weights(d_model, heads, g, d_model // heads, seed, x_kv.shape[1])
        return "random", {n: a.astype(ftype) for n, a in drawn.items()}
    weights = {"wo": _matrix(wo, "wo", ftype)} if wo is not None else {}
    if not given_w:
        if x_q.shape[1] != x_kv.shape[1]:
            message = _(
                "q_input has {q} columns and kv_input {kv}: identity projections need them equal (give wq, wk, wv)"
            )
            raise ShapeError(message.format(q=x_q.shape[1], kv=x_kv.shape[1]), argument="kv_input")
        if g != heads:
            message = _("grouped K/V heads need projection weights (wk, wv) or random weights")
            raise ShapeError(message, argument="kv_heads")
        return "identity", weights
    missing = [n for n in ("wq", "wk", "wv") if n not in given_w]
    if missing:
        message = _("missing {names}: give all of wq, wk and wv, or none (identity projections)")
        raise ShapeError(message.format(names=", ".join(missing)), argument=missing[0])
    checked = {n: _matrix(w, n, ftype) for n, w in given_w.items()}
    for name, inputs, input_name in (("wq", x_q, names[0]), ("wk", x_kv, names[1]), ("wv", x_kv, names[1])):
        _chain(inputs, checked[name], input_name, name)
    return "given", {**checked, **weights}


def _projected_widths(projection: str, weights: dict[str, Array], x_q: Array, x_kv: Array) -> tuple[int, int, int]:
    """The widths of Q, K and V after projection: H·d_head, G·d_head, G·d_v."""
    if projection == "identity":
        return x_q.shape[1], x_kv.shape[1], x_kv.shape[1]
    return weights["wq"].shape[1], weights["wk"].shape[1], weights["wv"].shape[1]


def _given_qkv(
    given: Mapping[str, Any], qkv_given: list[bool], positions: Positions, ftype: type[np.floating]
) -> tuple[Array, Array, Array]:
    """q, k and v given already projected: all three, with nothing that needs inputs x."""
    if not all(qkv_given):
        absent = [n for n, present in zip(("q", "k", "v"), qkv_given, strict=True) if not present]
        message = _("missing {names}: give x (with weights) or q, k and v").format(names=", ".join(absent))
        raise ShapeError(message, argument=absent[0])
    if any(given.get(n) is not None for n in ("wq", "wk", "wv", "bq", "bk", "bv")) or (
        given.get("random_weights_seed") is not None
    ):
        raise ShapeError(_("projection weights need inputs x (or q_input and kv_input), not q, k, v"), argument="wq")
    if positions.positional != "none":
        raise ShapeError(_("positional encodings are added to inputs x, not to q, k, v"), argument="positional")
    q, k, v = (_matrix(given[n], n, ftype) for n in ("q", "k", "v"))
    return q, k, v


def _check_heads(
    widths: tuple[int, int, int],
    rows: tuple[int, int, int] | None,
    heads: int,
    g: int,
    projection: str,
    positions: Positions,
) -> tuple[int, int]:
    """(d_head, d_v), once the projected widths split into H query heads and G key/value heads."""
    if rows is not None and rows[2] != rows[1]:
        message = ngettext("k has {s} row (keys) but v has {n}", "k has {s} rows (keys) but v has {n}", rows[1])
        raise ShapeError(message.format(s=rows[1], n=rows[2]), argument="v")
    if projection == "identity" and widths[0] % heads:
        message = _("d_model = {d_model} is not divisible by heads = {heads}")
        raise ShapeError(message.format(d_model=widths[0], heads=heads), argument="heads")
    for width, name, n in zip(widths, ("q", "k", "v"), (heads, g, g), strict=True):
        if width % n:
            what = "heads" if name == "q" or g == heads else "kv_heads"  # G = H: kv_heads was not asked for
            message = _("the projected {name} has {columns} columns, not divisible by {what} = {n}")
            raise ShapeError(message.format(name=name, columns=width, what=what, n=n), argument=what)
    d_head, d_kh, d_v = widths[0] // heads, widths[1] // g, widths[2] // g
    if d_kh != d_head:
        message = _("query heads have d_head = {d_head} but key heads have {d_kh}; check wk's columns")
        raise ShapeError(message.format(d_head=d_head, d_kh=d_kh), argument="wk")
    if positions.rope and d_head % 2:
        message = _("RoPE rotates pairs of columns; d_head = {d_head} is odd").format(d_head=d_head)
        raise ShapeError(message, argument="rope")
    return d_head, d_v


def _check_output_projection(
    weights: dict[str, Array], bo: ArrayLike | None, concat_width: int, ftype: type[np.floating]
) -> None:
    """W_o must take the concatenated heads (H·d_v columns); b_o must fit the output's width."""
    if "wo" in weights and weights["wo"].shape[0] != concat_width:
        _chain(np.empty((0, concat_width)), weights["wo"], "concat", "wo")
    bias = _bias(bo, weights["wo"].shape[1] if "wo" in weights else concat_width, "bo", ftype)
    if bias is not None:
        weights["bo"] = bias


def _multi_head(spec: _Spec) -> MultiHead:
    """The formula, for a checked problem: positions, projections, heads, RoPE, attention, concat, W_o."""
    heads, g, w = spec.heads, spec.kv_heads, spec.weights
    x_q, x_kv, positional = _with_positions(spec)
    q_p, k_p, v_p = _projections(spec, x_q, x_kv)
    t, s, d_head, d_v = q_p.shape[0], k_p.shape[0], q_p.shape[1] // heads, v_p.shape[1] // g
    q_h, k_h, v_h, qk_norm, rope = _split_heads(spec, q_p, k_p, v_p)
    group = heads // g
    # Repeat each K/V head for the H/G query heads that share it: (G, S, d) -> (H, S, d)
    k_rep, v_rep = np.repeat(k_h, group, axis=0), np.repeat(v_h, group, axis=0)
    settings, slopes, bias = spec.settings, None, None
    if spec.positions.alibi:
        slopes = alibi_slopes(heads)
        bias = alibi_bias(slopes, t, s, settings.causal_align).astype(settings.ftype)
        given = settings.mask
        settings = settings.but(mask=bias if given is None else combine_with_bias(np.asarray(given), bias))
    result = attention(q_h, k_rep, v_rep, settings=settings)
    concat, output = _concat_project(result.output, w)
    return MultiHead(
        **_described(spec, d_head, d_v),
        positional=positional,
        projected=(q_p, k_p, v_p),
        rope=rope,
        alibi_slopes=slopes,
        alibi_bias=bias,
        attention=result,
        concat=concat,
        output=output,
        qk_norm=qk_norm,
    )


def _described(spec: _Spec, d_head: int, d_v: int) -> dict[str, Any]:
    """What MultiHead and MultiHeadOutput both say of the problem: heads, widths, projection, inputs, weights."""
    group = spec.heads // spec.kv_heads
    return {
        "heads": spec.heads, "kv_heads": spec.kv_heads, "d_head": d_head, "d_v": d_v, "projection": spec.projection,
        "x_q": spec.x_q, "x_kv": spec.x_kv, "weights": spec.weights,
        "head_map": tuple(h // group for h in range(spec.heads)),
    }  # fmt: skip


def _concat_project(per_head: Array, w: dict[str, Array]) -> tuple[Array, Array]:
    """(concat, output): the heads' outputs (H, T, d_v) side by side (T, H·d_v), then concat·W_o + b_o."""
    heads, t, d_v = per_head.shape
    # (H, T, d_v) -> (T, H, d_v) -> (T, H·d_v)
    concat = per_head.transpose(1, 0, 2).reshape(t, heads * d_v)
    output = _product(concat, w["wo"], _("the output projection concat·W_o"), "wo") if "wo" in w else concat
    if "bo" in w:
        output = _product(output, w["bo"], _("adding b_o"), "bo")
    return concat, output


def _split_heads(
    spec: _Spec, q_p: Array, k_p: Array, v_p: Array
) -> tuple[Array, Array, Array, QKNorm | None, Rope | None]:
    """Q (T, H·d_head), K, V (S, G·d) split into heads (views), then QK-norm and RoPE if asked:
    (q (H, T, d_head), k (G, S, d_head), v (G, S, d_v), the QK-norm stage, the RoPE stage)."""
    heads, g = spec.heads, spec.kv_heads
    t, s = q_p.shape[0], k_p.shape[0]
    d_head, d_v = q_p.shape[1] // heads, v_p.shape[1] // g
    # (T, H·d) -> (T, H, d) -> (H, T, d); likewise K and V with G heads
    q_h = q_p.reshape(t, heads, d_head).transpose(1, 0, 2)
    k_h = k_p.reshape(s, g, d_head).transpose(1, 0, 2)
    v_h = v_p.reshape(s, g, d_v).transpose(1, 0, 2)
    qk_norm = _normed(q_h, k_h, spec) if spec.positions.qk_norm else None
    if qk_norm is not None:
        q_h, k_h = qk_norm.q_after, qk_norm.k_after
    rope = _rotated(q_h, k_h, spec) if spec.positions.rope else None
    if rope is not None:
        q_h, k_h = rope.q_after, rope.k_after
    return q_h, k_h, v_h, qk_norm, rope


def _multi_head_output(spec: _Spec, tiling: Tiling) -> MultiHeadOutput:
    """The output alone: projections, every head through the blocked path (a leading head axis, K/V
    heads mapped by h // (H/G), no T×S table), concat, W_o. Nothing but what the next step needs is
    kept alive, so the peak stays near multihead_output_nbytes."""
    if spec.positions.alibi:
        message = _(
            "ALiBi adds a bias of heads × queries × keys cells to the scores, which the output-only "
            "(blocked) path does not hold; keep every stage, or leave ALiBi out"
        )
        raise ShapeError(message, argument="alibi")
    heads, g, w = spec.heads, spec.kv_heads, spec.weights
    x_q, x_kv, _positional = _with_positions(spec)
    q_p, k_p, v_p = _projections(spec, x_q, x_kv)
    del x_q, x_kv, _positional  # the inputs with encodings added are not needed past the projections
    d_head, d_v = q_p.shape[1] // heads, v_p.shape[1] // g
    q_h, k_h, v_h, _qk_norm, _rope = _split_heads(spec, q_p, k_p, v_p)
    # each head's rows contiguous (the blocked path's tiles multiply about a fifth faster than from views)
    q_h, k_h, v_h = (np.ascontiguousarray(a) for a in (q_h, k_h, v_h))
    del q_p, k_p, v_p, _qk_norm, _rope
    scale, scale_is_default = resolve_scale(spec.settings.scale, d_head, spec.settings.variants.query_pre_attn_scalar)
    qkv_shapes = (q_h.shape, k_h.shape, v_h.shape)
    # the inputs are checked (finite, in the dtype, widths that fit): handed to the blocked path without a copy
    result = blocked_output(Checked(q_h, k_h, v_h, spec.settings, scale, scale_is_default), tiling)
    del q_h, k_h, v_h
    concat, output = _concat_project(result.output, w)
    del concat
    return MultiHeadOutput(
        **_described(spec, d_head, d_v),
        positions=spec.positions,
        attention=result,
        output=output,
        qkv_shapes=qkv_shapes,
    )


def _with_positions(spec: _Spec) -> tuple[Array | None, Array | None, Positional | None]:
    """The inputs with sinusoidal encodings added, if asked: (X_q + PE, X_kv + PE, the stage)."""
    x_q, x_kv = spec.x_q, spec.x_kv
    if x_q is None or x_kv is None or spec.positions.positional != "sinusoidal":
        return x_q, x_kv, None
    ftype = spec.settings.ftype
    pe_q = sinusoidal_encoding(x_q.shape[0], x_q.shape[1]).astype(ftype)
    pe_kv = sinusoidal_encoding(x_kv.shape[0], x_kv.shape[1]).astype(ftype)
    return x_q + pe_q, x_kv + pe_kv, Positional(x_q, pe_q, x_q + pe_q, x_kv, pe_kv, x_kv + pe_kv)


def _projections(spec: _Spec, x_q: Array | None, x_kv: Array | None) -> tuple[Array, Array, Array]:
    """Q = X_q·W_q + b_q, K = X_kv·W_k + b_k, V = X_kv·W_v + b_v (or the inputs, or q, k, v as given)."""
    w, (x_name, kv_name) = spec.weights, spec.x_names
    if spec.qkv is not None:
        return spec.qkv
    assert x_q is not None and x_kv is not None
    if spec.projection == "identity":
        q_p, k_p, v_p = x_q, x_kv, x_kv
    else:
        # (T, d_model) x (d_model, H·d_head) -> (T, H·d_head); likewise K, V with G heads
        q_p = _product(x_q, w["wq"], _("the projection {x}·W_q").format(x=x_name), "wq")
        k_p = _product(x_kv, w["wk"], _("the projection {x}·W_k").format(x=kv_name), "wk")
        v_p = _product(x_kv, w["wv"], _("the projection {x}·W_v").format(x=kv_name), "wv")
    q_p = _product(q_p, w["bq"], _("adding b_q"), "bq") if "bq" in w else q_p
    k_p = _product(k_p, w["bk"], _("adding b_k"), "bk") if "bk" in w else k_p
    v_p = _product(v_p, w["bv"], _("adding b_v"), "bv") if "bv" in w else v_p
    return q_p, k_p, v_p


def _rotated(q_h: Array, k_h: Array, spec: _Spec) -> Rope:
    """RoPE of every head's q (H, T, d_head) and k (G, S, d_head), by position."""
    style, base = spec.positions.rope_style, spec.positions.rope_base
    d_head = q_h.shape[-1]
    qa, ka = rope_angles(q_h.shape[1], d_head, base), rope_angles(k_h.shape[1], d_head, base)
    with np.errstate(over="ignore", invalid="ignore"):
        q_r, k_r = apply_rope(q_h, qa, style), apply_rope(k_h, ka, style)
    for rotated, name in ((q_r, "q"), (k_r, "k")):
        if not np.isfinite(rotated).all():
            message = _("rotating {name} overflows {dtype} ({where})")
            where = first_bad(rotated)
            raise NumericError(message.format(name=name, dtype=spec.settings.dtype, where=where), argument="rope")
    return Rope(style, base, q_h, k_h, q_r, k_r, qa, ka)


def _normed(q_h: Array, k_h: Array, spec: _Spec) -> QKNorm:
    """QK-norm: RMSNorm of every head's q (H, T, d_head) and k (G, S, d_head) rows, times the weights."""
    eps, w = spec.positions.qk_norm_eps, spec.weights
    q_n, q_rms = rms_norm(q_h, w["q_norm"], eps)
    k_n, k_rms = rms_norm(k_h, w["k_norm"], eps)
    for normed, name in ((q_n, "q"), (k_n, "k")):
        if not np.isfinite(normed).all():
            message = _("QK-norm of {name} is not finite ({where}): a row of zeros needs eps > 0")
            raise NumericError(message.format(name=name, where=first_bad(normed)), argument="qk_norm_eps")
    return QKNorm(eps, w["q_norm"], w["k_norm"], q_h, k_h, q_rms, k_rms, q_n, k_n)
