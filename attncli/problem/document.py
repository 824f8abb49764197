"""A whole attention problem: the matrices and settings, from a JSON document and/or flags.

A problem document looks like
    {"q": [[1, 0]], "k": [[0.5, 0.5], [0.3, 0.7]], "v": [[1, 0], [0.5, 0.5]],
     "mask": null, "causal": false, "scale": null, "expected": {"weights": [[0.54, 0.46]]}}
The JSON that `attn compute --json` prints is a problem document too: its "inputs" and "config"
are read back, so results pipe from one command into the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from attncli.core.attention import attention
from attncli.core.engine import Attention
from attncli.core.positions import Positions
from attncli.core.settings import (
    CAUSAL_ALIGNS,
    DTYPES,
    EMPTY_ROW_POLICIES,
    POSITIONALS,
    ROPE_STYLES,
    WINDOW_RULES,
    AttentionSettings,
    MaskSpec,
)
from attncli.core.stages import STAGE_NAMES
from attncli.errors import AttnError, InputError
from attncli.i18n import _, ngettext
from attncli.parse.matrix import Kind, from_claim_value, from_json_value, json_number, loads_json, parse_matrix

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

    from attncli.core.blocked import Tiling
    from attncli.core.multihead import MultiHead, MultiHeadOutput

MATRIX_KEYS = ("q", "k", "v")
SETTING_KEYS = ("causal", "causal_align", "scale", "empty_row", "dtype")
# The structured masks (attncli.core.settings.MaskSpec), in documents and in a result's config.
VARIANT_KEYS = (
    *("window", "window_rule", "window_right", "chunk", "prefix", "documents", "sink_tokens"),
    *("softcap", "sinks", "query_pre_attn_scalar"),
)
# Multi-head attention (attncli.core.multihead): inputs, projection weights and biases, and settings.
MULTIHEAD_MATRIX_KEYS = ("x", "q_input", "kv_input", "wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo", "q_norm", "k_norm")
MULTIHEAD_SETTING_KEYS = (
    *("heads", "kv_heads", "rope", "rope_style", "rope_base", "positional", "alibi"),
    *("qk_norm", "qk_norm_eps"),
)
MULTIHEAD_KEYS = frozenset({*MULTIHEAD_MATRIX_KEYS, *MULTIHEAD_SETTING_KEYS, "random_weights", "seed"})
DOCUMENT_KEYS = frozenset(
    {
        *MATRIX_KEYS,
        "mask",
        *SETTING_KEYS,
        *VARIANT_KEYS,
        *MULTIHEAD_KEYS,
        "decode",
        "mla",
        "labels",
        "expected",
        "title",
        "description",
        "student",
        "$schema",
    }
)
# Keys of attncli's own JSON output, which is a valid input document.
RESULT_KEYS = frozenset({"schema_version", "config", "inputs", "stages", "output", "decode_step"})
RESULT_CONFIG_KEYS = frozenset(
    {*SETTING_KEYS, *VARIANT_KEYS, *MULTIHEAD_SETTING_KEYS, "scale_rule", "mask", "shapes", "empty_rows", "decode"}
    | {"mla"}
    | {"d_head", "d_v", "projection", "seed", "head_map"}
)


def _settings(problem: Problem | MultiHeadProblem) -> AttentionSettings:
    return AttentionSettings(
        problem.mask, problem.causal, cast(Any, problem.causal_align), problem.scale, cast(Any, problem.empty_row),
        cast(Any, problem.dtype), problem.variants,
    )  # fmt: skip


class MissingInputs(InputError):
    """A problem without the inputs it needs; `missing` names them (empty: multi-head inputs of any kind)."""

    def __init__(self, message: str, *, argument: str | None = None, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message, argument=argument)
        self.missing = missing


@dataclass(frozen=True)
class Problem:
    """Everything needed to compute one attention, plus optional labels and expected values."""

    q: NDArray[Any]
    k: NDArray[Any]
    v: NDArray[Any]
    mask: NDArray[Any] | None = None
    causal: bool = False
    causal_align: str = "top-left"
    scale: float | None = None
    empty_row: str = "zero"
    dtype: str = "float64"
    variants: MaskSpec = field(default_factory=MaskSpec)
    decode: int | None = None  # the last N queries as a KV-cache decoding step (attncli.core.decode)
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    expected: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    title: str | None = None
    description: str | None = None

    settings = property(_settings, doc="How this problem's scores become weights (checked when made).")

    def solve(self) -> Attention:
        """Run the engine on this problem."""
        return attention(self.q, self.k, self.v, settings=self.settings)


def read_document(text: str, source: str) -> dict[str, Any]:
    """Parse a problem document (a JSON object)."""
    if not text.strip():
        raise InputError(_("is empty: expected a JSON problem document"), argument=source)
    doc = loads_json(text, source)
    if not isinstance(doc, dict):
        message = _("expected a JSON object with q, k and v, got a {type}").format(type=type(doc).__name__)
        raise InputError(message, argument=source)
    return doc


def _unknown(keys: Any, known: frozenset[str], where: str) -> None:
    unknown = sorted(set(keys) - known)
    if unknown:
        listed = ", ".join(repr(k) for k in unknown)
        message = ngettext("unknown key {keys} (known: {known})", "unknown keys {keys} (known: {known})", len(unknown))
        raise InputError(message.format(keys=listed, known=", ".join(sorted(known))), argument=where)


def _matrix(value: Any, argument: str, kind: Kind, base_dir: Path | None, confined: bool) -> NDArray[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):  # compact rows or @file inside a document
        return parse_matrix(value, argument, kind, base_dir, confined)
    return from_json_value(value, argument, kind)


def _shown(value: Any) -> str:
    """A JSON value as an error shows it: repr, cut to 40 characters (a JSON integer may have thousands of digits)."""
    text = (
        repr(value)
        if not isinstance(value, int) or abs(value) < 10**30
        else ngettext("an integer of {n} digit", "an integer of {n} digits", len(str(abs(value)))).format(
            n=len(str(abs(value)))
        )
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _choice(value: Any, argument: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        message = _("must be one of {choices}, got {value}").format(choices=", ".join(choices), value=_shown(value))
        raise InputError(message, argument=argument)
    return str(value)


def document_npy_shapes(
    doc: Mapping[str, Any], source: str, base_dir: Path | None = None, confined: bool = False
) -> dict[str, tuple[int, ...]]:
    """The shapes of the document's @file.npy matrices (q, k, v, x, the weights; a result's inputs too),
    read from their headers only (attncli.parse.matrix.npy_shape), for a memory estimate before loading."""
    from attncli.parse.matrix import npy_shape

    inputs = doc.get("inputs")
    cells = {**(inputs if isinstance(inputs, dict) else {}), **doc}
    shapes = {}
    for key in (*MATRIX_KEYS, *MULTIHEAD_MATRIX_KEYS):
        shape = npy_shape(cells.get(key), f"{source}: {key}", base_dir, confined)
        if shape is not None:
            shapes[key] = shape
    return shapes


def document_fields(
    doc: Mapping[str, Any], source: str, base_dir: Path | None = None, confined: bool = False
) -> dict[str, Any]:
    """The problem fields a document gives (only those present), validated and parsed; `confined`: its
    @file cells may name only regular files in base_dir (attncli.parse.sandbox)."""
    src = f"{source}: "
    keys = set(doc)
    if keys & RESULT_KEYS:
        doc = _from_result(doc, source, src)
    else:
        _unknown(keys, DOCUMENT_KEYS, source)

    fields: dict[str, Any] = {}
    for key in MATRIX_KEYS:
        if key in doc:
            if doc[key] is None:
                raise InputError(_("is null; expected a matrix"), argument=src + key)
            fields[key] = _matrix(doc[key], src + key, "matrix", base_dir, confined)
    for key in MULTIHEAD_MATRIX_KEYS:
        if key in doc and doc[key] is not None:
            fields[key] = _matrix(doc[key], src + key, "matrix", base_dir, confined)
    if "mask" in doc:
        fields["mask"] = _matrix(doc["mask"], src + "mask", "mask", base_dir, confined)
    for key in ("rope", "alibi", "random_weights", "qk_norm"):
        if key in doc:
            if not isinstance(doc[key], bool):
                message = _("must be true or false, got {value}").format(value=_shown(doc[key]))
                raise InputError(message, argument=src + key)
            fields[key] = doc[key]
    for key, low in (("heads", 1), ("kv_heads", 1), ("seed", 0), ("decode", 1)):
        if key in doc and doc[key] is not None:
            if isinstance(doc[key], bool) or not isinstance(doc[key], int) or doc[key] < low:
                message = _("must be a whole number ≥ {low}, got {value}").format(low=low, value=_shown(doc[key]))
                raise InputError(message, argument=src + key)
            fields[key] = doc[key]
    fields.update(_multihead_numbers(doc, src))
    named_choices: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("rope_style", ROPE_STYLES),
        ("positional", POSITIONALS),
    )
    for key, choices in named_choices:
        if key in doc:
            fields[key] = _choice(doc[key], src + key, choices)
    if "causal" in doc:
        if not isinstance(doc["causal"], bool):
            message = _("must be true or false, got {value}").format(value=_shown(doc["causal"]))
            raise InputError(message, argument=src + "causal")
        fields["causal"] = doc["causal"]
    if "scale" in doc and doc["scale"] is not None:
        s = doc["scale"]
        if isinstance(s, bool) or not isinstance(s, int | float):
            raise InputError(_("must be a number or null, got {value}").format(value=_shown(s)), argument=src + "scale")
        if json_number(s) is None:
            message = _("must be a positive finite number, got {value}").format(value=_shown(s))
            raise InputError(message, argument=src + "scale")
        fields["scale"] = float(s)
    elif "scale" in doc:
        fields["scale"] = None
    for key, choices in (
        ("causal_align", CAUSAL_ALIGNS),
        ("empty_row", EMPTY_ROW_POLICIES),
        ("dtype", DTYPES),
    ):
        if key in doc:
            fields[key] = _choice(doc[key], src + key, choices)
    fields.update(_variant_fields(doc, src))
    if doc.get("mla") is not None:
        from attncli.problem.mla import mla_field

        fields["mla"] = mla_field(doc["mla"], src + "mla", base_dir, confined)
    if "labels" in doc:
        fields["labels"] = _labels(doc["labels"], src + "labels")
    if "expected" in doc:
        fields["expected"] = _expected(doc["expected"], src + "expected", base_dir, confined)
    for key in ("title", "description", "student"):
        if key in doc:
            if not isinstance(doc[key], str):
                raise InputError(_("must be a string"), argument=src + key)
            fields[key] = doc[key]
    return fields


def _from_result(doc: Mapping[str, Any], source: str, src: str) -> dict[str, Any]:
    """attncli's own JSON result as a problem document: its inputs and config, laid over the top level."""
    keys = set(doc)
    _unknown(keys, DOCUMENT_KEYS | RESULT_KEYS, source)
    inputs = doc.get("inputs") or {}
    config = doc.get("config") or {}
    if not isinstance(inputs, dict) or not isinstance(config, dict):
        raise InputError(_("'inputs' and 'config' must be JSON objects"), argument=source)
    _unknown(inputs, frozenset({*MATRIX_KEYS, *MULTIHEAD_MATRIX_KEYS, "mask", "mla"}), src + "inputs")
    _unknown(config, RESULT_CONFIG_KEYS, src + "config")
    merged = {k: v for k, v in doc.items() if k in DOCUMENT_KEYS}
    merged.update({k: v for k, v in inputs.items()})
    # null settings in a result (rope_style without RoPE) mean "not used": leave the defaults
    merged.update(
        {
            k: v
            for k, v in config.items()
            if (k in SETTING_KEYS or k in VARIANT_KEYS or k in MULTIHEAD_SETTING_KEYS or k == "decode")
            and v is not None
        }
    )
    if isinstance(inputs.get("mla"), dict) and isinstance(config.get("mla"), dict):  # MLA: its weights, its eps
        eps = config["mla"].get("c_norm_eps")
        merged["mla"] = {**inputs["mla"], **({"c_norm_eps": eps} if eps is not None else {})}
    if config.get("scale_rule") in ("1/sqrt(d_k)", "1/sqrt(query_pre_attn_scalar)"):
        merged["scale"] = None  # a rule was used; let it follow d_k (or query_pre_attn_scalar) again
    return merged


