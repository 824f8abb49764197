"""Results as strict JSON (RFC 8259: −∞ and NaN become null), schema version 1.

The schema is shipped as attncli/schema/result.schema.json and documented in the README.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.core.engine import Attention
from attncli.core.positions import Positions
from attncli.core.settings import MaskSpec
from attncli.core.stages import TABLE_STAGES
from attncli.problem.document import MultiHeadProblem, Problem

if TYPE_CHECKING:
    from numpy.typing import NDArray

if TYPE_CHECKING:
    from attncli.core.blocked import AttentionOutput
    from attncli.core.decode import Cache, DecodeStep
    from attncli.core.mla import MLA
    from attncli.core.multihead import MultiHead, MultiHeadOutput
    from attncli.problem.mla import MLAProblem

SCHEMA_VERSION = 1
ALL_STAGES = TABLE_STAGES[1:]  # every stage but the inputs, which the document holds apart


def jsonable(a: NDArray[Any] | None) -> Any:
    """Nested lists with non-finite numbers replaced by None (JSON null)."""
    if a is None:
        return None
    if a.dtype == np.bool_:
        return a.tolist()
    a = np.asarray(a, dtype=np.float64)
    if np.isfinite(a).all():
        return a.tolist()
    cells = a.astype(object)
    cells[~np.isfinite(a)] = None
    return cells.tolist()


def mask_kind(mask: NDArray[Any] | None) -> str | None:
    """How a mask reads: None, "boolean" (True = attend) or "additive"."""
    if mask is None:
        return None
    return "boolean" if mask.dtype == np.bool_ else "additive"


def _document(
    r: Attention | AttentionOutput,
    inputs: tuple[Any, Any, Any, Any],
    scores_shape: tuple[int, ...],
    stages: dict[str, Any],
    problem: Problem | MultiHeadProblem | None,
) -> dict[str, Any]:
    """The document every result shares: schema version, config, inputs (q, k, v, mask), stages, output."""
    q, k, v = (np.asarray(a) for a in inputs[:3])
    mask = None if inputs[3] is None else np.asarray(inputs[3])
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "config": {
            "scale": r.scale,
            "scale_rule": scale_rule(r),
            "causal": r.causal,
            "causal_align": r.causal_align,
            "mask": mask_kind(mask),
            **variant_config(r.variants),
            "dtype": r.dtype,
            "empty_row": r.empty_row,
            "empty_rows": [list(i) for i in r.empty_rows],
            "shapes": {
                "q": list(q.shape),
                "k": list(k.shape),
                "v": list(v.shape),
                "scores": list(scores_shape),
                "output": list(r.output.shape),
            },
        },
        "inputs": {"q": jsonable(q), "k": jsonable(k), "v": jsonable(v), "mask": jsonable(mask)},
        "stages": stages,
        "output": jsonable(r.output),
    }
    doc.update(_problem_extras(problem))
    return doc


def scale_rule(r: Attention | AttentionOutput) -> str:
    """How the scale was chosen: "1/sqrt(d_k)" (the default), "1/sqrt(query_pre_attn_scalar)" (Gemma 2) or "given"."""
    if r.scale_is_default:
        return "1/sqrt(d_k)"
    return "1/sqrt(query_pre_attn_scalar)" if r.variants.query_pre_attn_scalar is not None else "given"


def variant_config(spec: MaskSpec) -> dict[str, Any]:
    """The structured masks as config keys (null when not used), which read back as a problem document."""
    return {
        "window": spec.window,
        "window_rule": spec.window_rule if spec.window is not None else None,
        "window_right": spec.window_right if spec.window is not None else None,
        "chunk": spec.chunk,
        "prefix": spec.prefix,
        "documents": None if spec.documents is None else list(spec.documents),
        "sink_tokens": spec.sink_tokens,
        "softcap": spec.softcap,
        "sinks": None if spec.sinks is None else list(spec.sinks),
        "query_pre_attn_scalar": spec.query_pre_attn_scalar,
    }


def result_dict(
    result: Attention, problem: Problem | None = None, stages: Iterable[str] | None = None
) -> dict[str, Any]:
    """The JSON document for a result. `stages` limits which stages are included (default all)."""
    wanted = set(ALL_STAGES if stages is None else stages)
    if "softmax" in wanted:
        wanted.add("weights")
    stage_values: dict[str, Any] = {}
    if "scores" in wanted:
        stage_values["scores"] = jsonable(result.scores)
    if "scaled" in wanted:
        stage_values["scaled"] = jsonable(result.scaled)
    if "capped" in wanted and result.capped is not None:
        stage_values["capped"] = jsonable(result.capped)
    if "masked" in wanted:
        stage_values["masked"] = jsonable(result.masked)
    if "visible" in wanted and result.allowed is not None:
        stage_values["visible"] = {
            "allowed": jsonable(result.allowed),
            "counts": jsonable(result.allowed.sum(axis=-1)),
        }
    if "softmax" in wanted:
        stage_values["softmax"] = {
            "row_max": jsonable(result.row_max[..., 0]),
            "shifted": jsonable(result.shifted),
            "exp": jsonable(result.exp),
            "row_sum": jsonable(result.row_sum[..., 0]),
        }
    if "weights" in wanted:
        stage_values["weights"] = jsonable(result.weights)
        if result.sink_weight is not None:
            stage_values["sink_weight"] = jsonable(result.sink_weight[..., 0])
    if "output" in wanted:
        stage_values["output"] = jsonable(result.output)
    return _document(result, (result.q, result.k, result.v, result.mask), result.scores.shape, stage_values, problem)


def dumps(value: Any, indent: int = 2, _level: int = 0) -> str:
    """Strict JSON with one matrix row per line (innermost lists stay on one line)."""
    if isinstance(value, list) and value and any(isinstance(x, list | dict) for x in value):
        pad = " " * (indent * (_level + 1))
        items = ",\n".join(pad + dumps(x, indent, _level + 1) for x in value)
        return "[\n" + items + "\n" + " " * (indent * _level) + "]"
    if isinstance(value, dict) and value:
        pad = " " * (indent * (_level + 1))
        items = ",\n".join(
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {dumps(x, indent, _level + 1)}" for k, x in value.items()
        )
        return "{\n" + items + "\n" + " " * (indent * _level) + "}"
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(", ", ": "))


def _multihead_document(config: Any, inputs: Any, stages: Any, output: Any, problem: Any) -> dict[str, Any]:
    """The multi-head (and MLA) document: config, inputs, stages and output, then the problem's extras."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "inputs": inputs,
        "stages": stages,
        "output": jsonable(output),
    }
    doc.update(_problem_extras(problem))
    return doc


