"""check_log_likelihood: does a candidate compute the probability-flow ODE log-likelihood?

The target
----------
A PF-ODE likelihood (Song et al. 2021, eq. 39-40) integrates dx/dt = f(t) x - g(t)^2 s(x, t) / 2 from
eps to T and returns

    log p(x) = log pi(Phi_{eps->T}(x)) + log|det dPhi_{eps->T}/dx|                         (target)

with pi the SDE's prior (``ref.prior_logp``).  That is NOT log p_eps(x): since the flow pushes p_eps to
p_T exactly, log p_eps(x) = log p_T(Phi(x)) + log|det dPhi/dx|, and the two differ by the prior-mismatch
term log p_T(Phi(x)) - log pi(Phi(x)).  The check uses exact Gaussian data N(mu, Sigma) for which Phi and
its log-determinant are closed forms (:meth:`refsde.gaussian.Gaussian.flow_map`), evaluated in float64
on the rounded inputs.  One covariance eigenvalue is 3 sigma_T^2 / alpha_T^2, so p_T has 4 times the
prior's variance along it and the mismatch is O(1) nat: a candidate that returns log p_eps (or uses
p_T as its prior) fails.  The report states the mismatch (max and mean over the inputs).

Deterministic mode (default)
----------------------------
Per sample |got - target| <= atol + rtol |target| with atol = 5e-3 nat and rtol = 1e-4.  A correct
candidate solving the ODE at rtol = atol = 1e-5 (RK45, exact divergence) errs by 1e-4 (VP) to 3e-4
(VE) nat on these inputs, 1e-5 nat at 1e-6 (tests/test_testing_likelihood.py checks < 10% of the
tolerance); the bugs this check is meant to catch (sign of the divergence, g for g^2, missing 1/2,
wrong prior, log p_eps) err by 0.8 to 1e5 nats on the check's data.  float32 (``dtype="float32"``):
atol = 5e-2 nat, rtol = 1e-3 -- the float32 score on inputs of scale 10^2 (the wide data direction) errs
by ~1e-5 relative and the solve integrates that to ~1e-2 nat (measured on torch: 0.014 nat).  Inputs: ``n`` draws from the data plus two hard points (the mean, and 4
standard deviations along the smallest-variance direction).  The worst sample is reported.

Stochastic mode (``stochastic=True``), for Hutchinson-trace candidates
---------------------------------------------------------------------
The Hutchinson estimate is unbiased given the trajectory, so E[got_i] = target_i + solver bias.  With
D_i = got_i - target_i on ``n`` (>= 50) data draws, the check rejects when
(|mean D| - tol) / (sd(D) / sqrt(n)) > t_{n-1}(alpha / 2), tol = atol + rtol mean|target| (the allowed
solver bias).  False-alarm rate <= alpha when the bias is within tol and mean D is normal (CLT over n).
Detectable: bias > tol + (t_crit + z_power) sd / sqrt(n), reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .._checks import check_eps, check_integer
from ..gaussian import Gaussian
from ._inputs import host, require_shape, to_reference
from ._setup import Setup, check_tolerance
from ._stats import norm_isf, t_isf
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport, add_panel, collects_evidence

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

ATOL = 5e-3
RTOL = 1e-4
ATOL_FLOAT32 = 5e-2
RTOL_FLOAT32 = 1e-3
MISMATCH_FACTOR = 3.0


def likelihood_data(ref: Any, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, cov, eigenvalues, eigenvectors) of the check's Gaussian data (float64, host).

    Eigenvalues: geometric 0.3 .. 2 for the first d - 1, and 3 sigma_T^2 / alpha_T^2 (clipped to
    [1, 1e8]) for the last, so that p_T is far from the prior along it.
    """
    rng = np.random.default_rng(seed)
    alpha_T, sigma_T = (float(np.asarray(v)) for v in ref.marginal_coefficients(np.float64(ref.T)))
    big = min(max(MISMATCH_FACTOR * sigma_T**2 / alpha_T**2, 1.0), 1e8)
    lam = np.concatenate([np.geomspace(0.3, 2.0, d - 1) if d > 1 else np.zeros(0), [big]])
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    mean = rng.standard_normal(d)
    return mean, (q * lam) @ q.T, lam, q


