"""check_dsm_loss: does a candidate's loss estimate the continuous denoising score-matching objective?  And
check_ddpm_loss / check_smld_loss: the discrete objectives (the same closed form averaged over a chain's levels).

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

The candidate's conventions
---------------------------
``reduction``: the squared error summed over dimensions ("sum", refsde's ``dsm_loss``), averaged ("mean",
``F.mse_loss``) or half summed ("half_sum", score_sde's ``reduce_mean=False``): the candidate's values are divided
by 1, 1/d or 1/2 before the tests.  ``t_max``: the candidate draws t ~ U(eps, t_max) (default T); the integrals
run over [eps, t_max].  A failing expectation test names the slip its mean matches (|mean - E_slip| / se below
the test's critical value): another reduction, another weighting, the target's sign flipped (|| s - z/sigma ||^2:
E R = E |z + eps*|^2 = D + 3 (D - tr C_t)); for the discrete losses also x_i built with level i +- 1 or (DDPM)
with the continuous alpha(t_i) -- which at N = 1000 move E L by only ~0.3% (VP), below the default resolution
(rel_error 5%): a loss check cannot see them there, the sampler checks can.

Discrete losses
---------------
DDPM (Ho et al. 2020, eq. 14): E_i E || eps_model(x_i, i) - z ||^2, i ~ U{0..N-1}, x_i = sqrt(abar_i) x0 +
sqrt(1 - abar_i) z, abar_i = prod_{j <= i} (1 - beta_j) from ``ref.ddpm_betas``.  Since eps* = -sigma s*,
|| eps* - z ||^2 = || sigma_i s* + z ||^2: the per-level moments are the DSM ones with alpha_i, sigma_i and
w = 1, averaged over levels instead of integrated; the perturbation is eps* + delta (k = 1).  SMLD (Song &
Ermon 2019, eq. 2, lambda = sigma^2): sigma_i^2 || s(x_i) + z / sigma_i ||^2 with the VE levels (alpha = 1),
the score perturbed by delta (k = sigma_i^2).  The model the check supplies evaluates the exact posterior of
level i; the candidate names the level by an integer index, the level's time or its sigma (``timesteps``); a
value that is no level, or an index outside [low, N), is a ConformanceError.

Also checked, deterministically: every t the candidate passes to the score lies in [eps, T] (a sampler
of U(0, T) is caught only if one of the m n draws falls below eps: probability 1 - (1 - eps/T)^(m n)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from .._checks import check_choice, check_eps, check_integer
from ..backends import Backend
from ..gaussian import Gaussian
from ._inputs import from_numpy, host, to_reference
from ._setup import Setup, call_candidate, check_tolerance
from ._stats import integrate_log_t, norm_isf, t_isf
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport, collects_evidence

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
    elif weighting == "sigma":  # not a declared weighting: the slip lambda = sigma_t (for sigma_t^2)
        w = 1.0 / np.sqrt(s2)
    elif weighting == "none":
        w = 1.0 / s2
    else:
        w = np.asarray(ref.diffusion_squared(t), dtype=np.float64) / s2
    return a2, s2, w


def _integrands(a2: np.ndarray, s2: np.ndarray, w: np.ndarray, lam: np.ndarray, dtilde: np.ndarray,
                scaled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per time: w E R, w^2 E R^2 and w k, for r = sigma_t s + z (or eps* - z) shifted by sqrt(k) dtilde, k = 1 when
    ``scaled`` (the shift is constant: score + dtilde / sigma_t, or an eps prediction + dtilde) else sigma_t^2."""
    c = a2[:, None] * lam[None, :] / (a2[:, None] * lam[None, :] + s2[:, None])  # eigenvalues of C_t
    k = np.ones_like(s2) if scaled else s2
    d2 = float(np.sum(dtilde * dtilde))
    mean_r = c.sum(axis=1) + k * d2  # E R = tr C_t + k |dtilde|^2
    var_r = 2.0 * (c * c).sum(axis=1) + 4.0 * k * (c * dtilde[None, :] ** 2).sum(axis=1)  # Var R
    return w * mean_r, w * w * (var_r + mean_r * mean_r), w * k


