"""Hand-written baseline sampler loops: what a user writes in their own array library.

They integrate the reverse VP-SDE / probability-flow ODE on the same grid as refsde's samplers,
t_k = linspace(T, eps, n_steps + 1), with the coefficients of the linear VP schedule written out as Python
floats, beta(t) = beta_min + t (beta_max - beta_min) / T (Song et al. 2021, App. C), f = -beta / 2,
g^2 = beta.  The score is called with t as a 0-d array of x's dtype and device (as refsde calls it) so
both sides do the same score work; the noise comes from the same backend RNG stream.  No input checks,
no NaN checks, no bookkeeping: this is the lower bound refsde's overhead is measured against.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from array_api_compat import array_namespace, device

Array = Any
Score = Callable[[Array, Array], Array]


def grid(T: float, eps: float, n_steps: int) -> list[float]:
    """linspace(T, eps, n_steps + 1) as Python floats."""
    return [T + (eps - T) * k / n_steps for k in range(n_steps + 1)]


def vp_beta(beta_min: float, beta_max: float, T: float, t: float) -> float:
    """beta(t) of the linear VP schedule (Song et al. 2021, App. C)."""
    return beta_min + (t / T) * (beta_max - beta_min)


def euler_maruyama_loop(score: Score, sde: Any, x: Array, n_steps: int, eps: float, rng: Any) -> Array:
    """x' = x - [f x - g^2 s] h + g sqrt(h) z on the reverse VP-SDE (Song et al. 2021, eq. 6)."""
    xp = array_namespace(x)
    b0, b1, T = sde.beta_min, sde.beta_max, sde.T
    ts = grid(T, eps, n_steps)
    shape, dtype, dev = tuple(x.shape), x.dtype, device(x)
    for k in range(n_steps):
        t, h = ts[k], ts[k] - ts[k + 1]
        beta = vp_beta(b0, b1, T, t)
        s = score(x, xp.asarray(t, dtype=dtype, device=dev))
        z = rng.normal(shape, dtype=dtype)
        x = x - (-0.5 * beta * x - beta * s) * h + math.sqrt(beta * h) * z
    return x


def rk4_loop(score: Score, sde: Any, x: Array, n_steps: int, eps: float) -> Array:
    """Classic RK4 on the probability-flow ODE dx/dt = f x - g^2 s / 2 (Song et al. 2021, eq. 13), step -h."""
    xp = array_namespace(x)
    b0, b1, T = sde.beta_min, sde.beta_max, sde.T
    ts = grid(T, eps, n_steps)
    dtype, dev = x.dtype, device(x)

    def drift(y: Array, t: float) -> Array:
        beta = vp_beta(b0, b1, T, t)
        return (-0.5 * beta) * y - (0.5 * beta) * score(y, xp.asarray(t, dtype=dtype, device=dev))

    for k in range(n_steps):
        t, h = ts[k], ts[k] - ts[k + 1]
        k1 = drift(x, t)
        k2 = drift(x - (0.5 * h) * k1, t - 0.5 * h)
        k3 = drift(x - (0.5 * h) * k2, t - 0.5 * h)
        k4 = drift(x - h * k3, t - h)
        x = x - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def pc_loop(score: Score, sde: Any, x: Array, n_steps: int, eps: float, rng: Any, snr: float) -> Array:
    """Euler-Maruyama predictor at t_k, then one Langevin corrector at t_{k+1} (Song et al. 2021, Alg. 1/4).

    Corrector: e = 2 alpha_i (snr ||z|| / ||s||)^2 per sample, x <- x + e s + sqrt(2 e) z, with
    alpha_i = 1 - beta_i and score_sde's DDPM betas beta_i = linspace(beta_min, beta_max, N)[i] / N
    (T = 1), level i = n_steps - 1 - k.
    """
    xp = array_namespace(x)
    b0, b1, T = sde.beta_min, sde.beta_max, sde.T
    ts = grid(T, eps, n_steps)
    shape, dtype, dev = tuple(x.shape), x.dtype, device(x)
    n = shape[0]
    bshape = (n,) + (1,) * (len(shape) - 1)
    for k in range(n_steps):
        t, h = ts[k], ts[k] - ts[k + 1]
        beta = vp_beta(b0, b1, T, t)
        s = score(x, xp.asarray(t, dtype=dtype, device=dev))
        z = rng.normal(shape, dtype=dtype)
        x = x - (-0.5 * beta * x - beta * s) * h + math.sqrt(beta * h) * z
        level = n_steps - 1 - k
        alpha = 1.0 - (b0 + level * (b1 - b0) / (n_steps - 1)) * T / n_steps
        s = score(x, xp.asarray(ts[k + 1], dtype=dtype, device=dev))
        z = rng.normal(shape, dtype=dtype)
        s_norm = xp.sqrt(xp.sum(xp.reshape(s * s, (n, -1)), axis=1))
        z_norm = xp.sqrt(xp.sum(xp.reshape(z * z, (n, -1)), axis=1))
        e = xp.reshape(2.0 * alpha * (snr * z_norm / s_norm) ** 2, bshape)
        x = x + e * s + xp.sqrt(2.0 * e) * z
    return x