@collects_evidence
def check_log_likelihood(
    loglik_fn: Callable[[Callable[[Any, Any], Any], Any], Any],
    ref: Any,
    eps: float = 1e-3,
    *,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    rtol: float | None = None,
    atol: float | None = None,
    n: int | None = None,
    d: int = 3,
    stochastic: bool = False,
    power: float = 0.99,
) -> CheckReport:
    """Check ``loglik_fn(score_fn, x) -> (n,)`` log-likelihoods in nats against the exact PF-ODE target.

    ``score_fn(x, t)`` is the exact score of the check's Gaussian data under ``ref`` (x (n, d), t a float,
    0-d or (n,) array; it also has ``.divergence(x, t)``, which candidates need not use); ``x`` has
    shape (n, d) in the check's backend and dtype.  ``eps`` must be the candidate's start time.  ``n``
    defaults to 16 data draws (+ 2 hard points) in deterministic mode and 256 draws in stochastic mode.
    Target, tolerances and the stochastic test: see the module docstring.  Raises
    :class:`ConformanceError` naming "log-likelihood" (or "log-likelihood mean (stochastic)").
    """
    name = "check_log_likelihood"
    setup = Setup(name, ref, backend, dtype, alpha=alpha, power=power, seed=seed)
    eps = check_eps(ref, eps)
    d = check_integer(d, "d")
    single = setup.np_dtype == np.float32
    a_tol = check_tolerance("atol", atol, allow_zero=True)
    r_tol = check_tolerance("rtol", rtol, allow_zero=True)
    a_tol = (ATOL_FLOAT32 if single else ATOL) if a_tol is None else a_tol
    r_tol = (RTOL_FLOAT32 if single else RTOL) if r_tol is None else r_tol
    if a_tol == 0.0 and r_tol == 0.0:
        raise ValueError("atol and rtol cannot both be 0 (the check would demand exact equality with a float64 target)")
    n = check_integer((256 if stochastic else 16) if n is None else n, "n", 50 if stochastic else 1)
    # target: the exact PF-ODE model density of the check's data draws (module docstring)
    tg = _target(setup, eps, d, n, stochastic)
    x, labels, target, log_p_eps, lam = tg.x, tg.labels, tg.target, tg.log_p_eps, tg.lam
    mismatch = log_p_eps - target  # = log p_T(Phi(x)) - log pi(Phi(x))
    # run
    got = _run(setup, loglik_fn, tg)
    add_panel("hist", f"log-likelihood minus the exact target ({got.shape[0]} inputs, d = {d})", values=got - target,
              xlabel="candidate log p - exact log p (nats)")
    # test and report
    stats: dict[str, float] = {
        "prior mismatch log p_eps - target: max |.| (nats)": float(np.max(np.abs(mismatch))),
        "prior mismatch log p_eps - target: mean (nats)": float(np.mean(mismatch)),
    }
    notes = [
        f"target log pi(Phi_eps->T(x)) + log|det dPhi/dx| with eps = {eps!r}; data eigenvalues "
        f"{np.array2string(lam, precision=3)}",
        "prior mismatch = log p_eps(x) - target = log p_T(Phi(x)) - log pi(Phi(x)), reported, not tested",
    ]

    def describe(i: int) -> str:
        return f"{labels[i]}: x = {np.array2string(x[i], precision=6)}"

    if stochastic:
        return _stochastic_test(setup, got, target, a_tol, r_tol, d, describe, stats, notes)
    return _deterministic_test(setup, got, target, log_p_eps, mismatch, a_tol, r_tol, describe, stats, notes)


@dataclass(frozen=True)
class _Target:
    """The check's inputs and the exact target: x (m, d) rounded to the check dtype, their labels, the target
    log pi(Phi(x)) + log|det dPhi/dx|, log p_eps(x), and the data (mean, cov, eigenvalues)."""

    x: np.ndarray
    labels: list[str]
    target: np.ndarray
    log_p_eps: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    lam: np.ndarray


def _target(setup: Setup, eps: float, d: int, n: int, stochastic: bool) -> _Target:
    """The data draws (and two hard points in deterministic mode) and their exact target."""
    ref = setup.ref
    mean, cov, lam, q = likelihood_data(ref, d, setup.seed)
    rng = np.random.default_rng(setup.seed + 1)
    x = mean + (rng.standard_normal((n, d)) * np.sqrt(lam)) @ q.T
    labels = [f"data draw {i}" for i in range(n)]
    if not stochastic:
        x = np.concatenate([x, mean[None, :], (mean + 4.0 * math.sqrt(lam[0]) * q[:, 0])[None, :]])
        labels += ["the data mean", "mean + 4 std along the smallest-variance direction"]
    x = x.astype(setup.np_dtype).astype(np.float64)
    data64 = Gaussian(mean, cov)
    y, logdet = data64.flow_map(ref, eps, float(ref.T), x)
    target = np.asarray(ref.prior_logp(y)) + np.asarray(logdet)  # log pi(Phi(x)) + log|det dPhi/dx|
    log_p_eps = np.asarray(data64.marginal(ref, eps).log_prob(x))
    return _Target(x, labels, target, log_p_eps, mean, cov, lam)