def _problem_extras(problem: Problem | MultiHeadProblem | MLAProblem | None) -> dict[str, Any]:
    """title, description and labels of the problem document, copied into the result."""
    if problem is None:
        return {}
    extras: dict[str, Any] = {key: getattr(problem, key) for key in ("title", "description") if getattr(problem, key)}
    if problem.labels:
        extras["labels"] = {k: list(v) for k, v in problem.labels.items()}
    return extras


def decode_dict(d: DecodeStep) -> dict[str, Any]:
    """A KV-cache decoding step: the cache before and after, the step's weights and output, the full
    recompute's rows they equal, and whether bit for bit."""

    cache = _cache_dict
    rows = d.full_rows
    return {
        "new": d.new,
        "cached": d.cached,
        "cache_before": cache(d.before),
        "cache": cache(d.cache),
        "weights": jsonable(d.step.weights),
        "output": jsonable(d.step.output),
        "full_weights": jsonable(d.full.weights[..., rows, :]),
        "full_output": jsonable(d.full.output[..., rows, :]),
        "bit_equal": d.bit_equal,
        "max_difference": d.max_difference,
    }


def with_decode(doc: dict[str, Any], d: DecodeStep | None) -> dict[str, Any]:
    """The result document with its decoding step (config.decode and decode_step), if there is one."""
    if d is not None:
        doc["config"]["decode"] = d.new
        doc["decode_step"] = decode_dict(d)
    return doc


def to_json(
    result: Attention,
    problem: Problem | None = None,
    stages: Iterable[str] | None = None,
    indent: int | None = 2,
    decode: DecodeStep | None = None,
) -> str:
    """Strict JSON text of `result_dict` (raises if anything non-finite slipped through)."""
    doc = with_decode(result_dict(result, problem, stages), decode)
    if indent is None:
        return json.dumps(doc, allow_nan=False, ensure_ascii=False)
    return dumps(doc, indent)


MULTIHEAD_ONLY_STAGES = ("positional", "projected", "heads", "qk_norm", "rope", "alibi", "concat", "projection")


