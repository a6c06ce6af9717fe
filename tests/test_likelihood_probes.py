"""Hutchinson log-likelihoods with m probes held fixed along the solve, against a closed form.

For Gaussian data N(m, C) under a linear SDE the score is s = -S_t^{-1}(x - alpha_t m), S_t = alpha_t^2 C +
sigma_t^2 I, so its Jacobian -S_t^{-1} does not depend on x.  log_likelihood estimates only the score's
trace (the f(t) I part of the drift Jacobian has the known trace D f(t)):

    div_est F = D f(t) + (g(t)^2 / 2) (1/m) sum_k v_k^T S_t^{-1} v_k,

and the delta ODE does not involve x.  Integrating in C's eigenbasis Q with v_i(t) = alpha_t^2 lam_i +
sigma_t^2, the identity d/dt log v_i = 2 f + g^2 / v_i (from alpha' = f alpha and g^2 = d sigma^2/dt -
2 f sigma^2) gives

    B = int_eps^T (g^2 / 2) S_t^{-1} dt = Q diag(b) Q^T,  b_i = log(v_i(T) / v_i(eps)) / 2 - log(alpha_T / alpha_eps),

    log p_hutch(x) = log p_exact(x) + (1/m) sum_k v_k^T B v_k - tr B        (exactly, for fixed probes v_k).

So (1) with explicit probes the estimate must equal that expression (a deterministic check that fails if
the probes were redrawn during the solve, summed instead of averaged, or if the f I part were estimated);
(2) over N samples with probes drawn from a seed, the error (1/m) sum_k v_k^T B v_k - tr B has mean 0 and
variance 2 ||B||_F^2 / m (Gaussian probes) or 2 (||B||_F^2 - sum_i B_ii^2) / m (Rademacher probes).
log p_exact comes from the same closed form: log pi(Phi(x)) + sum_i log(v_i(T) / v_i(eps)) / 2 with
Phi(x) = alpha_T m + Q diag(sqrt(v(T) / v(eps))) Q^T (x - alpha_eps m), all in NumPy here.

Statistical checks use fixed seeds (deterministic) and |z| <= 5 against the exact standard errors: a
two-sided normal false-alarm rate of 5.7e-7 per check (N >= 2000, so the CLT applies).  N is chosen so that
a 20% error of the variance is 7 sd away (detected with probability > 0.98); a missing 1/m would be a 300%
error.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian
from refsde.likelihood import draw_probes, log_likelihood

try:
    from arrays_under_test import arr, np_, random_gaussian
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, np_, random_gaussian  # type: ignore[no-redef]

EPS = 1e-3
Z_MAX = 5.0  # two-sided normal false-alarm rate 5.7e-7 per check
REL_EFFECT = 0.2  # relative variance error to detect at Z_MAX + 2 sd
TOL = dict(rtol=1e-7, atol=1e-7)  # measured solver error of the identity below: <= 4e-8 nats at 1e-8


def problem(name, d=3, seed=4):
    sde = {"vp": refsde.VPSDE, "ve": lambda: refsde.VESDE(sigma_max=5.0), "subvp": refsde.SubVPSDE}[name]()
    return (sde, *random_gaussian(np.random.default_rng(seed), d, 0.3))


def coefficients(sde, t):
    alpha, sigma = sde.marginal_coefficients(float(t))
    return float(np_(alpha)), float(np_(sigma)) ** 2


def closed_form(sde, m, c, x):
    """(log p_exact(x) of shape (n,), B of shape (d, d)) as derived in the module docstring."""
    lam, q = np.linalg.eigh(c)
    a0, s0 = coefficients(sde, EPS)
    a1, s1 = coefficients(sde, sde.T)
    v0, v1 = a0**2 * lam + s0, a1**2 * lam + s1
    z = a1 * m + ((x - a0 * m) @ q) * np.sqrt(v1 / v0) @ q.T
    prior_var = sde.prior_std**2
    d = len(m)
    log_pi = -0.5 * np.sum(z * z, axis=1) / prior_var - 0.5 * d * math.log(2 * math.pi * prior_var)
    log_p = log_pi + 0.5 * np.sum(np.log(v1 / v0))
    b = 0.5 * np.log(v1 / v0) - math.log(a1 / a0)
    return log_p, (q * b) @ q.T


def quad_forms(probes, b):
    """(1/m) sum_k v_k^T B v_k per sample, probes (m, n, d) in NumPy."""
    return np.mean(np.einsum("kni,ij,knj->kn", probes, b, probes), axis=0)


# ---- 1. deterministic: the estimate is the closed-form quadratic form of the fixed probes -------------------
@pytest.mark.parametrize("name, probe", [("vp", "gaussian"), ("ve", "rademacher"), ("subvp", "gaussian")])
@pytest.mark.slow
def test_fixed_probes_give_closed_form_quadratic_form(name, probe):
    sde, m, c = problem(name)
    n, n_probes = 5, 3
    xn = np.random.default_rng(1).standard_normal((n, 3))
    x = arr(xn)
    probes = draw_probes(probe, n_probes, x, rng=3)
    log_p, info = log_likelihood(
        Gaussian(arr(m), arr(c)).score_fn(sde), sde, x, eps=EPS, divergence="hutchinson", probes=probes, **TOL
    )
    exact, b = closed_form(sde, m, c, xn)
    noise = quad_forms(np_(probes), b) - np.trace(b)
    assert np.min(np.abs(noise)) > 1e-3  # the probes matter: the check below is not the exact value again
    np.testing.assert_allclose(np_(log_p), exact + noise, rtol=0, atol=2e-6)
    assert info.divergence == "hutchinson" and info.n_jvp == n_probes * info.solver.nfe
    if name != "vp":
        return
    # the same probes passed one at a time: the m-probe estimate is the mean of the single-probe ones
    singles = [
        np_(log_likelihood(Gaussian(arr(m), arr(c)).score_fn(sde), sde, x, eps=EPS, divergence="hutchinson",
                           probes=probes[k : k + 1, ...], **TOL)[0])
        for k in range(n_probes)
    ]
    np.testing.assert_allclose(np_(log_p), np.mean(singles, axis=0), rtol=0, atol=4e-6)


# ---- 2. statistical: mean 0 and variance 2 ||B||_F^2 / m of the estimator error ----------------------------
def sign_vectors(d):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=d)))


def error_moments(b, probe, n_probes):
    """(variance, 4th central moment) of (1/m) sum_k v_k^T B v_k for m i.i.d. probes (B symmetric)."""
    if probe == "gaussian":
        lam = np.linalg.eigvalsh(b)
        k2, k4 = 2.0 * np.sum(lam**2), 48.0 * np.sum(lam**4)  # cumulants of sum_i lam_i chi2_1
        var, kappa4 = k2 / n_probes, k4 / n_probes**3
        return var, kappa4 + 3.0 * var**2
    v = sign_vectors(len(b))
    q = np.einsum("ki,ij,kj->k", v, b, v)
    r = q - np.mean(q)
    s2, mu4 = float(np.mean(r**2)), float(np.mean(r**4))  # exact, over all 2^d sign vectors
    return s2 / n_probes, (mu4 + 3.0 * (n_probes - 1) * s2**2) / n_probes**3  # moments of a mean of m


def variance_formula(b, probe, n_probes):
    fro2 = float(np.sum(b * b))
    return (2.0 * fro2 if probe == "gaussian" else 2.0 * (fro2 - float(np.sum(np.diag(b) ** 2)))) / n_probes


@pytest.mark.statistical
@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
@pytest.mark.slow
def test_hutchinson_error_has_mean_zero_and_variance_2_fro2_over_m(probe):
    name, n_probes = "vp", 4
    sde, m, c = problem(name)
    _, b = closed_form(sde, m, c, np.zeros((1, 3)))
    var, mu4 = error_moments(b, probe, n_probes)
    assert abs(var - variance_formula(b, probe, n_probes)) <= 1e-12 * var  # formula vs moments
    n = max(2000, math.ceil((mu4 - var**2) / var**2 * ((Z_MAX + 2.0) / REL_EFFECT) ** 2))
    xn = np.random.default_rng(2).standard_normal((n, 3))
    log_p, _ = log_likelihood(
        Gaussian(arr(m), arr(c)).score_fn(sde), sde, arr(xn), eps=EPS, divergence="hutchinson",
        n_probes=n_probes, probe=probe, rng=2024,  # solver error ~1e-5 nats << sd of the error (~5 nats)
    )
    exact, _ = closed_form(sde, m, c, xn)
    err = np_(log_p) - exact
    z_mean = np.mean(err) / math.sqrt(var / n)
    sd_var = math.sqrt((mu4 - var**2) / n)
    z_var = (np.var(err, ddof=1) - var) / sd_var
    assert abs(z_mean) <= Z_MAX, (z_mean, n)
    assert abs(z_var) <= Z_MAX, (z_var, np.var(err, ddof=1) / var, n)
    # not vacuous: one probe (no averaging) would be rejected
    assert abs(n_probes * var - var) >= (Z_MAX + 2.0) * sd_var
