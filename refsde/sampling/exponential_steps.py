"""Single steps of the exponential integrators of the probability-flow ODE, from node t down to node s.

Notation (Lu et al. 2022): lambda = log(alpha / sigma) is the *half* log-SNR, h = lambda_s - lambda_t > 0
for a step towards less noise; noise prediction eps_hat(x, t) = -sigma_t s(x, t) and data prediction
x0_hat(x, t) = (x + sigma_t^2 s(x, t)) / alpha_t.  Nodes are :class:`refsde.sampling._schedule.Node`
(floats t, alpha, sigma, lam); ``x`` has shape (n, *dims); ``E(x, node)`` returns eps_hat like ``x``
and ``X(x, node)`` returns x0_hat like ``x``.  Every coefficient is a Python float, so the state keeps
its namespace, dtype and device.  expm1 is used for every e^h - 1 and :func:`phi2` for
(e^h - 1) / h - 1 = h phi_2(h), so no coefficient cancels for small h.
"""

from __future__ import annotations

import math
from typing import Callable

from .._arrays import Array
from ._schedule import Node

Predict = Callable[[Array, Node], Array]


def phi2(h: float) -> float:
    """phi_2(h) = (e^h - 1 - h) / h^2 (Taylor series 1/2 + h/6 + ... for |h| < 1e-2, where the quotient cancels)."""
    if abs(h) < 1e-2:
        # phi_2(h) = sum_k h^k / (k + 2)!, truncated after h^5 (remainder < 1e-17)
        return 0.5 + h * (1 / 6 + h * (1 / 24 + h * (1 / 120 + h * (1 / 720 + h / 5040))))
    return (math.expm1(h) - h) / (h * h)


def first_order(x: Array, e: Array, t: Node, s: Node) -> Array:
    """x_s = (alpha_s / alpha_t) x_t - sigma_s (e^h - 1) eps_hat (DPM-Solver-1, Lu et al. 2022 eq. 3.7; = DDIM)."""
    h = s.lam - t.lam
    return (s.alpha / t.alpha) * x - (s.sigma * math.expm1(h)) * e  # Lu et al. eq. 3.7


def dpm_solver_1(E: Predict, x: Array, t: Node, s: Node) -> Array:
    """DPM-Solver-1: one noise prediction at t (order 1)."""
    return first_order(x, E(x, t), t, s)


def dpm_solver_2(E: Predict, x: Array, t: Node, s1: Node, s: Node, r1: float) -> Array:
    """DPM-Solver-2 (Lu et al. 2022, Alg. 1): intermediate node s1 at lambda_t + r1 h; 2 predictions (order 2)."""
    e0 = E(x, t)
    u = first_order(x, e0, t, s1)  # u = (alpha_s1/alpha_t) x - sigma_s1 (e^{r1 h} - 1) eps_t (Alg. 1)
    e1 = E(u, s1)
    h = s.lam - t.lam
    # x_s = (alpha_s/alpha_t) x - sigma_s (e^h - 1) eps_t - sigma_s/(2 r1) (e^h - 1)(eps(u, s1) - eps_t) (Alg. 1)
    return first_order(x, e0, t, s) - (s.sigma * math.expm1(h) / (2.0 * r1)) * (e1 - e0)


def dpm_solver_3(
    E: Predict, x: Array, t: Node, s1: Node, s2: Node, s: Node, r1: float, r2: float,
    watch: Callable[[Array], None] | None = None,
) -> Array:
    """DPM-Solver-3 (Lu et al. 2022, Alg. 2): nodes s1, s2 at lambda_t + r1 h and lambda_t + r2 h; 3 predictions.

    D_1 enters x_s only through u_2 (the input of the third prediction), so it is passed to ``watch``.
    """
    e0 = E(x, t)
    u1 = first_order(x, e0, t, s1)  # u_1 = (alpha_s1/alpha_t) x - sigma_s1 (e^{r1 h} - 1) eps_t (Alg. 2)
    d1 = E(u1, s1) - e0  # D_1 = eps(u_1, s_1) - eps_t (Alg. 2)
    if watch is not None:
        watch(d1)
    h2 = s2.lam - t.lam
    # u_2 = (a_s2/a_t) x - sigma_s2 (e^{r2 h} - 1) eps_t - sigma_s2 (r2/r1)((e^{r2 h} - 1)/(r2 h) - 1) D_1 (Alg. 2)
    u2 = first_order(x, e0, t, s2) - (s2.sigma * (r2 / r1) * h2 * phi2(h2)) * d1
    d2 = E(u2, s2) - e0  # D_2 = eps(u_2, s_2) - eps_t (Alg. 2)
    h = s.lam - t.lam
    # x_s = (alpha_s/alpha_t) x - sigma_s (e^h - 1) eps_t - (sigma_s / r2)((e^h - 1)/h - 1) D_2 (Alg. 2)
    return first_order(x, e0, t, s) - (s.sigma / r2 * h * phi2(h)) * d2


def data_first_order(x: Array, d: Array, t: Node, s: Node) -> Array:
    """x_s = (sigma_s / sigma_t) x_t - alpha_s (e^{-h} - 1) D (first-order DPM-Solver++, Lu et al. 2022b Alg. 2)."""
    h = s.lam - t.lam
    return (s.sigma / t.sigma) * x - (s.alpha * math.expm1(-h)) * d  # Lu et al. 2022b, Alg. 2


def dpm_solver_pp_2m(x: Array, d0: Array, d_prev: Array, t_prev: Node, t: Node, s: Node) -> Array:
    """DPM-Solver++(2M) multistep update from t to s with x0_hat at t (d0) and at the previous node (d_prev)."""
    r = (t.lam - t_prev.lam) / (s.lam - t.lam)  # r_i = h_{i-1} / h_i (Lu et al. 2022b, Alg. 2)
    D = (1.0 + 0.5 / r) * d0 - (0.5 / r) * d_prev  # D_i = (1 + 1/(2 r_i)) x0_{i-1} - 1/(2 r_i) x0_{i-2} (Alg. 2)
    return data_first_order(x, D, t, s)
