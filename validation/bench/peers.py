"""Benchmark 2b: ODE log-likelihood, refsde's rk45 against torchdiffeq's dopri5 on an augmented state.

The peer is what users of on-device likelihoods run: ``torchdiffeq.odeint(func, (x, delta0), [eps, T],
method="dopri5", rtol, atol)`` on the tuple state (x, delta) with d(delta)/dt = div F, the way k-diffusion
computes log-likelihoods (its ``log_likelihood`` integrates the same augmented state with ``odeint``).  The
adapter (:func:`torchdiffeq_log_likelihood`, written here) evaluates the same drift as the scipy baseline
and refsde: F = f x - g^2 s / 2, div F = d f - g^2 div s / 2 with the linear VP schedule, and
log p = log N(x_T; 0, I) + delta(T).

* Same problem as section 2: data N(0, diag(linspace(0.5, 2, d))) under the VP-SDE, n points drawn from the
  prior N(0, I), eps = 1e-5, rtol = atol = 1e-5 on both sides, the exact score (the full-covariance oracle
  at d <= 768, the elementwise ``diagonal`` one at d = 3072), divergence "exact" (the oracle's analytic
  divergence, the same call on both sides) and "hutchinson" (one Gaussian probe, the same probe tensor on
  both sides: refsde forms v^T J^T v = v^T J v with its torch backend's ``trace_jvp``, one backward pass,
  the peer with a backward pass ``torch.autograd.grad(sum(s * v), x)`` as k-diffusion does).
* torch CPU, float32 and float64 (torchdiffeq keeps its times in float64 in both cases).
* torchdiffeq does not land on t1: dopri5 steps past T and interpolates back, so its last step evaluates
  the drift at times slightly above T (where the VP-SDE's coefficients are outside [0, T]).  The adapter
  clamps t to [eps, T] before evaluating the drift; the stages beyond T then see the drift at T (a change
  of the ODE beyond T only, which enters the interpolated value at T through the last step's stages, well
  below the tolerance: see the Δlog p column).
* NFE: calls of the drift on each side; accepted / rejected steps from torchdiffeq's
  ``callback_accept_step`` / ``callback_reject_step`` hooks and refsde's ``info.solver``.
* Norms differ by design: torchdiffeq's default norm on a tuple state is the max over the tuple's tensors
  of each one's RMS error ratio, refsde's (and scipy's) one RMS over all components; so the two may take
  different steps.
* Overhead per step attempt as in section 2: wall time minus the time inside the side's own score and
  divergence calls (:class:`.problems.TimedScore`; with Hutchinson, the forward and backward pass on both
  sides: refsde's ``trace_jvp`` calls and the peer's ``autograd.grad`` block), divided by accepted + rejected
  steps.

Rows are skipped, with the reason, when torchdiffeq (``pip install refsde[bench]``) or torch is missing.
GPU rows (torch CUDA): not yet run, no device was lent in the session that added this comparison.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Sequence

from .likelihood import EPS, TOL, BenchSkipped, ScoreSeconds, import_log_likelihood, overhead_per_attempt
from .problems import SEED, DiagonalGaussianScore, TimedScore, gaussian_score, vp_sde
from .timing import Comparison, compare

#: The pinned peer (pyproject's ``bench`` extra).
TORCHDIFFEQ_PIN = "0.2.5"


@dataclasses.dataclass(frozen=True)
class PeerRow:
    d: int
    n: int
    dtype: str
    score: str
    divergence: str
    nfe_refsde: int
    nfe_peer: int
    accepted_refsde: int
    rejected_refsde: int
    accepted_peer: int
    rejected_peer: int
    comparison: Comparison
    overhead_refsde: float  # seconds per step attempt
    overhead_peer: float
    max_abs_delta: float
    err_refsde: float
    err_peer: float


def import_torchdiffeq() -> Any:
    """``torchdiffeq`` or :class:`BenchSkipped` naming why it is unavailable."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise BenchSkipped(f"torch is not installed ({exc})") from exc
    try:
        import torchdiffeq
    except ImportError as exc:
        raise BenchSkipped(f"torchdiffeq is not installed (`pip install refsde[bench]`, torchdiffeq=="
                           f"{TORCHDIFFEQ_PIN}; {exc})") from exc
    return torchdiffeq


