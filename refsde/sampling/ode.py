"""Probability-flow ODE samplers: fixed-step Euler, Heun (explicit trapezoid) and classic RK4, and
adaptive Dormand-Prince RK45 through :func:`refsde.ode.solve_ode`.

Conventions as in :mod:`refsde.sampling.sde_sampler`: integrated backwards from T to eps.  The fixed-step
methods use the grid linspace(T, eps, n_steps + 1) and pass ``score_fn(x, t)`` t as a 0-d array (grid
times, and for RK4 also the midpoints t_k - h_k / 2); they tabulate f and g^2 at all stage times once
(host floats, :mod:`refsde.sampling._coefficients`) and check NaN on the first score output and then on
the state every 16 steps and at the end (:mod:`refsde.sampling._watch`).  RK45 chooses its own steps (scipy's RK45 control);
``score_fn`` then gets a 0-d t (error_norm="batch") or, with error_norm="sample", a t of shape (n,)
(every sample has its own time and step size).  The drift is F(x, t) = f(x, t) - g(t)^2 s(x, t) / 2.  The
map x_T -> x is deterministic; ``denoise=True`` adds Tweedie's step at eps.
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, batch_broadcast
from ..ode import solve_ode
from ..sde.base import solver_coefficients
from ._checks import check_choice, check_eps, check_n_steps, check_state
from ._context import StepContext
from ._progress import steps
from ._score import CheckedScore
from .denoise import tweedie_denoise
from ._coefficients import DriftTable
from ._watch import NaNWatch
from .grid import grid_points, time_grid, time_scalar, time_scalars
from .info import SampleInfo
from .ode_steps import ODE_STEPS, stage_times

ODE_METHODS = (*ODE_STEPS, "rk45")


def _fixed_steps(
    score: CheckedScore, sde: Any, x_T: Array, times: list[float], step: Any, method: str, progress: bool
) -> tuple[Array, NaNWatch]:
    """The fixed-step loop on ``times``; f and g^2 at every stage time are tabulated once (host floats)."""
    n_steps = len(times) - 1
    stages = [t for k in range(n_steps) for t in stage_times(method, times[k], times[k] - times[k + 1])]
    table = DriftTable(sde, stages, x_T)
    f_at, g2_at, make_t = table.f, table.g2, time_scalars(x_T)

    def drift(x: Array, t: float) -> Array:
        # PF ODE drift f(x,t) - g^2 s / 2 (Song et al. eq. 13); 0.5 * g2 is exact, as it was on a 0-d array
        # one expression in the hand-written order: NumPy then reuses both temporaries in place (temporary
        # elision); naming the score output forced a fresh buffer per stage and cost 5-12% on NumPy RK4
        return f_at[t] * x - (0.5 * g2_at[t]) * score(x, make_t(t))

    watch = NaNWatch(x_T, times)
    x = x_T
    for k in steps(n_steps, progress, f"ode({method})"):
        x = step(drift, x, times[k], times[k] - times[k + 1])
        watch.after(k, x)
    return x, watch


def sample_ode(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float = 1e-3,
    method: str = "euler",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    error_norm: str = "batch",
    denoise: bool = False,
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Integrate the probability-flow ODE dx/dt = f(x,t) - g(t)^2 s(x,t) / 2 from T down to eps.

    Args:
        score_fn, sde, x_T, eps, denoise, progress: as in :func:`sample_sde`; x_T has shape (n, *dims).
        n_steps: number of grid steps (int >= 1) for the fixed-step methods; must be None for "rk45".
        method: ``"euler"`` (order 1), ``"heun"`` (order 2), ``"rk4"`` (order 4) on the fixed grid, or
            ``"rk45"``: adaptive Dormand-Prince 5(4) with scipy's error and step-size control
            (:func:`refsde.ode.solve_ode`).
        rtol, atol, error_norm: rk45 only (ignored by the fixed-step methods).  error_norm="batch": one
            RMS error and step size for the whole batch (scipy on the flattened batch); "sample": every
            sample its own t and step, and ``score_fn`` receives t of shape (n,).

    Returns:
        (x, info): x like x_T.  Fixed step: info.nfe = n_steps times 1, 2 or 4, grid = the time grid.
        rk45: nfe = score evaluations, n_accepted / n_rejected as reported by solve_ode (maxima over the
        samples for "sample"), grid = the accepted times from T to eps, shape (n_accepted + 1,), recorded
        on the device without per-step syncs ("batch"), or None ("sample": the grids differ per sample).
        denoise adds one evaluation.
    """
    eps = check_eps(sde, eps)
    check_state(x_T)
    check_choice(method, ODE_METHODS, "ODE method")
    if method == "rk45":
        if n_steps is not None:
            raise ValueError(f"n_steps must be None for method='rk45' (it chooses its own steps), got {n_steps!r}")
        check_choice(error_norm, ("batch", "sample"), "error_norm")
    else:
        n_steps = check_n_steps(n_steps)
    if method == "rk45":
        # NaN checked on the first output only: a later NaN output reaches the state, which the solver
        # checks once per step attempt and reports as a ValueError naming the time (no host read per call)
        score = CheckedScore(score_fn, nan="first")

        def drift(x: Array, t: Array) -> Array:
            f, g2 = solver_coefficients(sde, t)  # a solver time: not re-validated (no host read per call)
            f, g2 = batch_broadcast(f, x), batch_broadcast(g2, x)
            return f * x - (0.5 * g2) * score(x, t)  # PF ODE drift f(x,t) - g^2 s / 2 (Song et al. eq. 13)

        x, ode_info = solve_ode(
            lambda t, x: drift(x, t), x_T, float(sde.T), eps, method="rk45", rtol=rtol, atol=atol, error_norm=error_norm,
            progress=progress,
        )
        grid, n_accepted, n_rejected = ode_info.ts, ode_info.n_accepted, ode_info.n_rejected
        watch = None
    else:
        score = CheckedScore(score_fn, nan="first")  # NaN: first output, then the state (see _watch)
        times = grid_points(sde.T, n_steps, eps)
        x, watch = _fixed_steps(score, sde, x_T, times, ODE_STEPS[method], method, progress)
        grid, n_accepted, n_rejected = time_grid(sde, n_steps, eps, like=x_T), n_steps, 0
    if denoise:
        x = tweedie_denoise(StepContext(sde, None, n_accepted, score), x, time_scalar(eps, x_T))
        if watch is not None:
            watch.check_denoised(x)
    return x, SampleInfo(score.nfe, grid, n_accepted, n_rejected, f"ode({method})")
