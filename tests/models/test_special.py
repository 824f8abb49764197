"""erf and exact GELU against the standard library and PyTorch."""

from __future__ import annotations

import math

import numpy as np

from attncli.models.special import erf, gelu


def test_erf_matches_math_erf_on_a_dense_grid() -> None:
    x = np.linspace(-10, 10, 400_001)
    expected = np.array([math.erf(v) for v in x])
    assert np.abs(erf(x) - expected).max() <= 1e-14  # the issue asks for 1e-7; we get close to ulp


def test_erf_tiny_arguments_keep_relative_accuracy() -> None:
    x = np.array([1e-300, -1e-20, 1e-8, 2.9999999, 3.0, 3.0000001, 5.9, 26.0, 1e10])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=1e-14, atol=0)


def test_erf_special_values() -> None:
    out = erf(np.array([np.inf, -np.inf, np.nan, 0.0]))
    assert out[0] == 1.0 and out[1] == -1.0 and np.isnan(out[2]) and out[3] == 0.0


def test_gelu_is_exact_and_keeps_dtype() -> None:
    x = np.linspace(-12, 12, 2001)
    expected = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.abs(gelu(x) - expected).max() <= 1e-14
    assert gelu(x.astype(np.float32)).dtype == np.float32
    # the tanh approximation differs by ~1e-3 near |x| = 2; exactness is what makes parity possible
    tanh_approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert np.abs(tanh_approx - expected).max() > 1e-4
