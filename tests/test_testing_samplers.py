"""refsde.testing sampler checks: the exact laws, dogfooding on refsde's samplers, and mutants.

Mutant candidates are written here from the papers' formulas (Euler-Maruyama of Song et al. eq. 6, the PF
ODE eq. 13, DDPM ancestral sampling, Langevin steps), in the namespace of their inputs, each with one bug,
and must be rejected by the check meant to catch it.  The continuous reverse-SDE law (*) of
refsde.testing._laws is checked against an independent numerical integration of the moment ODEs.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from array_api_compat import array_namespace
from scipy.integrate import solve_ivp

import refsde
from refsde.backends import backend_of
from refsde.sampling import sample_ddim, sample_ode, sample_sde
from refsde.sampling._loop import time_scalars
from refsde.sampling.pc import AnnealedLangevin, Langevin, chain_alphas
from refsde.testing import ConformanceError
from refsde.testing import _schemes as S
from refsde.testing._cases import gaussian_case
from refsde.testing.check_corrector import check_corrector
from refsde.testing.check_samplers import check_ode_sampler, check_sde_sampler

SDES = {
    "vp": lambda: refsde.VPSDE(beta_min=0.1, beta_max=20.0),
    "subvp": lambda: refsde.SubVPSDE(beta_min=0.1, beta_max=20.0),
    "ve": lambda: refsde.VESDE(sigma_min=0.01, sigma_max=50.0),
}
EPS = 1e-3


# ---- the exact laws ------------------------------------------------------------------------------------------
def _em_law(ref: Any, case: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    run = S.Run(ref, case.mt, case.lam, list(np.linspace(ref.T, EPS, n + 1)), {})
    return S.scheme_law(run, S.SDE_SCHEMES["euler_maruyama"], ref.prior_std**2)


@pytest.mark.parametrize("kind", sorted(SDES))
def test_reverse_sde_law_matches_moment_ode_integration(kind: str) -> None:
    """The closed-form reverse-SDE law against dM/dtau = -A M + g^2 alpha mt / v, dV/dtau = -2 A V + g^2
    (A = f + g^2/v), integrated from the prior at T down to eps by an adaptive RK solver: an independent
    derivation (also from an intermediate start time t0 < T)."""
    ref = SDES[kind]()
    case = gaussian_case((3,))
    d = case.D

    def rhs(tau: float, state: np.ndarray, t0: float) -> np.ndarray:
        nd = S.node_at(ref, t0 - tau)
        v = nd.alpha**2 * case.lam + nd.sigma**2
        A = nd.f + nd.g2 / v
        M, V = state[:d], state[d:]
        return np.concatenate([-A * M + nd.g2 * nd.alpha * case.mt / v, -2.0 * A * V + nd.g2])

    for t0 in (ref.T, 0.6 * ref.T):
        y0 = np.concatenate([np.zeros(d), np.full(d, ref.prior_std**2)])
        sol = solve_ivp(rhs, (0.0, t0 - EPS), y0, method="DOP853", rtol=1e-11, atol=1e-13, args=(t0,))
        M, V = S.reverse_sde_law(ref, case, t0, EPS, ref.prior_std**2)
        np.testing.assert_allclose(sol.y[:d, -1], M, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(sol.y[d:, -1], V, rtol=1e-7)


@pytest.mark.parametrize("kind", sorted(SDES))
def test_euler_maruyama_law_converges_to_the_reverse_sde_law(kind: str) -> None:
    """The exact EM law at n steps approaches the closed form at rate O(1/n) (two independent computations meet)."""
    ref, case = SDES[kind](), gaussian_case((3,))
    M, V = S.reverse_sde_law(ref, case, ref.T, EPS, ref.prior_std**2)
    errs = []
    for n in (400, 1600):
        Mn, Vn = _em_law(ref, case, n)
        errs.append(np.max(np.abs(Vn / V - 1.0)) + np.max(np.abs(Mn - M)))
    assert errs[1] < 0.35 * errs[0] and errs[1] < 5e-3  # first order: ratio ~1/4


def test_flow_paths_match_refsde_flow_map() -> None:
    ref, case = SDES["vp"](), gaussian_case((3,))
    x = np.random.default_rng(0).standard_normal((5, 3))
    got = case.to_data(S.flow_paths(ref, case, 1.0, 0.3, case.to_eigen(x)))
    want, _ = refsde.gaussian.Gaussian(case.m, case.cov).flow_map(ref, 1.0, 0.3, x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ---- dogfooding --------------------------------------------------------------------------------------------
def refsde_sde(ref: Any, method: str, **kw: Any) -> Callable:
    return lambda score, x_T, n: sample_sde(score, ref, x_T, n, method=method, rng=11, **kw)[0]


@pytest.mark.parametrize("kind", sorted(SDES))
@pytest.mark.parametrize("method", ["euler_maruyama", "reverse_diffusion", "ancestral"])
def test_refsde_sde_samplers_pass_their_exact_law(kind: str, method: str) -> None:
    ref = SDES[kind]()
    if method == "ancestral" and kind == "subvp":
        pytest.skip("ancestral sampling is defined for VP and VE only")
    report = check_sde_sampler(refsde_sde(ref, method), ref, n_steps=40, method=method)
    assert report.passed and report.n > 10000


@pytest.mark.parametrize("kind", sorted(SDES))
def test_refsde_euler_maruyama_passes_the_continuous_law(kind: str) -> None:
    ref = SDES[kind]()
    report = check_sde_sampler(refsde_sde(ref, "euler_maruyama"), ref, n_steps=100, rel_std_error=0.07)
    assert report.passed and report.detectable["relative std error of one eigen-direction"] < 0.08


@pytest.mark.parametrize("kind", sorted(SDES))
@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_refsde_ode_samplers_pass(kind: str, method: str, order: int) -> None:
    ref = SDES[kind]()
    fn = lambda score, x_T, n: sample_ode(score, ref, x_T, n, method=method)[0]  # noqa: E731
    assert check_ode_sampler(fn, ref, n_steps=30, method=method).passed
    report = check_ode_sampler(fn, ref, order=order)  # the order test against the exact flow map
    assert report.statistics["observed order (last pair of rungs above rounding)"] >= order - 0.5
    assert check_ode_sampler(fn, ref, order=1).passed  # a claim of a lower order is met too


@pytest.mark.parametrize("kind", sorted(SDES))
def test_refsde_ddim_passes_both_checks(kind: str) -> None:
    ref = SDES[kind]()
    det = lambda score, x_T, n: sample_ddim(score, ref, x_T, n)[0]  # noqa: E731
    sto = lambda score, x_T, n: sample_ddim(score, ref, x_T, n, eta=1.0, rng=2)[0]  # noqa: E731
    assert check_ode_sampler(det, ref, n_steps=30, method="ddim").passed
    assert check_sde_sampler(sto, ref, n_steps=30, method="ddim").passed


def test_float32_and_score_sde_convention() -> None:
    ref = refsde.VESDE(sigma_min=0.01, sigma_max=50.0, convention="score_sde")
    ode = lambda score, x_T, n: sample_ode(score, ref, x_T, n, method="heun")[0]  # noqa: E731
    report = check_ode_sampler(ode, ref, n_steps=30, method="heun", dtype="float32")
    assert report.dtype == "float32" and report.passed
    assert check_sde_sampler(refsde_sde(ref, "ancestral"), ref, n_steps=30, method="ancestral", dtype="float32").passed


def test_candidate_seeded_like_the_check_still_passes() -> None:
    """The check draws its x from a seed derived from ``seed``: a corrector seeding its noise with the same
    integer passes (with x's own seed, on NumPy, its z would equal x's standardized draws and fail)."""
    vp = SDES["vp"]()

    def corrector(score: Any, x: Any, t: float) -> Any:
        xp = array_namespace(x)
        e = 2.0 * (0.16 * float(vp.sigma(np.asarray(t)))) ** 2
        z = backend_of(x).rng(0).normal(tuple(x.shape), dtype=x.dtype)
        return x + e * score(x, t) + xp.sqrt(xp.asarray(2.0 * e, dtype=x.dtype)) * z

    assert check_corrector(corrector, vp, seed=0).passed


def time_scalar(t: float, like: Any) -> Any:
    return time_scalars(like)(t)


def refsde_corrector(ref: Any, name: str, snr: float = 0.16, N: int = 1000) -> Callable:
    """refsde's corrector update at t with alpha_i of chain level floor(t (N - 1) / T) of the N-level chain."""

    def corrector(score: Any, x: Any, t: float) -> Any:
        z = backend_of(x).rng(5).normal(tuple(x.shape), dtype=x.dtype)
        alphas = chain_alphas(ref, [int(t / ref.T * (N - 1))], x, N=N)
        update = Langevin(alphas, snr, False) if name == "langevin" else AnnealedLangevin(ref, [t], alphas, snr, x)
        return update.step(0, x, score(x, time_scalar(t, x)), z)[0]

    return corrector


