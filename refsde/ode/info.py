"""What :func:`refsde.ode.solve_ode` reports besides the solution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ODEInfo:
    """Bookkeeping of one :func:`~refsde.ode.solve_ode` call (host ints, computed once at the end).

    nfe: number of calls of ``fun`` (each call evaluates the whole batch).
    n_accepted, n_rejected: accepted / rejected steps.  Fixed-step methods accept all n_steps steps.
        With ``error_norm="sample"`` they are the maxima over the samples (the per-sample counts are in
        ``accepted_per_sample`` / ``rejected_per_sample``).
    method: ``"euler"``, ``"heun"``, ``"rk4"`` or ``"rk45"``.
    n_attempts: loop iterations (step attempts of the batch; = n_accepted + n_rejected for "batch" with the
        default ``sync_every=1``; with ``sync_every > 1`` the attempts after the end, up to the next status
        read, are counted here and in ``nfe`` too).
    ts: the accepted times from t0 to t1, shape (n_accepted + 1,), in y0's namespace, dtype and device;
        None with ``error_norm="sample"`` (every sample has its own grid).
    accepted_per_sample, rejected_per_sample: int64 arrays of shape (n,) with ``error_norm="sample"``,
        else None.
    """

    nfe: int
    n_accepted: int
    n_rejected: int
    method: str
    n_attempts: int = 0
    ts: Any = None
    accepted_per_sample: Any = None
    rejected_per_sample: Any = None
