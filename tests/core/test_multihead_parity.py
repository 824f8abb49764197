"""Multi-head attention against PyTorch 2.13.0 (test-time only) and RoPE against a complex-number oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attncli.core.multihead import multi_head_attention
from attncli.core.positions import alibi_slopes, apply_rope, rope_angles, sinusoidal_encoding


def _mha(e: int, h: int, bias: bool, seed: int) -> torch.nn.MultiheadAttention:
    torch.manual_seed(seed)
    m = torch.nn.MultiheadAttention(e, h, bias=bias, batch_first=True, dtype=torch.float64)
    if bias:  # PyTorch initialises biases to 0; make them count
        with torch.no_grad():
            m.in_proj_bias.normal_()
            m.out_proj.bias.normal_()
    return m


def _weights(m: torch.nn.MultiheadAttention, e: int) -> dict[str, np.ndarray]:
    """nn.MultiheadAttention stores (out, in) weights and computes x·Wᵀ; attncli takes W = weightᵀ."""
    w = m.in_proj_weight.detach().numpy()
    out = {"wq": w[:e].T, "wk": w[e : 2 * e].T, "wv": w[2 * e :].T, "wo": m.out_proj.weight.detach().numpy().T}
    if m.in_proj_bias is not None:
        b = m.in_proj_bias.detach().numpy()
        out.update(bq=b[:e], bk=b[e : 2 * e], bv=b[2 * e :], bo=m.out_proj.bias.detach().numpy())
    return out


@pytest.mark.parametrize(
    ("e", "h", "t", "s", "bias", "masked"),
    [(4, 2, 3, 3, False, False), (8, 4, 5, 5, True, True), (6, 3, 2, 4, True, True), (8, 1, 4, 6, True, False)],
)
def test_matches_nn_multihead_attention(e: int, h: int, t: int, s: int, bias: bool, masked: bool) -> None:
    m = _mha(e, h, bias, seed=e * 10 + h)
    rng = np.random.default_rng(e + h + t + s)
    xq, xkv = rng.normal(size=(t, e)), rng.normal(size=(s, e))
    allowed = rng.random((t, s)) > 0.3
    allowed[:, 0] = True
    # nn.MultiheadAttention's boolean attn_mask has the OPPOSITE polarity: True = NOT allowed.
    torch_mask = torch.from_numpy(~allowed) if masked else None
    ref_out, ref_w = m(
        torch.from_numpy(xq)[None],
        torch.from_numpy(xkv)[None],
        torch.from_numpy(xkv)[None],
        attn_mask=torch_mask,
        average_attn_weights=False,
    )
    kwargs = {"x": xq} if t == s and (xq is xkv) else {"q_input": xq, "kv_input": xkv}
    ours = multi_head_attention(**kwargs, **_weights(m, e), heads=h, mask=allowed if masked else None)  # type: ignore[arg-type]
    np.testing.assert_allclose(ours.output, ref_out[0].detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.attention.weights, ref_w[0].detach().numpy(), rtol=0, atol=1e-10)
    avg = m(torch.from_numpy(xq)[None], torch.from_numpy(xkv)[None], torch.from_numpy(xkv)[None], attn_mask=torch_mask)[
        1
    ]
    np.testing.assert_allclose(ours.average_weights, avg[0].detach().numpy(), rtol=0, atol=1e-10)


def test_self_attention_with_x_matches_nn_multihead_attention() -> None:
    m = _mha(4, 2, True, seed=3)
    x = np.random.default_rng(5).normal(size=(3, 4))
    tx = torch.from_numpy(x)[None]
    ref_out, _ = m(tx, tx, tx, need_weights=False)
    ours = multi_head_attention(x, **_weights(m, 4), heads=2)  # type: ignore[arg-type]
    np.testing.assert_allclose(ours.output, ref_out[0].detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize(("h", "g", "causal"), [(8, 2, False), (4, 1, True), (6, 3, True), (4, 4, False)])
def test_grouped_kv_heads_match_sdpa_enable_gqa(h: int, g: int, causal: bool) -> None:
    rng = np.random.default_rng(h * g)
    t, s, d = 5, 5, 4
    q, k, v = rng.normal(size=(h, t, d)), rng.normal(size=(g, s, d)), rng.normal(size=(g, s, 3))
    ref = F.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), is_causal=causal, enable_gqa=True
    ).numpy()
    # attncli takes q/k/v with the heads side by side in columns: (T, H·d)
    ours = multi_head_attention(
        q=q.transpose(1, 0, 2).reshape(t, h * d),
        k=k.transpose(1, 0, 2).reshape(s, g * d),
        v=v.transpose(1, 0, 2).reshape(s, g * 3),
        heads=h,
        kv_heads=g,
        causal=causal,
    )
    np.testing.assert_allclose(ours.attention.output, ref, rtol=0, atol=1e-12)
    assert ours.head_map == tuple(i // (h // g) for i in range(h))


def _rope_complex(x: np.ndarray, base: float, style: str) -> np.ndarray:
    """Independent RoPE: view each rotated pair as a complex number and multiply by e^{i·m·θ}."""
    n, d = x.shape
    theta = base ** (-np.arange(d // 2) * 2.0 / d)
    if style == "interleaved":
        z = x[:, 0::2] + 1j * x[:, 1::2]
    else:
        z = x[:, : d // 2] + 1j * x[:, d // 2 :]
    z = z * np.exp(1j * np.arange(n)[:, None] * theta[None, :])
    out = np.empty_like(x)
    if style == "interleaved":
        out[:, 0::2], out[:, 1::2] = z.real, z.imag
    else:
        out[:, : d // 2], out[:, d // 2 :] = z.real, z.imag
    return out


@pytest.mark.parametrize("style", ["half", "interleaved"])
@pytest.mark.parametrize(("n", "d", "base"), [(6, 4, 10000.0), (9, 8, 500.0), (3, 2, 10000.0)])
def test_rope_matches_complex_rotation(style: str, n: int, d: int, base: float) -> None:
    x = np.random.default_rng(n * d).normal(size=(n, d))
    ours = apply_rope(x, rope_angles(n, d, base), style)  # type: ignore[arg-type]
    np.testing.assert_allclose(ours, _rope_complex(x, base, style), rtol=0, atol=1e-12)
    # A rotation keeps lengths, and q·k after RoPE depends only on the relative position.
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), np.linalg.norm(x, axis=1), rtol=1e-12)


def test_rope_scores_depend_on_relative_position_only() -> None:
    rng = np.random.default_rng(0)
    qv, kv = rng.normal(size=8), rng.normal(size=8)
    angles = rope_angles(10, 8)
    for style in ("half", "interleaved"):
        q = apply_rope(np.tile(qv, (10, 1)), angles, style)  # type: ignore[arg-type]
        k = apply_rope(np.tile(kv, (10, 1)), angles, style)  # type: ignore[arg-type]
        assert q[5] @ k[3] == pytest.approx(q[7] @ k[5], rel=1e-12)


def test_sinusoidal_encoding_formula() -> None:
    pe = sinusoidal_encoding(5, 6)
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert pe[3, 2] == pytest.approx(np.sin(3 / 10000 ** (2 / 6)))
    assert pe[3, 5] == pytest.approx(np.cos(3 / 10000 ** (4 / 6)))


def test_alibi_slopes_follow_the_paper() -> None:
    assert alibi_slopes(8).tolist() == pytest.approx([2 ** -(i + 1) for i in range(8)])
    assert alibi_slopes(4).tolist() == pytest.approx([2**-2, 2**-4, 2**-6, 2**-8])
    # 6 heads: the 4-head slopes, then every other slope of the 8-head sequence.
    assert alibi_slopes(6).tolist() == pytest.approx([2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3])


def test_alibi_adds_distance_penalty_to_scaled_scores() -> None:
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    ours = multi_head_attention(q=q, k=k, v=v, heads=2, alibi=True, causal=True)
    slopes = alibi_slopes(2)
    for h in range(2):
        qh, kh, vh = q[:, 2 * h : 2 * h + 2], k[:, 2 * h : 2 * h + 2], v[:, 2 * h : 2 * h + 2]
        bias = -slopes[h] * np.abs(np.arange(4)[:, None] - np.arange(4)[None, :])
        ref = F.scaled_dot_product_attention(
            torch.from_numpy(qh),
            torch.from_numpy(kh),
            torch.from_numpy(vh),
            attn_mask=torch.from_numpy(bias).masked_fill(~torch.ones(4, 4, dtype=torch.bool).tril(), float("-inf")),
        ).numpy()
        np.testing.assert_allclose(ours.attention.output[h], ref, rtol=0, atol=1e-12)
