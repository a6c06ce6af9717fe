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
score, or weights it wrongly, fails the second test.

Test and sample size
--------------------
The check calls ``loss_fn`` m times, each on a fresh batch x0 of shape (n, d) drawn from the data
(NumPy generator seeded by ``seed``, converted to the check backend), first with the exact score, then
with the perturbed one.  For each it computes t = (mean of the m values - E L) / (sd / sqrt(m)) and
rejects when |t| > t_{m-1}(alpha / 4) (two tests, Bonferroni, two-sided).  Assumption: the mean of the
m calls is normal (CLT over the m n samples); the sd is estimated from the calls, so candidates with
lower-variance estimators (importance sampling) are judged by their own variance.  m n is chosen so
that a relative error ``rel_error`` (5%) of E L is detected with probability ``power`` (0.99) by the
plain uniform-t estimator, whose per-sample variance V is known in closed form (above):
m n = V ((t_crit + z_power) / (rel_error E L))^2, at least 64 calls, at most ``max_samples`` samples.

Likelihood / no weighting: w = g^2 / sigma^2 (or 1 / sigma^2) grows like 1 / t near t = 0 for VP and
exact-VE, so V grows like 1 / eps and the per-sample law is heavy-tailed (Pareto-like up to 1 / eps).
The work is bounded by ``max_samples``; the report's ``detectable`` gives the relative error detectable
with the samples actually used, and the normal approximation is poorer (positive skew of the call means).

Also checked, deterministically: every t the candidate passes to the score lies in [eps, T] (a sampler
of U(0, T) is caught only if one of the m n draws falls below eps: probability 1 - (1 - eps/T)^(m n)).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..backends import Backend, get_backend
from ..gaussian import Gaussian
from ._inputs import dtype_name, from_numpy, host, resolve_dtype, to_reference
from ._stats import norm_isf
from ._student_t import integrate_log_t, t_isf
from .errors import ConformanceError
from .report import CheckReport

WEIGHTINGS = ("sigma2", "likelihood", "none")
MIN_CALLS = 64


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


