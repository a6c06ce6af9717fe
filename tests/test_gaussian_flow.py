"""The Gaussian oracles' dynamics: the marginals solve the Fokker-Planck equation, and the flow map
solves the probability-flow ODE and transports p_s to p_t.

Derivatives are central finite differences in float64 of *densities* (log_prob, exponentiated), never
of the oracle's score or Hessian, so these checks are independent of refsde.gaussian's derivative code.
Reference covariances alpha_t^2 C + sigma_t^2 I use alpha, sigma written out from Song et al. (2021).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refsde
from refsde.gaussian import Gaussian, GaussianMixture

try:
    from arrays_under_test import arr, np_
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, np_  # type: ignore[no-redef]

scipy_stats = pytest.importorskip("scipy.stats")

SDES = [refsde.VPSDE(), refsde.SubVPSDE(), refsde.VESDE(), refsde.VESDE(convention="score_sde")]
PROPERTY = settings(max_examples=25, deadline=None)


pytestmark = pytest.mark.usefixtures("strict_2023_12")  # refsde.gaussian targets the 2023.12 standard


def spd(rs, d, floor=0.3):
    a = rs.standard_normal((d, d))
    c = a @ a.T / d + floor * np.eye(d)
    return 0.5 * (c + c.T)


def ref_coefficients(sde, t):
    """(alpha_t, sigma_t^2) from Song et al. (2021) (see test_gaussian.py for the formulas)."""
    s = t / sde.T
    if isinstance(sde, (refsde.VPSDE, refsde.SubVPSDE)):
        B = sde.T * (sde.beta_min * s + 0.5 * (sde.beta_max - sde.beta_min) * s * s)
        alpha = math.exp(-0.5 * B)
        return alpha, (-math.expm1(-B)) ** 2 if isinstance(sde, refsde.SubVPSDE) else -math.expm1(-B)
    ratio2 = 2.0 * s * math.log(sde.sigma_max / sde.sigma_min)
    if sde.convention == "exact":
        return 1.0, sde.sigma_min**2 * math.expm1(ratio2)
    return 1.0, sde.sigma_min**2 * math.exp(ratio2)


def ref_marginal(sde, t, m, c):
    alpha, s2 = ref_coefficients(sde, t)
    return alpha * m, alpha**2 * c + s2 * np.eye(len(m))


# ---- 4. Fokker-Planck ------------------------------------------------------------------------------------
# Central differences with time step H_T and space step REL_X * sqrt(lambda_min(S_t)) (S_t = cov of p_t).
# Truncation: time ~ (H_T r)^2 / 6 with rate r <= 2 log(sigma_max/sigma_min) / T ~ 17 -> ~5e-9; space ~
# REL_X^2 / 12 * O(d) -> ~1e-6 * small constants.  Rounding: log_prob is accurate to ~1e-14 absolute,
# i.e. p to ~1e-14 relative, amplified by 1/H_T (1e-9) in time and by 4 / REL_X^2 (4e-8) in space.
# Observed residuals are <= 6e-7 of the scale |dp/dt| + |div(f p)| + g^2/2 |Lap p|; FP_TOL = 3e-6 leaves a
# 5x margin, while a 0.1% error in the schedule gives residuals of 1.4e-4 to 7e-4 (negative control below).
H_T = 1e-5
REL_X = 1e-3
FP_TOL = 3e-6


def fokker_planck_residual(dist, sde, x, t, ref_sde=None):
    """(residual, scale) of dp/dt + div(f p) - g^2/2 Lap p at x (d,), t, with p = dist.marginal(ref_sde, .).

    f = sde.drift and g^2 = sde.diffusion_squared; ``ref_sde`` (default ``sde``) generates the marginals.
    """
    ref_sde = sde if ref_sde is None else ref_sde
    d = x.shape[0]

    def density(points, tt):
        return np.exp(np_(dist.marginal(ref_sde, tt).log_prob(arr(points))))

    dp_dt = (density(x[None, :], t + H_T)[0] - density(x[None, :], t - H_T)[0]) / (2.0 * H_T)
    covs = np_(dist.marginal(ref_sde, t).covs if isinstance(dist, GaussianMixture) else dist.marginal(ref_sde, t).cov)
    delta = REL_X * math.sqrt(float(np.min(np.linalg.eigvalsh(covs))))
    steps = delta * np.eye(d)
    points = np.concatenate([x[None, :], x + steps, x - steps])  # x, x + delta e_i, x - delta e_i
    p = density(points, t)
    fp = np_(sde.drift(arr(points), t)) * p[:, None]  # f(x, t) p(x) at every point
    div_fp = sum((fp[1 + i, i] - fp[1 + d + i, i]) / (2.0 * delta) for i in range(d))
    lap_p = sum((p[1 + i] - 2.0 * p[0] + p[1 + d + i]) / delta**2 for i in range(d))
    g2 = float(np_(sde.diffusion_squared(t)))
    residual = dp_dt + div_fp - 0.5 * g2 * lap_p
    return residual, abs(dp_dt) + abs(div_fp) + 0.5 * g2 * abs(lap_p)


def _points(rs, mean, cov, k=2):
    return mean + rs.standard_normal((k, len(mean))) @ np.linalg.cholesky(cov).T


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_gaussian_marginals_solve_fokker_planck(sde):
    rs = np.random.default_rng(1)
    m, c = rs.standard_normal(3), spd(rs, 3)
    g = Gaussian(arr(m), arr(c))
    for t in [0.05, 0.3, 0.8, 0.99]:
        for x in _points(rs, *ref_marginal(sde, t, m, c)):
            res, scale = fokker_planck_residual(g, sde, x, t)
            assert abs(res) <= FP_TOL * scale, f"t={t}: residual {res:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_mixture_marginals_solve_fokker_planck(sde):
    rs = np.random.default_rng(2)
    w = np.array([0.2, 0.5, 0.3])
    means = 1.5 * rs.standard_normal((3, 2))
    covs = np.stack([spd(rs, 2) for _ in range(3)])
    gm = GaussianMixture(arr(w), arr(means), arr(covs))
    for t in [0.05, 0.4, 0.9]:
        for k in range(3):
            x = _points(rs, *ref_marginal(sde, t, means[k], covs[k]), k=1)[0]
            res, scale = fokker_planck_residual(gm, sde, x, t)
            assert abs(res) <= FP_TOL * scale, f"t={t}: residual {res:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize(
    "sde, wrong",
    [(refsde.VPSDE(), refsde.VPSDE(beta_max=20.02)), (refsde.VESDE(), refsde.VESDE(sigma_max=50.05))],
    ids=["VP", "VE"],
)
def test_fokker_planck_check_detects_a_small_schedule_error(sde, wrong):
    """Negative control: marginals of a schedule off by 0.1% violate the FP equation by > 10 FP_TOL."""
    rs = np.random.default_rng(3)
    m, c = rs.standard_normal(2), spd(rs, 2)
    g = Gaussian(arr(m), arr(c))
    x = _points(rs, *ref_marginal(sde, 0.6, m, c), k=1)[0]
    res, scale = fokker_planck_residual(g, sde, x, 0.6, ref_sde=wrong)
    assert abs(res) > 10 * FP_TOL * scale


# ---- 5. flow map ---------------------------------------------------------------------------------------------
times = st.floats(0.0, 1.0)


def _flow_case(seed, d):
    rs = np.random.default_rng(seed)
    m, c = rs.standard_normal(d), spd(rs, d)
    return rs, m, c, Gaussian(arr(m), arr(c))


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 4), s=times, t=times, which=st.integers(0, 3))
def test_flow_map_pushes_p_s_to_p_t(seed, d, s, t, which):
    """Change of variables: log p_t(Phi(x)) + log|det dPhi/dx| = log p_s(x) (scipy densities)."""
    sde = SDES[which]
    rs, m, c, g = _flow_case(seed, d)
    m_s, c_s = ref_marginal(sde, s, m, c)
    m_t, c_t = ref_marginal(sde, t, m, c)
    x = _points(rs, m_s, c_s, k=5)
    y, logdet = g.flow_map(sde, s, t, arr(x))
    y, logdet = np_(y), np_(logdet)
    assert y.shape == (5, d) and logdet.shape == (5,)
    lhs = scipy_stats.multivariate_normal(m_t, c_t).logpdf(y).reshape(-1) + logdet
    rhs = scipy_stats.multivariate_normal(m_s, c_s).logpdf(x).reshape(-1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)
    # and the closed-form log-determinant: log det(S_t)/2 - log det(S_s)/2
    expected = 0.5 * (np.linalg.slogdet(c_t)[1] - np.linalg.slogdet(c_s)[1])
    np.testing.assert_allclose(logdet, expected, rtol=1e-9, atol=1e-9)


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 4), s=times, t=times, which=st.integers(0, 3))
def test_flow_map_inverse_is_the_reverse_map(seed, d, s, t, which):
    sde = SDES[which]
    rs, m, c, g = _flow_case(seed, d)
    x = _points(rs, *ref_marginal(sde, s, m, c), k=4)
    y, ld_fwd = g.flow_map(sde, s, t, arr(x))
    x_back, ld_bwd = g.flow_map(sde, t, s, y)
    scale = max(1.0, float(np.abs(x).max()), float(np.abs(np_(y)).max()))
    np.testing.assert_allclose(np_(x_back), x, rtol=1e-9, atol=1e-10 * scale)
    np.testing.assert_allclose(np_(ld_fwd) + np_(ld_bwd), 0.0, atol=1e-10)
    same, ld_same = g.flow_map(sde, s, s, arr(x))
    np.testing.assert_allclose(np_(same), x, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(np_(ld_same), 0.0, atol=1e-14)


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_flow_map_solves_the_probability_flow_ode(sde):
    """d/dt Phi_{s->t}(x) = f(t) Phi - g(t)^2/2 grad log p_t(Phi) by central differences in t.

    The score is the closed form -(alpha_t^2 C + sigma_t^2 I)^{-1}(y - alpha_t m) computed here with
    numpy.linalg.solve.  Step 1e-5: truncation ~ (1e-5 * 17)^2 / 6 ~ 5e-9 relative, rounding ~ 1e-16 / 1e-5.
    """
    rs = np.random.default_rng(4)
    m, c = rs.standard_normal(3), spd(rs, 3)
    g = Gaussian(arr(m), arr(c))
    h = 1e-5
    for s, t in [(0.0, 0.5), (0.9, 0.2), (0.1, 0.99), (0.7, 0.3)]:
        x = _points(rs, *ref_marginal(sde, s, m, c), k=3)
        y = np_(g.flow_map(sde, s, t, arr(x))[0])
        dy_dt = (np_(g.flow_map(sde, s, t + h, arr(x))[0]) - np_(g.flow_map(sde, s, t - h, arr(x))[0])) / (2 * h)
        m_t, c_t = ref_marginal(sde, t, m, c)
        score = -np.linalg.solve(c_t, (y - m_t).T).T
        f = np_(sde.drift(arr(y), t))
        g2 = float(np_(sde.diffusion_squared(t)))
        ode = f - 0.5 * g2 * score
        np.testing.assert_allclose(dy_dt, ode, rtol=1e-6, atol=1e-6 * np.abs(ode).max())


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_flow_map_logdet_equals_slogdet_of_finite_difference_jacobian(sde):
    """Phi is affine in x, so central differences give its Jacobian up to rounding (~1e-16 |Phi| / 1e-3)."""
    rs = np.random.default_rng(5)
    d = 3
    m, c = rs.standard_normal(d), spd(rs, d)
    g = Gaussian(arr(m), arr(c))
    delta = 1e-3
    for s, t in [(0.0, 1.0), (1.0, 0.0), (0.2, 0.6)]:
        x0 = _points(rs, *ref_marginal(sde, s, m, c), k=1)[0]
        pts = np.concatenate([x0 + delta * np.eye(d), x0 - delta * np.eye(d)])
        y = np_(g.flow_map(sde, s, t, arr(pts))[0])
        jac = ((y[:d] - y[d:]) / (2 * delta)).T  # J[:, i] = dPhi / dx_i
        sign, logabsdet = np.linalg.slogdet(jac)
        assert sign > 0
        logdet = np_(g.flow_map(sde, s, t, arr(x0[None, :]))[1])[0]
        np.testing.assert_allclose(logdet, logabsdet, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(jac, jac.T, rtol=1e-7, atol=1e-9)  # S_t^{1/2} S_s^{-1/2} is symmetric


def test_flow_map_accepts_0d_and_per_sample_times():
    rs = np.random.default_rng(6)
    m, c = rs.standard_normal(2), spd(rs, 2)
    g = Gaussian(arr(m), arr(c))
    sde = refsde.VPSDE()
    x = rs.standard_normal((3, 2))
    s, t = np.array([0.0, 0.3, 0.9]), np.array([1.0, 0.3, 0.1])
    y, ld = g.flow_map(sde, arr(s), arr(t), arr(x))
    for i in range(3):
        yi, ldi = g.flow_map(sde, arr(s[i]), float(t[i]), arr(x[i : i + 1]))
        np.testing.assert_allclose(np_(y)[i], np_(yi)[0], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(np_(ld)[i], np_(ldi)[0], rtol=1e-13, atol=1e-14)
