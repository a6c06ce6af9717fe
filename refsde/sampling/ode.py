"""Fixed-step probability-flow ODE samplers: Euler, Heun (explicit trapezoid) and classic RK4.

Conventions as in :mod:`refsde.sampling.sde_sampler`: grid linspace(T, eps, n_steps + 1), integrated
backwards from T to eps; ``score_fn(x, t)`` gets t as a 0-d array (grid times, and for RK4 also the
midpoints t_k - h_k / 2).  The drift is F(x, t) = f(x, t) - g(t)^2 s(x, t) / 2.  The map x_T -> x is
deterministic; ``denoise=True`` adds Tweedie's step at eps.
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array
from ._checks import check_choice, check_eps, check_n_steps, check_state
from ._context import StepContext
from ._progress import steps
from ._score import CheckedScore
from .denoise import tweedie_denoise
from .grid import grid_points, time_grid, time_scalar
from .info import SampleInfo
from .ode_steps import ODE_STEPS


def sample_ode(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int,
    *,
    eps: float = 1e-3,
    method: str = "euler",
    denoise: bool = False,
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Integrate the probability-flow ODE dx/dt = f(x,t) - g(t)^2 s(x,t) / 2 from T down to eps.

    Args:
        score_fn, sde, x_T, n_steps, eps, denoise, progress: as in :func:`sample_sde`.
        method: ``"euler"`` (order 1), ``"heun"`` (order 2), ``"rk4"`` (order 4).

    Returns:
        (x, info): x like x_T; info.nfe = n_steps times 1, 2 or 4 (+1 with denoise).
    """
    n_steps = check_n_steps(n_steps)
    eps = check_eps(sde, eps)
    check_state(x_T)
    step = ODE_STEPS[check_choice(method, ODE_STEPS, "ODE method")]
    score = CheckedScore(score_fn)

    def drift(x: Array, t: Array) -> Array:
        f = sde.drift_coefficient(t)
        g2 = sde.diffusion_squared(t)
        return f * x - (0.5 * g2) * score(x, t)  # PF ODE drift f(x,t) - g^2 s / 2 (Song et al. eq. 13)

    times = grid_points(sde.T, n_steps, eps)
    x = x_T
    for k in steps(n_steps, progress, f"ode({method})"):
        x = step(drift, x, times[k], times[k] - times[k + 1], x_T)
    if denoise:
        x = tweedie_denoise(StepContext(sde, None, n_steps, score), x, time_scalar(eps, x_T))
    return x, SampleInfo(score.nfe, time_grid(sde, n_steps, eps, like=x_T), n_steps, 0, f"ode({method})")
