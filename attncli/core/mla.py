"""Multi-head latent attention (DeepSeek-V2/V3): keys and values come from a small latent per token.

    c        = X·W_DKV                     (T × d_c)   the latent; RMSNorm'd with c_norm (DeepSeek's kv_a_layernorm)
    k_rope   = RoPE(X·W_KR)                (T × d_rope) the decoupled RoPE key, one for every head
    k_nope_h = c·W_UK (head h's columns)   (T × d_nope) keys up-projected from the latent
    v_h      = c·W_UV (head h's columns)   (T × d_v)    values up-projected from the latent
    q_h      = X·W_Q (head h's columns)    (T × (d_nope + d_rope)) split into q_nope_h and q_rope_h (RoPE'd)
    scores_h = q_nope_h·k_nope_hᵀ + q_rope_h·k_ropeᵀ, scaled by 1/√(d_nope + d_rope)
    output   = concat_h(weights_h·v_h)·W_O

A decoder caches c and k_rope per token — (d_c + d_rope) numbers, for all heads together — where
standard multi-head attention caches K and V of every head, H·(d_nope + d_rope + d_v) numbers.
RoPE here rotates interleaved pairs (x_2i, x_2i+1), as DeepSeek-V3 (any pairing gives the same scores
when q and k share it). Weights are in the textbook convention (X·W, nn.Linear's weight.T).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attncli.core.attention import attention
from attncli.core.checks import as_finite, first_bad
from attncli.core.decode import Cache
from attncli.core.display import Displayable
from attncli.core.engine import Attention
from attncli.core.positions import apply_rope, rms_norm, rope_angles
from attncli.core.settings import AttentionSettings
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.floating]

MLA_WEIGHTS = ("w_dkv", "w_kr", "w_uk", "w_uv", "w_q", "w_o")  # and c_norm, the latent's RMSNorm weights


@dataclass(frozen=True)
class MLADims:
    """The widths of multi-head latent attention: the latent d_c, the RoPE part d_rope, the no-RoPE part
    d_nope of each query/key head, the value width d_v."""

    d_c: int
    d_rope: int
    d_nope: int
    d_v: int

    def __post_init__(self) -> None:
        for name in ("d_c", "d_rope", "d_nope", "d_v"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ShapeError(_("must be a positive whole number, got {value!r}").format(value=value), argument=name)
        if self.d_rope % 2:
            message = _("RoPE rotates pairs of columns; d_rope = {d} is odd").format(d=self.d_rope)
            raise ShapeError(message, argument="d_rope")


def random_mla_weights(d_model: int, heads: int, dims: MLADims, seed: int) -> dict[str, Array]:
    """Reproducible demo weights, N(0, 1/fan_in) (keeps activations near unit scale)."""
    rng = np.random.default_rng(seed)
    d_q = heads * (dims.d_nope + dims.d_rope)
    shapes = {
        "w_dkv": (d_model, dims.d_c), "w_kr": (d_model, dims.d_rope), "w_uk": (dims.d_c, heads * dims.d_nope),
        "w_uv": (dims.d_c, heads * dims.d_v), "w_q": (d_model, d_q), "w_o": (heads * dims.d_v, d_model),
    }  # fmt: skip
    return {name: rng.normal(0, 1 / np.sqrt(shape[0]), shape) for name, shape in shapes.items()}


@dataclass(frozen=True)
class MLA(Displayable):
    """Every stage of a multi-head latent attention. `attention` holds the per-head stages (H, T, ·) with
    q = [q_nope, q_rope] and k = [k_nope, k_rope], so its scores are the sum of the two parts."""

    heads: int
    dims: MLADims
    x: Array  # (T, d_model)
    weights: dict[str, Array]  # w_dkv, w_kr, w_uk, w_uv, w_q, (w_o), (c_norm)
    c_before: Array  # (T, d_c) X·W_DKV
    c: Array  # (T, d_c) after the RMSNorm (the same when there is no c_norm)
    k_rope_before: Array  # (T, d_rope) X·W_KR
    k_rope: Array  # (T, d_rope) after RoPE: shared by every head
    q_nope: Array  # (H, T, d_nope)
    q_rope: Array  # (H, T, d_rope) after RoPE
    k_nope: Array  # (H, S, d_nope)
    v: Array  # (H, S, d_v)
    scores_nope: Array  # (H, T, S) q_nope·k_nopeᵀ
    scores_rope: Array  # (H, T, S) q_rope·k_ropeᵀ
    attention: Attention
    concat: Array  # (T, H·d_v)
    output: Array  # (T, d_model) concat·W_O, or concat

    @property
    def cache(self) -> Cache:
        """What MLA caches per token: the latent c and the shared RoPE key, once for every head."""
        s = self.c.shape[0]
        return Cache((("c", (s, self.dims.d_c)), ("k_rope", (s, self.dims.d_rope))), 1, str(self.c.dtype), True)

    @property
    def mha_cache(self) -> Cache:
        """What standard multi-head attention would cache: K and V of every head."""
        s, d = self.c.shape[0], self.dims
        return Cache((("K", (s, d.d_nope + d.d_rope)), ("V", (s, d.d_v))), self.heads, str(self.c.dtype))


def _chain(rows: int, w: Array, name: str, what: str) -> None:
    if w.shape[0] != rows:
        message = _("has {n} rows, but {what} gives {rows} columns: they must chain")
        raise ShapeError(message.format(n=w.shape[0], what=what, rows=rows), argument=name)


def _columns(w: Array, name: str, want: int, rule: str) -> None:
    if w.shape[1] != want:
        message = _("has {n} columns, but {rule} = {want}")
        raise ShapeError(message.format(n=w.shape[1], rule=rule, want=want), argument=name)


def _checked_weights(given: Mapping[str, ArrayLike], x: Array, heads: int, ftype: type[np.floating]
                     ) -> tuple[dict[str, Array], MLADims]:  # fmt: skip
    """The weights as 2-D float arrays that chain with x and with each other; the dimensions they give."""
    missing = [n for n in MLA_WEIGHTS[:5] if given.get(n) is None]
    if missing:
        message = _("missing {names}: multi-head latent attention needs w_dkv, w_kr, w_uk, w_uv and w_q")
        raise ShapeError(message.format(names=", ".join(missing)), argument=missing[0])
    w: dict[str, Array] = {}
    for name in (*MLA_WEIGHTS, "c_norm"):
        if given.get(name) is not None:
            a = as_finite(given[name], name, ftype)
            if name != "c_norm" and a.ndim != 2:
                raise ShapeError(_("must be a 2-D matrix, got shape {shape}").format(shape=a.shape), argument=name)
            w[name] = a.reshape(-1) if name == "c_norm" else a
    d_model = x.shape[1]
    _chain(d_model, w["w_dkv"], "w_dkv", "x (d_model)")
    _chain(d_model, w["w_kr"], "w_kr", "x (d_model)")
    _chain(d_model, w["w_q"], "w_q", "x (d_model)")
    d_c, d_rope = w["w_dkv"].shape[1], w["w_kr"].shape[1]
    _chain(d_c, w["w_uk"], "w_uk", "w_dkv (d_c)")
    _chain(d_c, w["w_uv"], "w_uv", "w_dkv (d_c)")
    for name in ("w_uk", "w_uv"):
        if w[name].shape[1] % heads:
            message = _("has {n} columns, not divisible by heads = {heads}")
            raise ShapeError(message.format(n=w[name].shape[1], heads=heads), argument=name)
    dims = MLADims(d_c, d_rope, w["w_uk"].shape[1] // heads, w["w_uv"].shape[1] // heads)
    _columns(
        w["w_q"], "w_q", heads * (dims.d_nope + d_rope), f"heads·(d_nope + d_rope) = {heads}·({dims.d_nope} + {d_rope})"
    )
    if "w_o" in w:
        _chain(heads * dims.d_v, w["w_o"], "w_o", f"concat (heads·d_v = {heads}·{dims.d_v})")
    if "c_norm" in w and w["c_norm"].shape[0] != d_c:
        message = _("has {n} values, but the latent has d_c = {d} columns")
        raise ShapeError(message.format(n=w["c_norm"].shape[0], d=d_c), argument="c_norm")
    return w, dims


def mla_attention(
    x: ArrayLike,
    weights: Mapping[str, ArrayLike],
    *,
    heads: int = 1,
    settings: AttentionSettings | None = None,
    rope_base: float = 10000.0,
    c_norm_eps: float = 1e-6,
) -> MLA:
    """Multi-head latent attention of `x` (T × d_model), self-attention, with every stage kept.

    `weights`: w_dkv (d_model × d_c), w_kr (d_model × d_rope), w_uk (d_c × H·d_nope), w_uv (d_c × H·d_v),
    w_q (d_model × H·(d_nope + d_rope)), optional w_o (H·d_v × d_out) and c_norm (d_c: the latent's
    RMSNorm weights, with eps c_norm_eps). The settings (mask, causal, scale default 1/√(d_nope + d_rope),
    the variants) are attention()'s."""
    settings = settings or AttentionSettings()
    ftype = settings.ftype
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ShapeError(_("must be at least 1, got {value}").format(value=heads), argument="heads")
    xa = as_finite(x, "x", ftype)
    xa = xa[None, :] if xa.ndim == 1 else xa
    if xa.ndim != 2:
        raise ShapeError(_("must be a 2-D matrix, got shape {shape}").format(shape=xa.shape), argument="x")
    w, d = _checked_weights(weights, xa, heads, ftype)
    t = xa.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        c_before = xa @ w["w_dkv"]
        c = rms_norm(c_before, w["c_norm"], c_norm_eps)[0] if "c_norm" in w else c_before
        k_r = xa @ w["w_kr"]
        q = (xa @ w["w_q"]).reshape(t, heads, d.d_nope + d.d_rope).transpose(1, 0, 2)  # (H, T, d_nope + d_rope)
        k_nope = (c @ w["w_uk"]).reshape(t, heads, d.d_nope).transpose(1, 0, 2)
        v = (c @ w["w_uv"]).reshape(t, heads, d.d_v).transpose(1, 0, 2)
        angles = rope_angles(t, d.d_rope, rope_base)
        k_rope = apply_rope(k_r, angles, "interleaved")
        q_nope, q_rope = q[..., : d.d_nope], apply_rope(q[..., d.d_nope :], angles, "interleaved")
    for a, what in ((c, "c = x·W_DKV"), (k_rope, "x·W_KR"), (q, "x·W_Q"), (k_nope, "c·W_UK"), (v, "c·W_UV")):
        if not np.isfinite(a).all():
            message = _("{what} overflows {dtype} ({where}); the inputs or weights are too large")
            raise NumericError(message.format(what=what, dtype=settings.dtype, where=first_bad(a)), argument="x")
    k_full = np.concatenate([k_nope, np.broadcast_to(k_rope, (heads, t, d.d_rope))], axis=-1)
    result = attention(np.concatenate([q_nope, q_rope], axis=-1), k_full, v, settings=settings)
    concat = result.output.transpose(1, 0, 2).reshape(t, heads * d.d_v)
    output = concat @ w["w_o"] if "w_o" in w else concat
    return MLA(
        heads=heads, dims=d, x=xa, weights=w, c_before=c_before, c=c, k_rope_before=k_r, k_rope=k_rope,
        q_nope=q_nope, q_rope=q_rope, k_nope=k_nope, v=v,
        scores_nope=q_nope @ np.swapaxes(k_nope, -1, -2), scores_rope=q_rope @ k_rope.T,
        attention=result, concat=concat, output=output,
    )  # fmt: skip
