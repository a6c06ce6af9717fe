"""The validation suite (``refsde validate``): every registered check passes on the backend under test
(REFSDE_BACKEND), the checks can fail (deliberately wrong SDEs and oracles make the relevant check
FAIL), the command line returns non-zero on failure, and the statistical helpers are correct.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shutil
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import refsde
from refsde.cli import main as cli_main
from refsde.testing import _stats as stats
from refsde_validation.checks import euler_maruyama as em
from refsde_validation.checks import forward_sde as checks_sde
from refsde_validation.checks import gaussian_oracles as checks_oracles
from refsde_validation.checks import runner
from refsde_validation.checks.registry import Check, Context, Outcome, SkipCheck

ALL_CHECKS = runner.all_checks()


@pytest.fixture
def ctx(backend: Any) -> Context:
    return Context(backend=backend, seed=0, name="test")


# ---------------------------------------------------------------------------------------------------
# the whole registry passes
# ---------------------------------------------------------------------------------------------------
def test_registry_names() -> None:
    names = [c.name for c in ALL_CHECKS]
    assert len(names) == len(set(names))
    for label, _ in checks_sde.SDE_CASES:
        for fam, fns in (("sde", checks_sde.CHECKS), ("oracle", checks_oracles.CHECKS)):
            for name, _ in fns:
                assert f"{fam}.{name}[{label}]" in names


@pytest.mark.statistical
@pytest.mark.parametrize("check", ALL_CHECKS, ids=[c.name for c in ALL_CHECKS])
def test_check_passes(check: Check, backend: Any) -> None:
    with refsde.use_backend(backend):
        (res,) = runner.run_checks([check], backend, seed=0)
    if res.verdict == "SKIP":
        # the only legitimate skip: autodiff checks on backends whose jvp is a finite difference
        assert "score_autodiff" in check.name and not backend.exact_jvp, res.detail
        return
    assert res.verdict == "PASS", f"{res.name}: {res.verdict} statistic={res.statistic} threshold={res.threshold} {res.detail}"
    assert math.isfinite(res.statistic) and math.isfinite(res.threshold)


# ---------------------------------------------------------------------------------------------------
# the checks can fail
# ---------------------------------------------------------------------------------------------------
class NaiveSigmaVP(refsde.VPSDE):
    """VP with the cancellation-prone sigma_t = sqrt(1 - exp(-B)) (0 in float32 at t = 1e-7)."""

    def _sigma(self, t: Any) -> Any:
        xp = array_namespace(t)
        return xp.sqrt(1.0 - xp.exp(-self._B(t)))

    def _log_sigma(self, t: Any) -> Any:
        xp = array_namespace(t)
        return 0.5 * xp.log(1.0 - xp.exp(-self._B(t)))


class DoubleG2VP(refsde.VPSDE):
    """VP whose g(t)^2 is off by a factor 2 (inconsistent with its marginals)."""

    def _g2(self, t: Any) -> Any:
        return 2.0 * self._beta(t)


class WrongInverseVE(refsde.VESDE):
    """VE whose log-SNR inverse is 0.1% off."""

    def _t_from_log_snr(self, lam: Any) -> Any:
        return 0.999 * super()._t_from_log_snr(lam)


class NoisySimulationVP(refsde.VPSDE):
    """VP whose sde() returns a diffusion 5% too large (simulation inconsistent with g^2)."""

    def sde(self, x: Any, t: Any) -> Any:
        drift, g = super().sde(x, t)
        return drift, 1.05 * g


def test_float32_check_catches_naive_sigma(ctx: Context) -> None:
    out = checks_sde.float32_std(ctx, NaiveSigmaVP())
    assert not out.passed and out.statistic > 0.1
    assert checks_sde.float32_std(ctx, refsde.VPSDE()).passed


@pytest.mark.parametrize(
    "check",
    [checks_sde.variance_ode, checks_sde.schedule_agreement, checks_sde.em_gap_order, checks_oracles.fokker_planck, checks_oracles.flow_map_ode],
    ids=lambda f: f.__name__,
)
def test_wrong_g2_fails(ctx: Context, check: Any) -> None:
    out = check(ctx, DoubleG2VP())
    assert not out.passed, out
    assert check(ctx, refsde.VPSDE()).passed


def test_wrong_inverse_fails(ctx: Context) -> None:
    assert not checks_sde.log_snr_roundtrip(ctx, WrongInverseVE()).passed


@pytest.mark.statistical
def test_em_law_samples_detects_wrong_simulation(ctx: Context) -> None:
    # diffusion 5% too large = noise variance 10% too large; 60,000 samples are plenty
    out = checks_sde.em_law_samples(ctx, NoisySimulationVP(), n=60_000)
    assert not out.passed and out.statistic > 10, out
    assert checks_sde.em_law_samples(ctx, refsde.VPSDE(), n=60_000).passed


class _Wrapped:
    """A refsde.gaussian object with a perturbed score or sampler (to prove the oracle checks fail)."""

    def __init__(self, inner: Any, score_factor: float = 1.0, sample_scale: float = 1.0, time_factor: float = 1.0, logdet_shift: float = 0.0) -> None:
        self.inner, self.k, self.s, self.tf, self.ld = inner, score_factor, sample_scale, time_factor, logdet_shift

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def marginal(self, sde: Any, t: Any) -> "_Wrapped":
        return _Wrapped(self.inner.marginal(sde, float(t) * self.tf), self.k, self.s)

    def flow_map(self, sde: Any, s: Any, t: Any, x: Any) -> Any:
        y, logdet = self.inner.flow_map(sde, s, t, x)
        return y, logdet + self.ld

    def score(self, x: Any) -> Any:
        return self.k * self.inner.score(x)

    def sample(self, n: int, rng: Any = None) -> Any:
        x = self.inner.sample(n, rng=rng)
        return self.s * x

    def score_fn(self, sde: Any) -> Any:
        inner, k = self.inner.score_fn(sde), self.k

        class Fn:
            def __call__(self, x: Any, t: Any) -> Any:
                return k * inner(x, t)

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Fn()


def test_score_fd_detects_wrong_score(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    real = checks_oracles.data
    monkeypatch.setattr(checks_oracles, "data", lambda c, kind: _Wrapped(real(c, kind), score_factor=1.0001))
    out = checks_oracles.score_fd(ctx, refsde.VPSDE())
    assert not out.passed and out.statistic > 1e-5, out


def test_marginal_density_detects_wrong_time(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    real = checks_oracles.data
    monkeypatch.setattr(checks_oracles, "data", lambda c, kind: _Wrapped(real(c, kind), time_factor=0.999))
    out = checks_oracles.marginal_density(ctx, refsde.SubVPSDE())
    assert not out.passed, out


def test_flow_map_exact_detects_wrong_logdet(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    real = checks_oracles.data
    monkeypatch.setattr(checks_oracles, "data", lambda c, kind: _Wrapped(real(c, kind), logdet_shift=1e-8))
    out = checks_oracles.flow_map_exact(ctx, refsde.VESDE())
    assert not out.passed, out


@pytest.mark.statistical
def test_mixture_samples_detects_wrong_sampler(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    real = checks_oracles.data
    monkeypatch.setattr(checks_oracles, "data", lambda c, kind: _Wrapped(real(c, kind), sample_scale=1.05))
    out = checks_oracles.mixture_samples(ctx, refsde.VESDE(), n=40_000)
    assert not out.passed, out


def test_oracle_checks_skip_without_gaussian_module(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "refsde.gaussian", None)  # import fails
    with pytest.raises(SkipCheck):
        checks_oracles.score_fd(ctx, refsde.VPSDE())


# ---------------------------------------------------------------------------------------------------
# runner and command line
# ---------------------------------------------------------------------------------------------------
def _args(**kw: Any) -> argparse.Namespace:
    base = dict(backend=None, dtype=None, device=None, only=None, seed=0)
    base.update(kw)
    return argparse.Namespace(**base)


def _raise(ctx: Context) -> Outcome:
    raise RuntimeError("boom")


def _skip(ctx: Context) -> Outcome:
    raise SkipCheck("not here")


@pytest.mark.parametrize(
    "fn, code, verdict",
    [
        (lambda ctx: Outcome(0.5, 1.0), 0, "PASS"),
        (lambda ctx: Outcome(2.0, 1.0, "deliberate"), 1, "FAIL"),
        (lambda ctx: Outcome(math.nan, 1.0), 1, "FAIL"),
        (_raise, 1, "ERROR"),
        (_skip, 0, "SKIP"),
    ],
)
def test_run_cli_exit_code(fn: Any, code: int, verdict: str) -> None:
    out = io.StringIO()
    assert runner.run_cli(_args(), checks=[Check("x.check", fn)], stream=out) == code
    text = out.getvalue()
    assert "x.check" in text and verdict in text
    assert "name" in text and "verdict" in text and "statistic" in text and "threshold" in text and "seconds" in text
    assert ("OK:" if code == 0 else "FAILED:") in text


def test_cli_main_fails_on_failing_registered_check(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    bad = Check("zz.deliberately_failing", lambda ctx: Outcome(1.0, 0.0, "deliberate"))
    monkeypatch.setattr(runner, "REGISTRY", runner.all_checks() + [bad])
    assert cli_main(["validate", "--only", "zz.deliberately"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert cli_main(["validate", "--only", "sde.log_snr_roundtrip"]) == 0
    assert cli_main(["validate", "--only", "no-such-check"]) == 2


def test_cli_backend_selection(capsys: Any, backend: Any) -> None:
    assert cli_main(["validate", "--backend", backend.name, "--only", "sde.variance_ode[VP]"]) == 0
    out = capsys.readouterr().out
    assert f"backend {backend.name}" in out and "OK: 1 checks, 1 passed" in out
    assert cli_main(["validate", "--backend", "no_such_backend"]) == 2


def test_python_dash_m_entry_point() -> None:
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "refsde", "validate", "--only", "sde.log_snr_roundtrip"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sde.log_snr_roundtrip[VP]" in proc.stdout and "PASS" in proc.stdout
    exe = shutil.which("refsde")
    if exe is not None:
        proc = subprocess.run([exe, "validate", "--only", "sde.float32"], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_statistical_checks_reproducible(ctx: Context, backend: Any) -> None:
    a = checks_sde.em_law_samples(Context(backend, 3, "r"), refsde.SubVPSDE(), n=5_000)
    b = checks_sde.em_law_samples(Context(backend, 3, "r"), refsde.SubVPSDE(), n=5_000)
    c = checks_sde.em_law_samples(Context(backend, 4, "r"), refsde.SubVPSDE(), n=5_000)
    assert a.statistic == b.statistic
    assert a.statistic != c.statistic


# ---------------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------------
def test_sample_sizes_match_docstrings() -> None:
    assert checks_sde.em_sample_size(21) == 306_769
    assert checks_oracles.mixture_sample_size() == 147_241
    assert stats.z_two_sided(1e-6, 21) == pytest.approx(5.46, abs=0.005)
    assert stats.z_two_sided(1e-6, 108) == pytest.approx(5.744, abs=0.001)


def test_exact_sample_test_is_calibrated(backend: Any) -> None:
    """Under H0 the exact chi-square p-values of em.sample_tests are uniform (200 replications;
    KS distance against U(0, 1) below the DKW bound at alpha = 1e-6)."""
    ctx = Context(backend, 0, "calibration")
    law = checks_sde.gaussian_data(ctx)
    rng = ctx.rng()
    pv: dict[str, list[float]] = {}
    for _ in range(200):
        x = checks_sde.sample_law(ctx, law, 400, rng, ctx.xp.float64)
        for name, p in em.sample_tests(ctx, x, law):
            pv.setdefault(name, []).append(p)
    bound = stats.dkw_epsilon(200, 1e-6 / len(pv))
    for name, ps in pv.items():
        u = np.sort(np.asarray(ps))
        i = np.arange(1, len(u) + 1)
        d = max(np.max(i / len(u) - u), np.max(u - (i - 1) / len(u)))
        assert d < bound, (name, d, bound)


def test_normal_quantiles_against_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    for p in [1e-300, 1e-100, 1e-20, 1e-9, 1e-3, 0.02425, 0.2, 0.5, 0.8, 0.999, 1 - 1e-12]:
        assert stats.norm_ppf(p) == pytest.approx(float(special.ndtri(p)), rel=1e-14, abs=1e-15)
    for q in [1e-300, 1e-20, 1e-8, 0.3]:
        assert stats.norm_isf(q) == pytest.approx(-float(special.ndtri(q)), rel=1e-14)
    for x in [-30.0, -5.0, 0.0, 1.0, 8.0]:
        assert stats.norm_cdf(x) == pytest.approx(float(special.ndtr(x)), rel=1e-14)
    assert stats.norm_ppf(0.0) == -math.inf and stats.norm_ppf(1.0) == math.inf


def test_chi2_against_scipy() -> None:
    sst = pytest.importorskip("scipy.stats")
    for k in [1, 3, 10, 100, 1000, 147_241, 306_769, 1_000_000]:
        for q in [0.3 * k, k - 6 * math.sqrt(2 * k), k, k + 6 * math.sqrt(2 * k), 2 * k + 30]:
            if q <= 0:
                continue
            assert stats.chi2_cdf(q, k) == pytest.approx(float(sst.chi2.cdf(q, k)), rel=1e-9, abs=1e-300)
            assert stats.chi2_sf(q, k) == pytest.approx(float(sst.chi2.sf(q, k)), rel=1e-9, abs=1e-300)
        for p in [1e-300, 1e-30, 1e-10, 1e-3, 0.5, 0.9, 0.999999]:
            assert stats.chi2_ppf(p, k) == pytest.approx(float(sst.chi2.ppf(p, k)), rel=1e-10, abs=1e-300)
            assert stats.chi2_isf(p, k) == pytest.approx(float(sst.chi2.isf(p, k)), rel=1e-10)


def test_backend_erfc(backend: Any) -> None:
    special = pytest.importorskip("scipy.special")
    xs = np.linspace(-6.0, 6.0, 241)
    got = backend.to_numpy(stats.erfc_backend(backend.xp, backend.asarray(xs, dtype=backend.xp.float64)))
    ref = special.erfc(xs)
    assert np.max(np.abs(got - ref) / ref) < 1.2e-7
    cdf = backend.to_numpy(stats.norm_cdf_backend(backend.xp, backend.asarray(xs, dtype=backend.xp.float64)))
    assert np.max(np.abs(cdf - special.ndtr(xs))) < 1.2e-7


def test_dkw_and_sample_size_formulas() -> None:
    assert stats.dkw_epsilon(10_000, 0.05) == pytest.approx(math.sqrt(math.log(40) / 20_000))
    assert stats.dkw_p_bound(10_000, stats.dkw_epsilon(10_000, 1e-6)) == pytest.approx(1e-6)
    n = stats.n_for_variance_ratio(0.01, 1e-6, 0.99)
    za, zb = stats.norm_isf(5e-7), stats.norm_ppf(0.99)
    assert math.sqrt(2.0 / n) * (za + zb * 1.01) <= 0.01 < math.sqrt(2.0 / (n - 2)) * (za + zb * 1.01)
