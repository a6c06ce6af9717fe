"""discretize(): the discrete chains x_{i+1} = x_i + f_i + G_i z of Song et al. 2021, App. D.

* VP: the DDPM step, beta_i = beta(t_i) T / N at t_i = i T / (N - 1), i = floor(t (N - 1) / T):
  f_i = (sqrt(1 - beta_i) - 1) x, G_i = sqrt(beta_i) (score_sde's discrete_betas for T = 1).
* VE: the SMLD step, G_i^2 = std(t_i)^2 - std(t_{i-1})^2 in the chosen convention with std(t_{-1}) = 0,
  so the G_i^2 telescope to std(t_i)^2.
* everything else (sub-VP, schedules): Euler-Maruyama, f_i = f(t) x dt, G_i = g(t) sqrt(dt), dt = T / N.

Times are taken inside grid cells, t = (i + 0.3) T / (N - 1), so the index i is known by construction
and does not depend on how floor() rounds at grid points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from refsde import ScheduleSDE, SubVPSDE, VESDE, VPSDE


def cell_times(N, T, idx):
    """t inside cell i (index known by construction); T itself for the last index N - 1."""
    idx = np.asarray(idx)
    return np.where(idx == N - 1, T, (idx + 0.3) * T / (N - 1))


@pytest.mark.parametrize(
    "params", [{}, {"N": 10, "beta_max": 5.0}, {"beta_min": 0.3, "beta_max": 8.0, "T": 2.0, "N": 50}]
)
def test_vp_is_the_ddpm_step(params, asarray, to_numpy):
    sde = VPSDE(**params)
    N, T, b0, b1 = sde.N, sde.T, sde.beta_min, sde.beta_max
    idx = np.array([0, 1, N // 3, N // 2, N - 2, N - 1])
    t = cell_times(N, T, idx)
    x_np = np.random.default_rng(0).normal(size=(len(idx), 3))
    f, G = sde.discretize(asarray(x_np), asarray(t))
    beta_i = (b0 + (b1 - b0) * idx / (N - 1)) * T / N
    np.testing.assert_allclose(to_numpy(G), np.sqrt(beta_i), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(f), (np.sqrt(1 - beta_i) - 1)[:, None] * x_np, rtol=1e-12)
    if T == 1.0:  # score_sde: discrete_betas = linspace(beta_min / N, beta_max / N, N)
        np.testing.assert_allclose(to_numpy(G) ** 2, np.linspace(b0 / N, b1 / N, N)[idx], rtol=1e-13)
    # the grid points themselves: floor(t (N-1)/T) at t = 0 and t = T is exact
    f0, G0 = sde.discretize(asarray(x_np[:2]), 0.0)
    np.testing.assert_allclose(to_numpy(G0), math.sqrt(b0 * T / N), rtol=1e-14)
    fT, GT = sde.discretize(asarray(x_np[:2]), T)
    np.testing.assert_allclose(to_numpy(GT), math.sqrt(b1 * T / N), rtol=1e-14)


def test_vp_ddpm_step_needs_beta_below_one(asarray):
    sde = VPSDE(N=10)  # beta_max T / N = 2: sqrt(1 - beta_i) would be NaN
    with pytest.raises(ValueError, match="N > 20"):
        sde.discretize(asarray(np.ones((1, 2))), 0.9)


def _ddpm_variance(sde, asarray, to_numpy):
    """v_i of x_i given x_0 along the DDPM chain, v_{i+1} = (1 + f_{i+1}/x)^2 v_i + G_{i+1}^2, v_0 = 0,
    with (f, G) from discretize; returns the grid t_i = i T / (N - 1) and v_i."""
    N, T = sde.N, sde.T
    idx = np.arange(N)
    f, G = sde.discretize(asarray(np.ones(N)), asarray(cell_times(N, T, idx)))
    a, G2 = 1.0 + to_numpy(f), to_numpy(G) ** 2
    v = np.zeros(N)
    for i in range(1, N):
        v[i] = a[i] ** 2 * v[i - 1] + G2[i]
    return idx * T / (N - 1), v


@pytest.mark.parametrize("params", [{}, {"beta_min": 0.3, "beta_max": 8.0, "T": 2.0}])
def test_vp_ddpm_variance_converges_to_continuous_marginal(params, asarray, to_numpy):
    """The DDPM chain's variance tends to 1 - exp(-B(t)) with error O(1/N) (sum beta_j T/N is a Riemann
    sum of B with an O(1/N) offset, and log(1 - beta) = -beta + O(1/N^2) per step): doubling N halves the
    error (ratio in [1.9, 2.1]) and N = 4000 is within 1e-3 of the continuous variance."""
    errors = []
    Ns = [250, 500, 1000, 2000, 4000]
    for N in Ns:
        sde = VPSDE(N=N, **params)
        b0, b1, T = sde.beta_min, sde.beta_max, sde.T
        grid, v = _ddpm_variance(sde, asarray, to_numpy)
        B = b0 * grid + (b1 - b0) * grid**2 / (2 * T)
        errors.append(np.max(np.abs(v - (1 - np.exp(-B)))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 1.9) & (ratios < 2.1)), (errors, ratios)
    assert errors[-1] < 1e-3, errors
    assert errors[-1] * Ns[-1] == pytest.approx(errors[0] * Ns[0], rel=0.02)  # C / N with one C


@pytest.mark.parametrize("convention", ["exact", "score_sde"])
@pytest.mark.parametrize("params", [{"N": 40}, {"sigma_min": 0.1, "sigma_max": 20.0, "T": 3.0, "N": 1000}])
def test_ve_smld_steps_telescope_to_the_std(convention, params, asarray, to_numpy):
    sde = VESDE(convention=convention, **params)
    N, T, smin, smax = sde.N, sde.T, sde.sigma_min, sde.sigma_max
    idx = np.arange(N)
    x_np = np.random.default_rng(3).normal(size=(N, 2))
    f, G = sde.discretize(asarray(x_np), asarray(cell_times(N, T, idx)))
    np.testing.assert_array_equal(to_numpy(f), 0.0)
    G2 = to_numpy(G) ** 2
    # closed-form std(t_i)^2 on t_i = i T / (N - 1): s(t_i) = smin (smax/smin)^(i/(N-1))
    s2 = smin**2 * (smax / smin) ** (2 * idx / (N - 1))
    var = s2 - smin**2 if convention == "exact" else s2
    np.testing.assert_allclose(np.cumsum(G2), var, rtol=1e-11, atol=1e-15)
    assert to_numpy(G)[0] == (0.0 if convention == "exact" else pytest.approx(smin, rel=1e-14))
    if convention == "score_sde" and T == 1.0:  # score_sde: discrete_sigmas = exp(linspace(log smin, log smax, N))
        sig = np.exp(np.linspace(np.log(smin), np.log(smax), N))
        np.testing.assert_allclose(G2[1:], sig[1:] ** 2 - sig[:-1] ** 2, rtol=1e-11)


@pytest.mark.parametrize(
    "sde_factory",
    [
        lambda: SubVPSDE(),
        lambda: SubVPSDE(beta_min=0.2, beta_max=12.0, T=0.5, N=100),
    ],
)
def test_subvp_is_euler_maruyama(sde_factory, asarray, to_numpy):
    sde = sde_factory()
    N, T, b0, b1 = sde.N, sde.T, sde.beta_min, sde.beta_max
    t = np.array([0.0, 0.013, 0.4, 0.999]) * T
    x_np = np.random.default_rng(4).normal(size=(4, 2, 3))
    f, G = sde.discretize(asarray(x_np), asarray(t))
    beta = b0 + (b1 - b0) * t / T
    B = b0 * t + (b1 - b0) * t**2 / (2 * T)
    dt = T / N
    np.testing.assert_allclose(to_numpy(f), (-0.5 * beta * dt)[:, None, None] * x_np, rtol=1e-13)
    np.testing.assert_allclose(to_numpy(G), np.sqrt(beta * -np.expm1(-2 * B) * dt), rtol=1e-13)


def test_schedule_is_euler_maruyama(asarray, to_numpy, xp):
    # EDM: alpha = 1, sigma = t  =>  f = 0, g^2 = 2 t
    sde = ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, T=80.0, N=200)
    t = np.array([0.5, 10.0, 80.0])
    f, G = sde.discretize(asarray(np.ones((3, 2))), asarray(t))
    np.testing.assert_allclose(to_numpy(f), 0.0, atol=1e-12)
    np.testing.assert_allclose(to_numpy(G), np.sqrt(2 * t * 80.0 / 200), rtol=1e-9)