class _AugmentedDrift:
    """d(x, delta)/dt = (F(x, t), div F(x, t)) for torchdiffeq, with step counters (torchdiffeq's hooks).

    ``t`` arrives as a float64 0-d tensor and is clamped to [eps, T] (dopri5 evaluates past T, see the
    module doc), then cast to x's dtype.  ``probe`` None: the score's analytic divergence; else the
    Hutchinson estimate v^T J v by one backward pass."""

    def __init__(self, score: Any, sde: Any, d: int, probe: Any = None) -> None:
        self.score, self.d, self.probe = score, d, probe
        self.b0, self.b1, self.T = float(sde.beta_min), float(sde.beta_max), float(sde.T)
        self.nfe = self.n_accepted = self.n_rejected = 0

    def __call__(self, t: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        import torch

        x = state[0]
        self.nfe += 1
        tt = torch.clamp(t, EPS, self.T).to(x.dtype)
        beta = self.b0 + (tt / self.T) * (self.b1 - self.b0)  # linear VP schedule beta(t)
        if self.probe is None:
            s = self.score(x, tt)
            div_s = self.score.divergence(x, tt)
        else:
            timer = self.score if isinstance(self.score, TimedScore) else None
            score = timer.score if timer is not None else self.score
            start = time.perf_counter()
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                out = score(xg, tt)  # with a TimedScore, this whole block is timed as score + divergence
                (vjp,) = torch.autograd.grad(torch.sum(out * self.probe), xg)
            s = out.detach()
            div_s = torch.sum(self.probe * vjp, dim=1)  # v^T J v (Hutchinson)
            if timer is not None:
                timer.seconds += time.perf_counter() - start
                timer.calls += 1
        drift = (-0.5 * beta) * x - (0.5 * beta) * s  # PF ODE drift (Song et al. eq. 13)
        div = (-0.5 * beta) * self.d - (0.5 * beta) * div_s  # div F = d f - g^2 div s / 2
        return drift, div

    def callback_accept_step(self, t0: Any, y0: Any, dt: Any) -> None:
        self.n_accepted += 1

    def callback_reject_step(self, t0: Any, y0: Any, dt: Any) -> None:
        self.n_rejected += 1


class _TimedTraceJvp:
    """While active, refsde's torch ``trace_jvp`` (the Hutchinson divergence's Jacobian product: the score's
    forward pass and one backward pass) is timed as the score + divergence work of ``timer``, so that refsde's
    Hutchinson overhead excludes its backward pass as the peer's does (the score call inside is not counted
    twice)."""

    def __init__(self, timer: TimedScore) -> None:
        from refsde.backends.torch_backend import TorchBackend

        self.cls, self.timer = TorchBackend, timer
        self.name = "trace_jvp" if hasattr(TorchBackend, "trace_jvp") else "jvp"  # jvp: refsde before trace_jvp
        self.original = getattr(TorchBackend, self.name)

    def __enter__(self) -> None:
        original, timer = self.original, self.timer

        def timed(backend: Any, fn: Any, x: Any, v: Any) -> Any:
            before, start = timer.seconds, time.perf_counter()
            out = original(backend, fn, x, v)
            timer.seconds = before + (time.perf_counter() - start)
            return out

        setattr(self.cls, self.name, timed)

    def __exit__(self, *exc: Any) -> None:
        setattr(self.cls, self.name, self.original)


def torchdiffeq_log_likelihood(score: Any, sde: Any, x: Any, probe: Any = None,
                               counts: dict[str, int] | None = None) -> Any:
    """log p_eps(x) (torch (n,)) by ``torchdiffeq.odeint(method="dopri5")`` on the tuple state (x, delta);
    ``counts`` receives nfe, accepted and rejected."""
    import torch
    import torchdiffeq

    n, d = int(x.shape[0]), int(x.shape[1])
    func = _AugmentedDrift(score, sde, d, probe)
    ts = torch.tensor([EPS, float(sde.T)], dtype=torch.float64, device=x.device)
    with torch.no_grad():
        zs, deltas = torchdiffeq.odeint(func, (x, torch.zeros((n,), dtype=x.dtype, device=x.device)), ts,
                                        method="dopri5", rtol=TOL, atol=TOL)
    z, delta = zs[-1], deltas[-1]
    if counts is not None:
        counts.update(nfe=func.nfe, accepted=func.n_accepted, rejected=func.n_rejected)
    prior = -0.5 * torch.sum(z * z, dim=1) - 0.5 * d * math.log(2.0 * math.pi)  # log N(z; 0, I)
    return prior + delta


def run_peer_benchmarks(
    dims: Sequence[int], n: int, repeats: int, dtypes: Sequence[str] = ("float32", "float64"),
    divergences: Sequence[str] = ("exact", "hutchinson"), diagonal_from: int = 1024,
    log: Callable[[str], None] = print,
) -> list[PeerRow]:
    """One row per (dtype, divergence, d); d >= ``diagonal_from`` uses the elementwise diagonal score.
    Raises :class:`BenchSkipped` without torch, torchdiffeq or refsde.likelihood."""
    import_torchdiffeq()
    log_likelihood = import_log_likelihood()
    import numpy as np

    import refsde

    sde = vp_sde()
    rows: list[PeerRow] = []
    for dtype in dtypes:
        backend = refsde.get_backend("torch", dtype=dtype)
        for divergence in divergences:
            for d in dims:
                score_name = "diagonal" if d >= diagonal_from else "gaussian"
                score = DiagonalGaussianScore(backend, sde, d) if score_name == "diagonal" else gaussian_score(backend, d)
                x = sde.prior_sample((n, d), refsde.make_rng(SEED + d, backend), dtype=backend.default_dtype)
                probe = None
                if divergence == "hutchinson":
                    probe = refsde.make_rng(SEED + 7 * d, backend).normal((n, d), dtype=backend.default_dtype)
                exact = np.asarray(backend.to_numpy(score.log_prob(x, EPS)), dtype=np.float64)
                timer_a, timer_b = TimedScore(score), TimedScore(score)
                counts: dict[str, int] = {}
                kwargs: dict[str, Any] = {"divergence": divergence}
                if probe is not None:
                    kwargs["probes"] = probe[None, ...]
                def refsde_side() -> Any:
                    if divergence != "hutchinson":
                        return log_likelihood(timer_a, sde, x, eps=EPS, method="rk45", rtol=TOL, atol=TOL, **kwargs)
                    with _TimedTraceJvp(timer_a):
                        return log_likelihood(timer_a, sde, x, eps=EPS, method="rk45", rtol=TOL, atol=TOL, **kwargs)

                ours = ScoreSeconds(refsde_side, timer_a)
                theirs = ScoreSeconds(lambda: torchdiffeq_log_likelihood(timer_b, sde, x, probe, counts), timer_b)
                (log_p, info), log_p_peer = ours(), theirs()
                solver = info.solver
                a = np.asarray(backend.to_numpy(log_p), dtype=np.float64)
                b = np.asarray(log_p_peer.detach().cpu().numpy(), dtype=np.float64)
                cmp = compare(f"log_likelihood {dtype} {divergence} d={d}", ours, theirs, repeats)
                over_a = overhead_per_attempt(cmp.times_a, ours.timed_repeats(repeats), int(solver.n_attempts))
                over_b = overhead_per_attempt(cmp.times_b, theirs.timed_repeats(repeats),
                                              counts["accepted"] + counts["rejected"])
                row = PeerRow(d, n, dtype, score_name, divergence, int(solver.nfe), counts["nfe"],
                              int(solver.n_accepted), int(solver.n_rejected), counts["accepted"], counts["rejected"],
                              cmp, over_a, over_b, float(np.max(np.abs(a - b))), float(np.max(np.abs(a - exact))),
                              float(np.max(np.abs(b - exact))))
                rows.append(row)
                log(f"  vs dopri5 {dtype} {divergence:<10s} d={d:<5d} n={n} nfe {row.nfe_refsde} / {row.nfe_peer}, "
                    f"time ratio {cmp.median_ratio:.3f} ({cmp.median_a:.3f} s / {cmp.median_b:.3f} s), overhead/"
                    f"attempt {over_a * 1e3:.3f} / {over_b * 1e3:.3f} ms, |dlogp| {row.max_abs_delta:.1e}")
    return rows