def _multihead_numbers(doc: Mapping[str, Any], src: str) -> dict[str, Any]:
    """rope_base (> 0) and qk_norm_eps (≥ 0), finite numbers."""
    fields: dict[str, Any] = {}
    if "rope_base" in doc and doc["rope_base"] is not None:
        base = doc["rope_base"]
        if isinstance(base, bool) or not isinstance(base, int | float) or not base > 0 or json_number(base) is None:
            message = _("must be a positive finite number, got {value}").format(value=_shown(base))
            raise InputError(message, argument=src + "rope_base")
        fields["rope_base"] = float(base)
    if doc.get("qk_norm_eps") is not None:
        eps = doc["qk_norm_eps"]
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps >= 0 or json_number(eps) is None:
            message = _("must be a finite number ≥ 0, got {value}").format(value=_shown(eps))
            raise InputError(message, argument=src + "qk_norm_eps")
        fields["qk_norm_eps"] = float(eps)
    return fields


def _variant_fields(doc: Mapping[str, Any], src: str) -> dict[str, Any]:
    """window, chunk, prefix, sink_tokens (whole numbers ≥ 1), window_right (≥ 0), window_rule, documents."""
    fields: dict[str, Any] = {}
    for key, low in (("window", 1), ("chunk", 1), ("prefix", 1), ("sink_tokens", 1), ("window_right", 0)):
        value = doc.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                message = _("must be a whole number ≥ {low}, got {value}").format(low=low, value=_shown(value))
                raise InputError(message, argument=src + key)
            fields[key] = value
    if doc.get("window_rule") is not None:
        fields["window_rule"] = _choice(doc["window_rule"], src + "window_rule", WINDOW_RULES)
    if doc.get("documents") is not None:
        ids = doc["documents"]
        if not isinstance(ids, list) or not ids or any(isinstance(d, bool) or not isinstance(d, int) for d in ids):
            message = _("must be a list of whole numbers, one document id per token, got {value}")
            raise InputError(message.format(value=_shown(ids)), argument=src + "documents")
        fields["documents"] = tuple(ids)
    for key in ("softcap", "query_pre_attn_scalar"):
        cap = doc.get(key)
        if cap is not None:
            if isinstance(cap, bool) or not isinstance(cap, int | float) or not cap > 0 or json_number(cap) is None:
                message = _("must be a positive finite number, got {value}").format(value=_shown(cap))
                raise InputError(message, argument=src + key)
            fields[key] = float(cap)
    sinks = doc.get("sinks")
    if sinks is not None:
        numbers = isinstance(sinks, list) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in sinks)
        if not numbers or not sinks or any(json_number(x) is None for x in sinks):
            message = _("must be a list of finite numbers, one sink logit per head, got {value}")
            raise InputError(message.format(value=_shown(sinks)), argument=src + "sinks")
        fields["sinks"] = tuple(float(x) for x in sinks)
    return fields


