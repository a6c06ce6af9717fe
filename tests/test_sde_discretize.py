"""discretize(): the discrete chains x_{i+1} = x_i + f_i + G_i z of Song et al. 2021, App. D.

* VP: the DDPM step, beta_i = beta(t_i) T / N at t_i = i T / (N - 1), i = floor(t (N - 1) / T):
  f_i = (sqrt(1 - beta_i) - 1) x, G_i = sqrt(beta_i) (score_sde's discrete_betas for T = 1).
* VE: the SMLD step, G_i^2 = std(t_i)^2 - std(t_{i-1})^2 in the chosen convention with std(t_{-1}) = 0,
  so the G_i^2 telescope to std(t_i)^2.
* everything else (sub-VP, schedules): Euler-Maruyama, f_i = f(t) x dt, G_i = g(t) sqrt(dt), dt = T / N.

Times are taken inside grid cells, t = (i + 0.3) T / (N - 1), so the index i is known by construction
and does not depend on how floor() rounds at grid points.

Keywords ``N=`` (chain length, overrides sde.N) and ``level=`` (the chain level i, overrides floor(t (N - 1) / T)):
checked against score_sde's tables linspace(beta_min / N, beta_max / N, N) and exp(linspace(log sigma_min,
log sigma_max, N)) for every level, with t deliberately unrelated to the level; bad values raise ValueError.
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


# ---------------------------------------------------------------------------------------------------
# discretize(x, t, N=..., level=...)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N", [25, 1000])
@pytest.mark.slow
def test_vp_level_gives_score_sdes_discrete_betas(N, asarray, to_numpy):
    """Every level i of the N-level DDPM chain, with t fixed (0.5): G_i^2 = discrete_betas[i] =
    linspace(beta_min / N, beta_max / N, N)[i] and f_i = (sqrt(1 - beta_i) - 1) x; self.N (1000) is ignored."""
    sde = VPSDE()
    betas = np.linspace(0.1 / N, 20.0 / N, N)
    x_np = np.random.default_rng(5).normal(size=(N, 2))
    x = asarray(x_np)
    G2 = np.array([float(to_numpy(sde.discretize(x[i : i + 1, ...], 0.5, N=N, level=i)[1])) ** 2 for i in range(N)])
    np.testing.assert_allclose(G2, betas, rtol=1e-13)
    # one call with per-sample integer levels, shape (N,)
    f, G = sde.discretize(x, asarray(np.full(N, 0.5)), N=N, level=asarray(np.arange(N), "int64"))
    np.testing.assert_allclose(to_numpy(G) ** 2, betas, rtol=1e-13)
    np.testing.assert_allclose(to_numpy(f), (np.sqrt(1 - betas) - 1)[:, None] * x_np, rtol=1e-12)


def test_vp_stretched_schedule_by_level(asarray, to_numpy):
    """T = 2: beta_i = beta(t_i) T / N at t_i = i T / (N - 1) = linspace(beta_min T / N, beta_max T / N, N)[i]."""
    sde = VPSDE(beta_min=0.3, beta_max=8.0, T=2.0, N=50)
    for N in (17, 50):
        betas = np.linspace(0.3 * 2.0 / N, 8.0 * 2.0 / N, N)
        _, G = sde.discretize(asarray(np.ones((N, 1))), 1.3, N=N, level=asarray(np.arange(N), "int64"))
        np.testing.assert_allclose(to_numpy(G) ** 2, betas, rtol=1e-13)


@pytest.mark.parametrize("convention", ["exact", "score_sde"])
@pytest.mark.parametrize("N", [25, 1000])
def test_ve_level_gives_score_sdes_discrete_sigmas(convention, N, asarray, to_numpy):
    """G_i^2 = sigma_i^2 - sigma_{i-1}^2 with score_sde's discrete_sigmas = exp(linspace(log smin, log smax,
    N)) (score_sde convention, sigma_{-1} = 0) or the exact variances sigma_i^2 - smin^2; t fixed at 0.9."""
    sde = VESDE(convention=convention)
    sig2 = np.exp(np.linspace(np.log(0.01), np.log(50.0), N)) ** 2
    var = sig2 if convention == "score_sde" else sig2 - 0.01**2
    expected = np.diff(var, prepend=0.0)
    f, G = sde.discretize(asarray(np.ones((N, 3))), 0.9, N=N, level=asarray(np.arange(N), "int64"))
    np.testing.assert_array_equal(to_numpy(f), 0.0)
    np.testing.assert_allclose(to_numpy(G) ** 2, expected, rtol=1e-9, atol=1e-18)
    for i in (0, 1, N // 2, N - 1):  # Python ints give the same
        _, Gi = sde.discretize(asarray(np.ones((1, 3))), 0.9, N=N, level=i)
        np.testing.assert_allclose(float(to_numpy(Gi)) ** 2, expected[i], rtol=1e-9, atol=1e-18)


@pytest.mark.parametrize("sde", [VPSDE(N=40), VESDE(N=40), VESDE(N=40, convention="score_sde")])
def test_level_none_is_the_floor_index_and_N_overrides(sde, asarray, to_numpy):
    """level=None keeps score_sde's i = floor(t (N - 1) / T), with N from the keyword when given."""
    x = asarray(np.ones((5, 2)))
    t_np = np.array([0.0, 0.013, 0.4, 0.77, 1.0])
    for N in (None, 40, 64):
        n = sde.N if N is None else N
        idx = np.floor(t_np * (n - 1)).astype(np.int64)
        f0, G0 = sde.discretize(x, asarray(t_np), N=N)
        f1, G1 = sde.discretize(x, asarray(t_np), N=n, level=asarray(idx, "int64"))
        np.testing.assert_array_equal(to_numpy(G0), to_numpy(G1))
        np.testing.assert_array_equal(to_numpy(f0), to_numpy(f1))


