"""``sample_ode(method="rk45")``: the probability-flow ODE integrated by adaptive Dormand-Prince.

Data N(mu, C) with a full covariance, exact score from ``refsde.gaussian.Gaussian``.  References:

* the exact flow map Phi_{T->eps}(x) = alpha_eps mu + A_eps A_T^{-1} (x - alpha_T mu), A_t A_t^T = Sigma_t =
  alpha_t^2 C + sigma_t^2 I (A_t the symmetric square root), written here in NumPy from the SDE closed
  forms of tests/test_sampling_oracle.py (not from refsde): the global error of rk45 stays below
  100 tol (scaled by max(1, |x|)) and decreases as tol goes 1e-4 -> 1e-6 -> 1e-8;
* scipy's RK45 on the flattened PF ODE (drift written in NumPy from the same closed forms): same NFE and
  accepted steps, same result to 1e-12 relative (error_norm="batch");
* error_norm="sample": each sample as if solved alone (same steps, result to 1e-13).
"""

from __future__ import annotations

import numpy as np
import pytest

from refsde.gaussian import Gaussian
from refsde.ode import solve_ode
from refsde.sampling import sample_ode

try:
    from arrays_under_test import arr, np_
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, np_  # type: ignore[no-redef]

try:
    from test_sampling_oracle import SPECS
except ImportError:  # tests/ as a package
    from .test_sampling_oracle import SPECS  # type: ignore[no-redef]

scipy_integrate = pytest.importorskip("scipy.integrate")

EPS = 1e-3
KINDS = ["vp", "subvp", "ve", "ve_sd"]
MU = np.array([0.5, -1.0, 0.2])
COV = np.array([[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 2.0]])
Z = np.array([[0.3, -2.0, 0.1], [1.5, 0.7, -0.4], [-1.0, 1.0, 0.9], [0.0, 0.0, 0.0], [2.5, -0.4, -1.2]])


def setup(kind):
    spec = SPECS[kind]
    sde = spec.make()
    score = Gaussian(arr(MU), arr(COV)).score_fn(sde)
    return spec, sde, score, Z * np.sqrt(spec.prior_var())


def sigma_t(spec, t):
    return spec.alpha(t) ** 2 * COV + spec.var(t) * np.eye(3)


def sqrtm(S):
    w, V = np.linalg.eigh(S)
    return (V * np.sqrt(w)) @ V.T


def exact_flow(spec, x, t_from, t_to):
    """Phi_{from->to}(x) for rows of x (independent NumPy closed form)."""
    L = sqrtm(sigma_t(spec, t_to)) @ np.linalg.inv(sqrtm(sigma_t(spec, t_from)))
    return spec.alpha(t_to) * MU + (x - spec.alpha(t_from) * MU) @ L.T


def numpy_drift(spec, n):
    """Flattened PF drift f x - g^2 s / 2 with s = -Sigma_t^{-1} (x - alpha_t mu), for scipy."""

    def F(t, y):
        x = y.reshape(n, 3)
        s = -np.linalg.solve(sigma_t(spec, t), (x - spec.alpha(t) * MU).T).T
        return (spec.f(t) * x - 0.5 * spec.g2(t) * s).ravel()

    return F


@pytest.mark.parametrize(
    "kind,error_norm", [(k, "batch") for k in KINDS] + [("vp", "sample"), ("ve_sd", "sample")]
)
def test_rk45_error_against_exact_flow_map(kind, error_norm):
    spec, sde, score, x_np = setup(kind)
    ex = exact_flow(spec, x_np, spec.T, EPS)
    errs = []
    for tol in (1e-4, 1e-6, 1e-8):
        x, info = sample_ode(score, sde, arr(x_np), eps=EPS, method="rk45", rtol=tol, atol=tol, error_norm=error_norm)
        errs.append(np.abs(np_(x) - ex).max())
        assert errs[-1] < 100.0 * tol * max(1.0, np.abs(ex).max()), (tol, errs[-1])
        assert info.method == "ode(rk45)" and info.n_accepted >= 1
    assert errs[0] > errs[1] > errs[2]


@pytest.mark.parametrize("kind", KINDS)
def test_rk45_matches_scipy_on_flattened_pf_ode(kind):
    spec, sde, score, x_np = setup(kind)
    tol = 1e-6
    x, info = sample_ode(score, sde, arr(x_np), eps=EPS, method="rk45", rtol=tol, atol=tol)
    ref = scipy_integrate.solve_ivp(numpy_drift(spec, x_np.shape[0]), (spec.T, EPS), x_np.ravel(), method="RK45", rtol=tol, atol=tol)
    assert ref.success
    assert (info.nfe, info.n_accepted) == (ref.nfev, ref.t.size - 1)
    np.testing.assert_allclose(np_(x).ravel(), ref.y[:, -1], rtol=1e-12, atol=1e-12 * np.abs(ref.y).max())
    np.testing.assert_allclose(np_(info.grid), ref.t, rtol=1e-6)