def _labels(value: Any, argument: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise InputError(_('must be an object like {"q": ["the", "cat"], "k": ["the", "cat"]}'), argument=argument)
    _unknown(value, frozenset({"q", "k"}), argument)
    out: dict[str, tuple[str, ...]] = {}
    for key, names in value.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(_("must be a list of strings"), argument=f"{argument}.{key}")
        out[key] = tuple(names)
    return out


def _expected(value: Any, argument: str, base_dir: Path | None, confined: bool) -> dict[str, NDArray[Any]]:
    if not isinstance(value, dict):
        message = _("must be an object with any of {stages}").format(stages=", ".join(STAGE_NAMES))
        raise InputError(message, argument=argument)
    _unknown(value, frozenset(STAGE_NAMES), argument)
    out: dict[str, NDArray[Any]] = {}
    for key, matrix in value.items():
        kind: Kind = "mask" if key == "masked" else "matrix"
        where = f"{argument}.{key}"
        parsed = (
            from_claim_value(matrix, where, kind)
            if isinstance(matrix, list)
            else _matrix(matrix, where, kind, base_dir, confined)
        )
        if parsed is not None:
            out[key] = parsed
    return out


def is_multihead(fields: Mapping[str, Any]) -> bool:
    """True when the fields ask for the multi-head pipeline (inputs x, weights, heads, positions…)."""
    return bool(_multihead_keys(fields))


def _multihead_keys(fields: Mapping[str, Any]) -> list[str]:
    # Settings that only refine others (rope_style, rope_base, seed) do not by themselves ask for heads.
    refining = {"rope_style", "rope_base", "seed", "qk_norm_eps"}
    return sorted(k for k in MULTIHEAD_KEYS - refining if fields.get(k) is not None and fields.get(k) is not False)


def build_problem(fields: Mapping[str, Any], source: str | None = None) -> Problem:
    """A Problem from parsed fields (document fields with flags already laid over them)."""
    if is_multihead(fields):
        keys = ", ".join(_multihead_keys(fields))
        message = _("this is a multi-head problem ({keys}); only attn compute takes those").format(keys=keys)
        raise InputError(message, argument=source)
    missing = [k for k in MATRIX_KEYS if fields.get(k) is None]
    if missing:
        message = _("no {missing} given: the problem needs q, k and v").format(missing="/".join(missing))
        raise MissingInputs(message, argument=source, missing=tuple(missing))
    known = {f for f in Problem.__dataclass_fields__}
    problem = Problem(
        **{k: v for k, v in fields.items() if k in known and v is not None}, variants=variants_of(fields, source)
    )
    _check_labels(problem)
    return problem


def _check_labels(problem: Problem) -> None:
    for key, n in (("q", problem.q.shape[-2]), ("k", problem.k.shape[-2])):
        names = problem.labels.get(key)
        if names is not None and len(names) != n:
            # One message for every count: the Russian is worded so that it needs no plural forms.
            message = _("has {labels} labels for {n} queries") if key == "q" else _("has {labels} labels for {n} keys")
            raise InputError(message.format(labels=len(names), n=n), argument=f"labels.{key}")


def load_problem(text: str, source: str, base_dir: Path | None = None, **overrides: Any) -> Problem:
    """Read a problem document; keyword overrides (already parsed) win over the document's fields."""
    fields = document_fields(read_document(text, source), source, base_dir)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return build_problem(fields, source)


@dataclass(frozen=True)
class MultiHeadProblem:
    """A multi-head / cross / grouped-query attention problem (see attncli.core.multihead)."""

    matrices: Mapping[str, NDArray[Any]]  # any of x, q_input, kv_input, q, k, v, wq…wo, bq…bo
    mask: NDArray[Any] | None = None
    heads: int = 1
    kv_heads: int | None = None
    random_weights: bool = False
    seed: int = 0
    causal: bool = False
    causal_align: str = "top-left"
    scale: float | None = None
    empty_row: str = "zero"
    dtype: str = "float64"
    positional: str = "none"
    rope: bool = False
    rope_style: str = "half"
    rope_base: float = 10000.0
    alibi: bool = False
    qk_norm: bool = False
    qk_norm_eps: float = 1e-6
    variants: MaskSpec = field(default_factory=MaskSpec)
    decode: int | None = None  # the last N queries as a KV-cache decoding step
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    expected: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    title: str | None = None
    description: str | None = None

    def score_cells(self) -> int:
        """H·T·S: the cells of every head's score-like stage tables (from the input shapes, before solving)."""
        m = self.matrices
        queries = next((m[k] for k in ("x", "q_input", "q") if k in m), None)
        keys = next((m[k] for k in ("x", "kv_input", "k") if k in m), queries)
        if queries is None or keys is None:
            return 0
        width = int(m["wq"].shape[-1]) if "wq" in m else int(queries.shape[-1])  # H·d_head
        if self.heads > width:
            return 0  # more heads than columns: solving says what is wrong (no tables are made)
        return self.heads * int(queries.shape[-2]) * int(keys.shape[-2])

    settings = property(_settings, doc="How this problem's scores become weights (checked when made).")

    @property
    def positions(self) -> Positions:
        """Where positions enter (checked when made)."""
        return Positions(
            cast(Any, self.positional), self.rope, cast(Any, self.rope_style), self.rope_base, self.alibi,
            self.qk_norm, self.qk_norm_eps,
        )  # fmt: skip

    def output_nbytes(self, workers: int) -> int:
        """The peak of the output-only path (attncli.core.memory.multihead_output_nbytes), from the
        input shapes before solving (0 when the inputs do not describe a problem: solving says why)."""
        from attncli.core.memory import multihead_output_nbytes

        dims = self._output_dims()
        if dims is None:
            return 0
        t, s, inputs, widths, heads = dims
        return multihead_output_nbytes(t, s, inputs, widths, heads, self.dtype, workers)

    def printed_values(self) -> int:
        """How many numbers the output-only path's JSON prints: the inputs and weights, every head's
        output and the final output."""
        dims = self._output_dims()
        if dims is None:
            return 0
        t, _s, _inputs, (_w_q, _w_k, w_v, d_out), (h, g) = dims
        return sum(int(a.size) for a in self.matrices.values()) + t * (w_v * h // g + d_out)

    def _output_dims(self) -> tuple[int, int, tuple[int, int], tuple[int, int, int, int], tuple[int, int]] | None:
        """(T, S, (d_in, d_kv), (w_q, w_k, w_v, d_out), (H, G)) from the matrices, as the core will find them."""
        m = self.matrices
        queries = next((m[k] for k in ("x", "q_input", "q") if k in m), None)
        keys = next((m[k] for k in ("x", "kv_input", "k") if k in m), queries)
        h, g = self.heads, self.kv_heads or self.heads
        if queries is None or keys is None or queries.ndim != 2 or keys.ndim != 2 or h < 1 or g < 1:
            return None
        (t, d_in), (s, d_kv) = queries.shape, keys.shape
        d_values = int(m["v"].shape[-1]) if "v" in m else d_kv
        w_q, w_k, w_v = (
            int(m[n].shape[-1]) if n in m else d for n, d in (("wq", d_in), ("wk", d_kv), ("wv", d_values))
        )
        if self.random_weights:
            w_q, w_k, w_v = h * (d_in // h), g * (d_in // h), g * (d_in // h)
        d_out = int(m["wo"].shape[-1]) if "wo" in m else (d_in if self.random_weights else w_v * h // g)
        return t, s, (d_in, d_kv), (w_q, w_k, w_v, d_out), (h, g)

    def solve(self) -> MultiHead:
        """Run the multi-head pipeline on this problem."""
        from attncli.core.multihead import multi_head_attention  # (here: one head starts without it)

        result: MultiHead = multi_head_attention(**self._arguments())
        return result

    def solve_output(self, tiling: Tiling | None = None) -> MultiHeadOutput:
        """The output alone, every head by the blocked path (`tiling` says how that runs)."""
        from attncli.core.multihead import multi_head_attention

        result: MultiHeadOutput = multi_head_attention(**self._arguments(), keep_stages=False, tiling=tiling)
        return result

    def _arguments(self) -> dict[str, Any]:
        return dict(
            **cast(dict[str, Any], dict(self.matrices)),
            heads=self.heads,
            kv_heads=self.kv_heads,
            random_weights_seed=self.seed if self.random_weights else None,
            settings=self.settings,
            positions=self.positions,
        )


def build_multihead(fields: Mapping[str, Any], source: str | None = None) -> MultiHeadProblem:
    """A MultiHeadProblem from parsed fields; missing inputs are named."""
    matrix_keys = (*MATRIX_KEYS, *MULTIHEAD_MATRIX_KEYS)
    matrices = {k: fields[k] for k in matrix_keys if fields.get(k) is not None}
    if not any(k in matrices for k in ("x", "q_input", "kv_input", "q", "k", "v")):
        message = _(
            "no inputs given: the problem needs x (self-attention), q_input and kv_input (cross-attention), "
            "or q, k and v"
        )
        raise MissingInputs(message, argument=source)
    known = set(MultiHeadProblem.__dataclass_fields__) - {"matrices", "variants"}
    settings = {k: v for k, v in fields.items() if k in known and v is not None}
    return MultiHeadProblem(matrices=matrices, **settings, variants=variants_of(fields, source))


def variants_of(fields: Mapping[str, Any], source: str | None) -> MaskSpec:
    """The structured masks the fields give (a MaskSpec; its checks name the key)."""
    given = {k: fields[k] for k in VARIANT_KEYS if fields.get(k) is not None}
    try:
        return MaskSpec(**given)
    except AttnError as e:
        where = str(e.argument) if source is None else f"{source}: {e.argument}"
        raise e.with_argument(where) from None
