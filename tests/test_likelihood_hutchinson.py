"""Hutchinson divergence estimates: unbiasedness and the single-probe variances, in closed form.

For a matrix A with symmetric part A_s = (A + A^T)/2 the single-probe estimate q = v^T A v = v^T A_s v has
E[q] = tr A for Gaussian and Rademacher probes, and

* Gaussian v ~ N(0, I): in A_s's eigenbasis q = sum_i lambda_i chi2_1, so Var q = 2 sum lambda_i^2 =
  2 ||A_s||_F^2, and the 4th cumulant is kappa_4 = 48 sum lambda_i^4;
* Rademacher v: q = tr A + 2 sum_{i<j} (A_s)_ij v_i v_j; the products v_i v_j (i < j) are pairwise
  uncorrelated signs, so Var q = 4 sum_{i<j} (A_s)_ij^2 = 2 (||A_s||_F^2 - sum_i A_ii^2).  Its 4th moment is
  computed here exactly by enumerating the 2^d sign vectors.

The matrix under test is the exact Jacobian of the Gaussian probability-flow drift,
J = f(t) I + g(t)^2 S_t^{-1} / 2 with S_t = alpha_t^2 C + sigma_t^2 I (the score is -S_t^{-1}(x - alpha_t m)),
computed here in NumPy, plus a non-symmetric matrix for which A_s != A.

Statistical tests (fixed seeds, so deterministic): each compares a sample mean or sample variance of N
independent single-probe estimates with its closed form through z = (estimate - expected) / sd, where sd is
the exact standard error (Var q / N for a mean; (mu_4 - sigma^4) / N for a sample variance).  |z| <= 5,
a per-check false-alarm rate of 5.7e-7 in the normal approximation (N >= 2000, so the CLT applies).  N is
chosen so that a 20% error of the variance (e.g. the Gaussian formula applied to Rademacher probes, or a
missing symmetrization) is 7 sd away: detected with probability > 0.98.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian
from refsde.likelihood import draw_probes, hutchinson_estimates, log_likelihood, probability_flow_drift

try:
    from arrays_under_test import arr, be, np_, random_gaussian
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, be, np_, random_gaussian  # type: ignore[no-redef]

Z_MAX = 5.0  # two-sided normal false-alarm rate 5.7e-7 per check
REL_EFFECT = 0.2  # relative variance error to detect at Z_MAX + 2 sd


def gaussian_data(d, seed):
    return random_gaussian(np.random.default_rng(seed), d, 0.3)


def drift_jacobian(sde, m, c, t):
    """J = f(t) I + g(t)^2 S_t^{-1} / 2, from sde's coefficients as floats."""
    alpha, sigma = (float(np_(a)) for a in sde.marginal_coefficients(t))
    f, g2 = float(np_(sde.drift_coefficient(t))), float(np_(sde.diffusion_squared(t)))
    s_t = alpha**2 * c + sigma**2 * np.eye(len(m))
    return f * np.eye(len(m)) + 0.5 * g2 * np.linalg.inv(s_t)


def sign_vectors(d):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=d)))


def variance_formulas(a):
    a_s = 0.5 * (a + a.T)
    fro2 = float(np.sum(a_s * a_s))
    return 2.0 * fro2, 2.0 * (fro2 - float(np.sum(np.diag(a) ** 2)))


def gaussian_sd_of_variance(a, n):
    """sd of the sample variance of n Gaussian-probe estimates: sqrt((kappa_4 + 2 kappa_2^2) / n)."""
    lam = np.linalg.eigvalsh(0.5 * (a + a.T))
    k2, k4 = 2.0 * np.sum(lam**2), 48.0 * np.sum(lam**4)
    return math.sqrt((k4 + 2.0 * k2**2) / n)


def rademacher_central_moments(a):
    """(variance, 4th central moment) of v^T A v over all 2^d sign vectors (exact enumeration)."""
    q = np.einsum("ki,ij,kj->k", sign_vectors(len(a)), a, sign_vectors(len(a)))
    r = q - np.mean(q)
    return float(np.mean(r**2)), float(np.mean(r**4))


def sample_size(ratio):
    """N so that (Z_MAX + 2) sd of the sample variance <= REL_EFFECT * variance; ratio = (mu_4 - s^4) / s^4."""
    return max(2000, math.ceil(ratio * ((Z_MAX + 2.0) / REL_EFFECT) ** 2))


def single_probe_estimates(jvp_fn, x0, probes):
    """v^T J v for N probes at one point: x0 repeated N times, one probe per copy, one jvp in all."""
    n = probes.shape[0]
    xp = be().xp
    _, est = hutchinson_estimates(jvp_fn, xp.reshape(probes, (1, n, -1)))
    return np_(est)[0, :]


def linear_jvp(a):
    at = arr(a.T)
    xp = be().xp
    return lambda x: (lambda v: (xp.matmul(x, at), xp.matmul(v, at)))


def drift_jvp(sde, g, t):
    score = g.score_fn(sde)
    return lambda x: (lambda v: be().jvp(lambda y: probability_flow_drift(sde, score, y, t), x, v))


# ---- the formulas themselves, exactly, on all sign vectors ---------------------------------------------------
def test_rademacher_enumeration_gives_trace_and_variance_exactly():
    a = np.random.default_rng(3).standard_normal((4, 4))  # non-symmetric
    v = sign_vectors(4)
    x = arr(np.zeros((len(v), 4)))
    est = single_probe_estimates(linear_jvp(a)(x), x, arr(v))
    _, var_rad = variance_formulas(a)
    assert abs(np.mean(est) - np.trace(a)) <= 1e-12 * np.sum(np.abs(a))
    assert abs(np.var(est) - var_rad) <= 1e-12 * np.sum(a * a)
    assert abs(var_rad - 2.0 * np.sum(a * a)) > 0.5  # the naive ||A||_F^2 formula would fail here


