"""The structured masks (attncli.core.settings.MaskSpec, attncli.core.masks.MaskRule): hand-worked
grids, the blocked path against the stage path, the blocks it skips, and parity with the references
(transformers.masking_utils and PyTorch flex_attention's mask functions, at test time only)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.core.attention import attention, attention_output
from attncli.core.blocked import Tiling, _key_tiles, _plan
from attncli.core.checks import checked_inputs
from attncli.core.masks import MaskRule
from attncli.core.settings import AttentionSettings, MaskSpec
from attncli.errors import AttnError, ShapeError


def grid(t: int, s: int, spec: MaskSpec, causal: bool = False, align: str = "top-left") -> list[str]:
    cells = MaskRule(t, s, causal, align, spec).allowed()  # type: ignore[arg-type]
    return ["".join("x" if c else "." for c in row) for row in cells]


def test_the_three_window_conventions_by_hand() -> None:
    # hf: i − 2 < j ≤ i, 2 keys with itself; gym: 0 ≤ i − j ≤ 2, 3 keys; jax (1, 1): i − 1 ≤ j ≤ i + 1
    assert grid(5, 5, MaskSpec(window=2)) == ["x....", "xx...", ".xx..", "..xx.", "...xx"]
    assert grid(5, 5, MaskSpec(window=2, window_rule="gym")) == ["x....", "xx...", "xxx..", ".xxx.", "..xxx"]
    assert grid(5, 5, MaskSpec(window=1, window_rule="jax", window_right=1)) == [
        "xx...",
        "xxx..",
        ".xxx.",
        "..xxx",
        "...xx",
    ]


def test_chunks_prefix_documents_and_sinks_by_hand() -> None:
    assert grid(5, 5, MaskSpec(chunk=2)) == ["x....", "xx...", "..x..", "..xx.", "....x"]
    assert grid(5, 5, MaskSpec(prefix=3)) == ["xxx..", "xxx..", "xxx..", "xxxx.", "xxxxx"]
    assert grid(5, 5, MaskSpec(documents=(0, 0, 1, 1, 1))) == ["xx...", "xx...", "..xxx", "..xxx", "..xxx"]
    assert grid(5, 5, MaskSpec(documents=(0, 0, 1, 1, 1)), causal=True) == [
        "x....",
        "xx...",
        "..x..",
        "..xx.",
        "..xxx",
    ]
    assert grid(6, 6, MaskSpec(window=2, sink_tokens=1)) == [
        "x.....",
        "xx....",
        "xxx...",
        "x.xx..",
        "x..xx.",
        "x...xx",
    ]


def test_bottom_right_places_the_queries_at_the_last_keys() -> None:
    # one new query (a KV-cache step) at position 4 with window 2 sees keys 3 and 4
    assert grid(1, 5, MaskSpec(window=2), align="bottom-right") == ["...xx"]
    assert grid(2, 5, MaskSpec(chunk=2), align="bottom-right") == ["..xx.", "....x"]


def test_the_engine_masks_what_the_rule_allows_and_names_empty_rows() -> None:
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(3, 6, 4))
    spec = MaskSpec(window=3, window_rule="gym")
    r = attention(q, k, v, settings=AttentionSettings(variants=spec))
    assert r.allowed is not None and r.variants == spec
    assert (r.allowed == MaskRule(6, 6, False, "top-left", spec).allowed()).all()
    assert (r.weights[~r.allowed] == 0).all()
    np.testing.assert_allclose(r.weights.sum(axis=-1), 1.0, atol=1e-15)
    # a user mask hiding key 0 leaves query 0 (which sees only key 0 under the window) with nothing
    mask = np.ones((6, 6), dtype=bool)
    mask[:, 0] = False
    r = attention(q, k, v, settings=AttentionSettings(mask=mask, variants=MaskSpec(window=1)))
    assert r.empty_rows == ((0,),) and (r.weights[0] == 0).all()


@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        ({"window": 0}, "window"),
        ({"chunk": -1}, "chunk"),
        ({"prefix": 2.5}, "prefix"),
        ({"window": True}, "window"),
        ({"window": 2, "window_rule": "left"}, "window_rule"),
        ({"window": 2, "window_right": 1}, "window_right"),
        ({"window": 2, "window_rule": "jax", "window_right": -1}, "window_right"),
        ({"sink_tokens": 2}, "sink_tokens"),
    ],
)
def test_bad_specs_name_the_field(changes: dict[str, object], argument: str) -> None:
    with pytest.raises(ShapeError) as e:
        MaskSpec(**changes)  # type: ignore[arg-type]
    assert e.value.argument == argument


def test_documents_need_one_id_per_key() -> None:
    with pytest.raises(ShapeError, match=r"one document id per key \(4 keys\), got 3") as e:
        attention(np.ones((4, 2)), np.ones((4, 2)), np.ones((4, 2)), settings=AttentionSettings(
            variants=MaskSpec(documents=(0, 0, 1))
        ))  # fmt: skip
    assert e.value.argument == "documents"


SPECS = st.one_of(
    st.builds(MaskSpec, window=st.integers(1, 40), window_rule=st.sampled_from(["hf", "gym"])),
    st.builds(MaskSpec, window=st.integers(1, 40), window_rule=st.just("jax"), window_right=st.integers(0, 20)),
    st.builds(MaskSpec, window=st.integers(1, 40), sink_tokens=st.integers(1, 6)),
    st.builds(MaskSpec, chunk=st.integers(1, 40)),
    st.builds(MaskSpec, prefix=st.integers(1, 60)),
    st.builds(MaskSpec, window=st.integers(1, 30), chunk=st.integers(1, 30)),
)


@settings(max_examples=60, deadline=None)
@given(
    spec=SPECS,
    t=st.integers(1, 70),
    extra=st.integers(0, 20),
    causal=st.booleans(),
    align=st.sampled_from(["top-left", "bottom-right"]),
    seed=st.integers(0, 2**16),
    blocks=st.sampled_from([(4, 4), (8, 16), (16, 8)]),
)
def test_blocked_equals_the_stage_path(
    spec: MaskSpec, t: int, extra: int, causal: bool, align: str, seed: int, blocks: tuple[int, int]
) -> None:
    rng = np.random.default_rng(seed)
    s = t + extra
    q, k, v = rng.normal(size=(2, t, 5)), rng.normal(size=(2, s, 5)), rng.normal(size=(2, s, 3))
    cfg = AttentionSettings(causal=causal, causal_align=align, variants=spec)  # type: ignore[arg-type]
    full = attention(q, k, v, settings=cfg)
    out = attention_output(q, k, v, cfg, block_q=blocks[0], block_k=blocks[1], threads=1)
    np.testing.assert_allclose(out.output, full.output, atol=1e-12, rtol=0)
    assert out.empty_rows == full.empty_rows


@settings(max_examples=30, deadline=None)
@given(ids=st.lists(st.integers(0, 3), min_size=1, max_size=60), causal=st.booleans(), seed=st.integers(0, 99))
def test_blocked_equals_the_stage_path_for_documents(ids: list[int], causal: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = len(ids)
    q, k, v = rng.normal(size=(3, n, 4))
    cfg = AttentionSettings(causal=causal, variants=MaskSpec(documents=tuple(sorted(ids) if seed % 2 else ids)))
    full = attention(q, k, v, settings=cfg)
    out = attention_output(q, k, v, cfg, block_q=8, block_k=8, threads=2)
    np.testing.assert_allclose(out.output, full.output, atol=1e-12, rtol=0)


def test_the_blocked_path_visits_only_the_tiles_near_the_window() -> None:
    t, bq, bk, w = 4096, 256, 256, 256
    x = np.zeros((t, 2))
    checked = checked_inputs(x, x, x, AttentionSettings(variants=MaskSpec(window=w)))
    plan = _plan(checked)
    tiles = [len(_key_tiles(plan, i0, min(i0 + bq, t), bk)) for i0 in range(0, t, bq)]
    assert max(tiles) == 2  # the diagonal tile and the one before it: T·W work, not T²
    causal = _plan(checked_inputs(x, x, x, AttentionSettings(causal=True)))
    assert sum(len(_key_tiles(causal, i0, i0 + bq, bk)) for i0 in range(0, t, bq)) == 16 * 17 // 2
    docs = tuple(np.repeat(np.arange(16), 256).tolist())
    plan = _plan(checked_inputs(x, x, x, AttentionSettings(variants=MaskSpec(documents=docs))))
    assert [len(_key_tiles(plan, i0, i0 + bq, bk)) for i0 in range(0, t, bq)] == [1] * 16


def test_blocked_progress_still_counts_work_items() -> None:
    x = np.random.default_rng(1).normal(size=(64, 4))
    done: list[tuple[int, int]] = []
    tiling = Tiling(block_q=16, block_k=16, threads=1, progress=lambda a, b: done.append((a, b)))
    from attncli.core.blocked import blocked_output

    blocked_output(checked_inputs(x, x, x, AttentionSettings(variants=MaskSpec(chunk=16))), tiling)
    assert done[-1] == (4, 4)


# --- references: transformers.masking_utils and flex_attention's mask functions ---------------------------------


def _reference_grid(mask_function: object, t: int, s: int, offset: int = 0) -> np.ndarray:
    import torch

    q_idx = torch.arange(t)[:, None] + offset
    kv_idx = torch.arange(s)[None, :]
    zero = torch.tensor(0)
    with torch.no_grad():
        out = mask_function(zero, zero, q_idx, kv_idx)  # type: ignore[operator]
    return np.asarray(out.expand(t, s).numpy(), dtype=bool)


@settings(max_examples=40, deadline=None)
@given(t=st.integers(1, 40), extra=st.integers(0, 10), w=st.integers(1, 20), c=st.integers(1, 20))
def test_parity_with_transformers_masking_utils(t: int, extra: int, w: int, c: int) -> None:
    torch = importlib.import_module("torch")
    masking_utils = importlib.import_module("transformers.masking_utils")
    s = t + extra
    for spec, reference in (
        (MaskSpec(window=w), masking_utils.sliding_window_causal_mask_function(w)),
        (MaskSpec(chunk=c), masking_utils.chunked_causal_mask_function(c, torch.tensor([0]))),
    ):
        ours = MaskRule(t, s, True, "bottom-right", spec).allowed()
        np.testing.assert_array_equal(ours, _reference_grid(reference, t, s, offset=s - t))


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=6))
def test_packed_documents_match_transformers(lengths: list[int]) -> None:
    import torch

    masking_utils = importlib.import_module("transformers.masking_utils")
    ids = np.repeat(np.arange(len(lengths)), lengths)
    n = len(ids)
    packed = torch.tensor(ids)[None, :]
    reference = masking_utils.and_masks(
        masking_utils.causal_mask_function, masking_utils.packed_sequence_mask_function(packed)
    )
    ours = MaskRule(n, n, True, "top-left", MaskSpec(documents=tuple(ids.tolist()))).allowed()
    np.testing.assert_array_equal(ours, _reference_grid(reference, n, n))


def test_parity_with_flex_attention_on_cpu() -> None:
    torch = importlib.import_module("torch")
    flex = importlib.import_module("torch.nn.attention.flex_attention")
    t, w, c, p = 12, 3, 4, 5
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, t, 8, dtype=torch.float64) for _ in range(3))
    mods = {
        MaskSpec(window=w, window_rule="gym"): lambda b, h, qi, ki: (qi >= ki) & (qi - ki <= w),
        MaskSpec(chunk=c): lambda b, h, qi, ki: (qi >= ki) & (qi // c == ki // c),
        MaskSpec(prefix=p): lambda b, h, qi, ki: (ki < p) | (qi >= ki),
        MaskSpec(window=1, window_rule="jax", window_right=2): lambda b, h, qi, ki: (ki >= qi - 1) & (ki <= qi + 2),
    }
    for spec, mod in mods.items():
        grid_ = flex.create_mask(mod, 1, 1, t, t, device="cpu")[0, 0].numpy()
        np.testing.assert_array_equal(MaskRule(t, t, False, "top-left", spec).allowed(), grid_)
        ours = attention(q[0, 0].numpy(), k[0, 0].numpy(), v[0, 0].numpy(), settings=AttentionSettings(variants=spec))
        block = flex.create_block_mask(mod, 1, 1, t, t, device="cpu", BLOCK_SIZE=4)
        theirs = flex.flex_attention(q, k, v, block_mask=block)  # eager and unfused on the CPU: slow, exact
        np.testing.assert_allclose(ours.output, theirs[0, 0].numpy(), atol=1e-12)


def test_an_attn_error_not_a_crash_for_query_without_key_position() -> None:
    with pytest.raises(AttnError):
        attention(np.ones((5, 2)), np.ones((4, 2)), np.ones((4, 2)), settings=AttentionSettings(
            variants=MaskSpec(documents=(0, 0, 1, 1))
        ))  # fmt: skip


def test_a_huge_window_chunk_or_prefix_acts_as_none_past_every_position() -> None:
    """An 80-digit JSON integer must not reach NumPy's int64 arithmetic (found by tests/test_fuzz.py)."""
    import numpy as np

    from attncli.core.attention import attention, attention_output
    from attncli.core.settings import AttentionSettings, MaskSpec

    x = np.eye(3)
    huge = 10**80
    for spec in (
        MaskSpec(chunk=huge),
        MaskSpec(window=huge),
        MaskSpec(prefix=huge),
        MaskSpec(window=huge, sink_tokens=huge),
    ):
        cfg = AttentionSettings(variants=spec)
        full = attention(x, x, x, settings=cfg)
        causal = attention(x, x, x, causal=spec.prefix is None)
        np.testing.assert_array_equal(full.weights, causal.weights)
        np.testing.assert_allclose(attention_output(x, x, x, cfg, block_q=1, block_k=1).output, full.output, atol=1e-15)


def test_sink_tokens_never_show_a_query_a_later_key() -> None:
    """StreamingLLM's sinks relax how far back an hf/gym window reaches, not its causality: query 0 with
    three sink tokens sees key 0 only (as `((k > q − W) | (k < K)) & (k <= q)` in the sample's reference)."""
    import numpy as np

    from attncli.core.attention import attention, attention_output
    from attncli.core.settings import AttentionSettings, MaskSpec

    x = np.eye(4)
    for rule in ("hf", "gym"):
        cfg = AttentionSettings(variants=MaskSpec(window=1, sink_tokens=3, window_rule=rule))  # type: ignore[arg-type]
        r = attention(x, x, x, settings=cfg)
        assert r.allowed is not None and not np.triu(r.allowed, 1).any()
        assert r.allowed[3].tolist() == [True, True, True, True]
        np.testing.assert_allclose(attention_output(x, x, x, cfg, block_q=1, block_k=1).output, r.output, atol=1e-15)
