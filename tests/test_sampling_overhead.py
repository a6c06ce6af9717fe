"""The fixed-step samplers' low-overhead machinery keeps their guarantees.

* NaN score outputs are checked on the first call and then through the state (every 16 steps and at the
  end, refsde.sampling._loop.NaNWatch): a NaN that appears only later in the run, only in the last step or
  only in the denoising step must still raise ValueError; wrong shapes are checked on every call.
* The coefficient tables (host floats, one vectorized evaluation) hold the closed-form values, and the
  tabulated Euler-Maruyama step equals the step written with 0-d SDE coefficients bit for bit (same
  arithmetic, same rounding).
"""

from __future__ import annotations

import math

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
)
from refsde._arrays import linspace_floats
from refsde.sampling._loop import CHECK_EVERY, has_nan, time_scalars
from refsde.sampling.pc import chain_alphas
from refsde.sampling.sde import AncestralDDPM, AncestralSMLD, EulerMaruyama, ReverseDiffusion

BACKEND = refsde.get_backend()
XP = BACKEND.xp
N = 40  # > beta_max T = 20 (PC's corrector needs DDPM betas < 1) and > 2 NaN-check periods
EPS = 1e-3


def _np(a) -> np.ndarray:
    return np.asarray(BACKEND.to_numpy(a), dtype=np.float64)


def _x_T(sde):
    return sde.prior_sample((5, 3), 0, backend=BACKEND)


def _runs(sde, x_T, score, **kw):
    return {
        "em": lambda: sample_sde(score, sde, x_T, N, rng=1, **kw),
        "reverse_diffusion": lambda: sample_sde(score, sde, x_T, N, rng=1, method="reverse_diffusion", **kw),
        "pc": lambda: sample_pc(score, sde, x_T, N, rng=1, predictor="euler_maruyama", **kw),
        "pc_rd_ald": lambda: sample_pc(score, sde, x_T, N, rng=1, corrector="annealed_langevin", **kw),
        "ode_euler": lambda: sample_ode(score, sde, x_T, N, method="euler", **kw),
        "ode_rk4": lambda: sample_ode(score, sde, x_T, N, method="rk4", **kw),
    }


def _nan_when(predicate):
    """A score -x / (1 + t) that returns NaN wherever predicate(t) holds (t a host float)."""

    def score(x, t):
        s = -x / (1.0 + t)
        return s * float("nan") if predicate(float(t)) else s

    return score


GRID = linspace_floats(1.0, EPS, N)


def time_scalar(t, like):
    return time_scalars(like)(t)


@pytest.mark.parametrize("name", ["em", "reverse_diffusion", "pc", "pc_rd_ald", "ode_euler", "ode_rk4"])
@pytest.mark.parametrize(
    "when",
    [
        pytest.param(lambda t: t < 0.6, id="from-mid-run"),
        pytest.param(lambda t: abs(t - GRID[20]) < 1e-6, id="one-step-only"),  # step 20: not a check step
        pytest.param(lambda t: t < GRID[N - 1] + 1e-6, id="last-step-only"),  # the score at t_{N-1} (and eps)
    ],
)
def test_nan_after_the_first_call_still_raises(name, when):
    sde = refsde.VPSDE()
    with pytest.raises(ValueError, match="NaN"):
        _runs(sde, _x_T(sde), _nan_when(when))[name]()


@pytest.mark.parametrize("name", ["em", "reverse_diffusion", "ode_euler"])  # PC, RK4 also evaluate at eps
def test_nan_only_in_the_denoising_step_raises(name):
    sde = refsde.VPSDE()
    score = _nan_when(lambda t: t < EPS * (1 + 1e-6) and t > 0)  # only at t = eps: the Tweedie step's call
    x, _ = _runs(sde, _x_T(sde), score)[name]()  # no call at eps without denoise: fine
    assert np.all(np.isfinite(_np(x)))
    with pytest.raises(ValueError, match="NaN"):
        _runs(sde, _x_T(sde), score, denoise=True)[name]()


@pytest.mark.parametrize("name", ["em", "pc", "ode_rk4"])
def test_wrong_shape_after_the_first_call_raises(name):
    sde = refsde.VPSDE()

    def score(x, t):
        return -x[:, :2] if float(t) < 0.5 else -x

    with pytest.raises(ValueError, match="shape"):
        _runs(sde, _x_T(sde), score)[name]()


