"""ScheduleSDE: the linear SDE of any schedule (alpha_t, sigma_t), with f = alpha'/alpha and
g^2 = d sigma^2/dt - 2 f sigma^2.

Built from the closed-form alpha_t, sigma_t of VP, sub-VP and VE (both conventions), it must reproduce
VPSDE / SubVPSDE / VESDE.  Tolerances (derivatives are fourth-order finite differences with h = 1e-3 T
unless dalpha / dsigma are given):

* interior [2h, T - 2h], central stencil: truncation h^4/30 |y^(5)| -- at most 2.8e-9 relative for VE's
  sigma^2 ~ exp(2 L t / T) (2 L = 17), 2e-10 for VP -- so rtol 1e-8;
* within 2h of 0 and T, one-sided 5-point stencils: h^4/5 |y^(5)|, 1.7e-8 for VE, so rtol 3e-8 there;
* plus atol 1e-9 max|g^2| on [0, T] for g^2, which vanishes at t = 0 for sub-VP (g^2 ~ 2 beta B there,
  while the difference's error is absolute, ~3e-10 max|g^2|).

Quantities that need no derivative (alpha, sigma, log-SNR, its inverse) agree to ~1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import array_namespace as ns
from hypothesis import given, settings
from hypothesis import strategies as st

import refsde
from refsde import ScheduleSDE, SubVPSDE, VESDE, VPSDE

pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")


def linear_B(b0, b1, T):
    return lambda t: b0 * t + (b1 - b0) * t * t / (2 * T)


def schedule_for(kind, p):
    """(ScheduleSDE from the closed-form alpha, sigma written here, the matching refsde SDE)."""
    T = p["T"]
    if kind in ("vp", "subvp"):
        B = linear_B(p["beta_min"], p["beta_max"], T)
        alpha = lambda t: ns(t).exp(-0.5 * B(t))  # noqa: E731
        if kind == "vp":
            sigma = lambda t: ns(t).sqrt(-ns(t).expm1(-B(t)))  # noqa: E731
            ref = VPSDE(p["beta_min"], p["beta_max"], T)
        else:
            sigma = lambda t: -ns(t).expm1(-B(t))  # noqa: E731
            ref = SubVPSDE(p["beta_min"], p["beta_max"], T)
    else:
        smin, smax = p["sigma_min"], p["sigma_max"]
        L = math.log(smax / smin)
        alpha = lambda t: 1.0 + 0.0 * t  # noqa: E731
        if kind == "ve_exact":
            sigma = lambda t: smin * ns(t).sqrt(ns(t).expm1(2 * L * t / T))  # noqa: E731
        else:
            sigma = lambda t: smin * ns(t).exp(L * t / T)  # noqa: E731
        ref = VESDE(smin, smax, T, convention=kind[3:])
    return ScheduleSDE(alpha=alpha, sigma=sigma, T=T, name=kind), ref


CASES = [
    ("vp", {"beta_min": 0.1, "beta_max": 20.0, "T": 1.0}),
    ("vp", {"beta_min": 0.5, "beta_max": 7.0, "T": 2.5}),
    ("subvp", {"beta_min": 0.1, "beta_max": 20.0, "T": 1.0}),
    ("ve_exact", {"sigma_min": 0.01, "sigma_max": 50.0, "T": 1.0}),
    ("ve_exact", {"sigma_min": 0.1, "sigma_max": 20.0, "T": 3.0}),
    ("ve_score_sde", {"sigma_min": 0.01, "sigma_max": 50.0, "T": 1.0}),
]
IDS = ["vp", "vp-T2.5", "subvp", "ve-exact", "ve-exact-T3", "ve-score_sde"]


def fd_rtol(t, T):
    h = 1e-3 * T
    return np.where((t < 2 * h) | (t > T - 2 * h), 3e-8, 1e-8)


def assert_close(actual, expected, rtol, atol):
    """|actual - expected| <= rtol |expected| + atol elementwise (rtol may be an array); equal infinities
    (lambda_0 = +inf) count as equal."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    same_inf = np.isinf(expected) & (actual == expected)
    with np.errstate(invalid="ignore"):
        err = np.abs(actual - expected)
    ok = same_inf | (err <= rtol * np.abs(expected) + atol)
    assert np.all(ok), (actual, expected, err)


