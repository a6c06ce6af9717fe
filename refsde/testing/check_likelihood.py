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

Default sample size (``n=None``): Stein's two-stage test.  A pilot of 128 draws gives s0 = sd(D); the total is
n = ((t_{127}(alpha/2) + t_{127}(1 - power)) s0 / detect_bias)^2 (at least 128, at most 8192), the second stage
draws the rest afresh, and the statistic (|mean D| - tol) / (s0 / sqrt(n)) is compared with t_{127}(alpha/2):
with s0 fixed before the second stage the statistic is exactly t_{127} under normal errors (Stein 1945), so the
false-alarm rate stays <= alpha and a bias of ``detect_bias`` (default 0.3 nats, below the 0.8 nats of mean prior
mismatch on the check's data) beyond tol is detected with probability ``power``.  A one-probe Hutchinson
candidate (sd ~3 nats here) gets ~5700 draws (1.5 s for a NumPy RK45 candidate).  An explicit ``n`` is one stage.

Named cause: a deterministic failure says whether the candidate returned log p_eps(x) (the flow's end p_T as
its prior) instead of the model density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .._checks import check_eps, check_integer
from ..gaussian import Gaussian
from ._inputs import host, require_shape, to_reference
from ._setup import Setup, call_candidate, check_tolerance
from ._stats import norm_isf, t_isf
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport, add_panel, collects_evidence

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

ATOL = 5e-3
RTOL = 1e-4
ATOL_FLOAT32 = 5e-2
RTOL_FLOAT32 = 1e-3
MISMATCH_FACTOR = 3.0
DETECT_BIAS = 0.3  # nats: the scale of the mean prior mismatch (0.8 nat on the check's data), to be resolvable
PILOT = 128  # draws of the two-stage test's first stage
MAX_N = 8192  # the two-stage test's cap on the draws


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
    detect_bias: float = DETECT_BIAS,
) -> CheckReport:
    """Check ``loglik_fn(score_fn, x) -> (n,)`` log-likelihoods in nats against the exact PF-ODE target.

    ``score_fn(x, t)`` is the exact score of the check's Gaussian data under ``ref`` (x (n, d), t a float,
    0-d or (n,) array; it also has ``.divergence(x, t)``, which candidates need not use); ``x`` has
    shape (n, d) in the check's backend and dtype.  ``eps`` must be the candidate's start time.  ``n``
    defaults to 16 data draws (+ 2 hard points) in deterministic mode; in stochastic mode the default is a two-stage
    sample sized to detect a bias of ``detect_bias`` nats (module docstring).
    Target, tolerances and the stochastic test: see the module docstring.  Raises
    :class:`ConformanceError` naming "log-likelihood" (or "log-likelihood mean (stochastic)").
    """
    return _check(loglik_fn, ref, "check_log_likelihood", eps=eps, alpha=alpha, seed=seed, backend=backend, dtype=dtype,
                  rtol=rtol, atol=atol, n=n, d=d, stochastic=stochastic, power=power, detect_bias=detect_bias)