@pytest.mark.parametrize("kind", sorted(SDES))
@pytest.mark.parametrize("name", ["langevin", "annealed_langevin"])
def test_refsde_correctors_pass(kind: str, name: str) -> None:
    ref = SDES[kind]()
    assert check_corrector(refsde_corrector(ref, name), ref).passed


# ---- mutant candidates ---------------------------------------------------------------------------------------
def em_candidate(
    ref: Any, *, g_not_g2: bool = False, score_sign: float = 1.0, noise_scale: float = 1.0,
    right_end: bool = False, last_noise: bool = True,
) -> Callable:
    """Euler-Maruyama of dx = [f x - g^2 s] dt + g dw_bar on linspace(T, eps, n + 1), with optional bugs."""

    def sampler(score: Any, x: Any, n: int) -> Any:
        xp = array_namespace(x)
        rng = backend_of(x).rng(3)
        t = np.linspace(ref.T, EPS, n + 1)
        for k in range(n):
            h = float(t[k] - t[k + 1])
            tc = time_scalar(float(t[k + 1] if right_end else t[k]), x)
            f, g2 = ref.drift_coefficient(tc), ref.diffusion_squared(tc)
            gg = xp.sqrt(g2) if g_not_g2 else g2
            x = x - (f * x - gg * score_sign * score(x, tc)) * h
            if last_noise or k < n - 1:
                x = x + noise_scale * xp.sqrt(g2 * h) * rng.normal(tuple(x.shape), dtype=x.dtype)
        return x

    return sampler


