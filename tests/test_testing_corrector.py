"""check_corrector's step-size test (``snr=``): the rule's closed forms, correct correctors, the seeds' errors.

The invariance / fluctuation-dissipation properties of check_corrector are tested in test_testing_samplers.py;
here only the step-size identification K = sum <x' - x, s> / E_rule[sum e |s|^2] is.  All runs are seeded
(the check's seed and the candidates' refsde RNGs), so outcomes are fixed; each check call has false-alarm
rate alpha = 1e-6.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from array_api_compat import array_namespace

import refsde
from refsde.backends import backend_of
from refsde.sampling import langevin_corrector
from refsde.testing import ConformanceError
from refsde.testing._corrector_step import chi_mean, rule_moments
from refsde.testing.check_corrector import check_corrector

SNR = 0.16
D = 32  # the check's dimension (corrector_case)
PROP = "step size (snr rule)"
DETECTABLE = "relative step-size error e / e_rule - 1 (power 0.99)"


def refsde_corrector(ref: Any, method: str = "langevin", batch_norm: bool = False, seed: int = 11, **kw: Any) -> Callable:
    rng = refsde.make_rng(seed, None)
    return lambda score, x, t: langevin_corrector(score, ref, x, t, method=method, snr=SNR, batch_norm=batch_norm,
                                                  rng=rng, **kw)[0]


def written_corrector(ref: Any, *, rule: str = "per_sample", mult: float = 1.0, seed: int = 13) -> Callable:
    """x' = x + e s + sqrt(2 e) z written out (Song et al. Alg. 4-5), with the step e of ``rule``, times ``mult``:
    per_sample 2 (snr |z_i| / |s_i|)^2; frobenius 2 (snr |Z|_F / |S|_F)^2; no_noise_norm 2 (snr / mean |s_i|)^2
    (seed 001); snr_not_squared snr (|Z|_F / |S|_F)^2 (seed 004); annealed 2 (snr sigma_t)^2."""
    state: dict[str, Any] = {}

    def corrector(score: Any, x: Any, t: float) -> Any:
        xp = array_namespace(x)
        gen = state.setdefault("rng", backend_of(x).rng(seed))
        s = score(x, t)
        z = gen.normal(tuple(x.shape), dtype=x.dtype)
        s_n, z_n = xp.sqrt(xp.sum(s * s, axis=1)), xp.sqrt(xp.sum(z * z, axis=1))
        if rule == "per_sample":
            e = xp.reshape(2.0 * (SNR * z_n / s_n) ** 2, (-1, 1))
        elif rule == "frobenius":
            e = 2.0 * SNR**2 * xp.sum(z * z) / xp.sum(s * s)
        elif rule == "no_noise_norm":
            e = 2.0 * (SNR / xp.mean(s_n)) ** 2
        elif rule == "snr_not_squared":
            e = SNR * xp.sum(z * z) / xp.sum(s * s)
        else:
            e = xp.asarray(2.0 * (SNR * float(ref.sigma(np.float64(t)))) ** 2, dtype=x.dtype)
        e = mult * e
        return x + e * s + xp.sqrt(2.0 * e) * z

    return corrector


# ---- closed forms ---------------------------------------------------------------------------------------------
def test_chi_mean_matches_scipy() -> None:
    from scipy import stats

    for d in (1, 2, 3, 32, 1000):
        assert chi_mean(d) == pytest.approx(stats.chi(d).mean(), rel=1e-12)


def test_rule_moments_match_a_direct_simulation_of_one_step() -> None:
    # u = <x' - x, s> for x' = x + e s + sqrt(2 e) z, simulated for a fixed s (independent of the derivation
    # via E|z|^4 = d (d + 2)); 2e5 draws: the sample mean / variance are within 6 standard errors (fixed seed).
    rng = np.random.default_rng(0)
    d, m = 8, 200_000
    s = rng.standard_normal(d) * 3.0
    z = rng.standard_normal((m, d))
    for method in ("langevin", "annealed_langevin"):
        if method == "langevin":
            e = 2.0 * 1.3 * (SNR * np.linalg.norm(z, axis=1) / np.linalg.norm(s)) ** 2
        else:
            e = np.full(m, 2.0 * 1.3 * (SNR * 0.7) ** 2)
        u = e * (s @ s) + np.sqrt(2.0 * e) * (z @ s)
        mean, var = rule_moments(method, SNR, 1.3, False, np.array([s @ s]), 0.49, d)
        assert abs(u.mean() - mean[0]) <= 6.0 * math.sqrt(var[0] / m)
        # se of a sample variance ~ sqrt(m4 / m) with m4 the 4th central moment, estimated from the draws
        assert abs(u.var() - var[0]) <= 6.0 * math.sqrt(np.mean((u - u.mean()) ** 4) / m)


# ---- correct correctors pass ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["vp", "subvp", "ve"])
@pytest.mark.parametrize("method, batch_norm", [("langevin", False), ("langevin", True), ("annealed_langevin", False)])
def test_refsde_correctors_pass_the_step_test(kind: str, method: str, batch_norm: bool) -> None:
    ref = {"vp": refsde.VPSDE, "subvp": refsde.SubVPSDE, "ve": refsde.VESDE}[kind]()
    t = 0.5 if method == "annealed_langevin" else None  # annealed steps are tiny at small t (see the low-power test)
    report = check_corrector(refsde_corrector(ref, method, batch_norm), ref, t=t, snr=SNR, method=method,
                             batch_norm=batch_norm)
    assert report.passed and PROP in report.properties
    assert abs(report.statistics["step size: K = e / e_rule"] - 1.0) < 0.05
    assert report.detectable[DETECTABLE] <= 0.2  # a 20% step error is detected with power 0.99


def test_norm_conventions_and_chain_multiplier_stay_inside_the_band() -> None:
    vp = refsde.VPSDE()
    # whole-batch Frobenius norms (seed 004 repaired): K = 1 exactly in expectation
    assert check_corrector(written_corrector(vp, rule="frobenius"), vp, snr=SNR).passed
    assert check_corrector(written_corrector(vp, rule="per_sample"), vp, snr=SNR).passed
    # per-sample candidate judged against the batch-norm rule, and score_sde's alpha_i = 1 - beta_i (N = 1000)
    assert check_corrector(refsde_corrector(vp), vp, snr=SNR, batch_norm=True).passed
    a_i = 1.0 - float(vp.beta(np.float64(0.1))) / 1000.0
    assert check_corrector(refsde_corrector(vp, alpha=a_i), vp, snr=SNR, step_scale=a_i).passed


# ---- the seeds' errors and mutants are caught -------------------------------------------------------------------
def _k_of_failure(corrector: Callable, ref: Any, **kw: Any) -> float:
    with pytest.raises(ConformanceError) as info:
        check_corrector(corrector, ref, snr=SNR, **kw)
    assert info.value.property == PROP, str(info.value)
    return float(str(info.value.got).split()[2])  # got = "K = <value> +- <se>"


def test_missing_noise_norm_is_caught_with_k_near_one_over_d() -> None:
    # e = 2 (snr / mean|s|)^2 vs 2 (snr |z| / |s|)^2: K = mean |s|^2 / (d (mean |s|)^2) ~ 1/d (1 + CV(|s|)^2)
    vp = refsde.VPSDE()
    k = _k_of_failure(written_corrector(vp, rule="no_noise_norm"), vp)
    assert 0.9 / D < k < 1.1 / D


def test_snr_not_squared_and_no_factor_two_is_caught_with_k_one_over_two_snr() -> None:
    vp = refsde.VPSDE()
    k = _k_of_failure(written_corrector(vp, rule="snr_not_squared"), vp)
    assert k == pytest.approx(1.0 / (2.0 * SNR), rel=0.03)


@pytest.mark.parametrize("mult", [0.8, 1.25])
def test_step_twenty_percent_off_is_caught(mult: float) -> None:
    vp = refsde.VPSDE()
    k = _k_of_failure(written_corrector(vp, mult=mult), vp)
    assert k == pytest.approx(mult, rel=0.05)


def test_annealed_step_judged_as_langevin_is_caught() -> None:
    # at t = 0.1 on VP: e_annealed |s|^2 = 2 snr^2 sigma_t^2 |s|^2 ~ 0.4 x the langevin rule's 2 snr^2 d
    vp = refsde.VPSDE()
    assert _k_of_failure(written_corrector(vp, rule="annealed"), vp, method="langevin") < 0.6


# ---- options and report -------------------------------------------------------------------------------------------
def test_without_snr_the_step_size_is_not_checked_and_the_report_says_so() -> None:
    vp = refsde.VPSDE()
    report = check_corrector(written_corrector(vp, rule="no_noise_norm"), vp)  # seed 001's error passes
    assert PROP not in report.properties and "step size: K = e / e_rule" not in report.statistics
    assert any("step size not checked" in note for note in report.notes)


def test_low_power_is_reported_where_the_annealed_step_is_tiny() -> None:
    ve = refsde.VESDE()  # sigma_t^2 = 4e-4 at t = 0.1: e |s|^2 ~ 0.008 per sample, se(K) ~ 0.11
    report = check_corrector(refsde_corrector(ve, "annealed_langevin"), ve, snr=SNR, method="annealed_langevin")
    assert report.detectable[DETECTABLE] > 0.2
    assert any("low power" in note for note in report.notes)


def test_bad_step_options_raise_value_error() -> None:
    vp = refsde.VPSDE()
    c = refsde_corrector(vp)
    with pytest.raises(ValueError, match="snr"):
        check_corrector(c, vp, method="langevin")
    with pytest.raises(ValueError, match="method"):
        check_corrector(c, vp, snr=SNR, method="ald")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="snr"):
            check_corrector(c, vp, snr=bad)
    with pytest.raises(ValueError, match="step_rtol"):
        check_corrector(c, vp, snr=SNR, step_rtol=0.0)
