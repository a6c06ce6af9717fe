"""Deterministic tests of the probability-flow ODE samplers and of Euler-Maruyama's weak order.

* Path by path: with the exact Gaussian score the PF-ODE drift is affine per coordinate, so the sampler's
  map x_T -> x_eps is the affine map the NumPy oracle composes from the scheme's stages and the closed-form
  coefficients; they agree to float64 rounding.
* Convergence order against the exact flow map Phi_{T->eps}(x) = alpha_eps mu + sqrt(S_eps / S_T)(x - alpha_T mu):
  log2(err(n) / err(2n)) for Euler (1), Heun (2), RK4 (4).  n is chosen in the asymptotic regime
  (n -> 2n from Euler 100, Heun 50, RK4 40 (sub-VP 80); the VE SDE with sigma_max = 50 has
  h |dF/dx| ~ h log(sigma_max / sigma_min) ~ 8.5 h near T; RK4's errors stay >= 1e-9, far above rounding).
* Weak order of Euler-Maruyama from the oracle's exact law (no Monte Carlo): started from the exact p_T,
  the error of (mean, variance) at eps against p_eps halves when n doubles (VP, sub-VP).  The statistical
  check that EM samples follow the exact EM law is ``test_sampling_law.py::...[em-*]``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde.sampling import sample_ode

try:
    from test_sampling_oracle import DATA, SPECS, ode_affine, propagate_law, sde_updates
except ImportError:  # tests/ as a package
    from .test_sampling_oracle import DATA, SPECS, ode_affine, propagate_law, sde_updates  # type: ignore[no-redef]

BACKEND = refsde.get_backend()
EPS = 1e-3
KINDS = ["vp", "subvp", "ve", "ve_sd"]
X_UNIT = np.array([[0.3, -2.0], [1.5, 0.7], [-1.0, 1.0], [0.0, 0.0], [2.5, -0.4]])  # prior-scale points


def _x_T(kind: str) -> np.ndarray:
    return X_UNIT * math.sqrt(SPECS[kind].prior_var())


def _run(kind: str, method: str, n: int, x_np: np.ndarray, **kw) -> tuple[np.ndarray, object]:
    spec = SPECS[kind]
    x_T = BACKEND.asarray(x_np, dtype=BACKEND.xp.float64)
    x, info = sample_ode(DATA.score_fn(spec, BACKEND), spec.make(), x_T, n, eps=EPS, method=method, **kw)
    return np.asarray(BACKEND.to_numpy(x)), info


@pytest.mark.parametrize("method,evals", [("euler", 1), ("heun", 2), ("rk4", 4)])
@pytest.mark.parametrize("kind", KINDS)
def test_ode_matches_exact_recursion_path_by_path(kind, method, evals):
    spec = SPECS[kind]
    n = 17
    x_np = _x_T(kind)
    x, info = _run(kind, method, n, x_np)
    aff = ode_affine(spec, DATA, method, n, EPS)
    expected = aff.a * x_np + aff.b
    np.testing.assert_allclose(x, expected, rtol=1e-11, atol=1e-11 * np.abs(expected).max())
    assert info.nfe == evals * n and info.n_accepted == n and info.n_rejected == 0
    assert info.method == f"ode({method})"


def test_ode_denoise_is_tweedie_at_eps():
    spec = SPECS["vp"]
    x_np = _x_T("vp")
    x, info = _run("vp", "heun", 10, x_np, denoise=True)
    aff = ode_affine(spec, DATA, "heun", 10, EPS)
    y = aff.a * x_np + aff.b
    S, a = DATA.S(spec, EPS), spec.alpha(EPS)
    expected = (y - spec.var(EPS) * (y - a * DATA.mu_np) / S) / a  # (y + sigma^2 s(y)) / alpha
    np.testing.assert_allclose(x, expected, rtol=1e-11)
    assert info.nfe == 21


@pytest.mark.parametrize(
    "method,n,order,tol", [("euler", 100, 1.0, 0.05), ("heun", 50, 2.0, 0.1), ("rk4", 40, 4.0, 0.15)]
)
@pytest.mark.parametrize("kind", KINDS)
def test_ode_convergence_order_against_exact_flow_map(kind, method, n, order, tol):
    spec = SPECS[kind]
    if kind == "subvp" and method == "rk4":
        n = 80  # sub-VP's RK4 error reaches its h^4 regime later (measured orders 3.5, 3.8, 3.9 from n = 20)
    x_np = _x_T(kind)
    exact = DATA.flow_map(spec, spec.T, EPS, x_np)
    errs = [np.abs(_run(kind, method, m, x_np)[0] - exact).max() for m in (n, 2 * n)]
    measured = math.log2(errs[0] / errs[1])
    assert abs(measured - order) < tol, f"{kind} {method}: errors {errs}, measured order {measured:.3f}"
    assert errs[1] > 1e-12  # still far above rounding, so the ratio measures truncation error


@pytest.mark.parametrize("kind", ["vp", "subvp"])
def test_euler_maruyama_weak_order_one(kind):
    """err(n) = max |m_n - alpha_eps mu| + max |v_n - S_eps| from the exact p_T; log2(err(n)/err(2n)) ~ 1."""
    spec = SPECS[kind]
    m0, v0 = spec.alpha(spec.T) * DATA.mu_np, DATA.S(spec, spec.T)
    target_m, target_v = spec.alpha(EPS) * DATA.mu_np, DATA.S(spec, EPS)

    def err(n):
        m, v = propagate_law(spec, DATA, sde_updates(spec, "euler_maruyama", n, EPS), m0, v0)
        return np.abs(m - target_m).max() + np.abs(v - target_v).max()

    orders = [math.log2(err(n) / err(2 * n)) for n in (100, 200, 400)]
    np.testing.assert_allclose(orders, 1.0, atol=0.05)


@pytest.mark.parametrize("kind", ["ve", "ve_sd"])
def test_euler_maruyama_weak_error_ve_at_least_first_order(kind):
    """VE: the O(h) coefficient is tiny for this data, so for n <= 10^3 the error falls faster than h
    (~h^2, pre-asymptotic); checked: it converges, at least halving per doubling."""
    spec = SPECS[kind]
    m0, v0 = DATA.mu_np, DATA.S(spec, spec.T)
    target_v = DATA.S(spec, EPS)
    errs = []
    for n in (100, 200, 400, 800):
        m, v = propagate_law(spec, DATA, sde_updates(spec, "euler_maruyama", n, EPS), m0, v0)
        np.testing.assert_allclose(m, DATA.mu_np, rtol=1e-12)  # zero drift: the mean is exact
        errs.append(np.abs(v - target_v).max())
    assert all(e2 <= 0.5 * e1 for e1, e2 in zip(errs, errs[1:])), errs


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_rk4_against_refsde_gaussian_flow_map_full_covariance(kind):
    """Cross-check with refsde.gaussian (correlated data, score from another implementation): RK4's error
    against Gaussian.flow_map falls by ~2^4 per doubling of n."""
    gaussian = pytest.importorskip("refsde.gaussian")
    if not hasattr(gaussian, "Gaussian"):
        pytest.skip("refsde.gaussian.Gaussian not available")
    spec = SPECS[kind]
    sde = spec.make()
    mean = np.array([0.5, -1.0, 0.2])
    cov = np.array([[1.0, 0.6, 0.1], [0.6, 2.0, -0.3], [0.1, -0.3, 0.5]])
    f64 = BACKEND.xp.float64
    g = gaussian.Gaussian(BACKEND.asarray(mean, dtype=f64), BACKEND.asarray(cov, dtype=f64))
    x_np = np.random.default_rng(0).standard_normal((4, 3)) * math.sqrt(spec.prior_var())
    x_T = BACKEND.asarray(x_np, dtype=BACKEND.xp.float64)
    exact = np.asarray(BACKEND.to_numpy(g.flow_map(sde, spec.T, EPS, x_T)[0]))
    errs = []
    for n in (40, 80):
        x, _ = sample_ode(g.score_fn(sde), sde, x_T, n, eps=EPS, method="rk4")
        errs.append(np.abs(np.asarray(BACKEND.to_numpy(x)) - exact).max())
    assert abs(math.log2(errs[0] / errs[1]) - 4.0) < 0.25, errs