def test_nan_window_names_the_steps():
    sde = refsde.VPSDE()
    k_bad = 21  # first step whose score is NaN; detected after step 2 * CHECK_EVERY - 1 = 31
    with pytest.raises(ValueError) as err:
        sample_sde(_nan_when(lambda t: t <= GRID[k_bad] + 1e-9), sde, _x_T(sde), N, rng=1)
    assert f"steps {CHECK_EVERY}..{2 * CHECK_EVERY - 1}" in str(err.value)


def test_has_nan_is_exact():
    # sum overflow to inf, and +inf/-inf summing to NaN, are not NaN entries
    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point (NumPy-based backends)
        assert not has_nan(XP, BACKEND.asarray(np.array([1e308, 1e308, -1.0])))
        assert not has_nan(XP, BACKEND.asarray(np.array([math.inf, -math.inf, 0.0])))
    assert has_nan(XP, BACKEND.asarray(np.array([0.0, math.nan, 1.0])))
    assert not has_nan(XP, BACKEND.asarray(np.zeros((3, 2))))


def test_grid_table_matches_closed_forms():
    sde = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
    times = linspace_floats(1.0, EPS, 8)
    table = EulerMaruyama(sde, times, BACKEND.asarray(np.zeros((2, 2))))
    beta = [0.1 + t * 19.9 for t in times[:-1]]  # beta(t) = beta_min + t (beta_max - beta_min), T = 1
    h = [times[k] - times[k + 1] for k in range(8)]
    np.testing.assert_allclose(table.f, [-b / 2 for b in beta], rtol=1e-14)  # f = -beta / 2
    np.testing.assert_allclose(table.g2, beta, rtol=1e-14)  # g^2 = beta
    np.testing.assert_allclose(table.scale, [math.sqrt(b * hk) for b, hk in zip(beta, h)], rtol=1e-14)
    # score_sde's alphas: 1 - linspace(beta_min, beta_max, N)[i] / N, here by level i = 0..7
    expected = 1.0 - np.linspace(0.1, 20.0, 8) / 8
    np.testing.assert_allclose(chain_alphas(sde, range(8), BACKEND.asarray(np.zeros(2))), expected, rtol=1e-14)
    assert chain_alphas(refsde.VESDE(), range(4), BACKEND.asarray(np.zeros(2))) == [1.0] * 4


@pytest.mark.parametrize("make_sde", [refsde.VPSDE, refsde.SubVPSDE, refsde.VESDE], ids=["vp", "subvp", "ve"])
def test_tabulated_em_step_is_bit_identical_to_the_direct_one(make_sde):
    """The table's host floats round as the 0-d SDE coefficients of one step do (the step written out)."""
    sde = make_sde()
    x = _x_T(sde)
    z = refsde.make_rng(2, BACKEND).normal(tuple(x.shape), dtype=x.dtype)
    times = linspace_floats(sde.T, EPS, N)
    score = lambda y, t: -y / (1.0 + t)  # noqa: E731
    table = EulerMaruyama(sde, times, x)
    for k in (0, 17, N - 1):
        t = time_scalar(times[k], x)
        h = times[k] - times[k + 1]
        f, g2, s = sde.drift_coefficient(t), sde.diffusion_squared(t), score(x, t)
        mean = x - (f * x - g2 * s) * h  # Euler-Maruyama with 0-d coefficients
        a = (mean + XP.sqrt(g2 * h) * z, mean)
        b = table.step(k, x, s, z)
        np.testing.assert_array_equal(_np(a[0]), _np(b[0]))
        np.testing.assert_array_equal(_np(a[1]), _np(b[1]))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_langevin_sample_with_zero_score_does_not_move(batch_norm):
    # documented: ||s|| = 0 gives step size e = 0 (no drift, no noise); the other samples move
    from refsde.sampling import langevin_corrector

    sde = refsde.VPSDE()
    x = _x_T(sde)
    mask = np.ones((5, 1))
    mask[0] = 0.0
    zero_first = BACKEND.asarray(mask)

    def score(y, t):
        return -y * (zero_first if not batch_norm else 0.0 * zero_first)

    out, _ = langevin_corrector(score, sde, x, 0.5, rng=3, batch_norm=batch_norm)
    moved = np.abs(_np(out) - _np(x)).max(axis=1)
    assert moved[0] == 0.0
    assert (moved[1:] > 0).all() if not batch_norm else (moved == 0).all()