def _check(loglik_fn: Callable[..., Any], ref: Any, name: str, *, eps: float, alpha: float, seed: int, backend: Any,
           dtype: Any, rtol: Any, atol: Any, n: Any, d: Any, stochastic: bool, power: float, detect_bias: Any,
           cause: Callable[[np.ndarray, np.ndarray, Callable], str] | None = None) -> CheckReport:
    """check_log_likelihood's body; ``cause(got, target, tol_of)`` (host arrays, nats) names a failure's likely slip
    (:func:`refsde.testing.check_bits_per_dim` passes its unit slips)."""
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
    bias = check_tolerance("detect_bias", detect_bias, allow_none=False)
    two_stage = stochastic and n is None
    n = check_integer((PILOT if two_stage else 16) if n is None else n, "n", 50 if stochastic else 1)
    # target: the exact PF-ODE model density of the check's data draws (module docstring)
    tg = _target(setup, eps, d, n, stochastic)
    got = _run(setup, loglik_fn, tg)
    pilot_sd = None
    if two_stage:  # Stein's two-stage test: the pilot's sd fixes the total sample size (module docstring)
        pilot_sd = _finite_sd(setup, got, tg)
        need = _stein_size(pilot_sd, alpha, power, bias, n)
        if need > n:
            extra = _target(setup, eps, d, need - n, stochastic, stage=1)
            got = np.concatenate([got, _run(setup, loglik_fn, extra)])
            tg = _Target(np.concatenate([tg.x, extra.x]), tg.labels + [f"data draw {n + i}" for i in range(need - n)],
                         np.concatenate([tg.target, extra.target]), np.concatenate([tg.log_p_eps, extra.log_p_eps]),
                         tg.mean, tg.cov, tg.lam, np.concatenate([tg.prior, extra.prior]),
                         np.concatenate([tg.logdet, extra.logdet]), np.concatenate([tg.y, extra.y]))
    x, labels, target, log_p_eps, lam = tg.x, tg.labels, tg.target, tg.log_p_eps, tg.lam
    mismatch = log_p_eps - target  # = log p_T(Phi(x)) - log pi(Phi(x))
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
        return _stochastic_test(setup, got, target, a_tol, r_tol, d, describe, stats, notes, pilot_sd=pilot_sd,
                                pilot_n=n if two_stage else None, bias=bias)
    return _deterministic_test(setup, got, target, log_p_eps, mismatch, a_tol, r_tol, describe, stats, notes,
                               cause or (lambda g, tgt, tol_of: _likelihood_cause(g, tg, tol_of)))


def _prop(setup: Setup) -> str:
    """The property a failure names: the log-likelihood, or bits/dim read back as log p in nats."""
    return "bits per dimension (read back as log p, nats)" if setup.check == "check_bits_per_dim" else "log-likelihood"


def _finite_sd(setup: Setup, got: np.ndarray, tg: Any) -> float:
    if not np.all(np.isfinite(got)):
        i = int(np.argmax(~np.isfinite(got)))
        raise ConformanceError(setup.check, "log-likelihood values", input=f"{tg.labels[i]}",
                               expected=repr(float(tg.target[i])), got=repr(float(got[i])), reference=setup.reference)
    return float(np.std(got - tg.target, ddof=1))


def _stein_size(sd: float, alpha: float, power: float, bias: float, pilot: int) -> int:
    """Total draws n so that a bias of ``bias`` nats beyond the allowed one is detected with probability ``power``
    by the two-stage test: n = ((t_{n0-1}(alpha/2) + t_{n0-1}(1 - power)) s0 / bias)^2, in [n0, MAX_N]."""
    z = t_isf(alpha / 2.0, pilot - 1) + t_isf(1.0 - power, pilot - 1)
    return int(min(max(pilot, math.ceil((z * sd / bias) ** 2)), MAX_N))


def _likelihood_cause(got: np.ndarray, tg: Any, tol_of: Callable[[np.ndarray], np.ndarray]) -> str:
    """The log-likelihood slips the check can compute from its closed forms, each judged by the same tolerance rule:
    log p_eps (the flow's end p_T as the prior), the divergence integral's sign, the prior without its 2 pi
    constant, the prior N(0, I) instead of N(0, s^2 I), no divergence term.  The rule is the check's own,
    |got - alt| <= atol + rtol |alt| (``tol_of(alt)``), with the slip's value in place of the target."""
    d = tg.x.shape[1]
    sq = np.sum(tg.y * tg.y, axis=1)
    slips = [
        ("the exact log p_eps(x) (the flow's end p_T used as the prior) instead of the model density "
         "log pi(Phi(x)) + log|det|", tg.log_p_eps),
        ("the divergence integral with the wrong sign: log pi(Phi(x)) - log|det|", tg.prior - tg.logdet),
        ("the divergence term missing: log pi(Phi(x)) alone", tg.prior),
        ("the prior log-density without its -(d/2) log(2 pi)", tg.target + 0.5 * d * math.log(2.0 * math.pi)),
        ("the prior N(0, I) instead of N(0, prior_std^2 I)", -0.5 * sq - 0.5 * d * math.log(2.0 * math.pi) + tg.logdet),
    ]
    matches = []
    for text, alt in slips:
        with np.errstate(invalid="ignore"):
            r = float(np.max(np.abs(got - alt) / tol_of(alt)))
        if r <= 1.0:
            matches.append((r, text))
    from ._causes import name_matches

    return name_matches(matches, [t for t, _ in slips], float(np.max(np.abs(got - tg.target) / tol_of(tg.target))))


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
    prior: np.ndarray  # log pi(Phi(x))
    logdet: np.ndarray  # log|det dPhi/dx|
    y: np.ndarray  # Phi(x), the flow's end


