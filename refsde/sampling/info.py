"""What a sampler reports besides its samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SampleInfo:
    """Bookkeeping of one sampler call.

    nfe: number of score evaluations (the denoising step included).
    grid: the time grid, shape (n_steps + 1,), from T down to eps, in x_T's namespace, dtype and device.
    n_accepted, n_rejected: accepted / rejected steps; fixed-step samplers accept all n_steps steps.
    method: the scheme, e.g. ``"euler_maruyama"``, ``"pc(reverse_diffusion, langevin, predictor_first)"``,
    ``"ode(rk4)"``.
    """

    nfe: int
    grid: Any
    n_accepted: int
    n_rejected: int
    method: str
