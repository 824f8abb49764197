"""Fuzzing the variants of attention: random values for every structured-mask and score flag and
document key (windows, chunks, prefix, documents, sink tokens, softcap, sinks, Gemma 2's scale rule,
KV-cache decoding, QK-norm, multi-head latent attention), alone and combined,
with masks, causal alignments, heads and the blocked path: every run keeps the rule of
tests/fuzzing.py (exit 0, or 2 with one line naming the flag or key)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conftest import RunAttn
from fuzzing import fuzz_settings, number_text, run_clean

INT_FLAGS = ("--window", "--window-right", "--chunk", "--prefix", "--sink-tokens", "--decode")
TEXT = st.one_of(
    st.integers(-3, 9).map(str), number_text(), st.text(max_size=8), st.lists(st.integers(-2, 3), max_size=7).map(
        lambda xs: ",".join(map(str, xs))
    )
)  # fmt: skip
FLAG = st.one_of(
    st.tuples(st.sampled_from(INT_FLAGS), TEXT),
    st.tuples(st.just("--window-rule"), st.sampled_from(["hf", "gym", "jax", "HF", ""])),
    st.tuples(st.sampled_from(["--documents", "--sinks", "--softcap", "--query-pre-attn-scalar"]), TEXT),
)
# Flags of the multi-head pipeline: QK-norm and multi-head latent attention.
HEAD_FLAG = st.one_of(
    st.tuples(st.sampled_from(["--q-norm", "--k-norm", "--qk-norm-eps", "--mla", "--decode"]), TEXT),
    st.tuples(
        st.just("--mla"), st.lists(st.integers(-1, 5), min_size=3, max_size=5).map(lambda xs: ",".join(map(str, xs)))
    ),
    st.tuples(
        st.just("--qk-norm"),
    ),
)
EXTRAS = st.lists(
    st.sampled_from(
        [["--causal"], ["--causal-align", "bottom-right"], ["--stage", "output"], ["--stage", "visible"],
         ["--mask", "true false true; true true false"], ["--heads", "2"], ["--empty-row", "nan"]]
    ),
    max_size=3,
)  # fmt: skip


@fuzz_settings()
@given(flags=st.lists(FLAG, min_size=1, max_size=4), extras=EXTRAS, json_out=st.booleans())
def test_variant_flags(attn: RunAttn, flags: list[tuple[str, str]], extras: list[list[str]], json_out: bool) -> None:
    x = "1 0; 0 1; 1 1"
    base = ["--x", x] if ["--heads", "2"] in extras else ["--q", x, "--k", x, "--v", x]
    args = ["compute", *base, *(a for pair in flags for a in pair), *(a for e in extras for a in e)]
    run_clean(attn, *args, *(["--json"] if json_out else []))


@fuzz_settings()
@given(flags=st.lists(HEAD_FLAG, min_size=1, max_size=3), heads=st.sampled_from(["1", "2"]), causal=st.booleans(),
       json_out=st.booleans())  # fmt: skip
def test_multihead_variant_flags(
    attn: RunAttn, flags: list[tuple[str, ...]], heads: str, causal: bool, json_out: bool
) -> None:
    args = ["compute", "--x", "1 0 1 0; 0 1 0 1; 1 1 0 0", "--heads", heads, *(a for f in flags for a in f)]
    run_clean(attn, *args, *(["--causal"] if causal else []), *(["--json"] if json_out else []))


VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 5), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4), st.lists(st.one_of(st.integers(-1, 3), st.floats(-2, 2), st.text(max_size=1)), max_size=5),
)  # fmt: skip
KEYS = (
    *("window", "window_rule", "window_right", "chunk", "prefix", "documents", "sink_tokens", "softcap", "sinks"),
    *("query_pre_attn_scalar", "decode"),
)


@fuzz_settings()
@given(doc=st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=4), causal=st.booleans())
def test_variant_document_keys(attn: RunAttn, doc: dict[str, Any], causal: bool) -> None:
    problem = {"q": [[1, 0], [0, 1], [1, 1]], "k": [[1, 0], [0, 1], [1, 1]], "v": [[1], [2], [3]], "causal": causal}
    r = run_clean(attn, "compute", "--json", stdin=json.dumps({**problem, **doc}))
    if r.code == 0:  # a result reads back as the same problem
        again = run_clean(attn, "compute", "--json", stdin=r.out)
        assert again.code == 0 and json.loads(again.out)["output"] == json.loads(r.out)["output"]


MLA_VALUES: st.SearchStrategy[Any] = st.one_of(
    VALUES,
    st.dictionaries(
        st.sampled_from(["d_c", "d_rope", "d_nope", "d_v", "w_dkv", "w_q", "c_norm_eps", "x"]), VALUES, max_size=5
    ),
)
HEAD_KEYS = ("q_norm", "k_norm", "qk_norm", "qk_norm_eps", "mla", "decode", "heads")


@fuzz_settings()
@given(doc=st.dictionaries(st.sampled_from(HEAD_KEYS), MLA_VALUES, min_size=1, max_size=4))
def test_multihead_variant_document_keys(attn: RunAttn, doc: dict[str, Any]) -> None:
    problem = {"x": [[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], "heads": 2, "causal": True}
    r = run_clean(attn, "compute", "--json", stdin=json.dumps({**problem, **doc}))
    if r.code == 0:  # a result reads back as the same problem
        again = run_clean(attn, "compute", "--json", stdin=r.out)
        assert again.code == 0 and json.loads(again.out)["output"] == json.loads(r.out)["output"]