def dsm_moments(ref: Any, weighting: str, eps: float, lam: np.ndarray, dtilde: np.ndarray, panels: int = 200,
                scaled: bool = False, t_max: float | None = None) -> tuple[float, float, float]:
    """(E L, per-sample E Y^2, E_t[lambda k]) of the DSM objective, t ~ U(eps, t_max) (t_max = T by default), for data
    eigenvalues ``lam`` and a score perturbation with eigen-coordinates ``dtilde`` (zeros: the exact score),
    constant in t or, with ``scaled``, ``dtilde / sigma_t`` (the weighting probe; then k = 1, else k = sigma_t^2).
    See the module doc."""
    hi = float(ref.T) if t_max is None else float(t_max)
    span = hi - eps

    def part(k: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda t: _integrands(*_coefficients(ref, t, weighting), lam, dtilde, scaled)[k]

    out = []
    for k in range(3):
        fine = integrate_log_t(part(k), eps, hi, panels=panels)
        coarse = integrate_log_t(part(k), eps, hi, panels=panels // 2)
        if not abs(fine - coarse) <= 1e-9 * abs(fine):
            raise RuntimeError(f"check_dsm_loss: quadrature did not converge ({fine!r} vs {coarse!r}); use a larger eps")
        out.append(fine / span)
    return out[0], out[1], out[2]


def level_moments(a2: np.ndarray, s2: np.ndarray, lam: np.ndarray, dtilde: np.ndarray,
                  scaled: bool) -> tuple[float, float, float]:
    """The same three moments for a level drawn uniformly from a discrete table (alpha_i^2, sigma_i^2), weight 1:
    the DDPM (eps-MSE; ``scaled``: the eps prediction shifted by dtilde) and SMLD (sigma_i^2-weighted; the score
    shifted by dtilde) losses."""
    first, second, wk = _integrands(a2, s2, np.ones_like(s2), lam, dtilde, scaled)
    return float(first.mean()), float(second.mean()), float(wk.mean())


def _t_floor(t_low: float, ulp: float) -> float:
    """The smallest time that is not below ``t_low`` in the coarsest dtype the candidate's t may have passed
    through: torch.rand draws float32 t even for float64 data, and a draw of 0 gives t = float32(eps) < eps."""
    low = min(t_low, float(np.float32(t_low)))
    return low * (1.0 - 8.0 * ulp)


class _RecordingScore:
    """score_fn(x, t) = exact score (+ delta, or + delta / sigma_t with ``ref`` given); records the range of t and
    raises (:meth:`verify`) when the candidate called it outside [eps, t_max]."""

    def __init__(self, exact: Any, delta: Any, ref: Any = None, *, eps: float = 0.0, t_max: float = math.inf,
                 np_dtype: Any = np.float64) -> None:
        self.exact = exact
        self.delta = delta
        self.ref = ref
        self.eps, self.t_max, self.np_dtype = eps, t_max, np_dtype
        self.t_min = math.inf
        self.t_high = -math.inf
        self.t_ulp = 0.0  # the largest machine epsilon of the dtypes the candidate's t came in

    def __call__(self, x: Any, t: Any) -> Any:
        if isinstance(t, (int, float)):
            lo = hi = float(t)
        else:
            from ..backends import backend_of

            t_host = np.asarray(backend_of(t).to_numpy(t))
            lo, hi = float(np.min(t_host.astype(np.float64))), float(np.max(t_host.astype(np.float64)))
            if np.issubdtype(t_host.dtype, np.floating):
                self.t_ulp = max(self.t_ulp, float(np.finfo(t_host.dtype).eps))
        self.t_min, self.t_high = min(self.t_min, lo), max(self.t_high, hi)
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

    def verify(self, check: str, where: str, reference: str) -> None:
        ulp = max(float(np.finfo(self.np_dtype).eps), self.t_ulp)
        if self.t_min < _t_floor(self.eps, ulp) or self.t_high > self.t_max * (1.0 + 8.0 * ulp):
            bad = self.t_min if self.t_min < self.eps else self.t_high
            raise ConformanceError(
                check, "DSM loss: time range", input=where, expected=f"t in [eps, t_max] = [{self.eps!r}, {self.t_max!r}]",
                got=f"t = {bad!r}", reference=reference,
                note="the candidate called score_fn at a time outside the range it was declared to draw from",
            )


class _LevelModel:
    """The exact model of a discrete chain's levels (alpha_i, sigma_i), i in [low, N): the eps prediction (DDPM) or
    the score (SMLD) of the check's Gaussian data at level i, called by the candidate as ``model(x, timestep)``
    with the timestep in its convention (an integer index, the level's time, or its sigma); (+ delta, a constant
    vector).  Records the levels asked for and raises (:meth:`verify`) on a timestep that is no level."""

    def __init__(self, kind: str, levels: _Levels, q: np.ndarray, mu: np.ndarray, lam: np.ndarray, be: Backend,
                 cdtype: Any, delta: np.ndarray | None, check: str, reference: str) -> None:
        self.kind, self.levels, self.be, self.cdtype, self.check, self.reference = kind, levels, be, cdtype, check, reference
        self.q, self.mt, self.lam = q, q.T @ mu, lam
        self.delta = delta
        self.seen: set[int] = set()
        self.bad: str | None = None

    def _index(self, t: Any, n: int) -> np.ndarray:
        from ..backends import backend_of

        th = np.asarray(float(t) if isinstance(t, (int, float, np.integer, np.floating)) else backend_of(t).to_numpy(t),
                        dtype=np.float64).reshape(-1)
        if th.size not in (1, n):
            raise ConformanceError(self.check, "model call", input=f"timestep of shape {th.shape}",
                                   expected=f"a scalar or shape ({n},)", got="another shape", reference=self.reference)
        idx = self.levels.index_of(th, self.check, self.reference)
        self.seen.update(int(i) for i in np.unique(idx))
        self.verify(self.check, f"a model call with a batch of {n}", self.reference)
        return np.broadcast_to(idx, (n,))

    def __call__(self, x: Any, t: Any) -> Any:
        xp = array_namespace(x)
        n = x.shape[0]
        idx = self._index(t, n)
        a = np.sqrt(self.levels.a2[idx])[:, None]
        s = np.sqrt(self.levels.s2[idx])[:, None]
        y = self.be.to_numpy(x).astype(np.float64) @ self.q  # eigen-coordinates
        score = -(y - a * self.mt) / (a * a * self.lam[None, :] + s * s)
        out = -s * score if self.kind == "eps" else score
        out = out @ self.q.T
        if self.delta is not None:
            out = out + self.delta[None, :]
        res = from_numpy(self.be, out, self.cdtype)
        return res if res.dtype == x.dtype else xp.astype(res, x.dtype)

    def verify(self, check: str, where: str, reference: str) -> None:
        outside = sorted(i for i in self.seen if not self.levels.low <= i < self.levels.N)
        if outside:
            prop = "DDPM loss: level range" if self.kind == "eps" else "SMLD loss: level range"
            raise ConformanceError(check, prop, input=where,
                                   expected=f"levels in [{self.levels.low}, {self.levels.N})",
                                   got=f"level {outside[0]}", reference=reference)


@dataclass(frozen=True)
class _Levels:
    """A discrete chain's levels: alpha_i^2, sigma_i^2 (i = 0..N-1), the levels drawn (low..N-1), and how the
    candidate names a level (``timesteps``: "index", "time" or "sigma")."""

    a2: np.ndarray
    s2: np.ndarray
    times: np.ndarray
    low: int
    timesteps: str

    @property
    def N(self) -> int:
        return int(self.a2.shape[0])

    def index_of(self, th: np.ndarray, check: str, reference: str) -> np.ndarray:
        if self.timesteps == "index":
            idx = np.rint(th)
            if not np.all(np.abs(th - idx) <= 1e-6 * np.maximum(1.0, np.abs(th))):
                raise ConformanceError(check, "model call", input=f"timestep {th[np.argmax(np.abs(th - idx))]!r}",
                                       expected="an integer level index (timesteps='index')", got="a non-integer",
                                       reference=reference, note="pass timesteps='time' or 'sigma' if that is your convention")
            return np.clip(idx.astype(np.int64), -1, self.N)  # out-of-range indices are reported by verify
        table = self.times if self.timesteps == "time" else np.sqrt(self.s2 / self.a2)
        pos = np.clip(np.searchsorted(table, th), 1, self.N - 1)
        idx = np.where(np.abs(table[pos - 1] - th) <= np.abs(table[pos] - th), pos - 1, pos)
        tol = 1e-6 * np.maximum(np.abs(table[idx]), 1e-12)
        if not np.all(np.abs(table[idx] - th) <= tol):
            j = int(np.argmax(np.abs(table[idx] - th) - tol))
            raise ConformanceError(check, "model call", input=f"timestep {th[j]!r}",
                                   expected=f"one of the chain's level {self.timesteps}s (nearest {table[idx[j]]!r})",
                                   got="a value between levels", reference=reference)
        return idx.astype(np.int64)


REDUCTIONS = {"sum": "the squared error summed over dimensions", "mean": "averaged over dimensions",
              "half_sum": "half the sum over dimensions (score_sde's reduce_mean=False)"}


def _reduction_factor(reduction: str, d: int) -> float:
    check_choice(reduction, tuple(REDUCTIONS), "reduction")
    return {"sum": 1.0, "mean": 1.0 / d, "half_sum": 0.5}[reduction]


def dsm_sample_size(variance: float, expected: float, *, alpha: float, rel_error: float, power: float, calls: int = MIN_CALLS,
                    tests: int = 2) -> int:
    """Total samples m n so that a relative error ``rel_error`` of ``expected`` is detected with
    probability ``power`` by one of ``tests`` two-sided t-tests sharing alpha (per-sample variance ``variance``)."""
    z = t_isf(alpha / (2.0 * tests), calls - 1) + norm_isf(1.0 - power)
    return math.ceil(variance * (z / (rel_error * abs(expected))) ** 2)


class _Caller:
    """Calls the candidate on fresh data batches with a model the check supplies; checks the times and the value,
    and divides the value by the declared reduction's factor (so every test compares the "sum" objective)."""

    def __init__(self, check: str, loss_fn: Callable, ref: Any, be: Backend, cdtype: Any, np_dtype: Any,
                 rng: np.random.Generator, mu: np.ndarray, chol: np.ndarray, batch: int, *, reduction: str, prefix: str,
                 exact: Any = None) -> None:
        self.check, self.loss_fn, self.ref, self.be, self.cdtype, self.np_dtype = check, loss_fn, ref, be, cdtype, np_dtype
        self.rng, self.mu, self.chol, self.batch = rng, mu, chol, batch
        self.reduction, self.prefix, self.exact = reduction, prefix, exact
        self.factor = _reduction_factor(reduction, mu.shape[0])
        self.reference = repr(ref)

    def values(self, calls: int, model: Any) -> np.ndarray:
        """The candidate's loss on ``calls`` batches with ``model`` (it has ``verify(check, where, reference)``)."""
        name, d = self.check, self.mu.shape[0]
        values = np.empty(calls)
        for k in range(calls):
            x0 = (self.mu + self.rng.standard_normal((self.batch, d)) @ self.chol.T).astype(self.np_dtype)
            where = f"call {k}, x0 of shape ({self.batch}, {d})"
            try:
                raw = call_candidate(self.loss_fn, (model, from_numpy(self.be, x0, self.cdtype)), ("score_fn", "x0"))
            except ConformanceError:
                raise
            except Exception as exc:
                raise ConformanceError(name, "loss call", input=where, expected="a scalar loss",
                                       got=f"{type(exc).__name__}: {exc}", reference=self.reference,
                                       note="the candidate raised under this reference") from exc
            model.verify(name, where, self.reference)
            out = to_reference(raw, self.be, check=name, name="loss value")
            h = host(self.be, out).ravel()
            if h.size != 1 or not np.isfinite(h[0]):
                raise ConformanceError(name, "loss value", input=where, expected="a finite scalar",
                                       got=repr(h if h.size != 1 else h[0]), reference=self.reference)
            values[k] = h[0] / self.factor
        return values


def _named_cause(mean: float, se: float, t_crit: float, expected: float, alternatives: Sequence[tuple[str, float]]) -> str:
    """The alternative expectations (known slips) the calls' mean is consistent with, |mean - alt| / se <= t_crit."""
    fits = sorted((abs(mean - alt) / se, text) for text, alt in alternatives if se > 0 and abs(mean - alt) / se <= t_crit)
    under = abs(mean - expected) / se if se > 0 else math.inf
    if not fits:
        return "no known slip of this property matches (tried: " + ", ".join(t for t, _ in alternatives) + ")"
    what = "likely cause" if len(fits) == 1 else "likely cause (indistinguishable here)"
    return f"{what}: " + "; ".join(f"{text} (|t| {z:.3g} under it)" for z, text in fits) + f"; {under:.3g} under the reference"


def _reduction_slips(reduction: str, d: int, expected: float) -> list[tuple[str, float]]:
    """The expectation (in the declared reduction's units, as the caller reports it) of each other reduction."""
    f = _reduction_factor(reduction, d)
    return [(f"reduction {other!r} ({text}) where {reduction!r} was declared", expected * _reduction_factor(other, d) / f)
            for other, text in REDUCTIONS.items() if other != reduction]


def _expectation_tests(caller: _Caller, model_of: Callable[[np.ndarray | None], Any], moments: Callable[..., tuple],
                       slips: Callable[[], list[tuple[str, float]]], q: np.ndarray, direction: np.ndarray, *,
                       alpha: float, power: float, rel_error: float, rise: float, n_tests: int, max_samples: int,
                       note: str, stats: dict, thresholds: dict, detectable: dict) -> tuple[int, int, float]:
    """The two t-tests (exact model, perturbed model) of the module docstring; returns (calls, needed samples,
    |delta|).  ``moments(dtilde)`` -> (E L, E Y^2, E[w k]); ``slips()`` the alternative expectations of the exact
    test (named when the test fails)."""
    d, batch = q.shape[0], caller.batch
    e0, m2_0, mean_wk = moments(np.zeros(d))
    delta_norm = math.sqrt(rise * e0 / mean_wk)  # E L rises by |delta|^2 E[w k]
    delta = delta_norm * direction
    e1, m2_1, _ = moments(q.T @ delta)
    v0, v1 = m2_0 - e0 * e0, m2_1 - e1 * e1
    need = max(dsm_sample_size(v0, e0, alpha=alpha, rel_error=rel_error, power=power, tests=n_tests),
               dsm_sample_size(v1, e1, alpha=alpha, rel_error=rel_error, power=power, tests=n_tests))
    # max_samples caps the samples of each t-test (the candidate's batch size is kept, the number of calls shrinks)
    calls = max(MIN_CALLS, min(math.ceil(need / batch), max_samples // batch))
    t_crit = t_isf(alpha / (2.0 * n_tests), calls - 1)
    z_pow = norm_isf(1.0 - power)
    total = calls * batch
    for label, dvec, expected, var in (("exact score", None, e0, v0), ("perturbed score", delta, e1, v1)):
        values = caller.values(calls, model_of(dvec))
        mean, sd = float(values.mean()), float(values.std(ddof=1))
        se = sd / math.sqrt(calls)
        tstat = abs(mean - expected) / se if se > 0 else (0.0 if mean == expected else math.inf)
        stats[f"{label}: |t|"], thresholds[f"{label}: |t|"] = tstat, t_crit
        stats[f"{label}: mean / expected - 1"] = mean / expected - 1.0
        detectable[f"{label}: relative error of E L (closed-form variance, plain estimator)"] = (
            (t_crit + z_pow) * math.sqrt(var / total) / expected)
        detectable[f"{label}: relative error of E L (variance of the candidate's calls)"] = (t_crit + z_pow) * se / expected
        if not tstat <= t_crit:
            alts = slips() if dvec is None else _reduction_slips(caller.reduction, d, expected)
            raise ConformanceError(
                caller.check, f"{caller.prefix} expectation ({label})",
                input=f"{calls} calls on batches x0 of shape ({batch}, {d})", expected=repr(expected), got=repr(mean),
                statistic=tstat, threshold=t_crit, statistic_name="|t| (mean of the calls vs closed form)",
                reference=caller.reference,
                note=f"{note}; sd of one call {sd:.3g}; mean / expected - 1 = {mean / expected - 1.0:.3g}",
                cause=_named_cause(mean, se, t_crit, expected, alts),
            )
    return calls, need, delta_norm


def _weighting_probe(caller: _Caller, utilde: np.ndarray, u: np.ndarray, lam: np.ndarray, c: float, *, eps: float,
                     t_max: float, alpha: float, power: float, rel_error: float, stats: dict, thresholds: dict,
                     detectable: dict) -> int:
    """The sigma^2 weighting probe (module docstring): score + c u / sigma_t, closed-form mean and variance
    of the uniform-t estimator, two-sided normal test at alpha / 3.  Returns the number of calls."""
    e_p, m2_p, _ = dsm_moments(caller.ref, "sigma2", eps, lam, c * utilde, scaled=True, t_max=t_max)
    v_p = max(m2_p - e_p * e_p, 0.0)
    z_c, z_pow = norm_isf(alpha / 6.0), norm_isf(1.0 - power)
    need = math.ceil(v_p * ((z_c + z_pow) / (rel_error * e_p)) ** 2)
    calls = max(MIN_PROBE_CALLS, math.ceil(need / caller.batch))
    score = _RecordingScore(caller.exact, from_numpy(caller.be, c * u, caller.cdtype), caller.ref, eps=eps, t_max=t_max, np_dtype=caller.np_dtype)
    values = caller.values(calls, score)
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


def _data(setup: Setup, d: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The check's data N(mu, Q diag(lam) Q^T) and the perturbation direction (a unit vector), from the seed."""
    rng = np.random.default_rng(setup.seed)
    lam = data_eigenvalues(d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    mu = rng.standard_normal(d)
    direction = rng.standard_normal(d)
    return rng, lam, q, mu, (q * lam) @ q.T, direction / np.linalg.norm(direction)


def _common(setup: Setup, batch: Any, d: Any, max_samples: Any, power: float, rel_error: Any, rise: Any) -> tuple[int, int, int]:
    if not 0.5 < power:
        raise ValueError(f"power must lie in (0.5, 1), got {power!r}")
    for label, value in (("rel_error", rel_error), ("rise", rise)):
        check_tolerance(label, value, allow_none=False)
    batch, d = check_integer(batch, "batch"), check_integer(d, "d")
    max_samples = check_integer(max_samples, "max_samples", 1)
    if max_samples < MIN_CALLS * batch:
        raise ValueError(f"max_samples = {max_samples} is below the {MIN_CALLS} calls of batch {batch} each t-test needs "
                         f"(at least {MIN_CALLS * batch}); pass a smaller batch or a larger max_samples")
    return int(batch), int(d), int(max_samples)


@collects_evidence
def check_dsm_loss(
    loss_fn: Callable[[Callable[[Any, Any], Any], Any], Any],
    ref: Any,
    weighting: str = "sigma2",
    eps: float = 1e-5,
    *,
    reduction: str = "sum",
    t_max: float | None = None,
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
    ``x0`` has shape (``batch``, d), in the check's backend and dtype.  ``weighting``, ``eps`` (and ``t_max``,
    default T: the candidate draws t ~ U(eps, t_max)) must be those the candidate implements; ``reduction``
    is how it reduces the squared error over dimensions: "sum" (refsde's ``dsm_loss``), "mean" (a mean over
    all elements, e.g. ``F.mse_loss``) or "half_sum" (score_sde's default, ``reduce_mean=False``); the batch
    is always averaged.  Test, closed form and sample size: see the module docstring.
    With ``weighting="sigma2"`` a third test calls ``loss_fn`` with the score plus c u / sigma_t (c =
    ``probe_scale``) and compares the mean with the closed form using the closed-form variance of the
    uniform-t estimator (module docstring, "Weighting probe"): it catches a wrong weighting whose heavy tail
    hides it from the t-tests.  A failing expectation test names the known slip its mean matches (another
    reduction, another weighting, the regression target's sign) or says none does.
    Raises :class:`ConformanceError` naming "DSM loss: time range", "DSM loss expectation (exact score)",
    "DSM loss expectation (perturbed score)" or "DSM loss weighting (score error c u / sigma_t)"; returns a
    :class:`CheckReport` (n = samples per t-test).
    """
    name = "check_dsm_loss"
    setup = Setup(name, ref, backend, dtype, alpha=alpha, power=power, seed=seed)
    check_choice(weighting, WEIGHTINGS, "weighting")
    eps = check_eps(ref, eps)
    hi = float(ref.T) if t_max is None else float(check_tolerance("t_max", t_max, allow_none=False))
    if not eps < hi <= float(ref.T):
        raise ValueError(f"t_max must lie in (eps, T] = ({eps}, {ref.T}], got {t_max!r}")
    check_tolerance("probe_scale", probe_scale, allow_none=False)
    batch, d, max_samples = _common(setup, batch, d, max_samples, power, rel_error, rise)
    be, cdtype, np_dtype = setup.backend, setup.dtype, setup.np_dtype
    rng, lam, q, mu, cov, direction = _data(setup, d)
    data = Gaussian(from_numpy(be, mu, cdtype), from_numpy(be, cov, cdtype))
    caller = _Caller(name, loss_fn, ref, be, cdtype, np_dtype, rng, mu, np.linalg.cholesky(cov), batch,
                     reduction=reduction, prefix="DSM loss", exact=data.score_fn(ref))
    n_tests = 3 if weighting == "sigma2" else 2  # Bonferroni: alpha / n_tests per two-sided test

    def model_of(dvec: np.ndarray | None) -> _RecordingScore:
        return _RecordingScore(caller.exact, None if dvec is None else from_numpy(be, dvec, cdtype), eps=eps, t_max=hi, np_dtype=np_dtype)

    def moments(dtilde: np.ndarray) -> tuple[float, float, float]:
        return dsm_moments(ref, weighting, eps, lam, dtilde, t_max=hi)

    def slips() -> list[tuple[str, float]]:
        e0 = moments(np.zeros(d))[0]
        out = _reduction_slips(reduction, d, e0)
        for other in WEIGHTINGS + ("sigma",):
            if other != weighting:
                text = ("lambda = sigma_t instead of sigma_t^2" if other == "sigma"
                        else f"weighting {other!r} where {weighting!r} was declared")
                try:
                    out.append((text,
                                dsm_moments(ref, other, eps, lam, np.zeros(d), t_max=hi)[0]))
                except RuntimeError:  # its integral does not converge at this eps: not a slip to compare with
                    pass

        # the target's sign flipped, || s - z / sigma ||^2: E R = E |z + eps*|^2 = D + 3 (D - tr C_t)
        def flipped(t: np.ndarray) -> np.ndarray:
            a2, s2, w = _coefficients(ref, t, weighting)
            trc = (a2[:, None] * lam[None, :] / (a2[:, None] * lam[None, :] + s2[:, None])).sum(axis=1)
            return w * (d + 3.0 * (d - trc))

        out.append(("the regression target's sign flipped: || s - z / sigma_t ||^2",
                    integrate_log_t(flipped, eps, hi) / (hi - eps)))
        return out

    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    detectable: dict[str, float] = {}
    note = f"weighting {weighting!r}, eps {eps!r}, t_max {hi!r}, reduction {reduction!r}"
    calls, need, delta_norm = _expectation_tests(
        caller, model_of, moments, slips, q, direction, alpha=alpha, power=power, rel_error=rel_error, rise=rise,
        n_tests=n_tests, max_samples=max_samples, note=note, stats=stats, thresholds=thresholds, detectable=detectable)
    total = calls * batch
    if weighting == "sigma2":
        probe_calls = _weighting_probe(caller, q.T @ direction, direction, lam, float(probe_scale), eps=eps, t_max=hi,
                                       alpha=alpha, power=power, rel_error=rel_error, stats=stats, thresholds=thresholds,
                                       detectable=detectable)
        probe_note = (f"weighting probe: score + c u / sigma_t, c = {probe_scale:g}, {probe_calls} calls; closed-form variance "
                      "of the uniform-t estimator, two-sided normal test at alpha/3")
    else:
        probe_note = f"weighting probe not run (weighting {weighting!r}: the plain estimator is heavy-tailed)"
    notes = [
        f"{note}; data N(mu, Sigma) with eigenvalues {np.array2string(lam, precision=3)}; "
        f"|delta| = {delta_norm:.4g} raises E L by {100 * rise:.3g}%",
        f"two-sided t-tests at alpha/{n_tests} each (Bonferroni); normal approximation for the mean of the calls",
        probe_note,
        f"t < eps is detected with probability 1 - (1 - eps/T)^{total} = {-math.expm1(total * math.log1p(-eps / float(ref.T))):.3g} "
        "for a U(0, T) sampler",
        "false-alarm rate is over the check's data draws and the candidate's own randomness",
    ]
    if need > int(max_samples):
        notes.append(f"sample size bounded by max_samples = {int(max_samples)} (needed {need} for rel_error {rel_error})")
    return setup.report(
        ("DSM loss: time range", "DSM loss expectation (exact score)", "DSM loss expectation (perturbed score)")
        + ((WEIGHTING_PROPERTY,) if weighting == "sigma2" else ()), total, stats, thresholds, detectable=detectable,
        notes=tuple(notes))


# ---- the discrete losses: DDPM (eps-MSE) and SMLD ------------------------------------------------------------------
TIMESTEPS = ("index", "time", "sigma")


def _chain_levels(ref: Any, kind: str, N: int | None, timesteps: str, be: Backend) -> _Levels:
    """The levels of the reference's discrete chain, in float64 on the host (module docstring of the checks)."""
    check_choice(timesteps, TIMESTEPS, "timesteps")
    if kind == "ddpm":
        if not hasattr(ref, "ddpm_betas"):
            raise TypeError(f"check_ddpm_loss needs a reference with a DDPM chain (a VPSDE or a ScheduleSDE from an "
                             f"alphas_cumprod table), got {ref!r}")
        betas = host(be, ref.ddpm_betas(N) if N is not None else ref.ddpm_betas())
        log_abar = np.cumsum(np.log1p(-betas))  # log prod_{j <= i} (1 - beta_j)
        a2, s2 = np.exp(log_abar), -np.expm1(log_abar)
        n = a2.shape[0]
        times = (np.asarray(ref.table_times, dtype=np.float64) if hasattr(ref, "table_times")
                 else host(be, ref.chain_times(n)))
        return _Levels(a2, s2, times, 0, timesteps)
    from ..sde import VESDE

    if not isinstance(ref, VESDE):
        raise TypeError(f"check_smld_loss needs a VESDE reference (the SMLD chain is its discretization), got {ref!r}")
    times = host(be, ref.chain_times(N))
    sigma = host(be, ref.marginal_coefficients(ref.chain_times(N))[1])
    return _Levels(np.ones_like(sigma), sigma * sigma, times, 1 if ref.exact else 0, timesteps)


def _level_slips(levels: _Levels, lam: np.ndarray, mt: np.ndarray, reduction: str, d: int, expected: float,
                 kind: str, ref: Any, be: Backend) -> list[tuple[str, float]]:
    """Expectations of the known slips of a discrete loss: other reductions, x_i built with the coefficients of the
    level one above or below the one the model is told, and (DDPM) with the continuous alpha(t_i), sigma(t_i)."""
    out = _reduction_slips(reduction, d, expected)
    lo, N = levels.low, levels.N
    a_i, s_i = np.sqrt(levels.a2[lo:]), np.sqrt(levels.s2[lo:])

    def mismatch(a_j: np.ndarray, s_j: np.ndarray) -> float:
        # x built with (a_j, s_j), the exact eps (or sigma_i times the score) of level i: in eigen-coordinates
        # r = z - s_i (y - a_i m) / v_i with y = a_j (m + sqrt(lam) xi) + s_j z, so E |r|^2 = sum over coordinates of
        # (1 - s_i s_j / v_i)^2 + (s_i a_j)^2 lam / v_i^2 + ((a_j - a_i) s_i m / v_i)^2   (= tr C_i when j = i)
        v = a_i[:, None] ** 2 * lam[None, :] + s_i[:, None] ** 2
        coef_z = 1.0 - s_i[:, None] * s_j[:, None] / v
        coef_xi = s_i[:, None] * a_j[:, None] * np.sqrt(lam)[None, :] / v
        shift = (a_j - a_i)[:, None] * s_i[:, None] * mt[None, :] / v
        return float(np.mean(np.sum(coef_z ** 2 + coef_xi ** 2 + shift ** 2, axis=1)))

    idx = np.arange(lo, N)
    up, down = np.minimum(idx + 1, N - 1), np.maximum(idx - 1, 0)
    out.append(("x_i built with the coefficients of level i + 1 (the timestep one index off)",
                mismatch(np.sqrt(levels.a2[up]), np.sqrt(levels.s2[up]))))
    out.append(("x_i built with the coefficients of level i - 1 (the timestep one index off)",
                mismatch(np.sqrt(levels.a2[down]), np.sqrt(levels.s2[down]))))
    if kind == "ddpm" and hasattr(ref, "marginal_coefficients"):
        a_c, s_c = (host(be, v) for v in ref.marginal_coefficients(from_numpy(be, levels.times[lo:], be.xp.float64)))
        out.append(("x_i built with the continuous alpha(t_i), sigma(t_i) instead of the chain's alpha-bar_i",
                    mismatch(a_c, s_c)))
    return out


def _discrete_check(kind: str, loss_fn: Callable, ref: Any, *, timesteps: str, N: int | None, reduction: str,
                    alpha: float, seed: int, backend: Any, dtype: Any, d: int, batch: int, rel_error: float, power: float,
                    rise: float, max_samples: int) -> CheckReport:
    name = f"check_{kind}_loss"
    setup = Setup(name, ref, backend, dtype, alpha=alpha, power=power, seed=seed)
    batch, d, max_samples = _common(setup, batch, d, max_samples, power, rel_error, rise)
    be, cdtype, np_dtype = setup.backend, setup.dtype, setup.np_dtype
    levels = _chain_levels(ref, kind, N, timesteps, be)
    rng, lam, q, mu, cov, direction = _data(setup, d)
    prefix = "DDPM loss" if kind == "ddpm" else "SMLD loss"
    caller = _Caller(name, loss_fn, ref, be, cdtype, np_dtype, rng, mu, np.linalg.cholesky(cov), batch,
                     reduction=reduction, prefix=prefix)
    scaled = kind == "ddpm"  # the eps prediction shifted by delta: r shifted by delta itself (k = 1)
    lo = levels.low

    def model_of(dvec: np.ndarray | None) -> _LevelModel:
        return _LevelModel("eps" if kind == "ddpm" else "score", levels, q, mu, lam, be, cdtype, dvec, name, caller.reference)

    def moments(dtilde: np.ndarray) -> tuple[float, float, float]:
        return level_moments(levels.a2[lo:], levels.s2[lo:], lam, dtilde, scaled)

    def slips() -> list[tuple[str, float]]:
        return _level_slips(levels, lam, q.T @ mu, reduction, d, moments(np.zeros(d))[0], kind, ref, be)

    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    detectable: dict[str, float] = {}
    note = f"{levels.N} levels ({lo}..{levels.N - 1} drawn uniformly), timesteps {timesteps!r}, reduction {reduction!r}"
    calls, need, delta_norm = _expectation_tests(
        caller, model_of, moments, slips, q, direction, alpha=alpha, power=power, rel_error=rel_error, rise=rise,
        n_tests=2, max_samples=max_samples, note=note, stats=stats, thresholds=thresholds, detectable=detectable)
    what = "eps prediction" if kind == "ddpm" else "score"
    notes = [f"{note}; data N(mu, Sigma) with eigenvalues {np.array2string(lam, precision=3)}; the {what} + delta, "
             f"|delta| = {delta_norm:.4g}, raises E L by {100 * rise:.3g}%",
             "two-sided t-tests at alpha/2 each (Bonferroni); normal approximation for the mean of the calls",
             "false-alarm rate is over the check's data draws and the candidate's own randomness"]
    if need > int(max_samples):
        notes.append(f"sample size bounded by max_samples = {int(max_samples)} (needed {need} for rel_error {rel_error})")
    return setup.report((f"{prefix}: level range", f"{prefix} expectation (exact score)",
                         f"{prefix} expectation (perturbed score)"), calls * batch, stats, thresholds,
                        detectable=detectable, notes=tuple(notes))


@collects_evidence
def check_ddpm_loss(loss_fn: Callable[[Callable[[Any, Any], Any], Any], Any], ref: Any, *, timesteps: str = "index",
                    N: int | None = None, reduction: str = "sum", alpha: float = 1e-6, seed: int = 0, backend: Any = None,
                    dtype: Any = None, d: int = 3, batch: int = 1024, rel_error: float = 0.05, power: float = 0.99,
                    rise: float = 0.5, max_samples: int = 2_000_000) -> CheckReport:
    """Check ``loss_fn(eps_model, x0) -> scalar`` against the DDPM objective E_i E || eps_model(x_i, i) - z ||^2
    (Ho et al. 2020, eq. 14), i ~ U{0, ..., N-1}, x_i = sqrt(abar_i) x0 + sqrt(1 - abar_i) z.

    The chain is the reference's: abar_i = prod_{j <= i} (1 - beta_j) with ``ref.ddpm_betas(N)`` (a VPSDE's
    betas beta(t_j) T / N, or an ``alphas_cumprod`` table's own).  ``eps_model(x, timestep)`` is the exact noise
    prediction of the check's Gaussian data at that level (then plus a constant vector delta); the candidate
    names the level by ``timesteps``: "index" (an integer i, diffusers' convention), "time" (the chain time t_i:
    ``ref.chain_times(N)`` or the table's times) or "sigma" (sqrt((1 - abar_i) / abar_i)).  ``reduction`` as in
    :func:`check_dsm_loss` ("mean" for ``F.mse_loss``).  The expectation is the level average of the closed form
    of :func:`check_dsm_loss` with alpha_i, sigma_i (module docstring); failures name the slip the mean matches
    (a reduction, the timestep one index off, the continuous alpha(t) for the chain's abar).
    """
    return _discrete_check("ddpm", loss_fn, ref, timesteps=timesteps, N=N, reduction=reduction, alpha=alpha, seed=seed,
                           backend=backend, dtype=dtype, d=d, batch=batch, rel_error=rel_error, power=power, rise=rise,
                           max_samples=max_samples)


@collects_evidence
def check_smld_loss(loss_fn: Callable[[Callable[[Any, Any], Any], Any], Any], ref: Any, *, timesteps: str = "index",
                    N: int | None = None, reduction: str = "sum", alpha: float = 1e-6, seed: int = 0, backend: Any = None,
                    dtype: Any = None, d: int = 3, batch: int = 1024, rel_error: float = 0.05, power: float = 0.99,
                    rise: float = 0.5, max_samples: int = 2_000_000) -> CheckReport:
    """Check ``loss_fn(score_model, x0) -> scalar`` against the SMLD / NCSN objective E_i sigma_i^2
    || score_model(x_i, i) + z / sigma_i ||^2 (Song & Ermon 2019, eq. 2 with lambda = sigma^2), x_i = x0 + sigma_i z.

    The levels are the VE reference's marginal stds at its chain times t_i = i T / (N - 1) (level 0, sigma = 0,
    excluded under the exact convention: i ~ U{1, ..., N-1}; all N levels under ``convention="score_sde"``).
    ``timesteps`` as in :func:`check_ddpm_loss` ("sigma": NCSN's model(x, sigma)); score_sde's SMLD loss indexes
    the *flipped* sigma array (label 0 = sigma_max): adapt it with ``lambda x, i: model(x, N - 1 - i)``.
    """
    return _discrete_check("smld", loss_fn, ref, timesteps=timesteps, N=N, reduction=reduction, alpha=alpha, seed=seed,
                           backend=backend, dtype=dtype, d=d, batch=batch, rel_error=rel_error, power=power, rise=rise,
                           max_samples=max_samples)