# ---- statistical: mean and variance of single-probe estimates -----------------------------------------------
CASES = {
    "pf-drift-vp": lambda: ("drift", refsde.VPSDE(), 3, 0.3),
    "pf-drift-ve": lambda: ("drift", refsde.VESDE(sigma_max=5.0), 4, 0.2),
    "non-symmetric": lambda: ("linear", None, 3, None),
}


def matrix_and_jvp(case):
    kind, sde, d, t = CASES[case]()
    if kind == "linear":
        a = np.random.default_rng(9).standard_normal((d, d)) + np.diag([1.0, -2.0, 0.5])
        return a, linear_jvp(a)
    m, c = gaussian_data(d, 1)
    return drift_jacobian(sde, m, c, t), drift_jvp(sde, Gaussian(arr(m), arr(c)), t)


@pytest.mark.statistical
@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_single_probe_mean_and_variance(case, probe):
    a, make_jvp = matrix_and_jvp(case)
    d = len(a)
    var_gauss, var_rad = variance_formulas(a)
    if probe == "gaussian":
        var = var_gauss
        n = sample_size((gaussian_sd_of_variance(a, 1) / var) ** 2)
    else:
        var, mu4 = rademacher_central_moments(a)
        assert abs(var - var_rad) <= 1e-10 * var  # the closed form against the enumeration
        n = sample_size((mu4 - var**2) / var**2)
    x0 = np.random.default_rng(5).standard_normal(d)
    x = arr(np.tile(x0, (n, 1)))
    probes = draw_probes(probe, 1, x, rng=20240)
    est = single_probe_estimates(make_jvp(x), x, probes[0, ...])
    z_mean = (np.mean(est) - np.trace(a)) / math.sqrt(var / n)
    if probe == "gaussian":
        sd_var = gaussian_sd_of_variance(a, n)
    else:
        sd_var = math.sqrt((mu4 - var**2) / n)
    z_var = (np.var(est, ddof=1) - var) / sd_var
    assert abs(z_mean) <= Z_MAX, (z_mean, n)
    assert abs(z_var) <= Z_MAX, (z_var, n)
    # the sample is large enough to tell the two probe laws apart (the test is not vacuous)
    other = var_rad if probe == "gaussian" else var_gauss
    assert abs(other - var) >= (Z_MAX + 2.0) * sd_var


# ---- through log_likelihood ------------------------------------------------------------------------------------
def _problem(d=3, n=1):
    sde = refsde.VPSDE()
    m, c = gaussian_data(d, 2)
    g = Gaussian(arr(m), arr(c))
    x0 = np.random.default_rng(8).standard_normal(d)
    return sde, g, np.tile(x0, (n, 1))


@pytest.mark.slow
def test_all_sign_probes_reproduce_exact_divergence():
    """Mean over all 2^d sign vectors of v^T J v is tr J exactly, so log p equals the exact-divergence one."""
    sde, g, xn = _problem(d=3, n=2)
    x = arr(xn)
    v = sign_vectors(3)
    probes = arr(np.repeat(v[:, None, :], 2, axis=1))  # (8, n, d)
    opts = dict(eps=1e-3, method="rk4", n_steps=4)
    lp_exact, _ = log_likelihood(g.score_fn(sde), sde, x, **opts)
    lp_h, info = log_likelihood(g.score_fn(sde), sde, x, divergence="hutchinson", probes=probes, **opts)
    np.testing.assert_allclose(np_(lp_h), np_(lp_exact), rtol=0, atol=1e-10)
    assert info.divergence == "hutchinson" and info.n_jvp == 8 * info.solver.nfe
    assert info.nfe == info.n_jvp * (1 if be().exact_jvp else 3)


@pytest.mark.statistical
@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_log_likelihood_hutchinson_is_unbiased(probe):
    """N copies of one point, one probe each: mean of log p -> the exact-divergence value.

    With the same fixed-step solver the x-path is identical, so the estimates differ from the exact value
    only by the integral of (v^T J v - tr J): unbiased for any step size.  The sd of the mean is estimated
    from the sample (N = 2000: Student t ~ normal); |z| <= 5, false-alarm rate 5.7e-7.
    """
    n = 2000
    sde, g, xn = _problem(d=3, n=n)
    x = arr(xn)
    opts = dict(eps=1e-3, method="rk4", n_steps=6)
    lp_exact, _ = log_likelihood(g.score_fn(sde), sde, x[:1, ...], **opts)
    lp_h, _ = log_likelihood(g.score_fn(sde), sde, x, divergence="hutchinson", probe=probe, rng=7, **opts)
    est = np_(lp_h)
    z = (np.mean(est) - float(np_(lp_exact)[0])) / (np.std(est, ddof=1) / math.sqrt(n))
    assert np.std(est) > 1e-3  # the estimates are random (the probes were used)
    assert abs(z) <= Z_MAX, z


def test_probes_reproducible_from_seed():
    sde, g, xn = _problem(d=2, n=3)
    x = arr(xn)
    opts = dict(eps=1e-3, method="euler", n_steps=3, divergence="hutchinson", n_probes=2)
    a, _ = log_likelihood(g.score_fn(sde), sde, x, rng=11, **opts)
    b, _ = log_likelihood(g.score_fn(sde), sde, x, rng=11, **opts)
    c, _ = log_likelihood(g.score_fn(sde), sde, x, rng=12, **opts)
    assert np.array_equal(np_(a), np_(b)) and not np.array_equal(np_(a), np_(c))