def _all_samplers(sde, x_T):
    """Every loop-based sampler with N steps, as ``run(score_fn)``."""
    return {
        "em": lambda s: sample_sde(s, sde, x_T, N, rng=1),
        "reverse_diffusion": lambda s: sample_sde(s, sde, x_T, N, rng=1, method="reverse_diffusion"),
        "ancestral": lambda s: sample_sde(s, sde, x_T, N, rng=1, method="ancestral"),
        "pc_rd_ald": lambda s: sample_pc(s, sde, x_T, N, rng=1, corrector="annealed_langevin"),
        "pc_anc_l_cf": lambda s: sample_pc(s, sde, x_T, N, rng=1, predictor="ancestral", order="corrector_first"),
        "ode_rk4": lambda s: sample_ode(s, sde, x_T, N, method="rk4"),
        "ddim_eta": lambda s: sample_ddim(s, sde, x_T, N, eta=0.5, rng=0),
        "dpm_solver_2": lambda s: sample_dpm_solver(s, sde, x_T, N, order=2),
        "dpm_solver_3": lambda s: sample_dpm_solver(s, sde, x_T, N, order=3),
        "dpm_solver_pp_2m": lambda s: sample_dpm_solver_pp_2m(s, sde, x_T, N),
        "edm_heun": lambda s: sample_edm_heun(s, sde, x_T, N, churn=5.0, rng=0),
        "langevin": lambda s: langevin_corrector(s, sde, x_T, 0.5, n_steps=N, rng=0),
        "annealed_langevin": lambda s: langevin_corrector(
            s, sde, x_T, 0.5, n_steps=N, rng=0, method="annealed_langevin"
        ),
    }