def multihead_dict(
    result: MultiHead,
    problem: MultiHeadProblem | None = None,
    stages: Iterable[str] | None = None,
    average_heads: bool = False,
) -> dict[str, Any]:
    """The JSON document of a multi-head result: the single-head schema, with a leading head axis H on
    the per-head stages, plus `positional`, `projected`, `rope`, `alibi`, `concat`; `output` is final."""
    wanted = set(ALL_STAGES + MULTIHEAD_ONLY_STAGES if stages is None else stages)
    base = result_dict(result.attention, None, [s for s in wanted if s in ALL_STAGES])
    config = base["config"]
    config["mask"] = mask_kind(None if problem is None else problem.mask)  # the user's mask, not ALiBi's bias
    positions = Positions(
        "sinusoidal" if result.positional is not None else "none",
        rope=result.rope is not None,
        rope_style=result.rope.style if result.rope is not None else "half",
        rope_base=result.rope.base if result.rope is not None else 10000.0,
        alibi=result.alibi_slopes is not None,
        qk_norm=result.qk_norm is not None,
        qk_norm_eps=result.qk_norm.eps if result.qk_norm is not None else 1e-6,
    )
    config.update(_heads_config(result, positions, problem))
    inputs = _heads_inputs(result, result.projected, problem)

    stage_values: dict[str, Any] = {}
    if "positional" in wanted and result.positional is not None:
        p = result.positional
        stage_values["positional"] = {"encoding": jsonable(p.q_encoding), "q_input": jsonable(p.q_after)}
        if result.x_q is not result.x_kv:
            stage_values["positional"].update(kv_encoding=jsonable(p.kv_encoding), kv_input=jsonable(p.kv_after))
    if "projected" in wanted:
        stage_values["projected"] = dict(zip(("q", "k", "v"), (jsonable(a) for a in result.projected), strict=True))
    if "qk_norm" in wanted and result.qk_norm is not None:
        n = result.qk_norm
        stage_values["qk_norm"] = {
            "q_before": jsonable(n.q_before), "k_before": jsonable(n.k_before),
            "q_rms": jsonable(n.q_rms[..., 0]), "k_rms": jsonable(n.k_rms[..., 0]),
            "q": jsonable(n.q_after), "k": jsonable(n.k_after),
        }  # fmt: skip
    if "rope" in wanted and result.rope is not None:
        r = result.rope
        stage_values["rope"] = {
            "q_before": jsonable(r.q_before), "k_before": jsonable(r.k_before),
            "q": jsonable(r.q_after), "k": jsonable(r.k_after),
        }  # fmt: skip
    if "alibi" in wanted and result.alibi_slopes is not None:
        stage_values["alibi"] = {"slopes": jsonable(result.alibi_slopes), "bias": jsonable(result.alibi_bias)}
    stage_values.update(base["stages"])
    if average_heads:
        stage_values["average_weights"] = jsonable(result.average_weights)
    if "concat" in wanted:
        stage_values["concat"] = jsonable(result.concat)
    return _multihead_document(config, inputs, stage_values, result.output, problem)


def _heads_config(
    r: MultiHead | MultiHeadOutput, positions: Positions, problem: MultiHeadProblem | None
) -> dict[str, Any]:
    """The multi-head keys of config: the heads, the projection, the positions (and the seed of random weights)."""
    config: dict[str, Any] = {
        "heads": r.heads, "kv_heads": r.kv_heads, "d_head": r.d_head, "d_v": r.d_v, "head_map": list(r.head_map),
        "projection": r.projection, "positional": positions.positional, "rope": positions.rope,
        "rope_style": positions.rope_style if positions.rope else None,
        "rope_base": positions.rope_base if positions.rope else None, "alibi": positions.alibi,
        "qk_norm": positions.qk_norm, "qk_norm_eps": positions.qk_norm_eps if positions.qk_norm else None,
    }  # fmt: skip
    if r.projection == "random" and problem is not None:
        config["seed"] = problem.seed
    return config


def _heads_inputs(
    r: MultiHead | MultiHeadOutput, qkv: tuple[Any, Any, Any] | None, problem: MultiHeadProblem | None
) -> dict[str, Any]:
    """The multi-head document's inputs: x (or q_input and kv_input, or q, k, v), the weights, the mask."""
    inputs: dict[str, Any] = {}
    if r.x_q is not None and r.x_kv is not None:
        if r.x_q is r.x_kv:
            inputs["x"] = jsonable(r.x_q)
        else:
            inputs["q_input"], inputs["kv_input"] = jsonable(r.x_q), jsonable(r.x_kv)
    elif qkv is not None:
        inputs.update(zip(("q", "k", "v"), (jsonable(np.asarray(a)) for a in qkv), strict=True))
    inputs.update({name: jsonable(w) for name, w in r.weights.items()})
    inputs["mask"] = None if problem is None else jsonable(problem.mask)
    return inputs