def test_rk45_info_and_denoise():
    spec, sde, score, x_np = setup("vp")
    x_T = arr(x_np)
    x, info = sample_ode(score, sde, x_T, eps=EPS, method="rk45", rtol=1e-5, atol=1e-5)
    grid = np_(info.grid)
    assert grid[0] == spec.T and grid[-1] == EPS and np.all(np.diff(grid) < 0)
    assert grid.shape == (info.n_accepted + 1,) and info.grid.dtype == x_T.dtype
    assert info.nfe == 2 + 6 * (info.n_accepted + info.n_rejected)
    assert x.dtype == x_T.dtype and tuple(x.shape) == tuple(x_T.shape)
    x_d, info_d = sample_ode(score, sde, x_T, eps=EPS, method="rk45", rtol=1e-5, atol=1e-5, denoise=True)
    assert info_d.nfe == info.nfe + 1
    # Tweedie at eps: (x + sigma^2 s(x, eps)) / alpha, from the closed forms
    a, v = spec.alpha(EPS), spec.var(EPS)
    s = -np.linalg.solve(sigma_t(spec, EPS), (np_(x) - a * MU).T).T
    np.testing.assert_allclose(np_(x_d), (np_(x) + v * s) / a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_rk45_sample_norm_equals_each_sample_alone(kind):
    spec, sde, score, x_np = setup(kind)
    shapes = []

    def counting(x, t):
        shapes.append(tuple(t.shape))
        return score(x, t)

    x_np = x_np[:3]
    x, info = sample_ode(counting, sde, arr(x_np), eps=EPS, method="rk45", rtol=1e-6, atol=1e-6, error_norm="sample")
    assert info.grid is None and set(shapes) == {(x_np.shape[0],)}
    for i in range(x_np.shape[0]):
        xi, ii = sample_ode(score, sde, arr(x_np[i : i + 1]), eps=EPS, method="rk45", rtol=1e-6, atol=1e-6)
        # equal up to round-off: the batched score and stage matmuls round differently from a batch of one
        # (measured 5.9e-13 on VP), and the step controller carries that along; a shared step size for the
        # batch (error_norm="batch") differs by 1.4e-6 (VP) / 1.7e-7 (VE), so 1e-10 still tells them apart
        np.testing.assert_allclose(np_(x)[i], np_(xi)[0], rtol=0, atol=1e-10)
        assert ii.n_accepted <= info.n_accepted


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_fixed_step_sampler_equals_solve_ode(method):
    # two implementations of the same fixed-step schemes (sampling.ode_steps and refsde.ode.fixed_step)
    spec, sde, score, x_np = setup("subvp")
    x, info = sample_ode(score, sde, arr(x_np), 13, eps=EPS, method=method)

    def drift(t, y):
        return sde.drift_coefficient(t) * y - 0.5 * sde.diffusion_squared(t) * score(y, t)

    y, ode_info = solve_ode(drift, arr(x_np), spec.T, EPS, method=method, n_steps=13)
    np.testing.assert_allclose(np_(x), np_(y), rtol=1e-14, atol=1e-14)
    assert info.nfe == ode_info.nfe
    np.testing.assert_allclose(np_(info.grid), np_(ode_info.ts), rtol=1e-15)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(method="rk45", n_steps=10), "n_steps must be None"),
        (dict(method="rk45", error_norm="max"), "error_norm"),
        (dict(method="rk45", rtol=-1.0), "rtol"),
        (dict(method="rk4"), "n_steps"),
        (dict(method="rk23"), "unknown ODE method"),
    ],
)
def test_bad_arguments(kw, match):
    _, sde, score, x_np = setup("vp")
    kw = dict(kw)
    n = kw.pop("n_steps", None)
    with pytest.raises(ValueError, match=match):
        sample_ode(score, sde, arr(x_np), n, **kw)


def test_rk45_nan_score_after_the_first_call_names_the_time():
    # the score is checked for NaN on its first output only; a later NaN reaches the state, which the
    # solver checks once per step attempt (ValueError with the time) instead of a host read per call
    spec, sde, score, x_np = setup("vp")
    calls = []

    def nan_after_20_calls(x, t):
        calls.append(1)
        return x * float("nan") if len(calls) > 20 else score(x, t)  # (the oracle itself rejects NaN x)

    with pytest.raises(ValueError, match="NaN or inf in a step starting at t = "):
        sample_ode(nan_after_20_calls, sde, arr(x_np), eps=EPS, method="rk45", rtol=1e-5, atol=1e-5)