@pytest.mark.parametrize("kind,p", CASES, ids=IDS)
@settings(max_examples=12)  # each example runs a 64-step bisection; ~0.1 s per example on array_api_strict
@given(us=st.lists(st.one_of(st.sampled_from([0.0, 1e-9, 1e-4, 1.0]), st.floats(0.0, 1.0)), min_size=1, max_size=8))
@pytest.mark.slow
def test_agrees_with_closed_form_sde(kind, p, us, asarray, to_numpy):
    sched, ref = schedule_for(kind, p)
    T = ref.T
    t_np = np.asarray(us) * T
    t = asarray(t_np)
    rtol = fd_rtol(t_np, T)
    g2_scale = float(to_numpy(ref.diffusion_squared(T)))  # g^2 is increasing for all four
    assert_close(to_numpy(sched.drift_coefficient(t)), to_numpy(ref.drift_coefficient(t)), rtol, 1e-12)
    assert_close(to_numpy(sched.diffusion_squared(t)), to_numpy(ref.diffusion_squared(t)), rtol, 1e-9 * g2_scale)
    x_np = np.random.default_rng(0).normal(size=(len(us), 2))
    for a, b in zip(sched.marginal(asarray(x_np), t), ref.marginal(asarray(x_np), t)):
        assert_close(to_numpy(a), to_numpy(b), 1e-13, 1e-300)
    lam = sched.log_snr(t)
    assert_close(to_numpy(lam), to_numpy(ref.log_snr(t)), 1e-12, 1e-12)
    # the inverse by bisection against the closed-form inverse at the same lambda
    finite = np.isfinite(to_numpy(lam))
    if np.any(finite):
        lam_f = asarray(to_numpy(lam)[finite])
        assert_close(to_numpy(sched.t_from_log_snr(lam_f)), to_numpy(ref.t_from_log_snr(lam_f)), 1e-8, 1e-14 * T)


@pytest.mark.parametrize("kind,p", CASES, ids=IDS)
def test_prior_std_defaults_to_sigma_T(kind, p, to_numpy):
    sched, ref = schedule_for(kind, p)
    assert sched.prior_std == pytest.approx(float(to_numpy(ref.sigma(ref.T))), rel=1e-14)
    assert ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, prior_std=3.0).prior_std == 3.0


# ---------------------------------------------------------------------------------------------------
# cosine and EDM, one line each, against hand-derived g^2
# ---------------------------------------------------------------------------------------------------
S_COS = 0.008
THETA0 = 0.5 * math.pi * S_COS / (1 + S_COS)


def cosine_sde():
    # Nichol & Dhariwal: alpha = cos(pi/2 (t+s)/(1+s)) / cos(pi/2 s/(1+s)), sigma = sqrt(1 - alpha^2);
    # T = 0.999 < 1 keeps alpha_T > 0.  The schedule is the one line below.
    return ScheduleSDE(alpha=lambda t: ns(t).cos(0.5 * math.pi * (t + S_COS) / (1 + S_COS)) / math.cos(THETA0), sigma=lambda t: ns(t).sqrt(1 - (ns(t).cos(0.5 * math.pi * (t + S_COS) / (1 + S_COS)) / math.cos(THETA0)) ** 2), T=0.999)  # fmt: skip  # noqa: E501


def edm_sde():
    return ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, T=80.0)  # EDM: x_t = x_0 + t z


@given(u=st.one_of(st.sampled_from([0.0, 1e-6, 0.5, 1.0]), st.floats(0.0, 1.0)))
@pytest.mark.slow
def test_cosine_schedule(u, asarray, to_numpy):
    """theta = pi/2 (t+s)/(1+s), theta' = pi/(2(1+s)).  f = alpha'/alpha = -theta' tan(theta);
    d sigma^2/dt = -2 alpha alpha' = -2 alpha^2 f, so g^2 = -2 alpha^2 f - 2 f (1 - alpha^2) = -2 f
    = pi/(1+s) tan(theta)."""
    sde = cosine_sde()
    t = u * sde.T
    theta = 0.5 * math.pi * (t + S_COS) / (1 + S_COS)
    f_expected = -0.5 * math.pi / (1 + S_COS) * math.tan(theta)
    g2_expected = math.pi / (1 + S_COS) * math.tan(theta)
    tt = asarray([t])
    assert float(to_numpy(sde.drift_coefficient(tt))[0]) == pytest.approx(f_expected, rel=float(fd_rtol(t, sde.T)))
    assert float(to_numpy(sde.diffusion_squared(tt))[0]) == pytest.approx(g2_expected, rel=float(fd_rtol(t, sde.T)))
    alpha = math.cos(theta) / math.cos(THETA0)
    assert float(to_numpy(sde.alpha(tt))[0]) == pytest.approx(alpha, rel=1e-14)
    # sigma = sqrt(1 - alpha^2) turns one ulp of alpha near 1 into sqrt(eps) ~ 1.5e-8 absolute (seen on CUDA,
    # whose cos differs from libm's by an ulp), hence the absolute tolerance
    assert float(to_numpy(sde.sigma(tt))[0]) == pytest.approx(math.sqrt(1 - alpha * alpha), rel=1e-9, abs=3e-8)


