"""log_likelihood's rk45 solve against scipy.integrate.solve_ivp(method="RK45") on the same flat problem.

The augmented probability-flow ODE for Gaussian data N(m, C) is written here in NumPy from the closed-form
score s = -S_t^{-1}(x - alpha_t m), S_t = alpha_t^2 C + sigma_t^2 I:

    dx/dt = f x - (g^2 / 2) s,     d delta/dt = D f + (g^2 / 2) tr S_t^{-1}        (Song et al. 2021, eq. 13)

with f, g^2, alpha_t, sigma_t taken from the SDE (they are tested against closed forms elsewhere).  scipy
integrates the flattened state [x (n*d values), delta (n values)] from eps to T; with error_norm="batch"
refsde's RMS error norm runs over exactly those n*d + n components, so the two solvers must take the same
steps: equal nfe and accepted / rejected counts, the same accepted times (to 1e-6 relative: the error
estimate cancels many digits, so summation order moves the next step by ~1e-7 relative) and the same
log p (to 1e-9 nats).  With error_norm="sample" each sample must reproduce scipy on that sample alone.
Deterministic (no random numbers).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian
from refsde.likelihood import log_likelihood

try:
    from arrays_under_test import arr, np_, random_gaussian
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, np_, random_gaussian  # type: ignore[no-redef]

scipy_integrate = pytest.importorskip("scipy.integrate")

EPS = 1e-3


def f_float(fn, t):
    return float(np_(fn(arr(t))))


def problem(name, n=3, d=2, seed=5):
    sde = {"vp": refsde.VPSDE, "ve": lambda: refsde.VESDE(sigma_max=10.0)}[name]()
    rs = np.random.default_rng(seed)
    m, c = random_gaussian(rs, d, 0.2)
    return sde, m, c, rs.standard_normal((n, d)) * 2.0


def scipy_solve(sde, m, c, x, rtol, atol):
    n, d = x.shape

    def rhs(t, y):
        alpha, sigma = (f_float(lambda u: sde.marginal_coefficients(u)[i], t) for i in (0, 1))
        f, g2 = f_float(sde.drift_coefficient, t), f_float(sde.diffusion_squared, t)
        s_inv = np.linalg.inv(alpha**2 * c + sigma**2 * np.eye(d))
        xs = y[: n * d].reshape(n, d)
        score = -(xs - alpha * m) @ s_inv  # S^{-1} symmetric
        dx = f * xs - 0.5 * g2 * score
        ddelta = np.full(n, d * f + 0.5 * g2 * np.trace(s_inv))
        return np.concatenate([dx.ravel(), ddelta])

    y0 = np.concatenate([x.ravel(), np.zeros(n)])
    sol = scipy_integrate.solve_ivp(rhs, (EPS, sde.T), y0, method="RK45", rtol=rtol, atol=atol)
    assert sol.success
    z, delta = sol.y[: n * d, -1].reshape(n, d), sol.y[n * d :, -1]
    prior_var = sde.prior_std**2
    log_p = -0.5 * np.sum(z * z, axis=1) / prior_var - 0.5 * d * math.log(2 * math.pi * prior_var) + delta
    n_accepted = sol.t.size - 1
    n_rejected = (sol.nfev - 2) // 6 - n_accepted  # f0 + initial-step probe + 6 per attempt (FSAL)
    return log_p, sol.nfev, n_accepted, n_rejected, sol.t


@pytest.mark.parametrize("name, tol", [("vp", 1e-6), ("vp", 1e-9), ("ve", 1e-4), ("ve", 1e-8)])
@pytest.mark.slow
def test_rk45_batch_norm_takes_scipys_steps(name, tol):
    sde, m, c, xn = problem(name)
    log_p, info = log_likelihood(Gaussian(arr(m), arr(c)).score_fn(sde), sde, arr(xn), eps=EPS, rtol=tol, atol=tol)
    ref_lp, nfev, n_acc, n_rej, ts = scipy_solve(sde, m, c, xn, tol, tol)
    s = info.solver
    assert (s.nfe, s.n_accepted, s.n_rejected) == (nfev, n_acc, n_rej)
    np.testing.assert_allclose(np_(s.ts), ts, rtol=1e-6)
    np.testing.assert_allclose(np_(log_p), ref_lp, rtol=0, atol=1e-9)
    assert info.nfe == info.n_divergence == s.nfe  # oracle: one score and one divergence call per ODE call


def test_some_case_rejects_steps():
    """The comparison above covers step rejections too (scipy's count is the reference)."""
    sde, m, c, xn = problem("ve")
    _, _, _, n_rej, _ = scipy_solve(sde, m, c, xn, 1e-4, 1e-4)
    assert n_rej > 0


@pytest.mark.slow
def test_rk45_sample_norm_matches_scipy_per_sample():
    sde, m, c, xn = problem("vp", n=3)
    xn[2] *= 20.0  # a far-out sample takes other steps
    log_p, info = log_likelihood(
        Gaussian(arr(m), arr(c)).score_fn(sde), sde, arr(xn), eps=EPS, rtol=1e-7, atol=1e-7, error_norm="sample"
    )
    acc, rej = np_(info.solver.accepted_per_sample), np_(info.solver.rejected_per_sample)
    for i in range(xn.shape[0]):
        ref_lp, _, n_acc, n_rej, _ = scipy_solve(sde, m, c, xn[i : i + 1], 1e-7, 1e-7)
        assert (acc[i], rej[i]) == (n_acc, n_rej)
        np.testing.assert_allclose(np_(log_p)[i], ref_lp[0], rtol=0, atol=1e-9)
    assert len(set(acc.tolist())) > 1  # the samples did take different step sequences
