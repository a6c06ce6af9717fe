"""refsde.testing: the public conformance checks, dogfooded on refsde's own SDEs and mutation-tested.

Candidates are written here from the papers' formulas (not by calling refsde), in the namespace of their
input arrays, so they run on every backend.  Each mutant contains one bug and must be rejected by the
check meant to catch it, with a ConformanceError naming the property.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from array_api_compat import array_namespace

import refsde
from refsde import testing as rt
from refsde.backends import backend_of

BMIN, BMAX = 0.1, 20.0
SMIN, SMAX = 0.01, 50.0


def to_np(a: Any) -> np.ndarray:
    return np.asarray(backend_of(a).to_numpy(a))


def col(xp: Any, c: Any, x: Any) -> Any:
    return xp.reshape(c, (c.shape[0],) + (1,) * (x.ndim - 1))


# ---- candidate implementations (any namespace), parameterized by the bugs they may contain ----------
def vp_parts(t: Any, T: float = 1.0, rescale: bool = True) -> tuple[Any, Any]:
    s = t / T if rescale else t
    beta = BMIN + (BMAX - BMIN) * s
    B = (T if rescale else 1.0) * s * (BMIN + 0.5 * (BMAX - BMIN) * s)
    return beta, B


def vp_sde(T: float = 1.0, half: bool = True, sqrt_g: bool = True, rescale: bool = True) -> Callable:
    def sde_fn(x: Any, t: Any) -> tuple[Any, Any]:
        xp = array_namespace(x, t)
        beta, _ = vp_parts(t, T, rescale)
        drift = col(xp, (-0.5 if half else -1.0) * beta, x) * x
        return drift, (xp.sqrt(beta) if sqrt_g else beta)

    return sde_fn


def vp_marginal(T: float = 1.0, naive: bool = False, mean_half: bool = True, rescale: bool = True) -> Callable:
    def marginal_fn(x0: Any, t: Any) -> tuple[Any, Any]:
        xp = array_namespace(x0, t)
        _, B = vp_parts(t, T, rescale)
        mean = col(xp, xp.exp((-0.5 if mean_half else -1.0) * B), x0) * x0
        std = xp.sqrt(1.0 - xp.exp(-B)) if naive else xp.sqrt(-xp.expm1(-B))
        return mean, std  # std of shape (n,), score_sde style

    return marginal_fn


def subvp_sde(two_b: bool = True) -> Callable:
    def sde_fn(x: Any, t: Any) -> tuple[Any, Any]:
        xp = array_namespace(x, t)
        beta, B = vp_parts(t)
        g2 = -beta * xp.expm1((-2.0 if two_b else -1.0) * B)
        return col(xp, -0.5 * beta, x) * x, xp.sqrt(g2)

    return sde_fn


def subvp_marginal(std_as_variance: bool = False) -> Callable:
    def marginal_fn(x0: Any, t: Any) -> tuple[Any, Any]:
        xp = array_namespace(x0, t)
        _, B = vp_parts(t)
        std = -xp.expm1(-B)
        return col(xp, xp.exp(-0.5 * B), x0) * x0, (std * std if std_as_variance else std)

    return marginal_fn


def ve_sde(sqrt_2l: bool = True) -> Callable:
    L = math.log(SMAX / SMIN)

    def sde_fn(x: Any, t: Any) -> tuple[Any, Any]:
        xp = array_namespace(x, t)
        sigma = SMIN * xp.exp(L * t)
        return xp.zeros_like(x), sigma * (math.sqrt(2.0 * L) if sqrt_2l else 1.0)

    return sde_fn


def ve_marginal(exact: bool) -> Callable:
    L = math.log(SMAX / SMIN)

    def marginal_fn(x0: Any, t: Any) -> tuple[Any, Any]:
        xp = array_namespace(x0, t)
        std = SMIN * xp.sqrt(xp.expm1(2.0 * L * t)) if exact else SMIN * xp.exp(L * t)
        return x0, col(xp, std, x0)

    return marginal_fn


def prior_sampler(std: float, shift: float = 0.0, seed: int = 1) -> Callable:
    def sample(shape: tuple[int, ...]) -> Any:
        return std * refsde.make_rng(seed).normal(shape) + shift

    return sample


def prior_logp(std: float, log2pi: bool = True, all_dims: bool = True, const_all_dims: bool = True) -> Callable:
    def logp(z: Any) -> Any:
        xp = array_namespace(z)
        axes = tuple(range(1, z.ndim)) if all_dims else (z.ndim - 1,)
        D = math.prod(z.shape[1:]) if const_all_dims and all_dims else z.shape[-1]
        const = 0.5 * D * math.log((2.0 * math.pi if log2pi else 1.0) * std * std)
        return -xp.sum(z * z, axis=axes) / (2.0 * std * std) - const

    return logp


REFS = {
    "vp": refsde.VPSDE(beta_min=BMIN, beta_max=BMAX),
    "subvp": refsde.SubVPSDE(beta_min=BMIN, beta_max=BMAX),
    "ve_exact": refsde.VESDE(sigma_min=SMIN, sigma_max=SMAX),
    "ve_score_sde": refsde.VESDE(sigma_min=SMIN, sigma_max=SMAX, convention="score_sde"),
    "vp_T2": refsde.VPSDE(beta_min=BMIN, beta_max=BMAX, T=2.0),
}


# ---- dogfooding ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [None, "float32"])
@pytest.mark.parametrize("name", sorted(REFS))
def test_refsde_passes_its_own_checks(name: str, dtype: str | None) -> None:
    ref = REFS[name]
    reports = [
        rt.check_coefficients(ref.sde, ref, dtype=dtype),
        rt.check_marginal(ref.marginal, ref, dtype=dtype),
        rt.check_prior(lambda shape: ref.prior_sample(shape, rng=3, dtype=rt._inputs.resolve_dtype(refsde.get_backend(), dtype)),
                       ref.prior_logp, ref, dtype=dtype),
    ]
    for report in reports:
        assert report.passed
        assert report.backend == refsde.get_backend().name
        assert report.dtype == (dtype or "float64")


@pytest.mark.parametrize(
    "check, ref, fn",
    [
        (rt.check_coefficients, "vp", vp_sde()),
        (rt.check_marginal, "vp", vp_marginal()),
        (rt.check_coefficients, "vp_T2", vp_sde(T=2.0)),
        (rt.check_marginal, "vp_T2", vp_marginal(T=2.0)),
        (rt.check_coefficients, "subvp", subvp_sde()),
        (rt.check_marginal, "subvp", subvp_marginal()),
        (rt.check_coefficients, "ve_exact", ve_sde()),
        (rt.check_coefficients, "ve_score_sde", ve_sde()),
        (rt.check_marginal, "ve_exact", ve_marginal(exact=True)),
        (rt.check_marginal, "ve_score_sde", ve_marginal(exact=False)),
    ],
)
def test_independent_correct_candidates_pass(check: Callable, ref: str, fn: Callable) -> None:
    for dtype in (None, "float32"):
        assert check(fn, REFS[ref], dtype=dtype).passed


def test_correct_prior_candidates_pass() -> None:
    for key, std in (("vp", 1.0), ("ve_score_sde", SMAX)):
        report = rt.check_prior(prior_sampler(std), prior_logp(std), REFS[key])
        assert report.passed and report.n == rt.prior_sample_size(16)


# ---- candidates in another library than the reference backend ------------------------------------------
def numpy_vp_sde(x: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
    xn, tn = to_np(x), to_np(t)
    beta = BMIN + (BMAX - BMIN) * tn
    return -0.5 * beta[:, None] * xn, np.sqrt(beta)


def test_numpy_candidate_on_any_backend() -> None:
    ref = REFS["vp"]
    assert rt.check_coefficients(numpy_vp_sde, ref).passed
    logp = lambda z: prior_logp(1.0)(to_np(z))  # noqa: E731
    sample = lambda shape: np.random.default_rng(5).standard_normal(shape)  # noqa: E731
    assert rt.check_prior(sample, logp, ref).passed


def test_torch_candidate_on_any_backend() -> None:
    torch = pytest.importorskip("torch")

    def torch_marginal(x0: Any, t: Any) -> tuple[Any, Any]:
        x, tt = torch.from_numpy(to_np(x0)), torch.from_numpy(to_np(t))
        _, B = vp_parts(tt)
        return torch.exp(-0.5 * B)[:, None] * x, torch.sqrt(-torch.expm1(-B)).requires_grad_()

    assert rt.check_marginal(torch_marginal, REFS["vp"]).passed
    assert rt.check_marginal(torch_marginal, REFS["vp"], backend="numpy").passed


def test_explicit_backend_differs_from_active() -> None:
    # inputs are numpy arrays whatever REFSDE_BACKEND says; a numpy-only candidate sees numpy arrays
    seen = []

    def candidate(x: Any, t: Any) -> tuple[Any, Any]:
        seen.append(type(x))
        return vp_sde()(x, t)

    report = rt.check_coefficients(candidate, REFS["vp"], backend="numpy")
    assert report.passed and report.backend == "numpy" and seen == [np.ndarray]


# ---- mutation testing -----------------------------------------------------------------------------------
MUTANTS = {
    "vp drift missing 1/2": (rt.check_coefficients, "vp", vp_sde(half=False), {}, "drift f(x, t)"),
    "vp diffusion beta instead of sqrt(beta)": (rt.check_coefficients, "vp", vp_sde(sqrt_g=False), {}, "diffusion g(t)"),
    "sub-vp g^2 with exp(-B) for exp(-2B)": (rt.check_coefficients, "subvp", subvp_sde(two_b=False), {}, "diffusion g(t)"),
    "ve diffusion without sqrt(2 log(smax/smin))": (rt.check_coefficients, "ve_exact", ve_sde(sqrt_2l=False), {}, "diffusion g(t)"),
    "vp T=2: beta(t) not rescaled by T": (rt.check_coefficients, "vp_T2", vp_sde(T=2.0, rescale=False), {}, "drift f(x, t)"),
    "vp T=2: B(t) not rescaled by T": (rt.check_marginal, "vp_T2", vp_marginal(T=2.0, rescale=False), {}, "marginal mean"),
    "sub-vp std returned as variance": (rt.check_marginal, "subvp", subvp_marginal(std_as_variance=True), {}, "marginal std"),
    "ve std sigma(t) against the exact reference": (rt.check_marginal, "ve_exact", ve_marginal(exact=False), {}, "marginal std"),
    "ve exact std against the score_sde reference": (rt.check_marginal, "ve_score_sde", ve_marginal(exact=True), {}, "marginal std"),
    "vp naive float32 sqrt(1 - exp(-B))": (rt.check_marginal, "vp", vp_marginal(naive=True), {"dtype": "float32"}, "marginal std"),
    "vp naive float64 sqrt(1 - exp(-B))": (rt.check_marginal, "vp", vp_marginal(naive=True), {}, "marginal std"),
    "vp mean exp(-B) instead of exp(-B/2)": (rt.check_marginal, "vp", vp_marginal(mean_half=False), {}, "marginal mean"),
}

PRIOR_MUTANTS = {
    "vp prior std sigma_max instead of 1": ("vp", prior_sampler(SMAX), prior_logp(1.0), "prior std"),
    "ve prior std 1 instead of sigma_max": ("ve_score_sde", prior_sampler(1.0), prior_logp(SMAX), "prior std"),
    "vp prior std 3% too large": ("vp", prior_sampler(1.03), prior_logp(1.0), "prior std"),
    "vp prior mean offset 0.2": ("vp", prior_sampler(1.0, shift=0.2), prior_logp(1.0), "prior mean"),
    "prior logp missing the log 2 pi term": ("vp", prior_sampler(1.0), prior_logp(1.0, log2pi=False), "prior logp"),
    "prior logp summing only the last dim": ("ve_exact", prior_sampler(REFS["ve_exact"].prior_std), prior_logp(REFS["ve_exact"].prior_std, all_dims=False), "prior logp shape"),
    "prior logp constant counting only the last dim": ("vp", prior_sampler(1.0), prior_logp(1.0, const_all_dims=False), "prior logp"),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_is_caught(mutant: str) -> None:
    check, ref, fn, kwargs, prop = MUTANTS[mutant]
    with pytest.raises(rt.ConformanceError) as info:
        check(fn, REFS[ref], **kwargs)
    err = info.value
    assert err.property == prop, str(err)
    msg = str(err)
    assert repr(prop) in msg and "expected" in msg and "got" in msg and "relative error" in msg and "t = " in msg
    assert err.statistic > err.threshold


@pytest.mark.parametrize("mutant", sorted(PRIOR_MUTANTS))
def test_prior_mutant_is_caught(mutant: str) -> None:
    ref, sample, logp, prop = PRIOR_MUTANTS[mutant]
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_prior(sample, logp, REFS[ref])
    assert info.value.property == prop, str(info.value)
    assert repr(prop) in str(info.value) and "expected" in str(info.value)
    if not prop.endswith("shape"):
        assert info.value.statistic > info.value.threshold


def test_naive_float64_std_passes_with_a_looser_user_rtol() -> None:
    # its error at t = 1e-7 T is ~eps / B ~ 1e-8: fails the default 1e-10, passes rtol = 1e-6
    assert rt.check_marginal(vp_marginal(naive=True), REFS["vp"], rtol=1e-6).passed


def test_bad_shapes_are_conformance_errors() -> None:
    def wrong_shape(x: Any, t: Any) -> tuple[Any, Any]:
        drift, g = vp_sde()(x, t)
        return drift[:, :2], g

    with pytest.raises(rt.ConformanceError, match="drift f"):
        rt.check_coefficients(wrong_shape, REFS["vp"])

    def wrong_std_shape(x: Any, t: Any) -> tuple[Any, Any]:
        mean, std = vp_marginal()(x, t)
        return mean, std[:5]

    with pytest.raises(rt.ConformanceError, match="marginal std shape"):
        rt.check_marginal(wrong_std_shape, REFS["vp"])
    with pytest.raises(rt.ConformanceError, match="return value"):
        rt.check_marginal(lambda x, t: x, REFS["vp"])


def test_error_and_report_fields() -> None:
    assert issubclass(rt.ConformanceError, AssertionError)
    with pytest.raises(AssertionError):
        rt.check_coefficients(vp_sde(half=False), REFS["vp"])
    err = rt.ConformanceError("c", "p", input="t = 0", expected="1", got="2", statistic=3.0, threshold=1.0)
    assert "'p'" in str(err) and "t = 0" in str(err) and "3 > threshold 1" in str(err)

    report = rt.check_coefficients(vp_sde(), REFS["vp"], n=80, d=4)
    assert report.check == "check_coefficients" and report.n == 80 and report.passed
    assert report.properties == ("drift f(x, t)", "diffusion g(t)")
    assert set(report.statistics) == set(report.thresholds) and len(report.statistics) == 2
    assert all(report.statistics[k] <= report.thresholds[k] for k in report.statistics)
    assert report.detectable and report.power == 1.0 and report.alpha == 0.0
    text = str(report)
    assert "PASSED" in text and "diffusion g(t)" in text and "VPSDE" in text

    prior = rt.check_prior(prior_sampler(1.0), prior_logp(1.0), REFS["vp"], alpha=1e-4)
    assert prior.alpha == 1e-4 and prior.power == 0.99 and prior.n == rt.prior_sample_size(16, alpha=1e-4)
    assert prior.properties == ("prior mean", "prior std", "prior logp")
    assert prior.detectable["relative error of the prior std"] == pytest.approx(0.02, rel=1e-3)
    assert "mean offset of one coordinate / prior std" in prior.detectable
    assert "smallest detectable discrepancy" in str(prior)


def test_prior_sample_size_formula() -> None:
    z = rt._stats.z_two_sided(0.5e-6) + rt._stats.norm_isf(0.01)
    assert rt.prior_sample_size(16) == 1 + math.ceil(2 * (z / (2 * math.log1p(0.02))) ** 2 / 16)
    # normal quantiles against known values
    assert rt._stats.norm_isf(0.025) == pytest.approx(1.959963984540054, rel=1e-13)
    assert rt._stats.norm_isf(1e-10) == pytest.approx(6.361340902404056, rel=1e-12)
    assert rt._stats.norm_isf(0.9) == pytest.approx(-1.2815515655446004, rel=1e-13)
