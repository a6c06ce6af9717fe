"""Benchmark 2: ODE log-likelihood, refsde's on-device RK45 against scipy's solve_ivp(RK45).

Data N(0, diag(linspace(0.5, 2, d))) under the VP-SDE (beta_min = 0.1, beta_max = 20); n points drawn
from it; log p_eps(x) at eps = 1e-5 with rtol = atol = 1e-5 and the exact divergence (the oracle's
analytic ``divergence``, so both sides do the same work per drift evaluation).

* refsde: ``refsde.likelihood.log_likelihood(score, sde, x, eps, divergence="exact", method="rk45", ...)``.
* baseline (score_sde's approach): ``scipy.integrate.solve_ivp(method="RK45")`` on the flat float64 NumPy
  state [x.ravel(), delta]; every drift evaluation converts the state to the backend (its dtype, device),
  evaluates F = f x - g^2 s / 2 and div F = d f - g^2 div s / 2 there and converts back.  The change of
  variables gives log p_eps(x) = log N(x_T; 0, I) + int_eps^T div F dt (Song et al. 2021, eq. 39).

Realistic sizes (e.g. n = 256, d = 3072, a CIFAR-10 batch) use a cheaper score with the same law: the
exact score of N(0, diag(linspace(0.5, 2, d))) written elementwise (:class:`DiagonalGaussianScore`,
s = -x / v_t with v_t = alpha_t^2 c + sigma_t^2, O(n d) per call instead of the full-covariance oracle's
O(n d^2) matmuls, which would make the score floor hide every solver cost); rows marked ``diagonal``.

The points x are drawn from N(0, I).  Reported: drift evaluations of both solvers (refsde's solver count, and refsde's ``info.nfe``), median wall
time ratio refsde / scipy over interleaved repeats, |log p_refsde - log p_scipy| and both sides' error
against the closed form log p_eps = ``score.log_prob(x, eps)`` (max over the n points), and the "score
floor": the time of scipy's nfev evaluations of score and divergence alone, which no solver can beat
(what each side spends above it is solver, conversion and bookkeeping overhead).

Overhead columns: each side's score is wrapped in a timer (:class:`.problems.TimedScore`), so every timed
repeat also gives the seconds spent inside that side's own score and divergence calls; overhead = wall time
minus that, divided by the side's step attempts (accepted + rejected: refsde's ``info.solver.n_attempts``,
scipy's (nfev - 2) / 6, its FSAL Dormand-Prince costing 6 evaluations per attempt after the first
evaluation and the initial-step probe), median over the repeats.  The overhead is everything a solver
does besides the score: its stage combinations, error norm and step control, and (scipy) the host <->
backend conversions of every evaluation.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any, Callable, Sequence

from .problems import SEED, DiagonalGaussianScore, TimedScore, gaussian_score, vp_sde
from .timing import Comparison, compare, time_once

EPS = 1e-5
TOL = 1e-5
NFE_TARGET = "<= scipy"
TIME_TARGET = 0.5


class BenchSkipped(Exception):
    """A benchmark that cannot run here (the message says why)."""


@dataclasses.dataclass(frozen=True)
class LikelihoodRow:
    d: int
    n: int
    nfe_refsde: int | None
    score_nfe_refsde: int | None
    nfe_scipy: int
    comparison: Comparison
    max_abs_delta: float
    err_refsde: float
    err_scipy: float
    floor_seconds: float  # nfe_scipy evaluations of (score, score.divergence) alone: no solver can beat it
    score: str = "gaussian"  # "gaussian" (full-covariance oracle) or "diagonal" (DiagonalGaussianScore)
    attempts_refsde: int = 0  # step attempts (accepted + rejected)
    attempts_scipy: int = 0
    rejected_refsde: int = 0
    rejected_scipy: int = 0
    overhead_refsde: float = float("nan")  # seconds per step attempt: (wall - own score/divergence time) / attempts
    overhead_scipy: float = float("nan")


def import_log_likelihood() -> Callable[..., Any]:
    """``refsde.likelihood.log_likelihood`` or :class:`BenchSkipped` naming why it is unavailable."""
    try:
        from refsde.likelihood import log_likelihood
    except ImportError as exc:
        raise BenchSkipped(f"refsde.likelihood.log_likelihood is not importable yet ({exc})") from exc
    return log_likelihood


def overhead_per_attempt(times: Sequence[float], score_seconds: Sequence[float], attempts: int) -> float:
    """Median over the repeats of (wall time - time inside the score) / step attempts (NaN without attempts)."""
    if attempts <= 0 or not times:
        return float("nan")
    return statistics.median((t - s) / attempts for t, s in zip(times, score_seconds))


class ScoreSeconds:
    """Wraps a benchmark side: every call resets the side's :class:`TimedScore` first and records the
    seconds its score spent in that call (``seconds``: one entry per call, the warm-up call included)."""

    def __init__(self, fn: Callable[[], Any], timer: TimedScore) -> None:
        self.fn, self.timer, self.seconds = fn, timer, []  # type: ignore[var-annotated]

    def __call__(self) -> Any:
        self.timer.reset()
        out = self.fn()
        self.seconds.append(self.timer.seconds)
        return out

    def timed_repeats(self, n: int) -> list[float]:
        """The entries of the last ``n`` calls (those ``compare`` timed after its warm-up)."""
        return self.seconds[-n:]


def solver_nfe(info: Any) -> int | None:
    """The ODE solver's drift-evaluation count inside a likelihood info object, if it exposes one."""
    for name in ("solver_info", "solver", "ode_info", "ode"):
        sub = getattr(info, name, None)
        if sub is not None and hasattr(sub, "nfe"):
            return int(sub.nfe)
    return None