@pytest.mark.parametrize(
    "name",
    ["em", "reverse_diffusion", "ancestral", "pc_rd_ald", "pc_anc_l_cf", "ode_rk4", "ddim_eta", "dpm_solver_2",
     "dpm_solver_3", "dpm_solver_pp_2m", "edm_heun", "langevin", "annealed_langevin"],
)
@pytest.mark.parametrize("where", ["second", "middle", "last"])
@pytest.mark.parametrize("base", ["linear", "sign"])
def test_a_single_nan_score_output_anywhere_raises(name, where, base):
    """The loops read the host only every CHECK_EVERY steps, so a NaN in one score output (not the first)
    must reach the state and be reported: at the call after the first, one in mid-run (the intermediate
    stages of the multi-stage solvers included) and the very last call.  ``sign``: a score that maps a NaN
    input to a finite output (-1 where x > 0, else 1), so a NaN output seen only by a later score call
    (DPM-Solver-3's first stage) would be lost."""
    sde = refsde.VPSDE()
    x_T = _x_T(sde)
    run = _all_samplers(sde, x_T)[name]

    def base_score(x, t):
        if base == "linear":
            return -x / (1.0 + t)
        one = XP.ones_like(x)
        return XP.where(x > 0.0, -one, one)  # NaN > 0 is False: a NaN input gives 1

    _, info = run(base_score)
    bad_call = {"second": 2, "middle": info.nfe // 2 + 1, "last": info.nfe}[where]
    calls = []

    def score(x, t):
        calls.append(None)
        s = base_score(x, t)
        return s * math.nan if len(calls) == bad_call else s

    with pytest.raises(ValueError, match="NaN"):
        run(score)


def _by_level(values):
    """A per-step table (default levels: step k <-> level n - 1 - k) indexed by level instead."""
    return list(values)[::-1]


def test_level_table_matches_the_ddpm_and_smld_chains():
    """The per-step host coefficients against score_sde's chains written out in NumPy: DDPM betas
    linspace(beta_min T / N, beta_max T / N, N) (reverse diffusion: f_i = (sqrt(1 - beta_i) - 1) x,
    G_i^2 = beta_i); SMLD increments var_i - var_{i-1} of var_i = sigma(t_i)^2, t_i = i T / (N - 1)."""
    n = 8
    like = BACKEND.asarray(np.zeros((2, 2)))
    times = linspace_floats(1.0, EPS, n)
    levels = [n - 1 - k for k in range(n)]
    vp = refsde.VPSDE(beta_min=0.1, beta_max=5.0)  # beta_max T / N < 1
    betas = np.linspace(0.1 / n, 5.0 / n, n)
    table = ReverseDiffusion(vp, times, levels, like)
    np.testing.assert_allclose(_by_level(table.c), np.sqrt(1.0 - betas) - 1.0, rtol=1e-13)
    np.testing.assert_allclose(_by_level(table.G2), betas, rtol=1e-13)
    np.testing.assert_allclose(_by_level(table.G), np.sqrt(betas), rtol=1e-13)
    table = AncestralDDPM(vp, times, levels, like)
    np.testing.assert_allclose(_by_level(table.beta), betas, rtol=1e-13)
    np.testing.assert_allclose(_by_level(table.root), np.sqrt(1.0 - betas), rtol=1e-13)
    ve = refsde.VESDE(sigma_min=0.01, sigma_max=50.0)
    var = np.array([float(ve.sigma(BACKEND.asarray(i / (n - 1)))) ** 2 for i in range(n)])
    dvar = np.diff(var, prepend=0.0)
    table = AncestralSMLD(ve, times, levels, like)
    np.testing.assert_allclose(_by_level(table.dvar), dvar, rtol=1e-12)
    var_prev = np.concatenate([[0.0], var[:-1]])
    std = [math.sqrt(p * d / v) if v > 0 else 0.0 for p, d, v in zip(var_prev, dvar, var)]  # 0 where var_i = 0
    assert var[0] == 0.0  # the exact VE convention: sigma(0) = 0, so level 0 exercises the var_i = 0 branch
    np.testing.assert_allclose(_by_level(table.noise), std, rtol=1e-12)
    table = ReverseDiffusion(ve, times, levels, like)
    assert table.c == [0.0] * n
    np.testing.assert_allclose(_by_level(table.G2), dvar, rtol=1e-12)
    ve_sd = refsde.VESDE(sigma_min=0.01, sigma_max=50.0, convention="score_sde")
    sig2 = (0.01 * (50.0 / 0.01) ** (np.arange(n) / (n - 1))) ** 2  # score_sde's discrete_sigmas, squared
    table = ReverseDiffusion(ve_sd, times, levels, like)
    np.testing.assert_allclose(_by_level(table.G2), np.diff(sig2, prepend=0.0), rtol=1e-12)  # sigma_min^2 at level 0
    # sub-VP: score_sde's Euler-Maruyama chain f_i = f(t_k) x T / N, G_i^2 = g(t_k)^2 T / N at the grid times
    subvp = refsde.SubVPSDE(beta_min=0.1, beta_max=20.0)
    t_level = np.array([times[n - 1 - i] for i in range(n)])
    beta = 0.1 + t_level * 19.9
    B = 0.1 * t_level + 0.5 * 19.9 * t_level**2  # int_0^t beta
    table = ReverseDiffusion(subvp, times, levels, like)
    np.testing.assert_allclose(_by_level(table.c), -beta / 2, rtol=1e-13)
    assert table.dt == 1.0 / n
    np.testing.assert_allclose(_by_level(table.G2), beta * -np.expm1(-2.0 * B) / n, rtol=1e-12)


def test_a_user_discretize_is_honoured():
    """An overriding ``discretize`` is tabulated like refsde's own chains (one call for all steps, f_i = c_i x)
    and the run equals iterating it by hand."""
    calls = []

    class HalfNoiseVP(refsde.VPSDE):
        def discretize(self, x, t, *, N=None, level=None):
            calls.append(level)
            f, G = super().discretize(x, t, N=N, level=level)
            return f, 0.5 * G

    sde = HalfNoiseVP()
    _check_honoured(sde, calls)


def test_a_discretize_set_on_the_instance_is_honoured():
    calls = []
    sde = refsde.VPSDE()
    plain = sde.discretize

    def half_noise(x, t, *, N=None, level=None):
        calls.append(level)
        f, G = plain(x, t, N=N, level=level)
        return f, 0.5 * G

    sde.discretize = half_noise
    _check_honoured(sde, calls)


def _check_honoured(sde, calls):
    x_T = _x_T(sde)
    noise = BACKEND.asarray(np.random.default_rng(3).standard_normal((N, *x_T.shape)))
    x, _ = sample_sde(lambda x, t: -x, sde, x_T, N, method="reverse_diffusion", noise=noise)
    assert len(calls) == 1 and list(_np(calls[0]).astype(int)) == list(range(N - 1, -1, -1))  # every level, once
    calls.clear()
    y = x_T  # the same chain by hand: x' = x - f_i + G_i^2 s + G_i z with the halved G_i
    for k in range(N):
        f, G = sde.discretize(y, time_scalar(GRID[k], y), N=N, level=N - 1 - k)
        y = y - f + (G * G) * (-y) + G * noise[k, ...]
    np.testing.assert_allclose(_np(x), _np(y), rtol=1e-12)
