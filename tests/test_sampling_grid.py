"""Every sampler runs on any grid (``grid=``) and any chain indexing (``levels=``).

* Bit identity: a default-grid call and the same call with ``grid=`` set to that grid (as host floats, as a
  NumPy array of another namespace than x_T, and as an array of x_T's namespace) give identical outputs,
  for every sampler and option that changes the code path.
* The grid is honoured: Euler-Maruyama, Heun and DDIM on a random non-uniform grid equal their recursions
  written out here (NumPy, float64, explicit noise).
* Bad grids (not decreasing, outside (0, T], NaN, fewer than 2 points, not 1-d) raise ValueError naming
  the first bad index; an n_steps or eps contradicting the grid raises; bad ``levels`` raise.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import refsde
from refsde.sampling import (
    langevin_corrector,
    sample_ddim,
    sample_dpm_solver,
    sample_dpm_solver_pp_2m,
    sample_edm_heun,
    sample_ode,
    sample_pc,
    sample_sde,
    time_grid,
)

BACKEND = refsde.get_backend()
XP = BACKEND.xp
N = 24  # > beta_max T = 20: the DDPM chain needs it
EPS = 2e-3


def _np(a: Any) -> np.ndarray:
    return np.asarray(BACKEND.to_numpy(a), dtype=np.float64)


def _score(x: Any, t: Any) -> Any:
    return -x / (1.0 + t)  # a smooth stand-in score


SDES = {"vp": refsde.VPSDE, "subvp": refsde.SubVPSDE, "ve": refsde.VESDE}

#: name -> run(sde, x_T, **grid_or_steps); the default-grid call passes n_steps and eps.
RUNS: dict[str, Callable[..., Any]] = {
    "em": lambda sde, x, **kw: sample_sde(_score, sde, x, rng=1, **kw),
    "em_denoise_mean": lambda sde, x, **kw: sample_sde(_score, sde, x, rng=1, last_step_noise=False, denoise=True, **kw),
    "reverse_diffusion": lambda sde, x, **kw: sample_sde(_score, sde, x, rng=1, method="reverse_diffusion", **kw),
    "ancestral": lambda sde, x, **kw: sample_sde(_score, sde, x, rng=1, method="ancestral", **kw),
    "pc_rd_langevin": lambda sde, x, **kw: sample_pc(_score, sde, x, rng=1, **kw),
    "pc_em_annealed_cf": lambda sde, x, **kw: sample_pc(
        _score, sde, x, rng=1, predictor="euler_maruyama", corrector="annealed_langevin", order="corrector_first", **kw
    ),
    "pc_anc_langevin_bn": lambda sde, x, **kw: sample_pc(
        _score, sde, x, rng=1, predictor="ancestral", batch_norm=True, n_corrector_steps=2, **kw
    ),
    "pc_correctors_only": lambda sde, x, **kw: sample_pc(_score, sde, x, rng=1, predictor=None, **kw),
    "ode_euler": lambda sde, x, **kw: sample_ode(_score, sde, x, method="euler", **kw),
    "ode_heun_denoise": lambda sde, x, **kw: sample_ode(_score, sde, x, method="heun", denoise=True, **kw),
    "ode_rk4": lambda sde, x, **kw: sample_ode(_score, sde, x, method="rk4", **kw),
    "ddim_eta0": lambda sde, x, **kw: sample_ddim(_score, sde, x, **kw),
    "ddim_eta": lambda sde, x, **kw: sample_ddim(_score, sde, x, eta=0.7, rng=2, **kw),
    "dpm_solver_1": lambda sde, x, **kw: sample_dpm_solver(_score, sde, x, order=1, **kw),
    "dpm_solver_2": lambda sde, x, **kw: sample_dpm_solver(_score, sde, x, order=2, **kw),
    "dpm_solver_3": lambda sde, x, **kw: sample_dpm_solver(_score, sde, x, order=3, **kw),
    "dpm_solver_pp_2m": lambda sde, x, **kw: sample_dpm_solver_pp_2m(_score, sde, x, **kw),
    "edm_heun": lambda sde, x, **kw: sample_edm_heun(_score, sde, x, **kw),
    "edm_heun_churn": lambda sde, x, **kw: sample_edm_heun(_score, sde, x, churn=8.0, s_tmin=0.05, rng=3, **kw),
}


def _x_T(sde: Any) -> Any:
    return sde.prior_sample((5, 3), 0, backend=BACKEND, dtype=XP.float64)


@pytest.mark.parametrize("kind", sorted(SDES))
@pytest.mark.parametrize("name", sorted(RUNS))
def test_default_grid_equals_the_same_grid_given_explicitly(kind: str, name: str) -> None:
    sde = SDES[kind]()
    if name.startswith(("ancestral", "pc_anc")) and kind == "subvp":
        pytest.skip("ancestral sampling is defined for VP and VE only")
    x_T = _x_T(sde)
    run = RUNS[name]
    x_default, info = run(sde, x_T, n_steps=N, eps=EPS)
    host = [float(t) for t in _np(info.grid)]  # the float64 grid the default call stepped through
    assert host[0] == sde.T and host[-1] == EPS and len(host) == N + 1
    for grid in (host, np.asarray(host), BACKEND.asarray(np.asarray(host), dtype=XP.float64)):
        x_grid, info_grid = run(sde, x_T, grid=grid)
        np.testing.assert_array_equal(_np(x_grid), _np(x_default), err_msg=f"{name} with grid of {type(grid)}")
        assert info_grid.nfe == info.nfe
        np.testing.assert_array_equal(_np(info_grid.grid), _np(info.grid))
        # n_steps and eps that agree with the grid are accepted too
        x_both, _ = run(sde, x_T, grid=grid, n_steps=N, eps=EPS)
        np.testing.assert_array_equal(_np(x_both), _np(x_default))


def test_default_grid_is_time_grid() -> None:
    sde = refsde.VPSDE()
    _, info = sample_sde(_score, sde, _x_T(sde), N, eps=EPS, rng=0)
    np.testing.assert_array_equal(_np(info.grid), _np(time_grid(sde, N, EPS)))
    _, info = sample_sde(_score, sde, _x_T(sde), N, rng=0)  # eps defaults to 1e-3
    assert float(info.grid[-1]) == 1e-3


def test_rk45_takes_the_ends_of_a_grid() -> None:
    sde = refsde.VESDE()
    x_T = _x_T(sde)
    a, _ = sample_ode(_score, sde, x_T, method="rk45", eps=EPS)
    b, _ = sample_ode(_score, sde, x_T, method="rk45", grid=[sde.T, EPS])
    np.testing.assert_array_equal(_np(a), _np(b))
    c, info = sample_ode(_score, sde, x_T, method="rk45", grid=[0.7, 0.1])  # a grid may start below T
    assert float(info.grid[0]) == 0.7 and float(info.grid[-1]) == 0.1
    with pytest.raises(ValueError, match="two ends"):
        sample_ode(_score, sde, x_T, method="rk45", grid=[1.0, 0.5, 0.1])


def _random_grid(seed: int, n: int, T: float = 1.0, eps: float = EPS) -> list[float]:
    """A strictly decreasing grid from T to eps with random, very unequal interior points."""
    inner = np.sort(np.random.default_rng(seed).uniform(eps, T, n - 1))[::-1]
    return [T] + [float(t) for t in inner] + [eps]


def test_euler_maruyama_on_a_random_grid_is_its_recursion() -> None:
    sde = refsde.VPSDE()
    grid = _random_grid(4, 15)
    x_T = _x_T(sde)
    noise = np.random.default_rng(5).standard_normal((15, 5, 3))
    x, info = sample_sde(_score, sde, x_T, grid=grid, noise=BACKEND.asarray(noise))
    y = _np(x_T)
    for k in range(15):
        t, h = grid[k], grid[k] - grid[k + 1]
        beta = 0.1 + 19.9 * t  # VP: f = -beta / 2, g^2 = beta
        y = y - (-0.5 * beta * y - beta * (-y / (1.0 + t))) * h + math.sqrt(beta * h) * noise[k]
    np.testing.assert_allclose(_np(x), y, rtol=1e-12, atol=1e-12)
    assert info.nfe == 15


def test_heun_on_a_random_grid_is_its_recursion() -> None:
    sde = refsde.VPSDE()
    grid = _random_grid(6, 11)
    x_T = _x_T(sde)
    x, _ = sample_ode(_score, sde, x_T, grid=grid, method="heun")

    def F(y: np.ndarray, t: float) -> np.ndarray:
        beta = 0.1 + 19.9 * t
        return -0.5 * beta * y - 0.5 * beta * (-y / (1.0 + t))  # f y - g^2 s / 2

    y = _np(x_T)
    for k in range(11):
        t, s = grid[k], grid[k + 1]
        k1 = F(y, t)
        k2 = F(y + (s - t) * k1, s)
        y = y + 0.5 * (s - t) * (k1 + k2)
    np.testing.assert_allclose(_np(x), y, rtol=1e-12, atol=1e-12)


def test_ddim_on_a_random_grid_is_its_recursion() -> None:
    sde = refsde.VESDE(sigma_min=0.01, sigma_max=20.0)
    grid = _random_grid(8, 9)
    x_T = _x_T(sde)
    noise = np.random.default_rng(9).standard_normal((9, 5, 3))
    eta = 0.5
    x, _ = sample_ddim(_score, sde, x_T, grid=grid, eta=eta, noise=BACKEND.asarray(noise))
    sig = lambda t: 0.01 * math.sqrt(math.expm1(2.0 * t * math.log(20.0 / 0.01)))  # noqa: E731 (exact VE std)
    y = _np(x_T)
    for k in range(9):
        t, s = grid[k], grid[k + 1]
        st, ss = sig(t), sig(s)
        e = -st * (-y / (1.0 + t))  # eps_hat = -sigma_t s(x, t); alpha = 1 for VE
        c = eta * (ss / st) * math.sqrt(st * st - ss * ss)  # DDIM eq. 12's sigma(eta) with alpha = 1
        x0 = y - st * e
        y = x0 + math.sqrt(ss * ss - c * c) * e + c * noise[k]
    np.testing.assert_allclose(_np(x), y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "grid, index",
    [
        ([1.0, 0.5, 0.6, 0.1], 2),  # not decreasing at index 2
        ([1.0, 0.5, 0.5, 0.1], 2),  # equal times
        ([1.2, 0.5, 0.1], 0),  # above T
        ([1.0, 0.5, 0.0], 2),  # t = 0 is outside (0, T]
        ([1.0, -0.1], 1),
        ([1.0, float("nan"), 0.1], 1),
    ],
)
@pytest.mark.parametrize("name", ["em", "pc_rd_langevin", "ode_rk4", "ddim_eta0", "dpm_solver_pp_2m", "edm_heun"])
def test_bad_grids_name_the_first_bad_index(name: str, grid: list[float], index: int) -> None:
    sde = refsde.VPSDE()
    with pytest.raises(ValueError, match=rf"grid\[{index}\]"):
        RUNS[name](sde, _x_T(sde), grid=grid)


@pytest.mark.parametrize("name", ["em", "ode_heun_denoise", "dpm_solver_2", "edm_heun"])
def test_too_short_or_not_1d_grids_and_contradictions(name: str) -> None:
    sde = refsde.VPSDE()
    x_T = _x_T(sde)
    run = RUNS[name]
    for bad in ([1.0], [], np.ones((2, 2)), "linspace"):
        with pytest.raises(ValueError, match="grid"):
            run(sde, x_T, grid=bad)
    grid = [1.0, 0.6, 0.3, 0.1]
    with pytest.raises(ValueError, match="n_steps = 4 contradicts grid"):
        run(sde, x_T, grid=grid, n_steps=4)
    with pytest.raises(ValueError, match="eps = 0.05 contradicts grid"):
        run(sde, x_T, grid=grid, eps=0.05)
    with pytest.raises(ValueError, match="n_steps"):
        run(sde, x_T)  # neither n_steps nor grid


def test_exponential_samplers_still_take_spacing_names() -> None:
    sde = refsde.VPSDE()
    x_T = _x_T(sde)
    a, info = sample_dpm_solver(_score, sde, x_T, N, grid="uniform_t")
    b, _ = sample_dpm_solver(_score, sde, x_T, grid=_np(time_grid(sde, N, 1e-3)))
    np.testing.assert_array_equal(_np(a), _np(b))
    with pytest.raises(ValueError, match="unknown grid"):
        sample_dpm_solver(_score, sde, x_T, N, grid="uniform_sigma")


# ---- levels ----------------------------------------------------------------------------------------------
def test_levels_default_and_by_name() -> None:
    sde = refsde.VPSDE()
    x_T = _x_T(sde)
    noise = BACKEND.asarray(np.random.default_rng(2).standard_normal((N, 5, 3)))
    for method in ("reverse_diffusion", "ancestral"):
        a, _ = sample_sde(_score, sde, x_T, N, method=method, noise=noise)
        b, _ = sample_sde(_score, sde, x_T, N, method=method, noise=noise, levels="refsde")
        c, _ = sample_sde(_score, sde, x_T, N, method=method, noise=noise, levels=list(range(N - 1, -1, -1)))
        np.testing.assert_array_equal(_np(a), _np(b))
        np.testing.assert_array_equal(_np(a), _np(c))


def test_score_sde_levels_repeat_and_skip_on_refsdes_grid() -> None:
    """floor(t_k (N - 1) / T) on linspace(T, eps, N + 1): written out, then the sampler with those levels."""
    sde = refsde.VPSDE()
    n = 1000
    times = np.linspace(1.0, 1e-3, n + 1)
    floor_levels = [min(n - 1, int(math.floor(t * (n - 1)))) for t in times[:-1]]
    assert len(set(floor_levels)) < n and 0 not in floor_levels  # repeats a level and skips level 0
    x_T = _x_T(sde)
    noise = BACKEND.asarray(np.random.default_rng(3).standard_normal((n, 5, 3)))
    a, _ = sample_sde(_score, sde, x_T, n, method="ancestral", noise=noise, levels="score_sde")
    b, _ = sample_sde(_score, sde, x_T, n, method="ancestral", noise=noise, levels=floor_levels)
    c, _ = sample_sde(_score, sde, x_T, n, method="ancestral", noise=noise)
    np.testing.assert_array_equal(_np(a), _np(b))
    assert np.max(np.abs(_np(a) - _np(c))) > 1e-6  # a different chain


@pytest.mark.parametrize(
    "levels, match",
    [("floor", "unknown levels"), ([0] * (N - 1), "one integer per step"), ([N] * N, "outside"),
     ([0.5] * N, "integer"), ([-1] * N, "integer >= 0"), (3, "sequence")],
)
def test_bad_levels(levels: Any, match: str) -> None:
    sde = refsde.VPSDE()
    with pytest.raises(ValueError, match=match):
        sample_sde(_score, sde, _x_T(sde), N, method="ancestral", levels=levels, rng=0)


def test_langevin_corrector_runs_at_a_fixed_time_without_a_grid() -> None:
    sde = refsde.VPSDE()
    x, info = langevin_corrector(_score, sde, _x_T(sde), 0.5, n_steps=3, rng=0)
    assert info.grid is None and info.nfe == 3 and tuple(x.shape) == (5, 3)
