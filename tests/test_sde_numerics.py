"""Floating-point behaviour: float32 keeps full relative precision of the std near t = 0.

At t = 1e-7 the VP std is sqrt(1 - exp(-B)) with B ~ 1e-8, below float32's half-ulp of 1 (6e-8): the
naive formula returns exactly 0 (100% error); refsde's expm1 forms keep float32's full precision.  Each
test computes the naive float32 form too, to show that the 1e-6 bound would catch it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refsde import SubVPSDE, VESDE, VPSDE

EPS32 = float(np.finfo(np.float32).eps)
SDES = {
    "vp": VPSDE,
    "subvp": SubVPSDE,
    "ve-exact": lambda: VESDE(convention="exact"),
    "ve-score_sde": lambda: VESDE(convention="score_sde"),
}


def exact_std(name: str, t: float) -> float:
    """Default-parameter std at small float t, from series that are exact to float64 here."""
    if name in ("vp", "subvp"):
        B = 0.1 * t + 0.5 * 19.9 * t * t
        one_minus = -math.expm1(-B)
        return math.sqrt(one_minus) if name == "vp" else one_minus
    L = math.log(50.0 / 0.01)
    if name == "ve-exact":
        return 0.01 * math.sqrt(math.expm1(2 * L * t))
    return 0.01 * math.exp(L * t)


def naive_float32_std(name: str, t: float) -> float:
    """The textbook formulas evaluated in float32 (what the tests must be able to tell apart)."""
    f = np.float32
    t = f(t)
    B = f(0.1) * t + f(0.5) * f(19.9) * t * t
    if name == "vp":
        return float(np.sqrt(f(1) - np.exp(-B)))
    if name == "subvp":
        return float(f(1) - np.exp(-B))
    s_min, s = f(0.01), f(0.01) * np.exp(f(math.log(5000.0)) * t)
    if name == "ve-exact":
        return float(np.sqrt(s * s - s_min * s_min))
    return float(s)


@pytest.mark.parametrize("name", list(SDES))
def test_float32_std_at_1e_minus_7(name, asarray, to_numpy, dtype_name):
    sde = SDES[name]()
    t = 1e-7
    t32 = float(np.float32(t))  # the float32 grid point; the float64 reference is taken at the same t
    ref64 = float(to_numpy(sde.sigma(asarray(t32, dtype="float64"))))
    assert ref64 == pytest.approx(exact_std(name, t32), rel=1e-13)
    # three ways of asking in float32: a 0-d t, a batch of t, and a Python t with a float32 x
    s0 = sde.sigma(asarray(t32, dtype="float32"))
    s1 = sde.sigma(asarray([t32, t32], dtype="float32"))
    _, s2 = sde.marginal(asarray(np.ones((2, 3)), dtype="float32"), t)
    for s in (s0, s1, s2):
        assert dtype_name(s) == "float32"
        err = np.max(np.abs(to_numpy(s).astype(np.float64) / ref64 - 1.0))
        assert err < 1e-6, err
    naive_err = abs(naive_float32_std(name, t) / ref64 - 1.0)
    if name == "ve-score_sde":
        # std = sigma(t) has no cancellation: the naive form is accurate too (nothing to show)
        assert naive_err < 1e-6
    else:
        assert naive_err > 1e-3, naive_err  # the naive formula fails the bound above by >= 3 orders


@pytest.mark.parametrize("name", list(SDES))
@given(u=st.floats(min_value=1e-7, max_value=1.0))
def test_float32_tracks_float64(name, u, asarray, to_numpy, dtype_name):
    """Over [1e-7, T] float32 std, log-SNR, f and g^2 agree with float64 at the same t to ~30 ulps."""
    sde = SDES[name]()
    t32 = float(np.float32(u))
    t_lo, t_hi = asarray([t32], dtype="float32"), asarray([t32], dtype="float64")
    for method in ("sigma", "alpha", "drift_coefficient", "diffusion_squared"):
        lo, hi = getattr(sde, method)(t_lo), getattr(sde, method)(t_hi)
        assert dtype_name(lo) == "float32"
        np.testing.assert_allclose(to_numpy(lo), to_numpy(hi), rtol=32 * EPS32, atol=0, err_msg=method)
    lam_lo, lam_hi = to_numpy(sde.log_snr(t_lo)), to_numpy(sde.log_snr(t_hi))
    assert np.all(np.abs(lam_lo - lam_hi) <= 32 * EPS32 * (1 + np.abs(lam_hi))), (lam_lo, lam_hi)


def test_vp_discretize_float32_small_beta(asarray, to_numpy, dtype_name):
    """The DDPM drift sqrt(1 - b) - 1 at b = beta_min / N = 1e-4 in float32: written without cancellation."""
    sde = VPSDE()
    x = asarray(np.ones((1, 2)), dtype="float32")
    f, G = sde.discretize(x, 0.0)
    b = 0.1 / sde.N
    expected = math.sqrt(1 - b) - 1.0  # float64
    assert dtype_name(f) == "float32" and dtype_name(G) == "float32"
    np.testing.assert_allclose(to_numpy(f), expected, rtol=4 * EPS32)
    naive = float(np.sqrt(np.float32(1) - np.float32(b)) - np.float32(1))
    assert abs(naive / expected - 1) > 4 * EPS32  # the naive form would fail the bound
    np.testing.assert_allclose(to_numpy(G), math.sqrt(b), rtol=4 * EPS32)