def multihead_output_dict(result: MultiHeadOutput, problem: MultiHeadProblem | None = None) -> dict[str, Any]:
    """The JSON document of a multi-head output computed without its stages (the blocked path): the
    multi-head config and inputs, `stages.output` the heads' outputs (H, T, d_v), `output` the final one."""
    out = result.attention
    q_shape, k_shape, v_shape = result.qkv_shapes
    config = {
        "scale": out.scale, "scale_rule": scale_rule(out), "causal": out.causal, "causal_align": out.causal_align,
        "mask": mask_kind(None if problem is None else problem.mask), **variant_config(out.variants),
        "dtype": out.dtype, "empty_row": out.empty_row, "empty_rows": [list(i) for i in out.empty_rows],
        "shapes": {"q": list(q_shape), "k": list(k_shape), "v": list(v_shape),
                   "scores": [q_shape[0], q_shape[1], k_shape[1]], "output": list(out.output.shape)},
        **_heads_config(result, result.positions, problem),
    }  # fmt: skip
    qkv = None
    if problem is not None and all(n in problem.matrices for n in ("q", "k", "v")):
        qkv = (problem.matrices["q"], problem.matrices["k"], problem.matrices["v"])
    inputs = _heads_inputs(result, qkv, problem)
    return _multihead_document(config, inputs, {"output": jsonable(out.output)}, result.output, problem)


def output_dict(out: AttentionOutput, problem: Problem) -> dict[str, Any]:
    """The JSON document of an output-only result (the blocked path): stages hold just `output`."""
    t, s = problem.q.shape[-2], problem.k.shape[-2]
    scores_shape = (*out.output.shape[:-2], t, s)
    inputs = (problem.q, problem.k, problem.v, problem.mask)
    return _document(out, inputs, scores_shape, {"output": jsonable(out.output)}, problem)


def _cache_dict(c: Cache) -> dict[str, Any]:
    holds = [{"name": name, "shape": list(shape)} for name, shape in c.holds]
    return {"holds": holds, "kv_heads": c.kv_heads, "dtype": c.dtype, "bytes": c.nbytes, "shared": c.shared}


def mla_dict(result: MLA, problem: MLAProblem | None = None, stages: Iterable[str] | None = None) -> dict[str, Any]:
    """The JSON document of a multi-head latent attention: the per-head stages (a leading head axis) of
    the single-head schema, `stages.mla` (the latent, the RoPE key, the score parts, what the cache
    holds against standard MHA), `config.mla` (the dimensions), `inputs.x` and `inputs.mla` (the weights)."""
    wanted = set(ALL_STAGES if stages is None else stages)
    base = result_dict(result.attention, None, [s for s in wanted if s in ALL_STAGES])
    d = result.dims
    config = base["config"]
    config["mask"] = mask_kind(None if problem is None else problem.mask)
    config.update(
        heads=result.heads,
        mla={"d_c": d.d_c, "d_rope": d.d_rope, "d_nope": d.d_nope, "d_v": d.d_v,
             "c_norm_eps": None if problem is None else float(problem.mla.get("c_norm_eps", 1e-6))},
        rope_base=None if problem is None else problem.rope_base,
    )  # fmt: skip
    if problem is not None and problem.mla.get("dims") is not None:
        config["seed"] = problem.seed
    inputs = {"x": jsonable(result.x), "mla": {n: jsonable(w) for n, w in result.weights.items()}, "mask": None}
    if problem is not None:
        inputs["mask"] = jsonable(problem.mask)
    stage_values: dict[str, Any] = {
        "mla": {
            "c_before": jsonable(result.c_before), "c": jsonable(result.c),
            "k_rope_before": jsonable(result.k_rope_before), "k_rope": jsonable(result.k_rope),
            "q_nope": jsonable(result.q_nope), "q_rope": jsonable(result.q_rope),
            "k_nope": jsonable(result.k_nope), "v": jsonable(result.v),
            "scores_nope": jsonable(result.scores_nope), "scores_rope": jsonable(result.scores_rope),
            "cache": _cache_dict(result.cache), "mha_cache": _cache_dict(result.mha_cache),
        },
        **base["stages"],
        "concat": jsonable(result.concat),
    }  # fmt: skip
    return _multihead_document(config, inputs, stage_values, result.output, problem)
