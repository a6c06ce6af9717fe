"""check_dsm_loss: does a candidate's loss estimate the continuous denoising score-matching objective?

The objective (Song et al. 2021, eq. 7) with t ~ U(eps, T), x0 ~ data, z ~ N(0, I),
x_t = alpha_t x0 + sigma_t z:

    L(s) = E lambda(t) || s(x_t, t) + z / sigma_t ||^2      (sum over dims, mean over the batch)

with lambda = sigma_t^2 ("sigma2"), g(t)^2 ("likelihood") or 1 ("none").

Closed form (independent of :mod:`refsde.losses`)
-------------------------------------------------
The check's data are x0 ~ N(mu, Sigma), Sigma = Q diag(l) Q^T.  Given x_t, z | x_t is Gaussian with
covariance C_t = I - sigma_t^2 S_t^{-1}, S_t = alpha_t^2 Sigma + sigma_t^2 I, and the exact score is
s*(x_t) = E[-z / sigma_t | x_t].  So r = sigma_t s*(x_t) + z ~ N(0, C_t) independently of x_t, with
eigenvalues c_i = alpha_t^2 l_i / (alpha_t^2 l_i + sigma_t^2).  For s = s* + delta (a constant vector,
the deliberately perturbed score) r ~ N(sigma_t delta, C_t), hence with R = |r|^2 and w = lambda / sigma_t^2:

    E R   = sum_i c_i + sigma_t^2 |delta|^2,     Var R = 2 sum_i c_i^2 + 4 sigma_t^2 sum_i c_i dtilde_i^2

(dtilde = Q^T delta), E L = E_t[w E R] and the per-sample second moment E_t[w^2 (Var R + (E R)^2)].  Both
t-integrals are computed by composite Gauss-Legendre quadrature in log t (200 panels x 20 nodes; the
check verifies against 100 panels that the relative quadrature error is < 1e-9).  delta is sized so
that the perturbed expectation exceeds the exact one by ``rise`` (default 50%): a loss that ignores the
score fails the second test; one that weights it wrongly fails it only if its heavy tail does not inflate
the calls' sd too much (see the weighting probe).

Test and sample size
--------------------
The check calls ``loss_fn`` m times, each on a fresh batch x0 of shape (n, d) drawn from the data
(NumPy generator seeded by ``seed``, converted to the check backend), first with the exact score, then
with the perturbed one.  For each it computes t = (mean of the m values - E L) / (sd / sqrt(m)) and
rejects when |t| > t_{m-1}(alpha / 4) (two tests, Bonferroni, two-sided; alpha / 6 with the weighting probe
below, run for "sigma2").  Assumption: the mean of the
m calls is normal (CLT over the m n samples); the sd is estimated from the calls, so candidates with
lower-variance estimators (importance sampling) are judged by their own variance.  m n is chosen so
that a relative error ``rel_error`` (5%) of E L is detected with probability ``power`` (0.99) by the
plain uniform-t estimator, whose per-sample variance V is known in closed form (above):
m n = V ((t_crit + z_power) / (rel_error E L))^2, at least 64 calls, at most ``max_samples`` samples.

Likelihood / no weighting: w = g^2 / sigma^2 (or 1 / sigma^2) grows like 1 / t near t = 0 for VP and
exact-VE, so V grows like 1 / eps and the per-sample law is heavy-tailed (Pareto-like up to 1 / eps).
The work is bounded by ``max_samples``; the report's ``detectable`` gives the relative error detectable
with the samples actually used, and the normal approximation is poorer (positive skew of the call means).

Weighting probe (weighting "sigma2" only)
-----------------------------------------
The t-tests above judge a candidate by the sd of its own calls.  A wrongly weighted loss, w = lambda_cand /
sigma_t^2 != 1, is heavy-tailed (e.g. the unweighted loss: w = 1 / sigma_t^2 ~ 10 / t on VP), so its sd is
inflated by the same rare draws that make its mean wrong, and the self-normalized |t| stays small (the
unweighted loss, 378x the sigma^2 objective in expectation, gave |t| = 3.4).  The third test therefore uses a
score error that scales like the target, s = s* + c u / sigma_t (u a fixed unit vector, c = ``probe_scale``,
default 100), and the closed-form variance.  Then r = sigma_t s + z = r0 + c u with r0 ~ N(0, C_t), so

    E R = tr C_t + c^2,     Var R = 2 tr C_t^2 + 4 c^2 u~^T C_t u~      (u~ = Q^T u)

-- the formulas above with delta replaced by c u / sigma_t.  With lambda = sigma^2 the per-sample loss is
R = c^2 + 2 c <r0, u> + |r0|^2: nearly independent of t and nearly normal (relative sd <= 2 / c), and the
plain uniform-t estimator's per-sample variance V_p = E_t[Var R + (E R)^2] - (E L_p)^2 is known.  The test
rejects when |mean of the calls - E L_p| / sqrt(V_p / (m_p n)) > z(alpha / 6) (normal; the three tests then
share alpha at alpha / 3 each, two-sided).  A loss weighted by w(t) instead gives call means
c^2 mean_i w(t_i) (1 + O(1/c)): whatever the tail of w, it is rejected when its *realized* mean weight
mean_i w(t_i) is off by more than (z(alpha/6) + z_power) sqrt(V_p / (m_p n)) / E L_p (the report's
``detectable``, < 1e-3 at the defaults).  Power against the unweighted loss on VP (seed 000): w = 1 / sigma_t^2
>= 1 for all t and >= 1 / sigma_0.1^2 = 9.64 for t <= 0.1; among the 8192 draws at least 8% fall below 0.1
except with probability < 4e-9 (Chernoff, Binomial(8192, 0.1)), so mean_i w(t_i) >= 1 + 0.08 * 8.64 = 1.69
and the call mean is >= 1.5 c^2 (per sample R >= (c - |r0|)^2 >= 0.9 c^2 unless |r0| > 5, P < 2e-5): rejected with probability > 1 - 1e-8 (observed
mean / expected - 1 ~ 55).  m_p = max(8, samples for ``rel_error`` at ``power``) calls.  Assumption: the candidate draws t ~ U(eps, T) (or a lower-variance scheme such as stratified t; one
shared t per batch adds Var_t(tr C_t) <= ~1 to a per-call variance V_p / n ~ 20, i.e. ~2% to |z|);
an importance-sampled sigma^2 loss (weights 1 / p(t)) would have a larger variance than V_p.  For
"likelihood" and "none" the probe is not run: the plain estimator is itself heavy-tailed there (w ~ 1 / t),
so no closed-form normal test is valid; their weighting is judged by the t-tests above only.

Also checked, deterministically: every t the candidate passes to the score lies in [eps, T] (a sampler
of U(0, T) is caught only if one of the m n draws falls below eps: probability 1 - (1 - eps/T)^(m n)).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from array_api_compat import array_namespace

from .._checks import check_choice, check_eps, check_integer
from ..backends import Backend
from ..gaussian import Gaussian
from ._inputs import dtype_name, from_numpy, host, to_reference
from ._setup import Setup, check_tolerance
from ._stats import integrate_log_t, norm_isf, t_isf
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

WEIGHTINGS = ("sigma2", "likelihood", "none")
MIN_CALLS = 64
MIN_PROBE_CALLS = 8
WEIGHTING_PROPERTY = "DSM loss weighting (score error c u / sigma_t)"


def data_eigenvalues(d: int) -> np.ndarray:
    """Covariance eigenvalues of the check's data: geometric from 0.25 to 4 (condition number 16)."""
    return np.geomspace(0.25, 4.0, d) if d > 1 else np.ones(1)


