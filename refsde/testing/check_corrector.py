"""Conformance check for Langevin-type correctors ``corrector_fn(score_fn, x, t) -> x'`` at a fixed time t.

What is exactly checkable.  With the exact Gaussian score s(x) = -S_t^{-1} (x - mu_t), a Langevin step
x' = x + e s(x) + sqrt(2 e) z is, in the standardized eigen-coordinates w = (Q^T x - mu) / sqrt(v_t),

    w' = kappa w + c z,     kappa = 1 - e / v,   c^2 = 2 e / v          (per coordinate; z ~ N(0, 1))

so, starting from x ~ p_t (w ~ N(0, 1)): the mean stays 0, Var(w') = kappa^2 + c^2 = 1 + (e/v)^2 (p_t is
invariant up to O(step^2)), and the regression of w' on w recovers kappa (the drift, < 1: toward p_t) and
the residual variance c^2, which must equal 2 (1 - kappa) ("fluctuation-dissipation": the noise matches
the drift).  Any step of the form x' = a x + b s(x) + c z is identified by (kappa, c^2) per eigen-direction,
since s(x) is affine in x with a different slope 1/v in each.  Bugs map to properties:

* noise sqrt(e) instead of sqrt(2 e): rho = c^2 / (2 (1 - kappa)) = 1/2 -> fluctuation-dissipation;
* flipped score sign: kappa = 1 + e/v > 1 and Var(w') = 1 + 4 e/v + ... -> invariance / drift;
* a step 10x too large (e/v ~ 0.5-1): Var(w') - 1 = (e/v)^2 far outside the band -> invariance (variance);
* a corrector that does not move: kappa = 1, c = 0 -> drift toward p_t.

score_sde's step e = 2 alpha_i (snr ||z|| / ||s||)^2 depends on the sample; it concentrates only in high
dimension (in d = 3, 1/||s||^2 is heavy-tailed and one step inflates the variance by 40-480%), so the data
here have d = 32, where it gives rho within ~20% of 1 and Var(w') - 1 <= 5%.

These properties hold for any small valid Langevin step, so a step that is d times too small (score_sde's
rule without the noise norm |z|^2) or 3x too large (e/v ~ 0.3, Var(w') - 1 ~ 0.08) passes them.  Given the
candidate's ``snr`` (and ``method``), the check also identifies the step size itself and compares it with the
rule's: "step size (snr rule)", see :mod:`refsde.testing._corrector_step` (estimator, closed forms, power).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from . import _corrector_step as _step
from ._cases import DataCase, dense_case
from ._schemes import node_at
from ._setup import SamplerSetup, call_candidate, input_seed
from ._stats import chi2_wilson_hilferty_z, norm_isf, z_two_sided
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport, add_panel, collects_evidence

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

GROUP_NAMES = ("v small (lam 0.05)", "v large (lam 1)")


def corrector_case() -> DataCase:
    """d = 32, eigenvalues alternating 0.05 and 1 (two groups of 16), a fixed random rotation, mean
    linspace(-1, 1, 32)."""
    d = 32
    Q, _ = np.linalg.qr(np.random.default_rng(1234).standard_normal((d, d)))
    return dense_case(np.linspace(-1.0, 1.0, d), np.where(np.arange(d) % 2 == 0, 0.05, 1.0), Q, np.arange(d) % 2)


NOISE_SLIPS = ((0.5, "the noise sqrt(e) z instead of sqrt(2 e) z (rho = 1/2)"),
               (2.0, "the noise 2 sqrt(e) z instead of sqrt(2 e) z (rho = 2)"),
               (0.25, "the noise sqrt(e / 2) z instead of sqrt(2 e) z (rho = 1/4)"))


def corrector_cause(w: np.ndarray, w2: np.ndarray, z_c: float) -> str:
    """The known slip one group's regression w' = kappa w + c z identifies (the module docstring's map from bugs to
    (kappa, rho)), each judged at the check's critical value z_c: a flipped score sign (kappa > 1), a corrector that
    does not move (kappa = 1, c = 0), the score term missing (kappa = 1, c > 0), noise off by a factor (rho = 1/2,
    2, 1/4)."""
    sxx = float(np.sum(w * w))
    kappa = float(np.sum(w * w2)) / sxx
    resid = w2 - kappa * w
    c2 = float(np.sum(resid * resid)) / (resid.size - 1)
    se_k = math.sqrt(c2 / sxx)
    if kappa > 1.0 + z_c * max(se_k, 1e-300):
        return f"likely cause: the score's sign flipped (kappa = {kappa:.4g} > 1: the step moves away from p_t)"
    if abs(kappa - 1.0) <= z_c * se_k or (c2 <= 1e-24 and abs(kappa - 1.0) <= 1e-12):
        if c2 <= 1e-24:
            return "likely cause: a corrector that does not move (kappa = 1, no noise)"
        return f"likely cause: the score term missing (kappa = 1 within {z_c * se_k:.2g}: noise only)"
    rho = c2 / (2.0 * (1.0 - kappa))
    se_log = math.sqrt(2.0 / resid.size + (se_k / (1.0 - kappa)) ** 2)
    fits = sorted((abs(math.log(rho / r)) / se_log, text) for r, text in NOISE_SLIPS if rho > 0)
    fits = [(zf, text) for zf, text in fits if zf <= z_c]
    if fits:
        return f"likely cause: {fits[0][1]} (|z| {fits[0][0]:.3g} under it; rho = {rho:.4g})"
    return ("no known slip of this property matches (tried: the score's sign flipped, no move, the score term "
            "missing, noise off by sqrt(2), 2 or 1/sqrt(2))")


class _Tests:
    """Records statistics and raises ConformanceError for one run of the corrector check."""

    def __init__(self, ctx: SamplerSetup, z_c: float, where: str) -> None:
        self.ctx, self.z_c, self.where = ctx, z_c, where
        self.stats: dict[str, float] = {}
        self.thresholds: dict[str, float] = {}

    def record(self, key: str, value: float, prop: str, **fail: Any) -> None:
        self.stats[key], self.thresholds[key] = value, self.z_c
        if not value <= self.z_c:
            raise ConformanceError(
                self.ctx.check, prop, statistic=value, threshold=self.z_c, reference=self.ctx.reference, **fail
            )

    def variance(self, g: str, w2: np.ndarray, a: float) -> None:
        """Pooled centered sum of squares of the group ~ Var(w') chi-square(k); band [1 - a, 1 + a]."""
        c = w2 - w2.mean(axis=0)
        k = w2.shape[1] * (w2.shape[0] - 1)
        q = float(np.sum(c * c))
        z = max(chi2_wilson_hilferty_z(q / (1.0 + a), k), -chi2_wilson_hilferty_z(q / (1.0 - a), k))
        self.stats[f"invariance (variance), {g}: Var(w') - 1"] = q / k - 1.0
        self.record(
            f"invariance (variance), {g}: z at the band edge", z, "invariance of p_t (variance)",
            input=f"{self.where}, group {g}", expected=f"Var(w') = 1 +- {a}", got=f"{q / k:.6g}",
            statistic_name="z (chi-square, Wilson-Hilferty, at the band edge)",
        )

    def mean(self, w2: np.ndarray, a: float, y: np.ndarray, mu: np.ndarray) -> None:
        """Per coordinate |mean(w')| sqrt(n / (1 + a)) (the variance at most 1 + a after the variance test)."""
        zm = np.abs(w2.mean(axis=0)) * math.sqrt(w2.shape[0] / (1.0 + a))
        j = int(np.argmax(zm))
        self.record(
            "invariance (mean): max |z|", float(zm[j]), "invariance of p_t (mean)",
            input=f"{self.where}, eigen-direction {j}", expected=f"{mu[j]:.6g}", got=f"{y[:, j].mean():.6g}",
            statistic_name="|z|",
        )

    def drift_and_noise(self, g: str, w: np.ndarray, w2: np.ndarray, b: float) -> None:
        """Regression w' = kappa w + residual, pooled over the group; kappa <= 1 and rho in [1/(1+b), 1+b]."""
        sxx = float(np.sum(w * w))
        kappa = float(np.sum(w * w2)) / sxx
        resid = w2 - kappa * w
        c2 = float(np.sum(resid * resid)) / (resid.size - 1)
        se_k = math.sqrt(c2 / sxx)
        zk = (kappa - 1.0) / se_k if se_k > 0 else (-math.inf if kappa < 1.0 else math.inf)
        self.stats[f"drift toward p_t, {g}: e / v = 1 - kappa"] = 1.0 - kappa
        cause = corrector_cause(w, w2, self.z_c)
        self.record(
            f"drift toward p_t, {g}: (kappa - 1) / se", zk, "drift toward p_t",
            input=f"{self.where}, group {g}", expected="kappa = 1 - e/v < 1 (regression slope of w' on w)",
            got=f"kappa = {kappa:.6g}, residual variance {c2:.3g}", statistic_name="z",
            note="a flipped score sign gives kappa = 1 + e/v; a corrector that does not move kappa = 1, c = 0",
            cause=cause,
        )
        # rho = c^2 / (2 (1 - kappa)); delta-method se of log rho from se(c^2)/c^2 = sqrt(2/m), se(kappa)
        rho = c2 / (2.0 * (1.0 - kappa)) if kappa < 1.0 else math.nan
        se_log = math.sqrt(2.0 / resid.size + (se_k / (1.0 - kappa)) ** 2) if kappa < 1.0 else math.inf
        excess = (abs(math.log(rho)) - math.log1p(b)) / se_log if rho > 0 else math.inf
        self.stats[f"fluctuation-dissipation, {g}: rho = c^2 / (2 e/v)"] = rho
        cause = corrector_cause(w, w2, self.z_c)
        self.record(
            f"fluctuation-dissipation, {g}: (|log rho| - log(1 + b)) / se", excess,
            "fluctuation-dissipation (noise variance 2 e)", input=f"{self.where}, group {g}",
            expected=f"rho = c^2 / (2 (1 - kappa)) = 1 (band x/ {1 + b})",
            got=f"rho = {rho:.6g} (kappa = {kappa:.6g}, c^2 = {c2:.6g})",
            statistic_name="z of |log rho| beyond the band", note="noise sqrt(e) instead of sqrt(2 e) gives rho = 1/2",
            cause=cause,
        )

    def step_size(self, rule: str, k: float, se: float, b: float) -> None:
        """K = e_candidate / e_rule in [1/(1+b), 1+b]: z of |log K| beyond log(1 + b), se(log K) = se / K."""
        self.stats["step size: K = e / e_rule"] = k
        excess = (abs(math.log(k)) - math.log1p(b)) / (se / k) if k > 0 and se > 0 else (
            -math.inf if k > 0 and abs(math.log(k)) <= math.log1p(b) else math.inf)
        self.record(
            "step size: (|log K| - log(1 + b)) / se", excess, "step size (snr rule)", input=self.where,
            expected=f"{rule}; K = sum <x' - x, s> / E_rule[sum e |s|^2] = 1 (band x/ {1 + b})",
            got=f"K = {k:.6g} +- {se:.2g}", statistic_name="z of |log K| beyond the band",
            note="K = 1/d: the noise norm |z|^2 is missing; K = 1/(2 snr): e = snr (|z|/|s|)^2 instead of 2 (snr |z|/|s|)^2",
        )


@collects_evidence
def check_corrector(
    corrector_fn: Callable[[Any, Any, float], Any],
    ref: Any,
    *,
    t: float | None = None,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    n: int = 20000,
    invariance_rtol: float = 0.1,
    fd_rtol: float = 0.5,
    snr: float | None = None,
    method: str | None = None,
    batch_norm: bool = False,
    step_scale: float = 1.0,
    step_rtol: float = 0.1,
) -> CheckReport:
    """Check a Langevin-type corrector ``corrector_fn(score_fn, x, t) -> x'`` (one call, t a Python float).

    The check draws n samples x ~ p_t exactly (data :func:`corrector_case`; default t = 0.1 T, where the two
    eigenvalue groups have the most different v_t on VP / sub-VP / VE) and calls the corrector once.  Per
    eigenvalue group g (16 coordinates pooled), with the notation of the module docstring:

    * "invariance of p_t (variance)": Var(w') in [1 - a, 1 + a], a = ``invariance_rtol`` (0.1 admits e/v up to
      ~0.3): chi-square band test, two one-sided Wilson-Hilferty z at the band edges;
    * "invariance of p_t (mean)": per coordinate mean(w') = 0 (exact for any step symmetric in x - mu_t);
    * "drift toward p_t": kappa_g <= 1, one-sided z with se(kappa) from the regression;
    * "fluctuation-dissipation": rho_g = c_g^2 / (2 (1 - kappa_g)) in [1 / (1 + b), 1 + b], b = ``fd_rtol``,
      z of |log rho_g| beyond log(1 + b) with a delta-method standard error (an approximate test).

    With ``snr`` given, also:

    * "step size (snr rule)": K = e / e_rule in [1 / (1 + r), 1 + r], r = ``step_rtol``, where e_rule is
      ``method``'s step (``"langevin"``, the default: e = 2 a (snr |z| / |s|)^2, per-sample norms or, with
      ``batch_norm=True``, score_sde's batch means of the norms; ``"annealed_langevin"``: e = 2 a (snr sigma_t)^2,
      ``batch_norm`` unused), a =
      ``step_scale`` (score_sde's alpha_i, 1 at a fixed t) -- the rules of :func:`refsde.sampling.langevin_corrector`.
      Estimator, closed forms and power: :mod:`refsde.testing._corrector_step`.

    Without ``snr`` the step size is not checked (the report says so).

    False-alarm probability <= ``alpha`` (Bonferroni over the 2 + 32 + 2 + 2 tests, + 1 with ``snr``, alpha / 38
    or alpha / 39 each), over the check's x and the candidate's noise; the band tests bound it anywhere inside
    their bands.  The report gives kappa, rho and Var(w') - 1 per group, K, and the detectable variance change,
    mean offset and step-size error.
    """
    name = "check_corrector"
    ctx = SamplerSetup(name, ref, corrector_case(), backend, dtype, alpha=alpha, seed=seed)
    T = float(ref.T)
    t = 0.1 * T if t is None else float(t)
    if not 0.0 < t <= T:
        raise ValueError(f"t must lie in (0, T] = (0, {T}], got {t}")
    n = int(n)
    if n < 16:
        raise ValueError(f"n must be >= 16, got {n}")
    if not (0.0 < invariance_rtol < 1.0 and fd_rtol > 0.0):
        raise ValueError(f"need 0 < invariance_rtol < 1 and fd_rtol > 0, got {invariance_rtol!r}, {fd_rtol!r}")
    if snr is None and method is not None:
        raise ValueError("method is only used with snr: pass snr= to check the step size")
    if snr is not None:
        snr, method = float(snr), "langevin" if method is None else method
        if method not in _step.METHODS:
            raise ValueError(f"method must be None or one of {_step.METHODS}, got {method!r}")
        if not (snr > 0.0 and step_scale > 0.0 and step_rtol > 0.0):  # also rejects NaN
            raise ValueError(f"need snr > 0, step_scale > 0 and step_rtol > 0, got {snr!r}, {step_scale!r}, {step_rtol!r}")
    case, d = ctx.case, ctx.case.D
    nd = node_at(ref, t, need_drift=False)
    v = nd.alpha**2 * case.lam + nd.sigma**2  # p_t's variances in eigen-coordinates
    mu = nd.alpha * case.mt
    w = np.random.default_rng(input_seed(seed)).standard_normal((n, d))
    x = ctx.to_backend(case.to_data(mu + np.sqrt(v) * w).astype(ctx.np_dtype))
    w = (case.to_eigen(ctx.host(x)) - mu) / np.sqrt(v)  # the rounded input, standardized
    try:
        out = call_candidate(corrector_fn, (ctx.score_fn, x, t), ("score_fn", "x", "t"))
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(name, "corrector call", input=f"t = {t}", expected="an output x' like x",
                               got=f"{type(exc).__name__}: {exc}", reference=ctx.reference,
                               note="the candidate raised under this reference") from exc
    y = ctx.eigen_output(out, n, "corrector output")
    w2 = (y - mu) / np.sqrt(v)
    z_c = z_two_sided(alpha / (2 + d + 2 + 2 + (snr is not None)))
    tests = _Tests(ctx, z_c, f"{n} samples x ~ p_t at t = {t}")
    groups = dict(zip(GROUP_NAMES, (np.arange(0, d, 2), np.arange(1, d, 2))))
    for g, idx in groups.items():
        add_panel("qq", f"corrector outputs w' = (x' - mu_t) / sqrt(v_t), {g}, against N(0, 1)",
                  series=[("all coordinates of the group", w2[:, idx])])
    try:
        for g, idx in groups.items():
            tests.variance(g, w2[:, idx], invariance_rtol)
        tests.mean(w2, invariance_rtol, y, mu)
    except ConformanceError as err:
        causes = [corrector_cause(w[:, idx], w2[:, idx], z_c) for idx in groups.values()]
        named = [c for c in causes if c.startswith("likely")]
        raise err.with_cause(named[0] if named else causes[0]) from None
    for g, idx in groups.items():
        tests.drift_and_noise(g, w[:, idx], w2[:, idx], fd_rtol)
    z = z_c + norm_isf(0.01)
    k = (d // 2) * (n - 1)
    detectable = {
        "Var(w') - 1 beyond the band (power 0.99)": math.expm1(math.log1p(invariance_rtol) + z * math.sqrt(2.0 / k)),
        "mean offset / std of one eigen-direction (power 0.99)": z * math.sqrt((1.0 + invariance_rtol) / n),
    }
    if snr is None:
        step_note = "step size not checked (pass snr= and method= to compare it with the snr rule)"
    else:
        s2 = np.sum(w * w / v, axis=1)  # |s_i|^2 in the eigenbasis
        m, var = _step.rule_moments(method, snr, step_scale, batch_norm, s2, _step.sigma2_at(ref, t), d)
        k_hat, se = _step.step_ratio(w, w2, v, m)
        rule = f"{method}{' (batch norms)' if batch_norm and method == 'langevin' else ''}, snr {snr:g}, a {step_scale:g}"
        tests.step_size(rule, k_hat, se, step_rtol)
        se0 = math.sqrt(float(np.sum(var))) / float(np.sum(m))  # closed-form se of K under the rule
        detectable["relative step-size error e / e_rule - 1 (power 0.99)"] = math.expm1(math.log1p(step_rtol) + z * se0)
        step_note = f"step size checked against the {rule} rule"
        if detectable["relative step-size error e / e_rule - 1 (power 0.99)"] > 0.2:
            step_note += (" -- with low power: the rule's step is too small at this t to identify e to 20%"
                          " (se(K) ~ sqrt(2 / sum_i e |s_i|^2)); use a larger t or n")
    ctx.power = 0.99
    return ctx.report(
        ("invariance of p_t (variance)", "invariance of p_t (mean)", "drift toward p_t", "fluctuation-dissipation")
        + (() if snr is None else ("step size (snr rule)",)), n, tests.stats, tests.thresholds,
        detectable=detectable,
        notes=(f"one corrector step at t = {t} from x ~ p_t", step_note,
               "false-alarm rate alpha is over the check's x and the candidate's noise"),
    )


__all__ = ["check_corrector", "corrector_case"]