def _target(setup: Setup, eps: float, d: int, n: int, stochastic: bool, stage: int = 0) -> _Target:
    """The data draws (and two hard points in deterministic mode) and their exact target; ``stage`` 1: the second
    stage's fresh draws of the two-stage test."""
    ref = setup.ref
    mean, cov, lam, q = likelihood_data(ref, d, setup.seed)
    rng = np.random.default_rng(setup.seed + 1 + 1_000_003 * stage)
    x = mean + (rng.standard_normal((n, d)) * np.sqrt(lam)) @ q.T
    labels = [f"data draw {i}" for i in range(n)]
    if not stochastic:
        x = np.concatenate([x, mean[None, :], (mean + 4.0 * math.sqrt(lam[0]) * q[:, 0])[None, :]])
        labels += ["the data mean", "mean + 4 std along the smallest-variance direction"]
    x = x.astype(setup.np_dtype).astype(np.float64)
    data64 = Gaussian(mean, cov)
    y, logdet = data64.flow_map(ref, eps, float(ref.T), x)
    prior = np.asarray(ref.prior_logp(y))
    target = prior + np.asarray(logdet)  # log pi(Phi(x)) + log|det dPhi/dx|
    log_p_eps = np.asarray(data64.marginal(ref, eps).log_prob(x))
    return _Target(x, labels, target, log_p_eps, mean, cov, lam, prior, np.asarray(logdet), np.asarray(y))


def _run(setup: Setup, loglik_fn: Callable[..., Any], tg: _Target) -> np.ndarray:
    """The candidate's log-likelihoods (host float64, shape (m,)); its exceptions as a ConformanceError."""
    x = tg.x
    data = Gaussian(setup.to_backend(tg.mean), setup.to_backend(tg.cov))
    try:
        out = call_candidate(loglik_fn, (data.score_fn(setup.ref), setup.to_backend(x)), ("score_fn", "x"))
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(setup.check, "log-likelihood call", input=f"x of shape {x.shape}",
                               expected="log p of shape (n,)", got=f"{type(exc).__name__}: {exc}",
                               reference=setup.reference, note="the candidate raised under this reference") from exc
    if isinstance(out, (tuple, list)) and len(out) == 2 and hasattr(out[0], "shape"):
        out = out[0]  # refsde's (log_p, info)
    got_arr = to_reference(out, setup.backend, check=setup.check, name="log-likelihood")
    require_shape(got_arr, (x.shape[0],), check=setup.check, name="log-likelihood")
    return host(setup.backend, got_arr)


