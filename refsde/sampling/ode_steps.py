"""Explicit Runge-Kutta steps for the probability-flow ODE, integrated backwards in time.

The PF ODE is dx/dt = F(x, t) = f(x, t) - g(t)^2 s(x, t) / 2 (Song et al. 2021, eq. 13).  A step from
t down to t - h solves it backwards; every step has the signature ``step(F, x, t, h) -> x_next`` with
``F(x, t)`` the drift at the host time ``t`` (a Python float; the drift makes the 0-d array the score
sees, in the state's dtype and device), ``t`` and ``h`` Python floats.  :func:`stage_times` lists the
host times a step evaluates F at, so that the sampler can tabulate the coefficients beforehand.
"""

from __future__ import annotations

from typing import Callable

from .._arrays import Array

Drift = Callable[[Array, float], Array]


def euler(F: Drift, x: Array, t: float, h: float) -> Array:
    """x' = x - h F(x, t) (1 evaluation; order 1)."""
    return x - h * F(x, t)  # explicit Euler, backwards in time


def heun(F: Drift, x: Array, t: float, h: float) -> Array:
    """Explicit trapezoid: k1 = F(x, t), k2 = F(x - h k1, t - h), x' = x - h (k1 + k2) / 2 (2 evaluations; order 2)."""
    k1 = F(x, t)
    k2 = F(x - h * k1, t - h)  # Euler predictor to t - h
    return x - (0.5 * h) * (k1 + k2)  # trapezoidal corrector (Heun's method)


def rk4(F: Drift, x: Array, t: float, h: float) -> Array:
    """Classic fourth-order Runge-Kutta with step -h (4 evaluations; order 4)."""
    t_mid = t - 0.5 * h
    k1 = F(x, t)
    k2 = F(x - (0.5 * h) * k1, t_mid)  # midpoint stage from k1
    k3 = F(x - (0.5 * h) * k2, t_mid)  # midpoint stage from k2
    k4 = F(x - h * k3, t - h)  # end stage
    return x - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)  # RK4 weights 1/6, 1/3, 1/3, 1/6


def stage_times(method: str, t: float, h: float) -> tuple[float, ...]:
    """The host times at which ``ODE_STEPS[method]`` evaluates F in the step from t to t - h."""
    return {"euler": (t,), "heun": (t, t - h), "rk4": (t, t - 0.5 * h, t - h)}[method]


ODE_STEPS: dict[str, Callable[[Drift, Array, float, float], Array]] = {"euler": euler, "heun": heun, "rk4": rk4}