def ancestral_vp_candidate(ref: Any, *, level_shift: int = 0) -> Callable:
    """DDPM ancestral sampling x' = (x + beta_i s) / sqrt(1 - beta_i) + sqrt(beta_i) z, beta_i = beta(i T/(N-1)) T/N."""

    def sampler(score: Any, x: Any, n: int) -> Any:
        rng = backend_of(x).rng(4)
        t = np.linspace(ref.T, EPS, n + 1)
        for k in range(n):
            i = min(max(n - 1 - k + level_shift, 0), n - 1)
            t_i = i * ref.T / (n - 1)
            beta = (ref.beta_min + (ref.beta_max - ref.beta_min) * t_i / ref.T) * ref.T / n
            s = score(x, time_scalar(float(t[k]), x))
            x = (x + beta * s) / math.sqrt(1.0 - beta) + math.sqrt(beta) * rng.normal(tuple(x.shape), dtype=x.dtype)
        return x

    return sampler


def pf_euler_candidate(ref: Any, *, half: float = 0.5, right_end: bool = False) -> Callable:
    """Euler on dx/dt = f x - (1/2) g^2 s backwards, with optional bugs."""

    def sampler(score: Any, x: Any, n: int) -> Any:
        t = np.linspace(ref.T, EPS, n + 1)
        for k in range(n):
            h = float(t[k] - t[k + 1])
            tc = time_scalar(float(t[k + 1] if right_end else t[k]), x)
            x = x - h * (ref.drift_coefficient(tc) * x - half * ref.diffusion_squared(tc) * score(x, tc))
        return x

    return sampler


def langevin_candidate(
    ref: Any, *, noise_factor: float = 2.0, score_sign: float = 1.0, step_mult: float = 1.0, snr: float = 0.16
) -> Callable:
    """x' = x + e s + sqrt(noise_factor e) z with e = 2 (snr sigma_t)^2 step_mult (annealed Langevin)."""

    def corrector(score: Any, x: Any, t: float) -> Any:
        xp = array_namespace(x)
        e = 2.0 * (snr * float(ref.sigma(np.asarray(t)))) ** 2 * step_mult
        z = backend_of(x).rng(9).normal(tuple(x.shape), dtype=x.dtype)
        return x + e * score_sign * score(x, t) + xp.sqrt(xp.asarray(noise_factor * e, dtype=x.dtype)) * z

    return corrector


def test_correct_handwritten_candidates_pass() -> None:
    """Controls for the mutants: the same candidates without the bug pass."""
    vp = SDES["vp"]()
    assert check_sde_sampler(em_candidate(vp), vp, n_steps=40, method="euler_maruyama").passed
    assert check_sde_sampler(ancestral_vp_candidate(vp), vp, n_steps=40, method="ancestral").passed
    assert check_ode_sampler(pf_euler_candidate(vp), vp, n_steps=40, method="euler").passed
    assert check_corrector(langevin_candidate(vp), vp).passed


SDE_MUTANTS = {
    "g instead of g^2 in the reverse drift": (dict(g_not_g2=True), "euler_maruyama"),
    "score sign flipped": (dict(score_sign=-1.0), "euler_maruyama"),
    "noise scale 1.1x": (dict(noise_scale=1.1), "euler_maruyama"),
    "grid shifted by one step (coefficients at t_{k+1})": (dict(right_end=True), "euler_maruyama"),
    "no noise on the last step": (dict(last_noise=False), "euler_maruyama"),
    "g instead of g^2 (continuous target)": (dict(g_not_g2=True), None),
    "noise scale 1.1x (continuous target)": (dict(noise_scale=1.1), None),
}


