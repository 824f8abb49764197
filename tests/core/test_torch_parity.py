"""Parity with PyTorch's scaled_dot_product_attention (torch==2.13.0, a test-time oracle only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attncli import attention, causal_allowed

CASES = [
    # (lead dims, T, S, d_k, d_v, mask kind, causal, align, scale)
    ((), 1, 2, 2, 2, None, False, "top-left", None),
    ((), 4, 4, 8, 8, None, True, "top-left", None),
    ((), 3, 7, 5, 2, "bool", False, "top-left", 0.5),
    ((2,), 5, 3, 4, 6, "float", False, "top-left", None),
    ((2, 3), 6, 6, 16, 16, "bool", True, "top-left", 0.125),
    ((3,), 3, 6, 4, 4, None, True, "bottom-right", None),
    ((2, 2), 7, 9, 8, 3, "float", True, "bottom-right", 2.0),
    ((1,), 9, 4, 3, 5, "bool-rows", False, "top-left", None),  # some fully masked rows
]


def _torch_reference(q, k, v, mask, causal, align, scale):  # type: ignore[no-untyped-def]
    t, s = q.shape[-2], k.shape[-2]
    attn_mask = None if mask is None else torch.from_numpy(mask)
    if causal:
        rule = torch.from_numpy(causal_allowed(t, s, align))  # SDPA's is_causal is top-left only
        if align == "top-left" and attn_mask is None:
            return F.scaled_dot_product_attention(
                torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), is_causal=True, scale=scale
            ).numpy()
        if attn_mask is None:
            attn_mask = rule
        elif attn_mask.dtype == torch.bool:
            attn_mask = attn_mask & rule
        else:
            attn_mask = attn_mask.masked_fill(~rule, float("-inf"))
    return F.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), attn_mask=attn_mask, scale=scale
    ).numpy()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_matches_torch_sdpa(case: tuple, dtype: str) -> None:  # type: ignore[type-arg]
    lead, t, s, d_k, d_v, mask_kind, causal, align, scale = case
    rng = np.random.default_rng(hash((t, s, d_k, d_v)) % 2**32)
    np_dtype = np.float64 if dtype == "float64" else np.float32
    q = rng.normal(size=(*lead, t, d_k)).astype(np_dtype)
    k = rng.normal(size=(*lead, s, d_k)).astype(np_dtype)
    v = rng.normal(size=(*lead, s, d_v)).astype(np_dtype)
    mask = None
    if mask_kind == "bool":
        mask = rng.random((t, s)) > 0.3
        mask[:, 0] = True
    elif mask_kind == "bool-rows":
        mask = rng.random((t, s)) > 0.3
        mask[::3] = False  # rows 0, 3, 6 fully masked: SDPA gives zeros there, as does our default
    elif mask_kind == "float":
        mask = rng.normal(size=(t, s)).astype(np_dtype)
        mask[rng.random((t, s)) > 0.7] = -np.inf
        mask[:, 0] = 0.0
    ours = attention(q, k, v, mask=mask, causal=causal, causal_align=align, scale=scale, dtype=dtype)
    theirs = _torch_reference(q, k, v, mask, causal, align, scale)
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(ours.output, theirs, rtol=0, atol=tol)
    if mask_kind == "bool-rows":
        assert ours.empty_rows and (ours.output[..., ::3, :] == 0).all()


def test_weights_match_explicit_torch_softmax() -> None:
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    ours = attention(q, k, v, scale=0.3)
    tq, tk = torch.from_numpy(q), torch.from_numpy(k)
    weights = torch.softmax(tq @ tk.T * 0.3, dim=-1).numpy()
    np.testing.assert_allclose(ours.weights, weights, rtol=0, atol=1e-15)