def scipy_log_likelihood(score: Any, sde: Any, x: Any, backend: Any, steps: dict[str, int] | None = None
                         ) -> tuple[Any, int]:
    """log p_eps(x) (NumPy (n,)) and scipy's nfev, by solve_ivp(RK45) on the flat float64 augmented state.

    ``steps``, when given, receives ``accepted`` (len(sol.t) - 1) and ``attempts`` ((nfev - 2) / 6)."""
    import numpy as np
    from scipy.integrate import solve_ivp

    n, d = int(x.shape[0]), int(x.shape[1])
    dtype = x.dtype
    b0, b1, T = sde.beta_min, sde.beta_max, sde.T

    def fun(t: float, y: Any) -> Any:
        beta = b0 + (t / T) * (b1 - b0)  # linear VP schedule beta(t)
        xt = backend.asarray(np.reshape(y[: n * d], (n, d)), dtype=dtype)
        t_arr = backend.asarray(float(t), dtype=dtype)
        drift = (-0.5 * beta) * xt - (0.5 * beta) * score(xt, t_arr)  # PF ODE drift (Song et al. eq. 13)
        div = (-0.5 * beta) * d - (0.5 * beta) * score.divergence(xt, t_arr)  # div F = d f - g^2 div s / 2
        return np.concatenate([np.ravel(backend.to_numpy(drift)), backend.to_numpy(div)]).astype(np.float64)

    y0 = np.concatenate([np.ravel(backend.to_numpy(x)).astype(np.float64), np.zeros(n)])
    sol = solve_ivp(fun, (EPS, T), y0, method="RK45", rtol=TOL, atol=TOL)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    if steps is not None:
        steps["accepted"] = len(sol.t) - 1
        steps["attempts"] = (int(sol.nfev) - 2) // 6  # f(t0), the initial-step probe, then 6 per attempt (FSAL)
    z = sol.y[: n * d, -1].reshape(n, d)
    prior = -0.5 * np.sum(z * z, axis=1) - 0.5 * d * math.log(2.0 * math.pi)  # log N(z; 0, I)
    return prior + sol.y[n * d :, -1], int(sol.nfev)


def run_likelihood_benchmarks(
    backend: Any, dims: list[int], n: int, repeats: int, log: Callable[[str], None] = print,
    large: Sequence[tuple[int, int]] = (),
) -> list[LikelihoodRow]:
    """One row per d (full-covariance oracle, n points) and per (n, d) of ``large`` (diagonal score);
    raises :class:`BenchSkipped` when refsde.likelihood or scipy is missing."""
    log_likelihood = import_log_likelihood()
    try:
        import scipy.integrate  # noqa: F401
    except ImportError as exc:
        raise BenchSkipped(f"scipy is not installed ({exc})") from exc
    import numpy as np

    from refsde import make_rng

    sde = vp_sde()
    rows: list[LikelihoodRow] = []
    cases = [(n, d, "gaussian") for d in dims] + [(n_l, d_l, "diagonal") for n_l, d_l in large]
    for n, d, score_name in cases:
        score = gaussian_score(backend, d) if score_name == "gaussian" else DiagonalGaussianScore(backend, sde, d)
        x = score.sde.prior_sample((n, d), make_rng(SEED + d, backend), dtype=backend.default_dtype)
        exact = backend.to_numpy(score.log_prob(x, EPS))
        timer_a, timer_b = TimedScore(score), TimedScore(score)
        scipy_steps: dict[str, int] = {}

        ours = ScoreSeconds(lambda: log_likelihood(timer_a, sde, x, eps=EPS, divergence="exact", method="rk45",
                                                   rtol=TOL, atol=TOL), timer_a)
        theirs = ScoreSeconds(lambda: scipy_log_likelihood(timer_b, sde, x, backend, scipy_steps), timer_b)

        (log_p, info), (log_p_sp, nfev) = ours(), theirs()
        log_p = np.asarray(backend.to_numpy(log_p), dtype=np.float64)
        cmp = compare(f"log_likelihood d={d}", ours, theirs, repeats)
        solver = getattr(info, "solver", None)
        attempts = int(getattr(solver, "n_attempts", 0) or 0)
        over_a = overhead_per_attempt(cmp.times_a, ours.timed_repeats(repeats), attempts)
        over_b = overhead_per_attempt(cmp.times_b, theirs.timed_repeats(repeats), scipy_steps["attempts"])
        t_mid = backend.asarray(0.5, dtype=backend.default_dtype)

        def floor() -> Any:
            for _ in range(nfev):
                out = (score(x, t_mid), score.divergence(x, t_mid))
            return out

        floor_s = statistics.median(time_once(floor)[0] for _ in range(repeats))
        row = LikelihoodRow(
            d, n, solver_nfe(info), getattr(info, "nfe", None), nfev, cmp,
            float(np.max(np.abs(log_p - log_p_sp))), float(np.max(np.abs(log_p - exact))),
            float(np.max(np.abs(log_p_sp - exact))), floor_s, score_name,
            attempts, scipy_steps["attempts"], int(getattr(solver, "n_rejected", 0) or 0),
            scipy_steps["attempts"] - scipy_steps["accepted"], over_a, over_b,
        )
        rows.append(row)
        log(f"  log_likelihood {score_name} d={d:<5d} n={n} nfe {row.nfe_refsde} vs scipy {nfev}, time ratio "
            f"{cmp.median_ratio:.3f} ({cmp.median_a:.3f} s / {cmp.median_b:.3f} s, score floor {floor_s:.3f} s), "
            f"overhead/attempt {over_a * 1e3:.2f} / {over_b * 1e3:.2f} ms, |dlogp| {row.max_abs_delta:.1e}, "
            f"err {row.err_refsde:.1e} / {row.err_scipy:.1e}")
    return rows