@pytest.mark.parametrize("label", list(SDE_MUTANTS))
def test_sde_mutants_are_caught(label: str) -> None:
    kw, method = SDE_MUTANTS[label]
    vp = SDES["vp"]()
    n_steps = 40 if method else 100
    extra = {} if method else {"rel_std_error": 0.07}
    with pytest.raises(ConformanceError, match="output (variance|mean)"):
        check_sde_sampler(em_candidate(vp, **kw), vp, n_steps=n_steps, method=method, **extra)


def test_ddpm_beta_index_off_by_one_is_caught() -> None:
    vp = SDES["vp"]()
    with pytest.raises(ConformanceError, match="output (variance|mean)"):
        check_sde_sampler(ancestral_vp_candidate(vp, level_shift=-1), vp, n_steps=40, method="ancestral")


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_ode_missing_half_is_caught(kind: str) -> None:
    ref = SDES[kind]()
    with pytest.raises(ConformanceError, match="euler path"):
        check_ode_sampler(pf_euler_candidate(ref, half=1.0), ref, n_steps=40, method="euler")
    with pytest.raises(ConformanceError, match="convergence order|flow map"):  # converges to the wrong flow
        check_ode_sampler(pf_euler_candidate(ref, half=1.0), ref)


def test_ode_grid_shift_is_caught_by_the_scheme_check() -> None:
    vp = SDES["vp"]()
    with pytest.raises(ConformanceError, match="euler path"):
        check_ode_sampler(pf_euler_candidate(vp, right_end=True), vp, n_steps=40, method="euler")


CORRECTOR_MUTANTS = {
    "noise sqrt(e) instead of sqrt(2 e)": (dict(noise_factor=1.0), "fluctuation-dissipation"),
    "score sign flipped": (dict(score_sign=-1.0), "invariance of p_t \\(variance\\)|drift toward"),
    "step size 10x": (dict(step_mult=10.0, snr=0.3), "invariance of p_t \\(variance\\)"),
    "no move (identity)": (dict(step_mult=0.0), "drift toward|fluctuation-dissipation"),
}


@pytest.mark.parametrize("label", list(CORRECTOR_MUTANTS))
def test_corrector_mutants_are_caught(label: str) -> None:
    kw, prop = CORRECTOR_MUTANTS[label]
    vp = SDES["vp"]()
    with pytest.raises(ConformanceError, match=prop):
        check_corrector(langevin_candidate(vp, **kw), vp, t=0.5)


# ---- errors and report ------------------------------------------------------------------------------------
def test_bad_arguments_raise_value_error() -> None:
    vp = SDES["vp"]()
    fn = em_candidate(vp)
    with pytest.raises(ValueError, match="method"):
        check_sde_sampler(fn, vp, method="heun")
    with pytest.raises(ValueError, match="n_steps"):
        check_sde_sampler(fn, vp, n_steps=0, method="euler_maruyama")
    with pytest.raises(ValueError, match="eps"):
        check_ode_sampler(fn, vp, eps=1.0)
    with pytest.raises(ValueError, match="not defined"):
        check_sde_sampler(fn, vp, n_steps=10, method="ancestral")  # DDPM needs n_steps > beta_max T
    with pytest.raises(ValueError, match="t must"):
        check_corrector(langevin_candidate(vp), vp, t=0.0)


def test_wrong_shape_and_nan_outputs_are_reported() -> None:
    vp = SDES["vp"]()
    with pytest.raises(ConformanceError, match="shape"):
        check_ode_sampler(lambda s, x, n: x[:, :2], vp, n_steps=5, method="euler")
    with pytest.raises(ConformanceError, match="values"):
        check_ode_sampler(lambda s, x, n: x * float("nan"), vp, n_steps=5, method="euler")


def test_report_states_alpha_and_detectable_discrepancy() -> None:
    vp = SDES["vp"]()
    report = check_sde_sampler(em_candidate(vp), vp, n_steps=40, method="euler_maruyama")
    assert report.alpha == 1e-6 and report.power == 0.99
    detectable = report.detectable["relative std error of one eigen-direction"]
    assert 0.02 < detectable <= 0.03
    # a 5% noise-scale error moves the output std by 5% in the 0.02 direction: detected with power >= 0.99
    assert report.statistics["noise scale +5%: max relative std change"] > detectable
    assert "check_sde_sampler" in str(report)