def test_cosine_endpoints(to_numpy):
    sde = cosine_sde()
    # one ulp of slack: alpha = exp(log alpha) and CUDA's cos round differently from libm
    assert float(to_numpy(sde.alpha(0.0))) == pytest.approx(1.0, abs=4e-16)
    assert float(to_numpy(sde.sigma(0.0))) == pytest.approx(0.0, abs=3e-8)  # sqrt(1 - alpha^2): sqrt(ulp)
    alpha_T = math.cos(0.5 * math.pi * (0.999 + S_COS) / (1 + S_COS)) / math.cos(THETA0)
    assert 0 < alpha_T < 2e-3
    assert float(to_numpy(sde.alpha(0.999))) == pytest.approx(alpha_T, rel=1e-12)
    assert sde.prior_std == pytest.approx(math.sqrt(1 - alpha_T**2), rel=1e-14)
    lam = sde.log_snr(0.5)
    assert float(to_numpy(sde.t_from_log_snr(lam))) == pytest.approx(0.5, rel=1e-12)


def test_edm_schedule(asarray, to_numpy):
    sde = edm_sde()
    t_np = np.array([0.0, 1e-3, 0.002, 0.5, 7.0, 40.0, 79.95, 80.0])
    t = asarray(t_np)
    np.testing.assert_array_equal(to_numpy(sde.drift_coefficient(t)), 0.0)  # alpha' of a constant
    # sigma^2 = t^2 is a quadratic: the 4th-order stencils are exact up to rounding (~eps T^2 / h)
    np.testing.assert_allclose(to_numpy(sde.diffusion_squared(t)), 2 * t_np, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(to_numpy(sde.sigma(t)), t_np, rtol=0)
    np.testing.assert_array_equal(to_numpy(sde.alpha(t)), 1.0)
    np.testing.assert_allclose(to_numpy(sde.log_snr(t[1:])), -2 * np.log(t_np[1:]), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(sde.t_from_log_snr(sde.log_snr(t))), t_np, rtol=1e-12, atol=1e-12)
    assert sde.prior_std == 80.0


# ---------------------------------------------------------------------------------------------------
# exact derivatives
# ---------------------------------------------------------------------------------------------------
def test_exact_derivatives_vp(asarray, to_numpy):
    """With dalpha / dsigma the VP coefficients are exact (1e-13, vs 1e-8 for finite differences)."""
    b0, b1 = 0.1, 20.0
    B = linear_B(b0, b1, 1.0)

    def beta(t):
        return b0 + (b1 - b0) * t

    alpha = lambda t: ns(t).exp(-0.5 * B(t))  # noqa: E731
    sigma = lambda t: ns(t).sqrt(-ns(t).expm1(-B(t)))  # noqa: E731
    dalpha = lambda t: -0.5 * beta(t) * alpha(t)  # noqa: E731
    dsigma = lambda t: 0.5 * beta(t) * ns(t).exp(-B(t)) / sigma(t)  # d/dt sqrt(1 - e^-B)  # noqa: E731
    sde = ScheduleSDE(alpha=alpha, sigma=sigma, dalpha=dalpha, dsigma=dsigma)
    t_np = np.array([1e-6, 1e-3, 0.3, 0.9985, 1.0])
    t = asarray(t_np)
    np.testing.assert_allclose(to_numpy(sde.drift_coefficient(t)), -0.5 * beta(t_np), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(sde.diffusion_squared(t)), beta(t_np), rtol=1e-13)


def test_exact_derivatives_cosine_and_edm(asarray, to_numpy):
    c = 0.5 * math.pi / (1 + S_COS)
    theta = lambda t: c * (t + S_COS)  # noqa: E731
    alpha = lambda t: ns(t).cos(theta(t)) / math.cos(THETA0)  # noqa: E731
    sde = ScheduleSDE(
        alpha=alpha,
        sigma=lambda t: ns(t).sqrt(1 - alpha(t) ** 2),
        dalpha=lambda t: -c * ns(t).sin(theta(t)) / math.cos(THETA0),
        T=0.999,
    )
    t_np = np.array([0.0, 1e-4, 0.5, 0.999])
    np.testing.assert_allclose(to_numpy(sde.drift_coefficient(asarray(t_np))), -c * np.tan(theta(t_np)), rtol=1e-14)
    edm = ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, dalpha=lambda t: 0.0, dsigma=lambda t: 1.0, T=80.0)
    t_np = np.array([0.0, 1e-3, 40.0, 80.0])
    np.testing.assert_array_equal(to_numpy(edm.diffusion_squared(asarray(t_np))), 2 * t_np)  # 2 sigma sigma' exactly


