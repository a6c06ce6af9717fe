"""Probability-flow ODE samplers: fixed-step Euler, Heun (explicit trapezoid) and classic RK4 on a grid, and
adaptive Dormand-Prince RK45 through :func:`refsde.ode.solve_ode`.

The drift is F(x, t) = f(t) x - g(t)^2 s(x, t) / 2 (Song et al. 2021, eq. 13;
:func:`refsde.sde.reverse.pf_drift`), integrated backwards from t_0 = T to the last grid
time.  The fixed-step schemes are :mod:`refsde.ode.fixed_step`'s tableaus (the same code as
:func:`refsde.ode.solve_ode`); on a grid t_0 > ... > t_n (default linspace(T, eps, n_steps + 1), or
``grid=``) step k goes from t_k to t_{k+1} with stages at t_k + c_i (t_{k+1} - t_k), and f, g^2 at every
stage time are tabulated once (host floats).  The score receives t as a 0-d array; NaN is checked on the
first output and then on the state (:mod:`._loop`).  RK45 chooses its own steps (scipy's RK45 control);
``score_fn`` then gets a 0-d t (error_norm="batch") or, with error_norm="sample", a t of shape (n,) (every
sample has its own time and step size).  The map x_T -> x is deterministic; ``denoise=True`` adds
Tweedie's step at the last time.
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, batch_broadcast, host_array, host_floats
from .._checks import CheckedScore, check_choice, check_state
from ..ode import solve_ode
from ..ode.fixed_step import TABLEAUS, rk_step, stage_times
from ..sde.reverse import pf_drift, solver_coefficients
from ._loop import NaNWatch, SampleInfo, check_sde, sampler_grid, steps, time_scalars, tweedie_denoise

ODE_METHODS = (*TABLEAUS, "rk45")


def _fixed_steps(score: CheckedScore, sde: Any, x_T: Array, times: list[float], method: str,
                 progress: bool) -> tuple[Array, NaNWatch]:
    """The fixed-step loop on ``times``; f and g^2 at every stage time are tabulated once (host floats)."""
    tab = TABLEAUS[method]
    n_steps = len(times) - 1
    stages = [s for k in range(n_steps) for s in stage_times(tab, times[k], times[k + 1] - times[k])]
    keys = list(dict.fromkeys(stages))  # unique, in order: exactly the floats the steps look up
    t = host_array(keys, x_T)
    f_at = dict(zip(keys, host_floats(sde.drift_coefficient(t))))  # validates every stage time once
    g2_at = dict(zip(keys, host_floats(sde.diffusion_squared(t))))
    make_t = time_scalars(x_T)

    def drift(t: float, x: Array) -> Array:
        return pf_drift(f_at[t], g2_at[t], x, score, make_t(t))  # eq. 13 at a stage time

    watch = NaNWatch(x_T, times)
    x = x_T
    for k in steps(n_steps, progress, f"ode({method})"):
        x = rk_step(tab, drift, times[k], times[k + 1] - times[k], x)
        watch.after(k, x)
    return x, watch


def sample_ode(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float | None = None,
    grid: Any = None,
    method: str = "euler",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    error_norm: str = "batch",
    denoise: bool = False,
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Integrate the probability-flow ODE dx/dt = f(x,t) - g(t)^2 s(x,t) / 2 from T down to eps.

    Args:
        score_fn, sde, x_T, eps, grid, denoise, progress: as in :func:`refsde.sampling.sample_sde`.
        n_steps: number of grid steps (int >= 1) for the fixed-step methods; must be None for "rk45".
        method: ``"euler"`` (order 1), ``"heun"`` (order 2), ``"rk4"`` (order 4) on the grid, or
            ``"rk45"``: adaptive Dormand-Prince 5(4) with scipy's error and step-size control
            (:func:`refsde.ode.solve_ode`) from T to eps (a ``grid`` then gives only its two ends).
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
    check_sde(sde)
    check_state(x_T)
    check_choice(method, ODE_METHODS, "ODE method")
    score = CheckedScore(score_fn, nan="first")  # NaN: first output, then the state (_loop / solve_ode)
    if method == "rk45":
        if n_steps is not None:
            raise ValueError(f"n_steps must be None for method='rk45' (it chooses its own steps), got {n_steps!r}")
        check_choice(error_norm, ("batch", "sample"), "error_norm")
        if grid is not None:
            times = sampler_grid(sde, None, eps, grid)
            if len(times) != 2:
                raise ValueError(f"rk45 chooses its own steps: grid may only give its two ends, got {len(times)} times")
        else:
            times = sampler_grid(sde, 1, eps, None)

        def drift(t: Array, x: Array) -> Array:
            f, g2 = solver_coefficients(sde, t)  # a solver time: not re-validated (no host read per call)
            return pf_drift(batch_broadcast(f, x), batch_broadcast(g2, x), x, score, t)  # eq. 13

        x, ode_info = solve_ode(
            drift, x_T, times[0], times[-1], method="rk45", rtol=rtol, atol=atol, error_norm=error_norm,
            progress=progress,
        )
        info_grid, n_accepted, n_rejected = ode_info.ts, ode_info.n_accepted, ode_info.n_rejected
        watch = None
    else:
        times = sampler_grid(sde, n_steps, eps, grid)
        x, watch = _fixed_steps(score, sde, x_T, times, method, progress)
        info_grid, n_accepted, n_rejected = host_array(times, x_T), len(times) - 1, 0
    if denoise:
        x = tweedie_denoise(score, sde, x, times[-1])
        if watch is not None:
            watch.check_denoised(x)
    return x, SampleInfo(score.nfe, info_grid, n_accepted, n_rejected, f"ode({method})")
