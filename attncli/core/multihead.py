"""Multi-head attention with projections, grouped K/V heads and positions: pure NumPy, every stage kept.

    X_q, X_kv        inputs (T × d_model), (S × d_model); X_q = X_kv = X for self-attention
    (+ PE)           sinusoidal encodings added to the inputs, if asked ("Attention Is All You Need")
    Q = X_q·W_q + b_q    W_q: d_model × (H·d_head)    (textbook convention: weights on the right)
    K = X_kv·W_k + b_k   W_k: d_model × (G·d_head)    G = kv_heads (G = H: ordinary multi-head)
    V = X_kv·W_v + b_v   W_v: d_model × (G·d_v)
    split into heads     Q (H, T, d_head), K (G, S, d_head), V (G, S, d_v)
    (RoPE)           q and k rotated by position, per head
    head h attends with K/V head h // (H/G)      as PyTorch SDPA's enable_gqa
    (ALiBi)          −slope_h·|i − j| added to the scaled scores of head h
    concat           (T, H·d_v)
    output = concat·W_o + b_o

PyTorch's nn.Linear stores weight as (out, in) and computes x·Wᵀ: pass `weight.T` here.
Without projection weights, Q, K and V are the inputs themselves (identity projections), or
q/k/v may be given already projected and are only split into heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from attncli.core.attention import attention
from attncli.core.checks import as_finite, first_bad
from attncli.core.display import Displayable
from attncli.core.engine import Attention
from attncli.core.settings import CausalAlign, DType, EmptyRow
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _, ngettext

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.floating]

RopeStyle = Literal["half", "interleaved"]
ROPE_STYLES: tuple[str, ...] = ("half", "interleaved")
POSITIONALS: tuple[str, ...] = ("none", "sinusoidal")
WEIGHT_NAMES = ("wq", "wk", "wv", "wo")
BIAS_NAMES = ("bq", "bk", "bv", "bo")


def sinusoidal_encoding(n: int, d_model: int) -> Array:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(same angle). Shape (n, d_model)."""
    pos = np.arange(n, dtype=np.float64)[:, None]
    i2 = np.arange(0, d_model, 2, dtype=np.float64)[None, :]  # the even column index 2i
    angle = pos / np.power(10000.0, i2 / d_model)  # (n, ceil(d/2))
    pe = np.zeros((n, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe


def rope_angles(n: int, d_head: int, base: float = 10000.0) -> Array:
    """θ[m, i] = m · base^(−2i/d_head) for positions m < n and pairs i < d_head/2. Shape (n, d_head/2)."""
    inv_freq = base ** (-np.arange(0, d_head, 2, dtype=np.float64) / d_head)
    angles: Array = np.arange(n, dtype=np.float64)[:, None] * inv_freq[None, :]
    return angles


def apply_rope(x: Array, angles: Array, style: RopeStyle = "half") -> Array:
    """Rotate x (..., n, d) by the angles (n, d/2).

    "half" (GPT-NeoX, Llama): pair i is (x_i, x_{i+d/2}) — x·cos + rotate_half(x)·sin with
    rotate_half(x) = [−x₂, x₁]. "interleaved" (RoFormer, GPT-J): pair i is (x_{2i}, x_{2i+1}).
    """
    cos, sin = np.cos(angles).astype(x.dtype), np.sin(angles).astype(x.dtype)
    if style == "half":
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def alibi_slopes(heads: int) -> Array:
    """The ALiBi paper's slopes: 2^(−8h/n) for h = 1…n when n is a power of 2; otherwise the slopes of
    the nearest lower power of 2, then every other slope of the next power of 2 (as the reference code)."""

    def power_of_2(n: int) -> list[float]:
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    closest = 2 ** int(np.floor(np.log2(heads)))
    slopes = power_of_2(closest)
    if closest < heads:
        slopes += power_of_2(2 * closest)[0::2][: heads - closest]
    return np.array(slopes)


def alibi_bias(slopes: Array, t: int, s: int, align: CausalAlign = "top-left") -> Array:
    """−slope_h · |i − j| for query i and key j (positions aligned like the causal mask). Shape (H, T, S)."""
    offset = 0 if align == "top-left" else s - t
    distance = np.abs(np.arange(t)[:, None] + offset - np.arange(s)[None, :]).astype(np.float64)
    bias: Array = -slopes[:, None, None] * distance[None]
    return bias


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

    @property
    def average_weights(self) -> Array:
        """Head-averaged weights (T, S), what nn.MultiheadAttention returns by default."""
        avg: Array = self.attention.weights.mean(axis=0)
        return avg


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


def multi_head_attention(
    x: ArrayLike | None = None,
    *,
    q_input: ArrayLike | None = None,
    kv_input: ArrayLike | None = None,
    q: ArrayLike | None = None,
    k: ArrayLike | None = None,
    v: ArrayLike | None = None,
    wq: ArrayLike | None = None,
    wk: ArrayLike | None = None,
    wv: ArrayLike | None = None,
    wo: ArrayLike | None = None,
    bq: ArrayLike | None = None,
    bk: ArrayLike | None = None,
    bv: ArrayLike | None = None,
    bo: ArrayLike | None = None,
    heads: int = 1,
    kv_heads: int | None = None,
    random_weights_seed: int | None = None,
    mask: ArrayLike | None = None,
    causal: bool = False,
    causal_align: CausalAlign = "top-left",
    scale: float | None = None,
    empty_row: EmptyRow = "zero",
    dtype: DType = "float64",
    positional: str = "none",
    rope: bool = False,
    rope_style: RopeStyle = "half",
    rope_base: float = 10000.0,
    alibi: bool = False,
) -> MultiHead:
    """Multi-head (or grouped-query) attention, self or cross, with every stage kept.

    Give `x` (self-attention) or `q_input` and `kv_input` (cross-attention), with projection weights
    `wq`, `wk`, `wv` (all three, or none for identity projections, or `random_weights_seed`), optional
    `wo` and biases; or give `q`, `k`, `v` already projected. `heads` H splits the projections;
    `kv_heads` G (H divisible by G) shares each K/V head among H/G query heads. `mask` broadcasts to
    (H, T, S) or (T, S); `scale` defaults to 1/√d_head.
    """
    ftype: type[np.floating] = np.float64 if dtype == "float64" else np.float32
    g = heads if kv_heads is None else kv_heads
    if heads < 1:
        raise ShapeError(_("must be at least 1, got {value}").format(value=heads), argument="heads")
    if g < 1 or heads % g:
        raise ShapeError(
            _("heads = {heads} is not divisible by kv_heads = {g}").format(heads=heads, g=g), argument="kv_heads"
        )
    if positional not in POSITIONALS:
        message = _("must be one of {choices}, got {value!r}").format(choices=", ".join(POSITIONALS), value=positional)
        raise ShapeError(message, argument="positional")
    if rope_style not in ROPE_STYLES:
        message = _("must be one of {choices}, got {value!r}").format(choices=", ".join(ROPE_STYLES), value=rope_style)
        raise ShapeError(message, argument="rope_style")
    if not (rope_base > 0 and np.isfinite(rope_base)):
        raise ShapeError(_("must be a positive number, got {value}").format(value=rope_base), argument="rope_base")

    given_qkv = [a is not None for a in (q, k, v)]
    given_x = x is not None or q_input is not None or kv_input is not None
    if any(given_qkv) and given_x:
        raise ShapeError(
            _("give either x (or q_input and kv_input) with weights, or q, k and v; not both"), argument="x"
        )
    weights: dict[str, Array] = {}
    positional_stage: Positional | None = None
    x_q = x_kv = None

    if given_x:
        if x is not None and (q_input is not None or kv_input is not None):
            raise ShapeError(_("give x for self-attention or q_input and kv_input for cross-attention"), argument="x")
        if x is None and (q_input is None or kv_input is None):
            missing = "kv_input" if q_input is not None else "q_input"
            raise ShapeError(_("cross-attention needs both q_input and kv_input"), argument=missing)
        x_q = _matrix(x if x is not None else q_input, "x" if x is not None else "q_input", ftype)  # type: ignore[arg-type]
        x_kv = x_q if x is not None else _matrix(kv_input, "kv_input", ftype)  # type: ignore[arg-type]
        xq_in, xkv_in = x_q, x_kv
        if positional == "sinusoidal":
            pe_q = sinusoidal_encoding(x_q.shape[0], x_q.shape[1]).astype(ftype)
            pe_kv = sinusoidal_encoding(x_kv.shape[0], x_kv.shape[1]).astype(ftype)
            xq_in, xkv_in = x_q + pe_q, x_kv + pe_kv
            positional_stage = Positional(x_q, pe_q, xq_in, x_kv, pe_kv, xkv_in)
        given_w = {n: w for n, w in (("wq", wq), ("wk", wk), ("wv", wv)) if w is not None}
        x_name = "x" if x is not None else "q_input"
        kv_name = "x" if x is not None else "kv_input"
        if random_weights_seed is not None:
            if given_w or wo is not None:
                raise ShapeError(_("give projection weights or random weights, not both"), argument="random_weights")
            d_model = x_q.shape[1]
            if d_model % heads:
                message = _("d_model = {d_model} is not divisible by heads = {heads}")
                raise ShapeError(message.format(d_model=d_model, heads=heads), argument="heads")
            rw = random_weights(d_model, heads, g, d_model // heads, random_weights_seed, x_kv.shape[1])
            weights = {n: a.astype(ftype) for n, a in rw.items()}
            projection = "random"
        elif given_w:
            missing_w = [n for n in ("wq", "wk", "wv") if n not in given_w]
            if missing_w:
                raise ShapeError(
                    _("missing {names}: give all of wq, wk and wv, or none (identity projections)").format(
                        names=", ".join(missing_w)
                    ),
                    argument=missing_w[0],
                )
            weights = {n: _matrix(w, n, ftype) for n, w in given_w.items()}
            if wo is not None:
                weights["wo"] = _matrix(wo, "wo", ftype)
            projection = "given"
        else:
            if wo is not None:
                weights["wo"] = _matrix(wo, "wo", ftype)
            projection = "identity"
        if projection == "identity":
            if x_q.shape[1] != x_kv.shape[1]:
                raise ShapeError(
                    _(
                        "q_input has {q} columns and kv_input {kv}: identity projections need them equal "
                        "(give wq, wk, wv)"
                    ).format(q=x_q.shape[1], kv=x_kv.shape[1]),
                    argument="kv_input",
                )
            q_p, k_p, v_p = xq_in, xkv_in, xkv_in
            if g != heads:
                raise ShapeError(
                    _("grouped K/V heads need projection weights (wk, wv) or random weights"), argument="kv_heads"
                )
        else:
            _chain(xq_in, weights["wq"], x_name, "wq")
            _chain(xkv_in, weights["wk"], kv_name, "wk")
            _chain(xkv_in, weights["wv"], kv_name, "wv")
            # (T, d_model) x (d_model, H·d_head) -> (T, H·d_head); likewise K, V with G heads
            q_p = _product(xq_in, weights["wq"], _("the projection {x}·W_q").format(x=x_name), "wq")
            k_p = _product(xkv_in, weights["wk"], _("the projection {x}·W_k").format(x=kv_name), "wk")
            v_p = _product(xkv_in, weights["wv"], _("the projection {x}·W_v").format(x=kv_name), "wv")
        for name, b, proj in (("bq", bq, "q"), ("bk", bk, "k"), ("bv", bv, "v")):
            width = {"q": q_p, "k": k_p, "v": v_p}[proj].shape[1]
            bias = _bias(b, width, name, ftype)
            if bias is not None:
                weights[name] = bias
        q_p = _product(q_p, weights["bq"], _("adding b_q"), "bq") if "bq" in weights else q_p
        k_p = _product(k_p, weights["bk"], _("adding b_k"), "bk") if "bk" in weights else k_p
        v_p = _product(v_p, weights["bv"], _("adding b_v"), "bv") if "bv" in weights else v_p
    else:
        if not all(given_qkv):
            absent = [n for n, gv in zip(("q", "k", "v"), given_qkv, strict=True) if not gv]
            message = _("missing {names}: give x (with weights) or q, k and v").format(names=", ".join(absent))
            raise ShapeError(message, argument=absent[0])
        if any(w is not None for w in (wq, wk, wv, bq, bk, bv)) or random_weights_seed is not None:
            raise ShapeError(
                _("projection weights need inputs x (or q_input and kv_input), not q, k, v"), argument="wq"
            )
        if positional != "none":
            raise ShapeError(_("positional encodings are added to inputs x, not to q, k, v"), argument="positional")
        q_p, k_p, v_p = (_matrix(a, n, ftype) for a, n in ((q, "q"), (k, "k"), (v, "v")))  # type: ignore[arg-type]
        if wo is not None:
            weights["wo"] = _matrix(wo, "wo", ftype)
        projection = "none"

    t, s = q_p.shape[0], k_p.shape[0]
    if v_p.shape[0] != s:
        message = ngettext("k has {s} row (keys) but v has {n}", "k has {s} rows (keys) but v has {n}", s)
        raise ShapeError(message.format(s=s, n=v_p.shape[0]), argument="v")
    if projection == "identity" and q_p.shape[1] % heads:
        message = _("d_model = {d_model} is not divisible by heads = {heads}")
        raise ShapeError(message.format(d_model=q_p.shape[1], heads=heads), argument="heads")
    for a, name, n in ((q_p, "q", heads), (k_p, "k", g), (v_p, "v", g)):
        if a.shape[1] % n:
            what = "heads" if name == "q" else "kv_heads"
            raise ShapeError(
                _("the projected {name} has {columns} columns, not divisible by {what} = {n}").format(
                    name=name, columns=a.shape[1], what=what, n=n
                ),
                argument=what,
            )
    d_head, d_kh, d_v = q_p.shape[1] // heads, k_p.shape[1] // g, v_p.shape[1] // g
    if d_kh != d_head:
        raise ShapeError(
            _("query heads have d_head = {d_head} but key heads have {d_kh}; check wk's columns").format(
                d_head=d_head, d_kh=d_kh
            ),
            argument="wk",
        )

    # (T, H·d) -> (T, H, d) -> (H, T, d)
    q_h = q_p.reshape(t, heads, d_head).transpose(1, 0, 2)
    k_h = k_p.reshape(s, g, d_head).transpose(1, 0, 2)
    v_h = v_p.reshape(s, g, d_v).transpose(1, 0, 2)

    rope_stage: Rope | None = None
    if rope:
        if d_head % 2:
            raise ShapeError(
                _("RoPE rotates pairs of columns; d_head = {d_head} is odd").format(d_head=d_head), argument="rope"
            )
        qa, ka = rope_angles(t, d_head, rope_base), rope_angles(s, d_head, rope_base)
        with np.errstate(over="ignore", invalid="ignore"):
            q_r, k_r = apply_rope(q_h, qa, rope_style), apply_rope(k_h, ka, rope_style)
        for rotated, name in ((q_r, "q"), (k_r, "k")):
            if not np.isfinite(rotated).all():
                message = _("rotating {name} overflows {dtype} ({where})")
                raise NumericError(message.format(name=name, dtype=dtype, where=first_bad(rotated)), argument="rope")
        rope_stage = Rope(rope_style, rope_base, q_h, k_h, q_r, k_r, qa, ka)
        q_h, k_h = q_r, k_r

    group = heads // g
    head_map = tuple(h // group for h in range(heads))
    # Repeat each K/V head for the H/G query heads that share it: (G, S, d) -> (H, S, d)
    k_rep, v_rep = np.repeat(k_h, group, axis=0), np.repeat(v_h, group, axis=0)

    slopes = bias = None
    attn_mask: ArrayLike | None = mask
    if alibi:
        slopes = alibi_slopes(heads)
        bias = alibi_bias(slopes, t, s, causal_align).astype(ftype)
        attn_mask = bias if mask is None else _combine(np.asarray(mask), bias)
    result = attention(
        q_h,
        k_rep,
        v_rep,
        mask=attn_mask,
        causal=causal,
        causal_align=causal_align,
        scale=scale,
        empty_row=empty_row,
        dtype=dtype,
    )
    # (H, T, d_v) -> (T, H, d_v) -> (T, H·d_v)
    concat = result.output.transpose(1, 0, 2).reshape(t, heads * d_v)
    output = concat
    if "wo" in weights:
        _chain(concat, weights["wo"], "concat", "wo")
        output = _product(concat, weights["wo"], _("the output projection concat·W_o"), "wo")
    bias_o = _bias(bo, output.shape[1], "bo", ftype)
    if bias_o is not None:
        weights["bo"] = bias_o
        output = _product(output, bias_o, _("adding b_o"), "bo")
    return MultiHead(
        heads=heads,
        kv_heads=g,
        d_head=d_head,
        d_v=d_v,
        projection=projection,
        x_q=x_q,
        x_kv=x_kv,
        weights=weights,
        positional=positional_stage,
        projected=(q_p, k_p, v_p),
        head_map=head_map,
        rope=rope_stage,
        alibi_slopes=slopes,
        alibi_bias=bias,
        attention=result,
        concat=concat,
        output=output,
    )


def _combine(mask: NDArray[np.generic], bias: Array) -> Array:
    """A user mask and the ALiBi bias as one additive mask: False cells become −∞."""
    try:
        np.broadcast_shapes(mask.shape, bias.shape)
    except ValueError:
        raise ShapeError(
            _("shape {shape} does not broadcast to the scores' shape {scores} ({axes})").format(
                shape=mask.shape, scores=bias.shape, axes="H, T, S"
            ),
            argument="mask",
        ) from None
    if mask.dtype == np.bool_:
        additive: Array = np.where(mask, 0.0, -np.inf).astype(bias.dtype)
    else:
        additive = mask.astype(bias.dtype)
    if additive.ndim == 1:
        additive = additive[None, :]
    combined: Array = additive + bias
    return combined