def test_supplied_derivatives_are_used(asarray, to_numpy):
    base = dict(alpha=lambda t: ns(t).exp(-t), sigma=lambda t: ns(t).sqrt(-ns(t).expm1(-2 * t)))
    t = asarray([0.2, 0.7])
    fd = ScheduleSDE(**base)
    np.testing.assert_allclose(to_numpy(fd.drift_coefficient(t)), -1.0, rtol=1e-9)
    wrong = ScheduleSDE(**base, dalpha=lambda t: 0.0 * t)  # deliberately wrong: must change f
    np.testing.assert_array_equal(to_numpy(wrong.drift_coefficient(t)), 0.0)


# ---------------------------------------------------------------------------------------------------
# errors, dtypes, backends
# ---------------------------------------------------------------------------------------------------
def test_log_snr_inverse_out_of_range_both_ends(asarray):
    sched, _ = schedule_for("ve_score_sde", CASES[-1][1])  # lambda_0 = -2 log sigma_min is finite
    lam_0, lam_T = -2 * math.log(0.01), -2 * math.log(50.0)
    with pytest.raises(ValueError, match="outside"):
        sched.t_from_log_snr(asarray([lam_0 + 0.5]))  # used to return t = 0 silently
    with pytest.raises(ValueError, match="outside"):
        sched.t_from_log_snr(asarray([0.0, lam_T - 0.5]))
    with pytest.raises(ValueError, match="NaN"):
        sched.t_from_log_snr(float("nan"))


def test_float32(asarray, to_numpy, dtype_name):
    sched, ref = schedule_for("vp", CASES[0][1])
    t32 = asarray([0.001, 0.3, 1.0], dtype="float32")
    t64 = asarray(np.asarray([0.001, 0.3, 1.0], dtype=np.float32).astype(np.float64))
    for method in ("drift_coefficient", "diffusion_squared", "sigma", "alpha", "log_snr"):
        out = getattr(sched, method)(t32)
        assert dtype_name(out) == "float32", method
        np.testing.assert_allclose(to_numpy(out), to_numpy(getattr(ref, method)(t64)), rtol=2e-6, err_msg=method)
    back = sched.t_from_log_snr(sched.log_snr(t32))
    assert dtype_name(back) == "float32"
    np.testing.assert_allclose(to_numpy(back), to_numpy(t64), rtol=2e-6)


def test_invalid_construction():
    with pytest.raises(TypeError):
        ScheduleSDE(alpha=1.0, sigma=lambda t: t)
    with pytest.raises(TypeError):
        ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, dsigma="x")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, T=bad)
        with pytest.raises(ValueError):
            ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, prior_std=bad)
    assert "cosine" in repr(ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, name="cosine"))


def test_library_specific_schedule_under_its_backend():
    """A schedule written with torch functions works under the torch backend, prior_std included."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    sde = ScheduleSDE(alpha=lambda t: torch.exp(-t), sigma=lambda t: torch.sqrt(-torch.expm1(-2 * t)))
    with refsde.use_backend("torch"):
        assert sde.prior_std == pytest.approx(math.sqrt(-math.expm1(-2.0)), rel=1e-14)
        g2 = sde.diffusion_squared(torch.tensor([0.5], dtype=torch.float64))
    assert float(g2[0]) == pytest.approx(2.0, rel=1e-9)
