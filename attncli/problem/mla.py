"""A multi-head latent attention problem (attncli.core.mla): the document key `mla`, and MLAProblem.

"mla": {"d_c": 4, "d_rope": 2, "d_nope": 2, "d_v": 2}          random weights (with "seed")
"mla": {"w_dkv": …, "w_kr": …, "w_uk": …, "w_uv": …, "w_q": …, "w_o": …, "c_norm": …, "c_norm_eps": 1e-6}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from attncli.core.mla import MLA, MLA_WEIGHTS, MLADims, mla_attention, random_mla_weights
from attncli.core.settings import AttentionSettings, MaskSpec
from attncli.errors import AttnError, InputError
from attncli.i18n import _
from attncli.parse.matrix import from_json_value, json_number, parse_matrix

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

DIM_KEYS = ("d_c", "d_rope", "d_nope", "d_v")
MLA_KEYS = frozenset({*DIM_KEYS, *MLA_WEIGHTS, "c_norm", "c_norm_eps"})


def mla_field(value: Any, argument: str, base_dir: Path | None = None, confined: bool = False) -> dict[str, Any]:
    """The `mla` object of a document: {"dims": MLADims | None, "weights": {…}, "c_norm_eps": float}."""
    if not isinstance(value, dict):
        message = _('must be an object like {"d_c": 4, "d_rope": 2, "d_nope": 2, "d_v": 2} or with the weights w_dkv…')
        raise InputError(message, argument=argument)
    unknown = sorted(set(value) - MLA_KEYS)
    if unknown:
        message = _("unknown key {key!r} (known: {known})").format(key=unknown[0], known=", ".join(sorted(MLA_KEYS)))
        raise InputError(message, argument=argument)
    out: dict[str, Any] = {"dims": None, "weights": {}, "c_norm_eps": 1e-6}
    given = [k for k in DIM_KEYS if k in value]
    weights = [k for k in (*MLA_WEIGHTS, "c_norm") if value.get(k) is not None]
    if given and weights:
        message = _("give the dimensions d_c, d_rope, d_nope, d_v (random weights) or the weights, not both")
        raise InputError(message, argument=f"{argument}.{given[0]}")
    if given:
        out["dims"] = dims_of({k: value[k] for k in given}, argument)
    for key in weights:
        where = f"{argument}.{key}"
        w = value[key]
        out["weights"][key] = parse_matrix(w, where, "matrix", base_dir, confined) if isinstance(w, str) else (
            from_json_value(w, where, "matrix")
        )  # fmt: skip
    eps = value.get("c_norm_eps")
    if eps is not None:
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps >= 0 or json_number(eps) is None:
            raise InputError(
                _("must be a finite number ≥ 0, got {value}").format(value=eps), argument=f"{argument}.c_norm_eps"
            )
        out["c_norm_eps"] = float(eps)
    if not given and not weights:
        raise InputError(_("needs the dimensions d_c, d_rope, d_nope, d_v or the weights w_dkv, w_kr, w_uk, w_uv, w_q"),
                         argument=argument)  # fmt: skip
    return out


def dims_of(values: Mapping[str, Any], argument: str) -> MLADims:
    """MLADims from d_c, d_rope, d_nope, d_v; a missing or bad one is named (argument.d_rope)."""
    missing = [k for k in DIM_KEYS if k not in values]
    if missing:
        message = _("missing {names}: give all of d_c, d_rope, d_nope and d_v").format(names=", ".join(missing))
        raise InputError(message, argument=f"{argument}.{missing[0]}")
    try:
        return MLADims(**{k: values[k] for k in DIM_KEYS})
    except AttnError as e:
        raise e.with_argument(f"{argument}.{e.argument}") from None


@dataclass(frozen=True)
class MLAProblem:
    """A multi-head latent attention problem: inputs x, heads, the weights (or dimensions and a seed)."""

    x: NDArray[Any]
    mla: Mapping[str, Any]  # as mla_field gives it
    heads: int = 1
    seed: int = 0
    mask: NDArray[Any] | None = None
    causal: bool = False
    causal_align: str = "top-left"
    scale: float | None = None
    empty_row: str = "zero"
    dtype: str = "float64"
    rope_base: float = 10000.0
    variants: MaskSpec = field(default_factory=MaskSpec)
    decode: int | None = None
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    expected: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    title: str | None = None
    description: str | None = None

    @property
    def settings(self) -> AttentionSettings:
        return AttentionSettings(
            self.mask, self.causal, cast(Any, self.causal_align), self.scale, cast(Any, self.empty_row),
            cast(Any, self.dtype), self.variants,
        )  # fmt: skip

    @property
    def weights(self) -> dict[str, Any]:
        """The weights given, or random ones drawn for the dimensions (seeded)."""
        dims = self.mla.get("dims")
        if dims is None:
            return dict(self.mla["weights"])
        return cast(dict[str, Any], random_mla_weights(int(self.x.shape[-1]), self.heads, dims, self.seed))

    def score_cells(self) -> int:
        return self.heads * int(self.x.shape[-2]) ** 2

    def solve(self) -> MLA:
        return mla_attention(
            self.x, self.weights, heads=self.heads, settings=self.settings, rope_base=self.rope_base,
            c_norm_eps=float(self.mla.get("c_norm_eps", 1e-6)),
        )  # fmt: skip


def build_mla(fields: Mapping[str, Any], source: str | None, variants: MaskSpec) -> MLAProblem:
    """An MLAProblem from parsed fields (x and mla needed; q/k/v and the MHA weights do not apply) and
    their variants (attncli.problem.document.variants_of)."""
    if fields.get("x") is None:
        message = _("multi-head latent attention needs inputs x (T × d_model)")
        raise InputError(message, argument=source)
    other = sorted(k for k in ("q", "k", "v", "q_input", "kv_input", "wq", "wk", "wv", "wo", "kv_heads", "rope",
                               "alibi", "positional", "qk_norm") if fields.get(k) not in (None, False))  # fmt: skip
    if other:
        message = _("multi-head latent attention takes x, heads and its own weights; not {keys}")
        raise InputError(message.format(keys=", ".join(other)), argument=source)
    known = set(MLAProblem.__dataclass_fields__) - {"variants"}
    given = {k: v for k, v in fields.items() if k in known and v is not None}
    return MLAProblem(**given, variants=variants)