def _stochastic_test(setup: Setup, got: np.ndarray, target: np.ndarray, a_tol: float, r_tol: float, d: int,
                     describe: Callable[[int], str], stats: dict[str, float], notes: list[str], *,
                     pilot_sd: float | None, pilot_n: int | None, bias: float) -> CheckReport:
    """One-sided t-test of |mean error| - tol (an unbiased estimator, e.g. Hutchinson's; module docstring); with a
    pilot (``pilot_sd``, ``pilot_n``) Stein's two-stage version: the pilot's sd and its t_{n0-1} quantile."""
    name, m = setup.check, got.shape[0]
    if not np.all(np.isfinite(got)):
        i = int(np.argmax(~np.isfinite(got)))
        raise ConformanceError(name, "log-likelihood values", input=describe(i), expected=repr(float(target[i])),
                               got=repr(float(got[i])), reference=setup.reference)
    err = got - target
    tol = a_tol + r_tol * float(np.mean(np.abs(target)))
    mean_d, sd = float(np.mean(err)), float(np.std(err, ddof=1))
    df = m - 1 if pilot_sd is None else int(pilot_n) - 1  # type: ignore[arg-type]
    se = (sd if pilot_sd is None else pilot_sd) / math.sqrt(m)
    t_crit = t_isf(setup.alpha / 2.0, df)
    excess = max(abs(mean_d) - tol, 0.0)
    tstat = excess / se if se > 0 else (0.0 if excess == 0 else math.inf)
    thresholds = {"log-likelihood mean: (|mean error| - tol) / se": t_crit}
    stats["log-likelihood mean: (|mean error| - tol) / se"] = tstat
    stats["log-likelihood: mean error (nats)"] = mean_d
    stats["log-likelihood: sd of the error (nats)"] = sd
    notes.append(f"allowed solver bias tol = {tol:.3g} nats; one-sided t-test on |mean error| - tol, normal approximation")
    if not tstat <= t_crit:
        raise ConformanceError(
            name, f"{_prop(setup)} mean (stochastic)", input=f"{m} data draws of dimension {d}",
            expected=f"mean error within +-{tol:.3g} nats", got=f"mean error {mean_d!r} nats (sd {sd:.3g})",
            statistic=tstat, threshold=t_crit, statistic_name="(|mean error| - tol) / standard error",
            reference=setup.reference,
        )
    t_pow = norm_isf(1.0 - setup.power) if pilot_sd is None else t_isf(1.0 - setup.power, df)
    detectable = {"bias of the mean log-likelihood (nats)": tol + (t_crit + t_pow) * se}
    if pilot_sd is not None:
        notes.append(f"two-stage (Stein): pilot of {pilot_n} draws, sd {pilot_sd:.3g} nats -> {m} draws in all to detect "
                     f"{bias:g} nats beyond tol with power {setup.power:g}" + (f" (capped at {MAX_N})" if m >= MAX_N else ""))
    return setup.report((f"{_prop(setup)} mean (stochastic)",), m, stats, thresholds, detectable=detectable,
                        notes=tuple(notes))


def _deterministic_test(setup: Setup, got: np.ndarray, target: np.ndarray, log_p_eps: np.ndarray,
                        mismatch: np.ndarray, a_tol: float, r_tol: float, describe: Callable[[int], str],
                        stats: dict[str, float], notes: list[str],
                        cause: Callable[[np.ndarray, np.ndarray, Callable], str] | None = None) -> CheckReport:
    """|error| <= atol + rtol |target| at every input (module docstring); ``cause(got, target, tol_of)`` names the
    slip a failure matches under the same rule, ``tol_of(values)`` = atol + rtol |values|."""
    err = got - target
    tol = a_tol + r_tol * np.abs(target)
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isfinite(got), np.abs(err) / tol, np.inf)
    i = int(np.argmax(ratio))
    stats["log-likelihood: |error| at the worst sample (nats)"] = float(abs(err[i]))
    thresholds = {"log-likelihood: |error| at the worst sample (nats)": float(tol[i])}
    if not ratio[i] <= 1.0:
        raise ConformanceError(
            setup.check, _prop(setup), input=describe(i), expected=repr(float(target[i])), got=repr(float(got[i])),
            statistic=float(abs(err[i])), threshold=float(tol[i]), statistic_name="|error| (nats)",
            reference=setup.reference,
            note=f"tolerance atol {a_tol:.3g} + rtol {r_tol:.3g} |target|; log p_eps(x) here is {float(log_p_eps[i])!r} "
            f"(prior mismatch {float(mismatch[i]):.3g})",
            cause=cause(got, target, lambda v: a_tol + r_tol * np.abs(v)) if cause is not None else "",
        )
    return setup.report((_prop(setup),), got.shape[0], stats, thresholds, deterministic=True, notes=tuple(notes),
                        detectable={"log-likelihood error at an input (nats; any above atol + rtol |target| is "
                                    "detected)": float(np.max(tol))})


