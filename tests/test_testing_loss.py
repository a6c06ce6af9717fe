"""check_dsm_loss: dogfooded on refsde.losses.dsm_loss for every weighting, and mutation-tested.

Candidates are written here from Song et al. 2021 eq. 7 in the namespace of their input arrays; each
mutant has one bug and must be rejected with a ConformanceError naming the property meant to catch it.
All runs are seeded (NumPy generator for the check's data, refsde RNG seeded per candidate): the
outcomes are fixed; the check's false-alarm rate is alpha = 1e-6 per call.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from array_api_compat import array_namespace

import refsde
from refsde.backends import backend_of
from refsde.losses import dsm_loss
from refsde.testing import ConformanceError
from refsde.testing._stats import integrate_log_t, t_isf
from refsde.testing.check_loss import WEIGHTING_PROPERTY, check_dsm_loss, dsm_moments

EPS = 1e-5


def col(xp: Any, c: Any) -> Any:
    return xp.reshape(c, (c.shape[0], 1))


def candidate(
    ref: Any,
    weighting: str,
    eps: float = EPS,
    *,
    g_not_g2: bool = False,
    no_sigma2: bool = False,
    sigma_not_sigma2: bool = False,
    target_z: bool = False,
    t_from_zero: bool = False,
    batch_sum: bool = False,
    xt_sigma2: bool = False,
    seed: int = 1,
) -> Callable[[Callable, Any], Any]:
    """lambda(t) |s(x_t, t) + z / sigma_t|^2, t ~ U(eps, T), written out (with optional bugs)."""
    state: dict[str, Any] = {}

    def loss(score_fn: Callable, x0: Any) -> Any:
        xp = array_namespace(x0)
        gen = state.setdefault("rng", refsde.make_rng(seed, backend_of(x0)))
        n = x0.shape[0]
        lo = 0.0 if t_from_zero else eps
        t = lo + (ref.T - lo) * gen.uniform((n,), dtype=x0.dtype)
        alpha, sigma = ref.marginal_coefficients(t)
        z = gen.normal(tuple(x0.shape), dtype=x0.dtype)
        x_t = col(xp, alpha) * x0 + col(xp, sigma * sigma if xt_sigma2 else sigma) * z
        target = -z if target_z else -z / col(xp, sigma)
        sq = xp.sum((score_fn(x_t, t) - target) ** 2, axis=1)
        if weighting == "sigma2":
            lam = xp.ones_like(sigma) if no_sigma2 else (sigma if sigma_not_sigma2 else sigma * sigma)
        elif weighting == "likelihood":
            g2 = ref.diffusion_squared(t)
            lam = xp.sqrt(g2) if g_not_g2 else g2
        else:
            lam = xp.ones_like(sigma)
        per_sample = lam * sq
        return xp.sum(per_sample) if batch_sum else xp.mean(per_sample)

    return loss


def library_loss(ref: Any, weighting: str, eps: float = EPS, seed: int = 1, **kw: Any) -> Callable:
    state: dict[str, Any] = {}

    def loss(score_fn: Callable, x0: Any) -> Any:
        gen = state.setdefault("rng", refsde.make_rng(seed, backend_of(x0)))
        return dsm_loss(score_fn, ref, x0, weighting=weighting, eps=eps, rng=gen, **kw)

    return loss


# ---- the closed form against an independent derivation ----------------------------------------------
@pytest.mark.parametrize("weighting", ["sigma2", "likelihood", "none"])
def test_closed_form_matches_direct_expansion_in_one_dimension(weighting: str) -> None:
    # d = 1, data N(m, l): s*(x) = -(x - a m) / v, v = a^2 l + s^2, x_t = a x0 + s z.  Expanding
    # E(s*(x_t) + z/s + delta)^2 directly: a^2 l / v^2 + (1/s - s/v)^2 + delta^2; integrate in t (linear
    # scale, scipy.quad with breakpoints) -- a different route from the module's log-t Gauss-Legendre.
    from scipy.integrate import quad

    ref, lam, delta = refsde.VPSDE(), 0.7, 0.3
    def integrand(t: float) -> float:
        a, s = (float(v) for v in ref.marginal_coefficients(np.float64(t)))
        v = a * a * lam + s * s
        g2 = float(ref.diffusion_squared(np.float64(t)))
        w = {"sigma2": s * s, "likelihood": g2, "none": 1.0}[weighting]
        return w * (a * a * lam / v**2 + (1.0 / s - s / v) ** 2 + delta**2)

    pts = np.geomspace(EPS, 1.0, 30)
    direct = sum(quad(integrand, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0] for lo, hi in zip(pts[:-1], pts[1:]))
    got = dsm_moments(ref, weighting, EPS, np.array([lam]), np.array([delta]))[0]
    assert got == pytest.approx(direct / (1.0 - EPS), rel=1e-9)


@pytest.mark.parametrize("sde_name", ["vp", "ve"])
def test_weighting_probe_moments_match_direct_expansion_in_one_dimension(sde_name: str) -> None:
    # d = 1, lambda = sigma^2, score s* + c / sigma_t: r = sigma (s* + z/sigma) + c = r0 + c with r0 ~ N(0, k),
    # k = sigma^2 E(s* + z/sigma)^2 = sigma^2 (a^2 l / v^2 + (1/s - s/v)^2) (the expansion above); Gaussian
    # moments: E R = k + c^2, E R^2 = E (r0 + c)^4 = c^4 + 6 c^2 k + 3 k^2.  scipy.quad on a linear t scale.
    from scipy.integrate import quad

    ref, lam, c = SDES[sde_name](), 0.7, 5.0

    def k_of(t: float) -> float:
        a, s = (float(v) for v in ref.marginal_coefficients(np.float64(t)))
        v = a * a * lam + s * s
        return s * s * (a * a * lam / v**2 + (1.0 / s - s / v) ** 2)

    pts = np.geomspace(EPS, 1.0, 30)
    first = sum(quad(lambda t: k_of(t) + c * c, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0] for lo, hi in zip(pts[:-1], pts[1:]))
    second = sum(quad(lambda t: c**4 + 6 * c * c * k_of(t) + 3 * k_of(t) ** 2, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
                 for lo, hi in zip(pts[:-1], pts[1:]))
    got = dsm_moments(ref, "sigma2", EPS, np.array([lam]), np.array([c]), scaled=True)
    assert got[0] == pytest.approx(first / (1.0 - EPS), rel=1e-9)
    assert got[1] == pytest.approx(second / (1.0 - EPS), rel=1e-9)


def test_log_t_quadrature_and_t_quantile() -> None:
    from scipy import stats

    assert integrate_log_t(lambda t: 1.0 / t, 1e-5, 1.0) == pytest.approx(math.log(1e5), rel=1e-13)
    assert integrate_log_t(lambda t: t**2, 0.5, 2.0) == pytest.approx((8.0 - 0.125) / 3.0, rel=1e-13)
    for df in (50, 63, 500):
        for q in (2.5e-7, 1e-3, 0.05):
            assert t_isf(q, df) == pytest.approx(stats.t.isf(q, df), rel=2e-3)
    with pytest.raises(ValueError):
        t_isf(0.01, 10)


# ---- dogfooding ---------------------------------------------------------------------------------------
DOGFOOD = [
    ("vp", "sigma2", {}),
    ("vp", "likelihood", {"max_samples": 300_000}),
    ("vp", "none", {"max_samples": 300_000}),
    ("subvp", "likelihood", {"max_samples": 300_000}),
    ("ve", "sigma2", {}),
    ("ve_score_sde", "likelihood", {}),
]
SDES = {
    "vp": lambda: refsde.VPSDE(),
    "subvp": lambda: refsde.SubVPSDE(),
    "ve": lambda: refsde.VESDE(),
    "ve_score_sde": lambda: refsde.VESDE(convention="score_sde"),
}


@pytest.mark.parametrize("sde_name, weighting, kw", DOGFOOD)
def test_library_dsm_loss_passes(sde_name: str, weighting: str, kw: dict) -> None:
    ref = SDES[sde_name]()
    report = check_dsm_loss(library_loss(ref, weighting), ref, weighting, eps=EPS, seed=3, **kw)
    assert report.passed and report.n >= 64 * 1024
    assert all(report.statistics[k] <= report.thresholds[k] for k in report.thresholds)
    if "max_samples" not in kw:  # the derived sample size reaches the 5% target with the plain estimator
        assert report.detectable["exact score: relative error of E L (closed-form variance, plain estimator)"] <= 0.05 + 1e-12


def test_library_importance_sampled_loss_passes_with_more_power() -> None:
    ref = refsde.VPSDE()
    report = check_dsm_loss(library_loss(ref, "likelihood", importance_sampling=True), ref, "likelihood", max_samples=300_000)
    key = "exact score: relative error of E L"
    assert report.detectable[f"{key} (variance of the candidate's calls)"] < 0.5 * report.detectable[f"{key} (closed-form variance, plain estimator)"]


def test_written_out_candidate_passes_in_float32() -> None:
    ref = refsde.VPSDE()
    report = check_dsm_loss(candidate(ref, "sigma2"), ref, "sigma2", dtype="float32")
    assert report.passed and report.dtype == "float32"


# ---- mutants ------------------------------------------------------------------------------------------
MUTANTS = [
    # (id, sde, weighting, eps, candidate bug, property that must fail)
    # g for g^2 raises E L by 97% (VP) / 1260% (VE), but the mutant's weight g / sigma^2 ~ 32 / t (VP) makes
    # its own estimator so heavy-tailed that at eps = 1e-5 and 3e5 samples VP is caught in 3 of 4 seeds
    # only; at eps = 1e-3 |t| ~ 16.
    ("g instead of g^2 (VP, eps 1e-3)", "vp", "likelihood", 1e-3, {"g_not_g2": True}, "DSM loss expectation (exact score)"),
    ("g instead of g^2 (VE)", "ve", "likelihood", EPS, {"g_not_g2": True}, "DSM loss expectation (exact score)"),
    # missing sigma^2: the mutant's weight 1 / sigma^2 ~ 10 / t (VP, eps 1e-5) is heavy-tailed too, |t| ~ 6-8 vs
    # 5.5 there; with sigma_t >= sigma_min (VE score_sde) or eps = 1e-3 the margin is wide (|t| ~ 70 / 20)
    ("missing sigma^2 weight (VE score_sde)", "ve_score_sde", "sigma2", EPS, {"no_sigma2": True}, "DSM loss expectation (exact score)"),
    ("missing sigma^2 weight (VP, eps 1e-3)", "vp", "sigma2", 1e-3, {"no_sigma2": True}, "DSM loss expectation (exact score)"),
    ("target -z instead of -z/sigma", "ve", "sigma2", EPS, {"target_z": True}, "DSM loss expectation (exact score)"),
    ("x_t built with sigma^2", "vp", "sigma2", EPS, {"xt_sigma2": True}, "DSM loss expectation (exact score)"),
    ("sum over batch instead of mean", "subvp", "sigma2", EPS, {"batch_sum": True}, "DSM loss expectation (exact score)"),
    # U(0, T): 65536 draws fall below eps = 1e-3 with probability 1 - exp(-65.5); at eps = 1e-5 only
    # with probability 0.48, and the expectation moves by < 1e-5 relative (sigma2): not detectable there.
    ("t ~ U(0, T) instead of U(eps, T)", "vp", "sigma2", 1e-3, {"t_from_zero": True}, "DSM loss: time range"),

    # missing sigma^2 on sub-VP (w = 1 / sigma_t^2 ~ 1 / (beta_min t)^2 near 0): the t-tests pass (|t| < 5.6, the
    # heavy tail inflates the calls' sd); the weighting probe's closed-form variance rejects it at |z| ~ 1e9
    ("missing sigma^2 weight (sub-VP)", "subvp", "sigma2", EPS, {"no_sigma2": True}, WEIGHTING_PROPERTY),
    ("lambda = sigma instead of sigma^2 (VP)", "vp", "sigma2", EPS, {"sigma_not_sigma2": True}, "DSM loss expectation (exact score)"),
]


@pytest.mark.parametrize("label, sde_name, weighting, eps, bug, prop", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_is_caught(label: str, sde_name: str, weighting: str, eps: float, bug: dict, prop: str) -> None:
    ref = SDES[sde_name]()
    with pytest.raises(ConformanceError) as info:
        check_dsm_loss(candidate(ref, weighting, eps, **bug), ref, weighting, eps=eps, max_samples=300_000)
    assert info.value.property == prop
    assert info.value.check == "check_dsm_loss"


@pytest.mark.parametrize("seed", range(4))
def test_unweighted_loss_judged_as_sigma2_is_always_rejected(seed: int) -> None:
    # missing sigma^2 on VP at eps = 1e-5 (seed 000's "weighted" loss): the t-tests alone reject it only when the
    # heavy tail happens to show (|t| 3.4 .. 9); with the probe every seed is rejected (the probe: |z| > 1e5)
    ref = SDES["vp"]()
    with pytest.raises(ConformanceError) as info:
        check_dsm_loss(candidate(ref, "sigma2", no_sigma2=True, seed=seed), ref, "sigma2", seed=seed)
    assert info.value.property in ("DSM loss expectation (exact score)", "DSM loss expectation (perturbed score)", WEIGHTING_PROPERTY)


def test_weighting_probe_runs_for_sigma2_only_and_reports_its_power() -> None:
    ref = SDES["vp"]()
    report = check_dsm_loss(library_loss(ref, "sigma2"), ref, "sigma2")
    assert WEIGHTING_PROPERTY in report.properties
    assert report.statistics["weighting probe: |z|"] <= report.thresholds["weighting probe: |z|"]
    # relative error of the mean weight detected with power 0.99: (z(alpha/6) + z(0.01)) se / E L, se ~ 2 sqrt(u C u) / c
    assert report.detectable["weighting probe: relative error of the mean weight (closed-form variance)"] < 0.005
    other = check_dsm_loss(library_loss(ref, "likelihood", importance_sampling=True), ref, "likelihood", max_samples=100_000)
    assert WEIGHTING_PROPERTY not in other.properties and any("probe not run" in n for n in other.notes)


def test_loss_that_ignores_the_score_is_caught() -> None:
    # returns the right number for the exact score (closed form + noise) but never calls score_fn
    ref = refsde.VPSDE()
    rng = np.random.default_rng(5)
    from refsde.testing.check_loss import data_eigenvalues

    e0 = dsm_moments(ref, "sigma2", EPS, data_eigenvalues(3), np.zeros(3))[0]
    with pytest.raises(ConformanceError) as info:
        check_dsm_loss(lambda score_fn, x0: e0 * (1.0 + 0.01 * rng.standard_normal()), ref, "sigma2")
    assert info.value.property == "DSM loss expectation (perturbed score)"


def test_bad_arguments_and_outputs() -> None:
    ref = refsde.VPSDE()
    with pytest.raises(ValueError, match="weighting"):
        check_dsm_loss(library_loss(ref, "sigma2"), ref, "sigma")
    with pytest.raises(ValueError, match="eps"):
        check_dsm_loss(library_loss(ref, "sigma2"), ref, "sigma2", eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        check_dsm_loss(library_loss(ref, "sigma2"), ref, "sigma2", eps=1.0)
    with pytest.raises(ValueError, match="probe_scale"):
        check_dsm_loss(library_loss(ref, "sigma2"), ref, "sigma2", probe_scale=0.0)
    with pytest.raises(ConformanceError) as info:
        check_dsm_loss(lambda s, x0: float("nan"), ref, "sigma2")
    assert info.value.property == "loss value"