def dsm_moments(ref: Any, weighting: str, eps: float, lam: np.ndarray, dtilde: np.ndarray, panels: int = 200) -> tuple[float, float, float]:
    """(E L, per-sample E Y^2, E_t[lambda]) of the DSM objective for data eigenvalues ``lam`` and a
    score perturbation with eigen-coordinates ``dtilde`` (zeros: the exact score).  See the module doc."""
    span = float(ref.T) - eps
    d2 = float(np.sum(dtilde * dtilde))

    def parts(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a2, s2, w = _coefficients(ref, t, weighting)
        c = a2[:, None] * lam[None, :] / (a2[:, None] * lam[None, :] + s2[:, None])  # eigenvalues of C_t
        mean_r = c.sum(axis=1) + s2 * d2
        var_r = 2.0 * (c * c).sum(axis=1) + 4.0 * s2 * (c * dtilde[None, :] ** 2).sum(axis=1)
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
    """score_fn(x, t) = exact score (+ delta); records the smallest t it was called with."""

    def __init__(self, exact: Any, delta: Any) -> None:
        self.exact = exact
        self.delta = delta
        self.t_min = math.inf

    def __call__(self, x: Any, t: Any) -> Any:
        t_low = float(np.min(np.asarray(t, dtype=np.float64))) if isinstance(t, (int, float)) else None
        if t_low is None:
            from ..backends import backend_of

            t_low = float(np.min(np.asarray(backend_of(t).to_numpy(t), dtype=np.float64)))
        self.t_min = min(self.t_min, t_low)
        s = self.exact(x, t)
        return s if self.delta is None else s + self.delta


def dsm_sample_size(variance: float, expected: float, *, alpha: float, rel_error: float, power: float, calls: int = MIN_CALLS) -> int:
    """Total samples m n so that a relative error ``rel_error`` of ``expected`` is detected with
    probability ``power`` by the two-test t-test (per-sample variance ``variance``)."""
    z = t_isf(alpha / 4.0, calls - 1) + norm_isf(1.0 - power)
    return math.ceil(variance * (z / (rel_error * abs(expected))) ** 2)


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
) -> CheckReport:
    """Check ``loss_fn(score_fn, x0) -> scalar`` against the continuous DSM objective of ``ref``.

    ``score_fn(x, t)`` (x (n, d), t a float, 0-d or (n,) array) is supplied by the check: the exact score
    of Gaussian data N(mu, Sigma) (d = 3 by default), then that score plus a constant vector delta.
    ``x0`` has shape (``batch``, d), in the check's backend and dtype.  ``weighting`` and ``eps`` must
    be those the candidate implements.  Test, closed form and sample size: see the module docstring.
    Raises :class:`ConformanceError` naming "DSM loss: time range", "DSM loss expectation (exact score)"
    or "DSM loss expectation (perturbed score)"; returns a :class:`CheckReport` (n = samples per test).
    """
    name = "check_dsm_loss"
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    eps = float(eps)
    if not 0.0 < eps < float(ref.T):
        raise ValueError(f"eps must satisfy 0 < eps < T = {ref.T}, got {eps}")
    if not 0.0 < alpha < 1.0 or not 0.5 < power < 1.0 or not 0.0 < rel_error or not 0.0 < rise:
        raise ValueError("need 0 < alpha < 1, 0.5 < power < 1, rel_error > 0 and rise > 0")
    if int(batch) < 1 or int(d) < 1:
        raise ValueError(f"batch and d must be >= 1, got {batch}, {d}")
    be: Backend = get_backend(backend)
    cdtype = resolve_dtype(be, dtype)
    np_dtype = np.float32 if dtype_name(be, cdtype) == "float32" else np.float64
    rng = np.random.default_rng(seed)
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
    need = max(
        dsm_sample_size(v0, e0, alpha=alpha, rel_error=rel_error, power=power),
        dsm_sample_size(v1, e1, alpha=alpha, rel_error=rel_error, power=power),
    )
    calls = max(MIN_CALLS, math.ceil(min(need, int(max_samples)) / batch))
    t_crit = t_isf(alpha / 4.0, calls - 1)
    z_pow = norm_isf(1.0 - power)
    total = calls * batch

    data = Gaussian(from_numpy(be, mu, cdtype), from_numpy(be, cov, cdtype))
    exact = data.score_fn(ref)
    reference = repr(ref)
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    detectable: dict[str, float] = {}
    chol = np.linalg.cholesky(cov)
    t_floor = eps * (1.0 - 8.0 * float(np.finfo(np_dtype).eps))
    for label, dvec, expected, var in (("exact score", None, e0, v0), ("perturbed score", delta, e1, v1)):
        prop = f"DSM loss expectation ({label})"
        score = _RecordingScore(exact, None if dvec is None else from_numpy(be, dvec, cdtype))
        values = np.empty(calls)
        for k in range(calls):
            x0 = (mu + rng.standard_normal((batch, d)) @ chol.T).astype(np_dtype)
            out = to_reference(loss_fn(score, from_numpy(be, x0, cdtype)), be, check=name, name="loss value")
            if score.t_min < t_floor:
                raise ConformanceError(
                    name, "DSM loss: time range", input=f"call {k}, x0 of shape ({batch}, {d})",
                    expected=f"t in [eps, T] = [{eps!r}, {ref.T!r}]", got=f"t = {score.t_min!r}", reference=reference,
                    note="the candidate called score_fn at a time below eps",
                )
            h = host(be, out).ravel()
            if h.size != 1 or not np.isfinite(h[0]):
                raise ConformanceError(name, "loss value", input=f"call {k}, x0 of shape ({batch}, {d})",
                                       expected="a finite scalar", got=repr(h if h.size != 1 else h[0]), reference=reference)
            values[k] = h[0]
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
    notes = [
        f"weighting {weighting!r}, eps {eps!r}; data N(mu, Sigma) with eigenvalues {np.array2string(lam, precision=3)}; "
        f"|delta| = {delta_norm:.4g} raises E L by {100 * rise:.3g}%",
        "two-sided t-tests at alpha/2 each (Bonferroni); normal approximation for the mean of the calls",
        f"t < eps is detected with probability 1 - (1 - eps/T)^{total} = {-math.expm1(total * math.log1p(-eps / float(ref.T))):.3g} "
        "for a U(0, T) sampler",
        "false-alarm rate is over the check's data draws and the candidate's own randomness",
    ]
    if need > int(max_samples):
        notes.append(f"sample size bounded by max_samples = {int(max_samples)} (needed {need} for rel_error {rel_error})")
    return CheckReport(
        check=name, reference=reference,
        properties=("DSM loss: time range", "DSM loss expectation (exact score)", "DSM loss expectation (perturbed score)"),
        n=total, statistics=stats, thresholds=thresholds, passed=True, alpha=alpha, power=power,
        detectable=detectable, backend=be.name, dtype=dtype_name(be, cdtype), notes=tuple(notes),
    )
