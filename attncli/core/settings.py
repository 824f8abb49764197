"""How scores become weights: the settings of one attention computation, and the choice sets, defined
once for the engine, the blocked path, multi-head attention, the problem documents and the CLI.

Shape letters: T = number of queries, S = number of keys, d_k = query/key width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack, get_args

from attncli.errors import ShapeError
from attncli.i18n import _

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

CausalAlign = Literal["top-left", "bottom-right"]
EmptyRow = Literal["zero", "uniform", "nan"]
DType = Literal["float64", "float32"]

CAUSAL_ALIGNS: tuple[str, ...] = get_args(CausalAlign)
EMPTY_ROW_POLICIES: tuple[str, ...] = get_args(EmptyRow)
DTYPES: tuple[str, ...] = get_args(DType)
# Where positions enter multi-head attention (attncli.core.positions.Positions)
RopeStyle = Literal["half", "interleaved"]
ROPE_STYLES: tuple[str, ...] = get_args(RopeStyle)
PositionalKind = Literal["none", "sinusoidal"]
POSITIONALS: tuple[str, ...] = get_args(PositionalKind)
# Which keys a sliding window keeps (query i, key j): "hf" (Hugging Face Mistral/Gemma) i − W < j ≤ i,
# W keys with itself; "gym" (attention-gym) 0 ≤ i − j ≤ W, W + 1 keys; "jax" (local_window_size=(W, R))
# i − W ≤ j ≤ i + R, two-sided.
WindowRule = Literal["hf", "gym", "jax"]
WINDOW_RULES: tuple[str, ...] = get_args(WindowRule)


@dataclass(frozen=True)
class MaskSpec:
    """The structured masks of modern attention, as data (attncli.core.masks computes their cells).

    Positions are 0-based; query i stands at key position i + offset (0 top-left, S − T bottom-right,
    as causal_align). window W with window_rule (see WindowRule; window_right R for "jax"); chunk C
    (Llama 4): ⌊j/C⌋ = ⌊i/C⌋ and j ≤ i; prefix P (prefix-LM): j < P or j ≤ i; documents: one id per
    key, a query sees keys of its own document; sink_tokens k (StreamingLLM): keys j < k stay visible
    beside the window. Every part given must allow a cell (sink tokens relax the window only).
    Two variants change the scores instead: softcap c (Gemma 2) caps the scaled scores to
    c·tanh(s/c) before the mask; sinks (gpt-oss) are learned logits, one per head (or one for all),
    a virtual key column in the softmax that is then dropped, so each row's weights sum to less than 1.
    One changes the scale: query_pre_attn_scalar N (Gemma 2's config key) makes the scale N^−½ instead
    of 1/√d_k (Gemma 2 9B: N = 256 with d_k = 256, 27B: N = 144 with d_k = 128).
    """

    window: int | None = None
    window_rule: WindowRule = "hf"
    window_right: int = 0
    chunk: int | None = None
    prefix: int | None = None
    documents: tuple[int, ...] | None = None
    sink_tokens: int | None = None
    softcap: float | None = None
    sinks: tuple[float, ...] | None = None
    query_pre_attn_scalar: float | None = None

    def __post_init__(self) -> None:
        if self.window_rule not in WINDOW_RULES:
            message = _("must be one of {choices}, got {value!r}").format(
                choices=", ".join(WINDOW_RULES), value=self.window_rule
            )
            raise ShapeError(message, argument="window_rule")
        for name in ("window", "chunk", "prefix", "sink_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ShapeError(_("must be a positive whole number, got {value!r}").format(value=value), argument=name)
        right = self.window_right
        if isinstance(right, bool) or not isinstance(right, int) or right < 0:
            raise ShapeError(
                _("must be a whole number ≥ 0, got {value!r}").format(value=right), argument="window_right"
            )
        if right and self.window_rule != "jax":
            raise ShapeError(_("applies to the jax window rule only"), argument="window_right")
        if self.softcap is not None and not (math.isfinite(self.softcap) and self.softcap > 0):
            message = _("must be a positive finite number, got {value}").format(value=self.softcap)
            raise ShapeError(message, argument="softcap")
        scalar = self.query_pre_attn_scalar
        if scalar is not None and (isinstance(scalar, bool) or not (math.isfinite(scalar) and scalar > 0)):
            message = _("must be a positive finite number, got {value}").format(value=scalar)
            raise ShapeError(message, argument="query_pre_attn_scalar")
        if self.sinks is not None and (not self.sinks or not all(math.isfinite(x) for x in self.sinks)):
            message = _("must be finite numbers, one per head, got {value}").format(value=list(self.sinks))
            raise ShapeError(message, argument="sinks")
        if self.sink_tokens is not None and self.window is None:
            raise ShapeError(_("keep keys visible beside a window: give a window too"), argument="sink_tokens")

    @property
    def any(self) -> bool:
        """True when some part is given."""
        return any(x is not None for x in (self.window, self.chunk, self.prefix, self.documents))

    @property
    def implies_causal(self) -> bool:
        """Whether the rule hides later keys by itself (every part but a jax window and documents)."""
        hf_gym = self.window is not None and self.window_rule != "jax"
        return hf_gym or self.chunk is not None or self.prefix is not None


@dataclass(frozen=True)
class AttentionSettings:
    """Everything of an attention computation but its inputs Q, K and V.

    mask: broadcasts to (..., T, S); boolean (True = attend, as PyTorch SDPA and JAX) or numeric
    (added to the scaled scores, −∞ allowed). causal hides later keys (causal_align "top-left" as
    PyTorch's `is_causal`: j ≤ i; "bottom-right", as a KV cache: j ≤ i + S − T). scale defaults to
    1/√d_k (or query_pre_attn_scalar^−½ with that variant, Gemma 2's rule). empty_row decides a fully
    masked row: "zero" (as SDPA), "uniform" (1/S) or "nan".
    dtype is what every stage is computed in. variants: the structured masks (MaskSpec), combined with
    the mask and causal: a cell takes part only if every one allows it.
    """

    mask: ArrayLike | None = field(default=None, compare=False)
    causal: bool = False
    causal_align: CausalAlign = "top-left"
    scale: float | None = None
    empty_row: EmptyRow = "zero"
    dtype: DType = "float64"
    variants: MaskSpec = field(default_factory=MaskSpec)

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("dtype", self.dtype, DTYPES),
            ("causal_align", self.causal_align, CAUSAL_ALIGNS),
            ("empty_row", self.empty_row, EMPTY_ROW_POLICIES),
        ):
            if value not in choices:
                message = _("must be one of {choices}, got {value!r}").format(choices=", ".join(choices), value=value)
                raise ShapeError(message, argument=name)
        if self.scale is not None and self.variants.query_pre_attn_scalar is not None:
            message = _("a scale is given too: give one of the two (this rule sets scale = query_pre_attn_scalar^−½)")
            raise ShapeError(message, argument="query_pre_attn_scalar")

    @property
    def ftype(self) -> type[np.floating]:
        import numpy as np

        return np.float64 if self.dtype == "float64" else np.float32

    def but(self, **changes: Any) -> AttentionSettings:
        """The same settings with `changes` (e.g. `settings.but(mask=combined)`)."""
        return replace(self, **changes)


class SettingKeywords(TypedDict, total=False):
    """AttentionSettings' fields as keywords, for the functions that also take them one by one."""

    mask: ArrayLike | None
    causal: bool
    causal_align: CausalAlign
    scale: float | None
    empty_row: EmptyRow
    dtype: DType
    variants: MaskSpec


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(AttentionSettings))


def settings_from(settings: AttentionSettings | None, keywords: SettingKeywords) -> AttentionSettings:
    """`settings`, or the settings the keywords describe (not both: a keyword would be silently lost)."""
    if settings is None:
        return AttentionSettings(**keywords)
    if keywords:
        message = _("give settings or the keywords {names}, not both").format(names=", ".join(sorted(keywords)))
        raise ShapeError(message, argument="settings")
    return settings


def keywords_given(**values: Unpack[SettingKeywords]) -> SettingKeywords:
    """The keywords whose values are not AttentionSettings' defaults (a mask counts when it is not None)."""
    defaults = AttentionSettings()
    given = SettingKeywords()
    for name, value in values.items():
        if value is not None if name == "mask" else value != getattr(defaults, name):
            given[name] = value  # type: ignore[literal-required]
    return given
