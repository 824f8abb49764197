"""How scores become weights: the settings of one attention computation, and the choice sets, defined
once for the engine, the blocked path, multi-head attention, the problem documents and the CLI.

Shape letters: T = number of queries, S = number of keys, d_k = query/key width.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class AttentionSettings:
    """Everything of an attention computation but its inputs Q, K and V.

    mask: broadcasts to (..., T, S); boolean (True = attend, as PyTorch SDPA and JAX) or numeric
    (added to the scaled scores, −∞ allowed). causal hides later keys (causal_align "top-left" as
    PyTorch's `is_causal`: j ≤ i; "bottom-right", as a KV cache: j ≤ i + S − T). scale defaults to
    1/√d_k. empty_row decides a fully masked row: "zero" (as SDPA), "uniform" (1/S) or "nan".
    dtype is what every stage is computed in.
    """

    mask: ArrayLike | None = field(default=None, compare=False)
    causal: bool = False
    causal_align: CausalAlign = "top-left"
    scale: float | None = None
    empty_row: EmptyRow = "zero"
    dtype: DType = "float64"

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("dtype", self.dtype, DTYPES),
            ("causal_align", self.causal_align, CAUSAL_ALIGNS),
            ("empty_row", self.empty_row, EMPTY_ROW_POLICIES),
        ):
            if value not in choices:
                message = _("must be one of {choices}, got {value!r}").format(choices=", ".join(choices), value=value)
                raise ShapeError(message, argument=name)

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
