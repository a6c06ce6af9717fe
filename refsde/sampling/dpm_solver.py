"""DPM-Solver-1/2/3 (Lu et al. 2022) and DPM-Solver++(2M) (Lu et al. 2022b) for any refsde SDE.

Both integrate the probability-flow ODE in lambda = log(alpha_t / sigma_t) (half log-SNR) with the
linear part solved exactly; the step functions are in :mod:`refsde.sampling.exponential_steps`.

* :func:`sample_dpm_solver`: singlestep DPM-Solver-k, k = ``order`` in {1, 2, 3}: n_steps steps on the
  grid, each with k noise predictions eps_hat = -sigma_t s(x, t) (nfe = k n_steps).  Intermediate nodes
  at lambda_t + r h with r1 = 1/2 for k = 2 (Alg. 1) and r1 = 1/3, r2 = 2/3 for k = 3 (Alg. 2).
* :func:`sample_dpm_solver_pp_2m`: multistep DPM-Solver++(2M) with data prediction
  x0_hat = (x + sigma_t^2 s) / alpha_t: the first step is first order, every later step uses the
  previous x0_hat (Alg. 2 of Lu et al. 2022b, no lower-order final step); nfe = n_steps.

Grids (``grid=``): ``"uniform_logsnr"`` (default, as in the papers) or ``"uniform_t"``; see
:mod:`refsde.sampling.solver_grids`.  Stage nodes are always placed uniformly in lambda inside a step.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

from .._arrays import Array
from ._exp_common import check_common, data_prediction, nan_watch, noise_prediction, sample_info
from ._progress import steps
from ._schedule import nodes_at_lam
from .exponential_steps import data_first_order, dpm_solver_1, dpm_solver_2, dpm_solver_3, dpm_solver_pp_2m
from .info import SampleInfo
from .solver_grids import exponential_grid

#: Intermediate-node fractions r of each order (Lu et al. 2022: r1 = 1/2 in Alg. 1; r1 = 1/3, r2 = 2/3 in Alg. 2).
STAGE_FRACTIONS = {1: (), 2: (0.5,), 3: (1.0 / 3.0, 2.0 / 3.0)}


def _check_order(order: Any) -> int:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or int(order) not in STAGE_FRACTIONS:
        raise ValueError(f"order must be 1, 2 or 3, got {order!r}")
    return int(order)


def sample_dpm_solver(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int,
    *,
    order: int = 2,
    eps: float = 1e-3,
    grid: str = "uniform_logsnr",
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Singlestep DPM-Solver-``order`` from T down to eps in ``n_steps`` steps (deterministic).

    Args:
        score_fn, sde, x_T, n_steps, eps, progress: as in :func:`refsde.sampling.sample_ddim`.
        order: 1 (= DDIM with eta = 0), 2 or 3 (global order of convergence in the step size).
        grid: ``"uniform_logsnr"`` or ``"uniform_t"``.

    Returns:
        (x, info): x like x_T; info.nfe = order * n_steps; info.grid the n_steps + 1 step times
        (the intermediate stage times are not recorded).
    """
    n_steps, eps, score = check_common(score_fn, sde, x_T, n_steps, eps)
    order = _check_order(order)
    nodes = exponential_grid(sde, n_steps, eps, grid, x_T)
    fractions = STAGE_FRACTIONS[order]
    # stage nodes at lambda_t + r h of every step (Lu et al. 2022, Algs. 1-2)
    lams = [t.lam + r * (s.lam - t.lam) for t, s in zip(nodes[:-1], nodes[1:]) for r in fractions]
    stages = nodes_at_lam(sde, lams, x_T)
    m = len(fractions)
    E = noise_prediction(score, x_T)
    watch = nan_watch(nodes, x_T)
    x = x_T
    for k in steps(n_steps, progress, f"dpm_solver({order})"):
        t, s, mid = nodes[k], nodes[k + 1], stages[m * k : m * (k + 1)]
        if order == 1:
            x = dpm_solver_1(E, x, t, s)
        elif order == 2:
            x = dpm_solver_2(E, x, t, mid[0], s, fractions[0])
        else:
            x = dpm_solver_3(E, x, t, mid[0], mid[1], s, fractions[0], fractions[1], watch=watch.also)
        watch.after(k, x)
    return x, sample_info(score, nodes, n_steps, f"dpm_solver(order={order})", x_T)


def sample_dpm_solver_pp_2m(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int,
    *,
    eps: float = 1e-3,
    grid: str = "uniform_logsnr",
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Multistep DPM-Solver++(2M) from T down to eps in ``n_steps`` steps (deterministic, order 2).

    Args:
        score_fn, sde, x_T, n_steps, eps, progress: as in :func:`refsde.sampling.sample_ddim`.
        grid: ``"uniform_logsnr"`` or ``"uniform_t"``.

    Returns:
        (x, info): x like x_T; info.nfe = n_steps; info.grid the n_steps + 1 step times.
    """
    n_steps, eps, score = check_common(score_fn, sde, x_T, n_steps, eps)
    nodes = exponential_grid(sde, n_steps, eps, grid, x_T)
    X = data_prediction(score, x_T)
    watch = nan_watch(nodes, x_T)
    x = x_T
    d_prev = None
    for k in steps(n_steps, progress, "dpm_solver_pp_2m"):
        t, s = nodes[k], nodes[k + 1]
        d = X(x, t)
        if d_prev is None:
            x = data_first_order(x, d, t, s)  # first step: first order (Lu et al. 2022b, Alg. 2)
        else:
            x = dpm_solver_pp_2m(x, d, d_prev, nodes[k - 1], t, s)
        d_prev = d
        watch.after(k, x)
    return x, sample_info(score, nodes, n_steps, "dpm_solver_pp_2m", x_T)