def _coefficients(ref: Any, t: np.ndarray, weighting: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """alpha_t^2, sigma_t^2 and w(t) = lambda(t) / sigma_t^2 on float64 host times."""
    alpha, sigma = (np.asarray(a, dtype=np.float64) for a in ref.marginal_coefficients(t))
    a2, s2 = alpha * alpha, sigma * sigma
    if weighting == "sigma2":
        w = np.ones_like(s2)
    elif weighting == "none":
        w = 1.0 / s2
    else:
        w = np.asarray(ref.diffusion_squared(t), dtype=np.float64) / s2
    return a2, s2, w


def dsm_moments(ref: Any, weighting: str, eps: float, lam: np.ndarray, dtilde: np.ndarray, panels: int = 200,
                scaled: bool = False) -> tuple[float, float, float]:
    """(E L, per-sample E Y^2, E_t[lambda]) of the DSM objective for data eigenvalues ``lam`` and a
    score perturbation with eigen-coordinates ``dtilde`` (zeros: the exact score), constant in t or, with
    ``scaled``, ``dtilde / sigma_t`` (the weighting probe).  See the module doc."""
    span = float(ref.T) - eps
    d2 = float(np.sum(dtilde * dtilde))

    def parts(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a2, s2, w = _coefficients(ref, t, weighting)
        c = a2[:, None] * lam[None, :] / (a2[:, None] * lam[None, :] + s2[:, None])  # eigenvalues of C_t
        k = np.ones_like(s2) if scaled else s2  # sigma_t^2 |delta_t|^2 = |dtilde|^2 (scaled) or sigma_t^2 |dtilde|^2
        mean_r = c.sum(axis=1) + k * d2  # E R = tr C_t + sigma_t^2 |delta_t|^2
        var_r = 2.0 * (c * c).sum(axis=1) + 4.0 * k * (c * dtilde[None, :] ** 2).sum(axis=1)  # Var R
        return w, mean_r, var_r, s2

    def first(t: np.ndarray) -> np.ndarray:
        w, mean_r, _, _ = parts(t)
        return w * mean_r

    def second(t: np.ndarray) -> np.ndarray:
        w, mean_r, var_r, _ = parts(t)
        return w * w * (var_r + mean_r * mean_r)

    def weight(t: np.ndarray) -> np.ndarray:
        _, s2, w = _coefficients(ref, t, weighting)
        return w * s2

    out = []
    for h in (first, second, weight):
        fine = integrate_log_t(h, eps, float(ref.T), panels=panels)
        coarse = integrate_log_t(h, eps, float(ref.T), panels=panels // 2)
        if not abs(fine - coarse) <= 1e-9 * abs(fine):
            raise RuntimeError(f"check_dsm_loss: quadrature did not converge ({fine!r} vs {coarse!r}); use a larger eps")
        out.append(fine / span)
    return out[0], out[1], out[2]


class _RecordingScore:
    """score_fn(x, t) = exact score (+ delta, or + delta / sigma_t with ``ref`` given); records the smallest t."""

    def __init__(self, exact: Any, delta: Any, ref: Any = None) -> None:
        self.exact = exact
        self.delta = delta
        self.ref = ref
        self.t_min = math.inf
        self.t_ulp = 0.0  # the largest machine epsilon of the dtypes the candidate's t came in

    def __call__(self, x: Any, t: Any) -> Any:
        t_low = float(np.min(np.asarray(t, dtype=np.float64))) if isinstance(t, (int, float)) else None
        if t_low is None:
            from ..backends import backend_of

            t_host = np.asarray(backend_of(t).to_numpy(t))
            t_low = float(np.min(t_host.astype(np.float64)))
            if np.issubdtype(t_host.dtype, np.floating):
                self.t_ulp = max(self.t_ulp, float(np.finfo(t_host.dtype).eps))
        self.t_min = min(self.t_min, t_low)
        s = self.exact(x, t)
        if self.delta is None:
            return s
        if self.ref is None:
            return s + self.delta
        return s + self.delta / self._sigma(t, s)

    def _sigma(self, t: Any, s: Any) -> Any:
        """sigma_t as a float or an array of s's dtype broadcastable to s ((n,) times become a column)."""
        if isinstance(t, (int, float, np.floating)) or (isinstance(t, np.ndarray) and t.ndim == 0):
            return float(np.asarray(self.ref.sigma(np.float64(t)), dtype=np.float64))
        xp = array_namespace(s)
        sig = xp.astype(self.ref.sigma(t), s.dtype)
        return xp.reshape(sig, (sig.shape[0], 1)) if sig.ndim == 1 else sig


def dsm_sample_size(variance: float, expected: float, *, alpha: float, rel_error: float, power: float, calls: int = MIN_CALLS,
                    tests: int = 2) -> int:
    """Total samples m n so that a relative error ``rel_error`` of ``expected`` is detected with
    probability ``power`` by one of ``tests`` two-sided t-tests sharing alpha (per-sample variance ``variance``)."""
    z = t_isf(alpha / (2.0 * tests), calls - 1) + norm_isf(1.0 - power)
    return math.ceil(variance * (z / (rel_error * abs(expected))) ** 2)


class _Caller:
    """Calls the candidate on fresh data batches with the (possibly perturbed) exact score; checks t and the value."""

    def __init__(self, loss_fn: Callable, exact: Any, ref: Any, be: Backend, cdtype: Any, np_dtype: Any,
                 rng: np.random.Generator, mu: np.ndarray, chol: np.ndarray, batch: int, eps: float) -> None:
        self.loss_fn, self.exact, self.ref, self.be, self.cdtype, self.np_dtype = loss_fn, exact, ref, be, cdtype, np_dtype
        self.rng, self.mu, self.chol, self.batch, self.eps = rng, mu, chol, batch, eps
        self.reference = repr(ref)

    def values(self, calls: int, dvec: np.ndarray | None, scaled: bool) -> np.ndarray:
        """The candidate's loss on ``calls`` batches, score + dvec (or + dvec / sigma_t when ``scaled``)."""
        name, d = "check_dsm_loss", self.mu.shape[0]
        score = _RecordingScore(self.exact, None if dvec is None else from_numpy(self.be, dvec, self.cdtype),
                                self.ref if scaled else None)
        values = np.empty(calls)
        for k in range(calls):
            x0 = (self.mu + self.rng.standard_normal((self.batch, d)) @ self.chol.T).astype(self.np_dtype)
            try:
                raw = self.loss_fn(score, from_numpy(self.be, x0, self.cdtype))
            except ConformanceError:
                raise
            except Exception as exc:
                raise ConformanceError(name, "loss call", input=f"call {k}, x0 of shape ({self.batch}, {d})",
                                       expected="a scalar loss", got=f"{type(exc).__name__}: {exc}",
                                       reference=self.reference, note="the candidate raised under this reference") from exc
            out = to_reference(raw, self.be, check=name, name="loss value")
            # t is compared in the coarsest dtype it may have passed through: torch.rand draws float32 t even for
            # float64 data (and the loss may cast it up before calling the score), and a draw of 0 gives
            # t = float32(eps) < eps; only a t below that, by more than a few ulps, is below eps in every dtype
            low = min(self.eps, float(np.float32(self.eps)))
            floor = low * (1.0 - 8.0 * max(float(np.finfo(self.np_dtype).eps), score.t_ulp))
            if score.t_min < floor:
                raise ConformanceError(
                    name, "DSM loss: time range", input=f"call {k}, x0 of shape ({self.batch}, {d})",
                    expected=f"t in [eps, T] = [{self.eps!r}, {self.ref.T!r}]", got=f"t = {score.t_min!r}",
                    reference=self.reference, note="the candidate called score_fn at a time below eps",
                )
            h = host(self.be, out).ravel()
            if h.size != 1 or not np.isfinite(h[0]):
                raise ConformanceError(name, "loss value", input=f"call {k}, x0 of shape ({self.batch}, {d})",
                                       expected="a finite scalar", got=repr(h if h.size != 1 else h[0]),
                                       reference=self.reference)
            values[k] = h[0]
        return values


def _weighting_probe(caller: _Caller, utilde: np.ndarray, u: np.ndarray, lam: np.ndarray, c: float, *, alpha: float,
                     power: float, rel_error: float, stats: dict, thresholds: dict, detectable: dict) -> int:
    """The sigma^2 weighting probe (module docstring): score + c u / sigma_t, closed-form mean and variance
    of the uniform-t estimator, two-sided normal test at alpha / 3.  Returns the number of calls."""
    e_p, m2_p, _ = dsm_moments(caller.ref, "sigma2", caller.eps, lam, c * utilde, scaled=True)
    v_p = max(m2_p - e_p * e_p, 0.0)
    z_c, z_pow = norm_isf(alpha / 6.0), norm_isf(1.0 - power)
    need = math.ceil(v_p * ((z_c + z_pow) / (rel_error * e_p)) ** 2)
    calls = max(MIN_PROBE_CALLS, math.ceil(need / caller.batch))
    values = caller.values(calls, c * u, scaled=True)
    mean, se = float(values.mean()), math.sqrt(v_p / (calls * caller.batch))
    z = abs(mean - e_p) / se
    stats["weighting probe: |z|"], thresholds["weighting probe: |z|"] = z, z_c
    stats["weighting probe: mean / expected - 1"] = mean / e_p - 1.0
    detectable["weighting probe: relative error of the mean weight (closed-form variance)"] = (z_c + z_pow) * se / e_p
    if not z <= z_c:
        raise ConformanceError(
            "check_dsm_loss", WEIGHTING_PROPERTY, input=f"{calls} calls on batches of {caller.batch}, score + c u / sigma_t, c = {c:g}",
            expected=repr(e_p), got=repr(mean), statistic=z, threshold=z_c,
            statistic_name="|z| (mean of the calls vs closed form, closed-form variance of the sigma^2 loss)",
            reference=caller.reference,
            note=f"mean / expected - 1 = {mean / e_p - 1.0:.3g}: with lambda = sigma^2 the per-sample loss is c^2 + O(c) for "
                 "every t; a loss weighted by w(t) lambda gives c^2 mean_i w(t_i)",
        )
    return calls


def check_dsm_loss(
    loss_fn: Callable[[Callable[[Any, Any], Any], Any], Any],
    ref: Any,
    weighting: str = "sigma2",
    eps: float = 1e-5,
    *,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    d: int = 3,
    batch: int = 1024,
    rel_error: float = 0.05,
    power: float = 0.99,
    rise: float = 0.5,
    max_samples: int = 2_000_000,
    probe_scale: float = 100.0,
) -> CheckReport:
    """Check ``loss_fn(score_fn, x0) -> scalar`` against the continuous DSM objective of ``ref``.

    ``score_fn(x, t)`` (x (n, d), t a float, 0-d or (n,) array) is supplied by the check: the exact score
    of Gaussian data N(mu, Sigma) (d = 3 by default), then that score plus a constant vector delta.
    ``x0`` has shape (``batch``, d), in the check's backend and dtype.  ``weighting`` and ``eps`` must
    be those the candidate implements.  Test, closed form and sample size: see the module docstring.
    With ``weighting="sigma2"`` a third test calls ``loss_fn`` with the score plus c u / sigma_t (c =
    ``probe_scale``) and compares the mean with the closed form using the closed-form variance of the
    uniform-t estimator (module docstring, "Weighting probe"): it catches a wrong weighting whose heavy tail
    hides it from the t-tests.
    Raises :class:`ConformanceError` naming "DSM loss: time range", "DSM loss expectation (exact score)",
    "DSM loss expectation (perturbed score)" or "DSM loss weighting (score error c u / sigma_t)"; returns a
    :class:`CheckReport` (n = samples per t-test).
    """
    name = "check_dsm_loss"
    setup = Setup(name, ref, backend, dtype, alpha=alpha, power=power, seed=seed)
    check_choice(weighting, WEIGHTINGS, "weighting")
    eps = check_eps(ref, eps)
    if not 0.5 < power:
        raise ValueError(f"power must lie in (0.5, 1), got {power!r}")
    for label, value in (("rel_error", rel_error), ("rise", rise), ("probe_scale", probe_scale)):
        check_tolerance(label, value, allow_none=False)
    batch, d = check_integer(batch, "batch"), check_integer(d, "d")
    max_samples = check_integer(max_samples, "max_samples", 1)
    if max_samples < MIN_CALLS * batch:
        raise ValueError(f"max_samples = {max_samples} is below the {MIN_CALLS} calls of batch {batch} each t-test needs "
                         f"(at least {MIN_CALLS * batch}); pass a smaller batch or a larger max_samples")
    be, cdtype, np_dtype = setup.backend, setup.dtype, setup.np_dtype
    rng = np.random.default_rng(setup.seed)
    lam = data_eigenvalues(d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    mu = rng.standard_normal(d)
    cov = (q * lam) @ q.T
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)

    zero = np.zeros(d)
    e0, m2_0, mean_lambda = dsm_moments(ref, weighting, eps, lam, zero)
    delta_norm = math.sqrt(rise * e0 / mean_lambda)  # E L rises by |delta|^2 E_t[lambda]
    delta = delta_norm * direction
    e1, m2_1, _ = dsm_moments(ref, weighting, eps, lam, q.T @ delta)
    v0, v1 = m2_0 - e0 * e0, m2_1 - e1 * e1
    batch = int(batch)
    n_tests = 3 if weighting == "sigma2" else 2  # Bonferroni: alpha / n_tests per two-sided test
    need = max(
        dsm_sample_size(v0, e0, alpha=alpha, rel_error=rel_error, power=power, tests=n_tests),
        dsm_sample_size(v1, e1, alpha=alpha, rel_error=rel_error, power=power, tests=n_tests),
    )
    # max_samples caps the samples of each t-test (the candidate's batch size is kept, the number of calls shrinks)
    calls = max(MIN_CALLS, min(math.ceil(need / batch), max_samples // batch))
    t_crit = t_isf(alpha / (2.0 * n_tests), calls - 1)
    z_pow = norm_isf(1.0 - power)
    total = calls * batch

    data = Gaussian(from_numpy(be, mu, cdtype), from_numpy(be, cov, cdtype))
    caller = _Caller(loss_fn, data.score_fn(ref), ref, be, cdtype, np_dtype, rng, mu, np.linalg.cholesky(cov), batch, eps)
    reference = caller.reference
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    detectable: dict[str, float] = {}
    for label, dvec, expected, var in (("exact score", None, e0, v0), ("perturbed score", delta, e1, v1)):
        prop = f"DSM loss expectation ({label})"
        values = caller.values(calls, dvec, scaled=False)
        mean = float(values.mean())
        sd = float(values.std(ddof=1))
        se = sd / math.sqrt(calls)
        tstat = abs(mean - expected) / se if se > 0 else (0.0 if mean == expected else math.inf)
        stats[f"{label}: |t|"] = tstat
        thresholds[f"{label}: |t|"] = t_crit
        stats[f"{label}: mean / expected - 1"] = mean / expected - 1.0
        detectable[f"{label}: relative error of E L (closed-form variance, plain estimator)"] = (
            (t_crit + z_pow) * math.sqrt(var / total) / expected
        )
        detectable[f"{label}: relative error of E L (variance of the candidate's calls)"] = (t_crit + z_pow) * se / expected
        if not tstat <= t_crit:
            raise ConformanceError(
                name, prop, input=f"{calls} calls on batches x0 of shape ({batch}, {d})",
                expected=repr(expected), got=repr(mean), statistic=tstat, threshold=t_crit,
                statistic_name="|t| (mean of the calls vs closed form)", reference=reference,
                note=f"weighting {weighting!r}, eps {eps!r}; sd of one call {sd:.3g}; mean / expected - 1 = {mean / expected - 1.0:.3g}",
            )
    if weighting == "sigma2":
        probe_calls = _weighting_probe(caller, q.T @ direction, direction, lam, float(probe_scale), alpha=alpha, power=power,
                                       rel_error=rel_error, stats=stats, thresholds=thresholds, detectable=detectable)
        probe_note = (f"weighting probe: score + c u / sigma_t, c = {probe_scale:g}, {probe_calls} calls; closed-form variance "
                      "of the uniform-t estimator, two-sided normal test at alpha/3")
    else:
        probe_note = f"weighting probe not run (weighting {weighting!r}: the plain estimator is heavy-tailed)"
    notes = [
        f"weighting {weighting!r}, eps {eps!r}; data N(mu, Sigma) with eigenvalues {np.array2string(lam, precision=3)}; "
        f"|delta| = {delta_norm:.4g} raises E L by {100 * rise:.3g}%",
        f"two-sided t-tests at alpha/{n_tests} each (Bonferroni); normal approximation for the mean of the calls",
        probe_note,
        f"t < eps is detected with probability 1 - (1 - eps/T)^{total} = {-math.expm1(total * math.log1p(-eps / float(ref.T))):.3g} "
        "for a U(0, T) sampler",
        "false-alarm rate is over the check's data draws and the candidate's own randomness",
    ]
    if need > int(max_samples):
        notes.append(f"sample size bounded by max_samples = {int(max_samples)} (needed {need} for rel_error {rel_error})")
    return CheckReport(
        check=name, reference=reference,
        properties=("DSM loss: time range", "DSM loss expectation (exact score)", "DSM loss expectation (perturbed score)")
        + ((WEIGHTING_PROPERTY,) if weighting == "sigma2" else ()),
        n=total, statistics=stats, thresholds=thresholds, passed=True, alpha=alpha, power=power,
        detectable=detectable, backend=be.name, dtype=dtype_name(be, cdtype), notes=tuple(notes),
    )