@pytest.mark.parametrize("sde", [SubVPSDE(N=100), ScheduleSDE(alpha=lambda t: 1.0, sigma=lambda t: t, T=80.0, N=200)])
def test_euler_maruyama_chain_is_indexed_by_time(sde, asarray, to_numpy):
    """The Euler-Maruyama chain is a function of t: level is checked but changes nothing; N sets dt = T / N."""
    x = asarray(np.ones((3, 2)))
    t = asarray(np.array([0.2, 0.5, 0.9]) * sde.T)
    f0, G0 = sde.discretize(x, t, N=50)
    for level in (0, 49, asarray(np.array([3, 7, 11]), "int64")):
        f1, G1 = sde.discretize(x, t, N=50, level=level)
        np.testing.assert_array_equal(to_numpy(G0), to_numpy(G1))
        np.testing.assert_array_equal(to_numpy(f0), to_numpy(f1))
    _, G_self = sde.discretize(x, t)
    np.testing.assert_allclose(to_numpy(G0) ** 2, to_numpy(G_self) ** 2 * sde.N / 50, rtol=1e-12)
    with pytest.raises(ValueError, match="level"):
        sde.discretize(x, t, N=50, level=50)


@pytest.mark.parametrize("sde", [VPSDE(), VESDE(), SubVPSDE()])
def test_bad_level_or_N_raises(sde, asarray):
    x = asarray(np.ones((3, 2)))
    for level in (-1, 1000, 2.5, 3.0, True, "3", np.float64(2.0)):  # self.N = 1000: levels 0..999
        with pytest.raises(ValueError, match="level"):
            sde.discretize(x, 0.5, level=level)
    with pytest.raises(ValueError, match="level"):
        sde.discretize(x, 0.5, N=25, level=25)  # outside [0, N) for the overriding N
    with pytest.raises(ValueError, match="integer array"):
        sde.discretize(x, 0.5, level=asarray(np.array([1.0, 2.0, 3.0])))  # float array
    with pytest.raises(ValueError, match="lie in"):
        sde.discretize(x, 0.5, N=25, level=asarray(np.array([0, 24, 25]), "int64"))
    with pytest.raises(ValueError, match="lie in"):
        sde.discretize(x, 0.5, level=asarray(np.array([-1, 0, 1]), "int64"))
    with pytest.raises(ValueError, match="shape"):
        sde.discretize(x, 0.5, level=asarray(np.array([1, 2]), "int64"))  # batch 3
    with pytest.raises(ValueError, match="shape"):
        sde.discretize(x, 0.5, level=asarray(np.zeros((3, 1)), "int64"))
    for N in (1, 0, 2.5, True, "10"):
        with pytest.raises(ValueError, match="N must be"):
            sde.discretize(x, 0.5, N=N)


def test_vp_N_override_needs_beta_below_one(asarray):
    with pytest.raises(ValueError, match="N > 20"):
        VPSDE().discretize(asarray(np.ones((1, 2))), 0.9, N=20, level=3)  # beta_max T / N = 1
