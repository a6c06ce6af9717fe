"""Time grids of the exponential-integrator and EDM samplers, from T down to eps (n_steps + 1 points).

* ``"uniform_t"``: t_k = linspace(T, eps, n_steps + 1), the grid of :mod:`refsde.sampling.grid`.
* ``"uniform_logsnr"``: uniform in the half log-SNR lambda_t = log(alpha_t / sigma_t):
  lambda_k = lambda_T + (k / n_steps)(lambda_eps - lambda_T) and t_k = t_lambda(lambda_k) through
  :meth:`refsde.SDE.t_from_log_snr` (Lu et al. 2022, Sec. 3.4, "uniform logSNR" step sizes).
* :func:`rho_sigmas` / :func:`edm_grid`: the rho grid of Karras et al. 2022 (eq. 5) in the EDM noise
  level sigma~_t = sigma_t / alpha_t, from sigma~(T) down to sigma~(eps): n_steps + 1 points, the last one
  at eps (there is no final step to sigma~ = 0, so EDM's N is n_steps + 1 here).

Every grid has t_0 = T and t_{n_steps} = eps exactly; interior times are Python floats computed in
float64 where the array library has it.
"""

from __future__ import annotations

import math
from typing import Any

from .._arrays import Array, check_positive
from ._checks import check_choice, check_eps, check_n_steps
from ._schedule import Node, nodes_at, times_at
from .grid import grid_points

GRIDS = ("uniform_t", "uniform_logsnr")


def exponential_grid(sde: Any, n_steps: int, eps: float, kind: str, like: Array) -> list[Node]:
    """The n_steps + 1 nodes of grid ``kind`` (``"uniform_t"`` or ``"uniform_logsnr"``), from T to eps."""
    check_choice(kind, GRIDS, "grid")
    n_steps, eps = check_n_steps(n_steps), check_eps(sde, eps)
    if kind == "uniform_t":
        return nodes_at(sde, grid_points(sde.T, n_steps, eps), like)
    first, last = nodes_at(sde, [sde.T, eps], like)
    dlam = last.lam - first.lam
    # lambda_k = lambda_T + (k / n) (lambda_eps - lambda_T), uniform in log-SNR (Lu et al. 2022, Sec. 3.4)
    inner = times_at(sde, [first.lam + (k / n_steps) * dlam for k in range(1, n_steps)], like)
    return [first] + nodes_at(sde, inner, like) + [last]


def rho_sigmas(sigma_max: float, sigma_min: float, n_steps: int, rho: float) -> list[float]:
    """EDM's rho grid from sigma_max down to sigma_min: n_steps + 1 floats, both ends exact (Karras et al. eq. 5)."""
    n_steps = check_n_steps(n_steps)
    rho = check_positive("rho", rho)
    if not 0.0 < sigma_min < sigma_max < math.inf:
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf, got {sigma_min}, {sigma_max}")
    a, b = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    # sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, N - 1 = n_steps (EDM eq. 5)
    inner = [(a + (i / n_steps) * (b - a)) ** rho for i in range(1, n_steps)]
    return [sigma_max] + inner + [sigma_min]


def edm_grid(sde: Any, n_steps: int, eps: float, rho: float, like: Array) -> list[Node]:
    """The n_steps + 1 nodes of the rho grid in sigma~ = sigma_t / alpha_t between t = T and t = eps.

    Times come from t_lambda(-2 log sigma~) (the log-SNR of noise level sigma~ is -2 log sigma~).
    """
    n_steps, eps = check_n_steps(n_steps), check_eps(sde, eps)
    first, last = nodes_at(sde, [sde.T, eps], like)
    sig = rho_sigmas(first.edm_sigma, last.edm_sigma, n_steps, rho)
    inner = times_at(sde, [-math.log(s) for s in sig[1:-1]], like)  # half log-SNR lam = -log sigma~
    return [first] + nodes_at(sde, inner, like) + [last]