def _bpd_slips(d: int, scale: float, n_bins: int) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """(text, bpd(target log p)) of the known bits/dim slips (units, the dequantization Jacobian, its scaling)."""
    ln2, jac = math.log(2.0), d * math.log(scale / n_bins)  # D log(scale / n_bins)
    out = [
        ("no dequantization term D log(scale / n_bins): -log p / (D log 2)", lambda lp: -lp / (d * ln2)),
        ("nats per dimension instead of bits (no division by log 2)", lambda lp: -(lp + jac) / d),
        ("bits of the whole sample instead of per dimension", lambda lp: -(lp + jac) / ln2),
        ("the dequantization term with the wrong sign", lambda lp: -(lp - jac) / (d * ln2)),
    ]
    for other, text in ((1.0, "data in [0, 1] (score_sde's offset 8 bits)"), (2.0, "data in [-1, 1] (score_sde's offset 7 bits)")):
        if other != scale:
            j2 = d * math.log(other / n_bins)
            out.append((f"the offset of {text} where scale = {scale:g} was declared",
                        lambda lp, j2=j2: -(lp + j2) / (d * ln2)))
    return out


@collects_evidence
def check_bits_per_dim(
    bpd_fn: Callable[[Callable[[Any, Any], Any], Any], Any],
    ref: Any,
    eps: float = 1e-3,
    *,
    scale: float,
    n_bins: int = 256,
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
    detect_bias: float = DETECT_BIAS,
) -> CheckReport:
    """Check ``bpd_fn(score_fn, y) -> (n,)`` bits per dimension of model-space data y against the PF-ODE model.

    The target is bpd = -(log p(y) + D log(scale / n_bins)) / (D log 2) (Theis et al. 2016; the formula of
    :func:`refsde.likelihood.bits_per_dim`), log p(y) the exact PF-ODE model density of :func:`check_log_likelihood`
    and y = scale (x_int + u) / n_bins + shift the dequantized data (``scale`` 2 for data mapped to [-1, 1), 1 for
    [0, 1); score_sde's offsets 7 and 8 bits are log2(n_bins / scale) for n_bins = 256).  The candidate's bpd is
    converted back to nats, log p = -(bpd D log 2) - D log(scale / n_bins), and judged by check_log_likelihood's
    test and tolerances (nats of the whole log p; options as there).  A failure names the unit slip it matches:
    no dequantization term, nats for bits, bits per sample, the term's sign, the other scaling's offset.
    """
    sc = check_tolerance("scale", scale, allow_none=False)
    bins = check_integer(n_bins, "n_bins", 2)
    dims = check_integer(d, "d")
    ln2, jac = math.log(2.0), dims * math.log(sc / bins)

    def loglik(score_fn: Any, y: Any) -> Any:
        bpd = bpd_fn(score_fn, y)
        return -(bpd * (dims * ln2)) - jac  # log p = -(bpd D log 2) - D log(scale / n_bins)

    def cause(got: np.ndarray, target: np.ndarray, tol_of: Callable[[np.ndarray], np.ndarray]) -> str:
        matches = []
        for text, alt in _bpd_slips(dims, sc, bins):
            alt_logp = -(alt(target) * (dims * ln2)) - jac  # the slip's bpd, read back as nats by the same map
            r = float(np.max(np.abs(got - alt_logp) / tol_of(alt_logp)))
            if r <= 1.0:
                matches.append((r, text))
        if not matches:
            return "no known slip of this property matches (tried: " + ", ".join(t for t, _ in _bpd_slips(dims, sc, bins)) + ")"
        return "likely cause: " + "; ".join(f"{t} (error / tolerance {r:.3g} under it)" for r, t in sorted(matches))

    return _check(loglik, ref, "check_bits_per_dim", eps=eps, alpha=alpha, seed=seed, backend=backend, dtype=dtype,
                  rtol=rtol, atol=atol, n=n, d=dims, stochastic=stochastic, power=power, detect_bias=detect_bias,
                  cause=cause)