def _run(setup: Setup, loglik_fn: Callable[..., Any], tg: _Target) -> np.ndarray:
    """The candidate's log-likelihoods (host float64, shape (m,)); its exceptions as a ConformanceError."""
    x = tg.x
    data = Gaussian(setup.to_backend(tg.mean), setup.to_backend(tg.cov))
    try:
        out = loglik_fn(data.score_fn(setup.ref), setup.to_backend(x))
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(setup.check, "log-likelihood call", input=f"x of shape {x.shape}",
                               expected="log p of shape (n,)", got=f"{type(exc).__name__}: {exc}",
                               reference=setup.reference, note="the candidate raised under this reference") from exc
    got_arr = to_reference(out, setup.backend, check=setup.check, name="log-likelihood")
    require_shape(got_arr, (x.shape[0],), check=setup.check, name="log-likelihood")
    return host(setup.backend, got_arr)


def _stochastic_test(setup: Setup, got: np.ndarray, target: np.ndarray, a_tol: float, r_tol: float, d: int,
                     describe: Callable[[int], str], stats: dict[str, float], notes: list[str]) -> CheckReport:
    """One-sided t-test of |mean error| - tol (an unbiased estimator, e.g. Hutchinson's; module docstring)."""
    name, m = setup.check, got.shape[0]
    if not np.all(np.isfinite(got)):
        i = int(np.argmax(~np.isfinite(got)))
        raise ConformanceError(name, "log-likelihood values", input=describe(i), expected=repr(float(target[i])),
                               got=repr(float(got[i])), reference=setup.reference)
    err = got - target
    tol = a_tol + r_tol * float(np.mean(np.abs(target)))
    mean_d, sd = float(np.mean(err)), float(np.std(err, ddof=1))
    se = sd / math.sqrt(m)
    t_crit = t_isf(setup.alpha / 2.0, m - 1)
    excess = max(abs(mean_d) - tol, 0.0)
    tstat = excess / se if se > 0 else (0.0 if excess == 0 else math.inf)
    thresholds = {"log-likelihood mean: (|mean error| - tol) / se": t_crit}
    stats["log-likelihood mean: (|mean error| - tol) / se"] = tstat
    stats["log-likelihood: mean error (nats)"] = mean_d
    stats["log-likelihood: sd of the error (nats)"] = sd
    notes.append(f"allowed solver bias tol = {tol:.3g} nats; one-sided t-test on |mean error| - tol, normal approximation")
    if not tstat <= t_crit:
        raise ConformanceError(
            name, "log-likelihood mean (stochastic)", input=f"{m} data draws of dimension {d}",
            expected=f"mean error within +-{tol:.3g} nats", got=f"mean error {mean_d!r} nats (sd {sd:.3g})",
            statistic=tstat, threshold=t_crit, statistic_name="(|mean error| - tol) / standard error",
            reference=setup.reference,
        )
    detectable = {"bias of the mean log-likelihood (nats)": tol + (t_crit + norm_isf(1.0 - setup.power)) * se}
    return setup.report(("log-likelihood mean (stochastic)",), m, stats, thresholds, detectable=detectable,
                        notes=tuple(notes))


def _deterministic_test(setup: Setup, got: np.ndarray, target: np.ndarray, log_p_eps: np.ndarray,
                        mismatch: np.ndarray, a_tol: float, r_tol: float, describe: Callable[[int], str],
                        stats: dict[str, float], notes: list[str]) -> CheckReport:
    """|error| <= atol + rtol |target| at every input (module docstring)."""
    err = got - target
    tol = a_tol + r_tol * np.abs(target)
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isfinite(got), np.abs(err) / tol, np.inf)
    i = int(np.argmax(ratio))
    stats["log-likelihood: |error| at the worst sample (nats)"] = float(abs(err[i]))
    thresholds = {"log-likelihood: |error| at the worst sample (nats)": float(tol[i])}
    if not ratio[i] <= 1.0:
        raise ConformanceError(
            setup.check, "log-likelihood", input=describe(i), expected=repr(float(target[i])), got=repr(float(got[i])),
            statistic=float(abs(err[i])), threshold=float(tol[i]), statistic_name="|error| (nats)",
            reference=setup.reference,
            note=f"tolerance atol {a_tol:.3g} + rtol {r_tol:.3g} |target|; log p_eps(x) here is {float(log_p_eps[i])!r} "
            f"(prior mismatch {float(mismatch[i]):.3g})",
        )
    return setup.report(("log-likelihood",), got.shape[0], stats, thresholds, deterministic=True, notes=tuple(notes),
                        detectable={"log-likelihood error at an input (nats; any above atol + rtol |target| is "
                                    "detected)": float(np.max(tol))})
