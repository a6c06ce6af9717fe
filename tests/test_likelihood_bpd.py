"""Bits per dimension with uniform dequantization and an explicit affine data scaling.

Expected values are derived here without the library's Jacobian formula: the dequantized data w = x_int + u
lives on [0, n_bins)^D, and a model density on y = scale * w / n_bins + shift is turned into a density on
w by transforming the *distribution* (a Gaussian in y is the Gaussian N((m - shift) n_bins / scale,
C (n_bins / scale)^2) in w; a uniform density on the y-image of [0, n_bins)^D is uniform on [0, n_bins)^D).
bpd = -log p_w(w) / (D log 2).  Deterministic (fixed seeds, no statistics).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian
from refsde.likelihood import bits_per_dim, dequantize, dequantized_bits_per_dim, log_likelihood

try:
    from arrays_under_test import arr, be, np_
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, be, np_  # type: ignore[no-redef]

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("n_bins, scale", [(256, 2.0), (256, 1.0), (16, 0.5)])
def test_uniform_model_gives_log2_n_bins(n_bins, scale):
    """A model uniform on the image of [0, n_bins)^D has density scale^-D: uniform data, log2 n_bins bits."""
    d, n = 6, 3
    log_p = arr(np.full(n, -d * math.log(scale)))
    np.testing.assert_allclose(np_(bits_per_dim(log_p, d, scale=scale, n_bins=n_bins)), math.log2(n_bins), rtol=1e-14)


@pytest.mark.parametrize("scale, shift", [(2.0, -1.0), (1.0, 0.0), (3.0, 0.25)])
def test_gaussian_model_matches_transformed_density(scale, shift):
    n_bins, d, n = 256, 3, 5
    rs = np.random.default_rng(0)
    m = rs.uniform(-0.5, 0.5, d) * scale + shift + scale / 2
    a = rs.standard_normal((d, d))
    c = (a @ a.T / d + 0.2 * np.eye(d)) * (scale / 4) ** 2
    x_int = arr(rs.integers(0, n_bins, (n, d)), dtype="int64")
    y = dequantize(x_int, scale=scale, shift=shift, n_bins=n_bins, rng=3)
    w = (np_(y) - shift) * n_bins / scale
    u = w - np_(x_int)
    assert np.all((u >= -1e-9) & (u < 1.0 + 1e-9)) and np.std(u) > 0.1  # one U[0,1) draw per entry
    log_p_y = arr(scipy_stats.multivariate_normal(m, c).logpdf(np_(y)))
    expected = -scipy_stats.multivariate_normal((m - shift) * n_bins / scale, c * (n_bins / scale) ** 2).logpdf(w)
    expected = expected / (d * math.log(2.0))
    np.testing.assert_allclose(np_(bits_per_dim(log_p_y, d, scale=scale, n_bins=n_bins)), expected, rtol=1e-12)


@pytest.mark.slow
def test_dequantized_bits_per_dim_end_to_end():
    """The wrapper = dequantize (same seed, drawn first) + log_likelihood + bits_per_dim; and the ODE value
    agrees with the closed-form flow density transformed to integer space."""
    sde, d, n_bins, scale, shift = refsde.VPSDE(), 2, 256, 2.0, -1.0
    m, c = np.array([0.1, -0.2]), np.array([[0.3, 0.1], [0.1, 0.2]])
    g = Gaussian(arr(m), arr(c))
    x_int = arr(np.array([[3, 200], [128, 17], [255, 0]]), dtype="int64")
    opts = dict(eps=1e-5, rtol=1e-7, atol=1e-7)
    bpd, info = dequantized_bits_per_dim(g.score_fn(sde), sde, x_int, scale=scale, shift=shift, rng=5, **opts)
    y = dequantize(x_int, scale=scale, shift=shift, n_bins=n_bins, rng=5)
    log_p, _ = log_likelihood(g.score_fn(sde), sde, y, **opts)
    np.testing.assert_allclose(np_(bpd), np_(bits_per_dim(log_p, d, scale=scale, n_bins=n_bins)), rtol=0, atol=1e-12)
    # closed form: log p_model(y) = log pi(Phi(y)) + log|det dPhi/dy|; in w-space subtract D log(n_bins / scale)
    z, logdet = g.flow_map(sde, 1e-5, sde.T, y)
    log_p_w = np_(sde.prior_logp(z) + logdet) - d * math.log(n_bins / scale)
    np.testing.assert_allclose(np_(bpd), -log_p_w / (d * math.log(2.0)), rtol=0, atol=1e-6)
    assert bpd.dtype == be().default_dtype and info.z.shape == (3, d)


def test_dequantization_noise_is_uniform_on_unit_cells():
    """u = (y - shift) n_bins / scale - x_int ~ U[0, 1): Kolmogorov-Smirnov test at false-alarm rate 1e-6.

    N = 4000 draws: the KS statistic's 1e-6 critical value is about sqrt(-log(1e-6 / 2) / (2 N)) = 0.043,
    so a noise of half the width (U[0, 0.5): KS distance 0.5) or a shifted cell is rejected with certainty.
    """
    x_int = arr(np.random.default_rng(1).integers(0, 16, (2000, 2)), dtype="int64")
    y = dequantize(x_int, scale=3.0, shift=0.5, n_bins=16, rng=8)
    u = ((np_(y) - 0.5) * 16 / 3.0 - np_(x_int)).ravel()
    assert scipy_stats.kstest(u, "uniform").pvalue > 1e-6
    assert y.shape == x_int.shape


def test_float_levels_accepted_and_dtype_kept():
    x = arr(np.array([[0.0, 255.0]]), dtype="float32")
    y = dequantize(x, scale=2.0, shift=-1.0, rng=0)
    assert y.dtype == x.dtype
    assert np.all(np_(y) >= -1.0) and np.all(np_(y) < 1.0)


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        ([[0, 256]], {}, "n_bins"),
        ([[-1, 3]], {}, "n_bins"),
        ([[0.5, 3.0]], {}, "whole"),
        ([[1, 2]], dict(scale=0.0), "scale"),
        ([[1, 2]], dict(scale=-2.0), "scale"),
        ([[1, 2]], dict(n_bins=1), "n_bins"),
        ([[1, 2]], dict(shift=float("inf")), "shift"),
    ],
)
def test_dequantize_rejects_bad_input(x, kwargs, match):
    options = dict(scale=2.0, shift=-1.0, rng=0)
    options.update(kwargs)
    dtype = "float64" if isinstance(x[0][0], float) else "int64"
    with pytest.raises(ValueError, match=match):
        dequantize(arr(np.array(x), dtype=dtype), **options)


def test_bits_per_dim_rejects_bad_input():
    log_p = arr(np.zeros(2))
    for kwargs, match in [(dict(scale=0.0), "scale"), (dict(scale=1.0, n_bins=0), "n_bins")]:
        with pytest.raises(ValueError, match=match):
            bits_per_dim(log_p, 3, **kwargs)
    with pytest.raises(ValueError, match="n_dims"):
        bits_per_dim(log_p, 0, scale=1.0)
