"""DDIM (Song, Meng & Ermon 2021) for any refsde SDE, written with alpha_t, sigma_t and lambda_t.

One step from t down to s (h = lambda_s - lambda_t, lambda = log(alpha / sigma) the half log-SNR),
DDIM eq. 12 with sqrt(abar) -> alpha and sqrt(1 - abar) -> sigma:

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,
    x0_hat = (x_t - sigma_t eps_hat) / alpha_t,   eps_hat = -sigma_t s(x_t, t),
    c = eta (sigma_s / sigma_t) sqrt(sigma_t^2 - alpha_t^2 sigma_s^2 / alpha_s^2) = eta sigma_s sqrt(1 - e^{-2h}).

c^2 with eta = 1 is the variance of the forward posterior q(x_s | x_t, x_0) of the SDE's own transition
q(x_t | x_s) = N((alpha_t/alpha_s) x_s, sigma_t^2 - alpha_t^2 sigma_s^2 / alpha_s^2); for VP
(sigma^2 = 1 - alpha^2) it is DDIM's sigma_t(eta)^2 = eta^2 (1 - abar_s)/(1 - abar_t) (1 - abar_t / abar_s).
In stable form, with rho = sqrt(1 - eta^2 (1 - e^{-2h})):

    x_s = (alpha_s / alpha_t) x_t - sigma_s [expm1(h) + eta^2 (-expm1(-2h)) / (1 + rho)] eps_hat + c z,

so eta = 0 is exactly DPM-Solver-1, the first-order exponential integrator of the PF ODE.  Noise is
added on every step, the last one (to eps) included.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .._arrays import Array
from ._exp_common import check_common, nan_watch, noise_prediction, sample_info
from ._noise import NoiseSource
from ._progress import steps
from .info import SampleInfo
from .solver_grids import exponential_grid


def _check_eta(eta: Any) -> float:
    try:
        value = float(eta)
    except (TypeError, ValueError):
        raise ValueError(f"eta must be a float in [0, 1], got {eta!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"eta must be a float in [0, 1], got {value}")
    return value


def sample_ddim(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int,
    *,
    eps: float = 1e-3,
    eta: float = 0.0,
    rng: Any = None,
    noise: Any = None,
    grid: str = "uniform_t",
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """DDIM sampling from T down to eps in ``n_steps`` steps (one score evaluation per step).

    Args:
        score_fn: s(x, t) ~ grad log p_t(x), called with x of x_T's shape and t a 0-d array of its dtype.
        sde: any refsde SDE (VP, sub-VP, VE in either convention, ScheduleSDE).
        x_T: initial state, shape (n, *dims).
        n_steps: number of steps (>= 1).
        eps: final time, 0 < eps < T.
        eta: 0 (deterministic, = DPM-Solver-1) to 1 (the SDE's own ancestral posterior); see the module.
        rng, noise: noise source for eta > 0 (not both): an int seed / refsde RNG, or explicit draws of
            shape (n_steps, *x_T.shape) with ``noise[k]`` driving step k.  Unused when eta = 0.
        grid: ``"uniform_t"`` (linspace(T, eps, n_steps + 1), DDIM's uniform skip) or ``"uniform_logsnr"``.
        progress: show a tqdm bar if tqdm is installed.

    Returns:
        (x, info): x like x_T; info.nfe = n_steps, info.grid the n_steps + 1 times.
    """
    n_steps, eps, score = check_common(score_fn, sde, x_T, n_steps, eps)
    eta = _check_eta(eta)
    nodes = exponential_grid(sde, n_steps, eps, grid, x_T)
    source = NoiseSource(x_T, (n_steps,), noise=noise, rng=rng) if (eta > 0.0 or noise is not None) else None
    E = noise_prediction(score, x_T)
    watch = nan_watch(nodes, x_T)
    x = x_T
    for k in steps(n_steps, progress, "ddim"):
        t, s = nodes[k], nodes[k + 1]
        e = E(x, t)
        h = s.lam - t.lam
        one_minus = -math.expm1(-2.0 * h)  # 1 - e^{-2h} = 1 - alpha_t^2 sigma_s^2 / (alpha_s^2 sigma_t^2)
        rho = math.sqrt(1.0 - eta * eta * one_minus)  # sqrt(sigma_s^2 - c^2) / sigma_s
        # x_s = (alpha_s/alpha_t) x_t + (sqrt(sigma_s^2 - c^2) - sigma_s e^h) eps_hat (DDIM eq. 12, stable form)
        x = (s.alpha / t.alpha) * x - (s.sigma * (math.expm1(h) + eta * eta * one_minus / (1.0 + rho))) * e
        if eta > 0.0:
            x = x + (eta * s.sigma * math.sqrt(one_minus)) * source.draw(k)  # + c z, c = eta sigma_s sqrt(1 - e^{-2h})
        watch.after(k, x)
    return x, sample_info(score, nodes, n_steps, f"ddim(eta={eta})", x_T)
