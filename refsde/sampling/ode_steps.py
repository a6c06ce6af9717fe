"""Explicit Runge-Kutta steps for the probability-flow ODE, integrated backwards in time.

The PF ODE is dx/dt = F(x, t) = f(x, t) - g(t)^2 s(x, t) / 2 (Song et al. 2021, eq. 13).  A step from
t down to t - h solves it backwards; every step has the signature ``step(F, x, t, h, like) -> x_next``
with ``F(x, t_arr)`` the drift, ``t`` and ``h`` Python floats, ``like`` fixing dtype and device of the
stage times.  Stage times other than the grid times (RK4's t - h/2) are passed to the score as 0-d
arrays like the grid times.
"""

from __future__ import annotations

from typing import Callable

from .._arrays import Array
from .grid import time_scalar

Drift = Callable[[Array, Array], Array]


def euler(F: Drift, x: Array, t: float, h: float, like: Array) -> Array:
    """x' = x - h F(x, t) (1 evaluation; order 1)."""
    return x - h * F(x, time_scalar(t, like))  # explicit Euler, backwards in time


def heun(F: Drift, x: Array, t: float, h: float, like: Array) -> Array:
    """Explicit trapezoid: k1 = F(x, t), k2 = F(x - h k1, t - h), x' = x - h (k1 + k2) / 2 (2 evaluations; order 2)."""
    k1 = F(x, time_scalar(t, like))
    k2 = F(x - h * k1, time_scalar(t - h, like))  # Euler predictor to t - h
    return x - (0.5 * h) * (k1 + k2)  # trapezoidal corrector (Heun's method)


def rk4(F: Drift, x: Array, t: float, h: float, like: Array) -> Array:
    """Classic fourth-order Runge-Kutta with step -h (4 evaluations; order 4)."""
    t_mid = time_scalar(t - 0.5 * h, like)
    k1 = F(x, time_scalar(t, like))
    k2 = F(x - (0.5 * h) * k1, t_mid)  # midpoint stage from k1
    k3 = F(x - (0.5 * h) * k2, t_mid)  # midpoint stage from k2
    k4 = F(x - h * k3, time_scalar(t - h, like))  # end stage
    return x - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)  # RK4 weights 1/6, 1/3, 1/3, 1/6


ODE_STEPS: dict[str, Callable[[Drift, Array, float, float, Array], Array]] = {"euler": euler, "heun": heun, "rk4": rk4}
