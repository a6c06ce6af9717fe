"""Fixed-step explicit Runge-Kutta methods on the uniform grid linspace(t0, t1, n_steps + 1).

Each step maps (fun, t, h, y) -> y_next with ``t`` a 0-d array, ``h`` = t_{k+1} - t_k a signed Python
float (negative when integrating backwards) and y a state tuple.
"""

from __future__ import annotations

from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import Array
from ._state import State, axpy, combine

Fun = Callable[[Array, State], State]


def uniform_grid(t0: float, t1: float, n_steps: int) -> list[float]:
    """t_k = t0 + k (t1 - t0) / n_steps as Python floats, with t_{n_steps} = t1 exactly."""
    step = (t1 - t0) / n_steps
    times = [t0 + k * step for k in range(n_steps)]  # numpy.linspace's arithmetic
    times.append(t1)
    return times


def euler(fun: Fun, t: float, h: float, y: State, ts: Callable[[float], Array]) -> State:
    """y + h f(t, y) (1 evaluation; order 1)."""
    return axpy(y, h, fun(ts(t), y))  # explicit Euler


def heun(fun: Fun, t: float, h: float, y: State, ts: Callable[[float], Array]) -> State:
    """Explicit trapezoid (2 evaluations; order 2)."""
    k1 = fun(ts(t), y)
    k2 = fun(ts(t + h), axpy(y, h, k1))  # Euler predictor
    return axpy(y, 0.5 * h, combine((k1, k2), (1.0, 1.0)))  # trapezoidal corrector y + h (k1 + k2) / 2


def rk4(fun: Fun, t: float, h: float, y: State, ts: Callable[[float], Array]) -> State:
    """Classic fourth-order Runge-Kutta (4 evaluations; order 4)."""
    t_mid = ts(t + 0.5 * h)
    k1 = fun(ts(t), y)
    k2 = fun(t_mid, axpy(y, 0.5 * h, k1))
    k3 = fun(t_mid, axpy(y, 0.5 * h, k2))
    k4 = fun(ts(t + h), axpy(y, h, k3))
    return axpy(y, h / 6.0, combine((k1, k2, k3, k4), (1.0, 2.0, 2.0, 1.0)))  # weights 1/6, 1/3, 1/3, 1/6


FIXED_STEPS: dict[str, tuple[Callable[..., State], int]] = {"euler": (euler, 1), "heun": (heun, 2), "rk4": (rk4, 4)}


def solve_fixed(xp: Any, fun: Fun, y: State, t0: float, t1: float, n_steps: int, method: str, bar: Any) -> tuple[State, Array, Array]:
    """Integrate with ``method`` on the uniform grid; returns (y1, grid as an array, first non-finite grid
    time or NaN as a 0-d array).  No host sync inside the loop."""
    like = y[0]
    dev = device_of(like)

    def ts(t: float) -> Array:
        return xp.asarray(t, dtype=like.dtype, device=dev)

    step = FIXED_STEPS[method][0]
    times = uniform_grid(t0, t1, n_steps)
    nan = ts(float("nan"))
    bad_t = nan
    for k in bar(range(n_steps)):
        y = step(fun, times[k], times[k + 1] - times[k], y, ts)
        finite = xp.all(xp.stack([xp.all(xp.isfinite(a)) for a in y]))
        bad_t = xp.where(xp.isnan(bad_t) & ~finite, ts(times[k + 1]), bad_t)  # first time the state went bad
    return y, xp.asarray(times, dtype=like.dtype, device=dev), bad_t
