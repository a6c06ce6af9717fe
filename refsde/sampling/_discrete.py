"""score_sde's discrete chains inside the samplers: which level each grid step uses, DDPM betas, SMLD variances.

The index convention.  The samplers run on the grid t_k = linspace(T, eps, n_steps + 1) with every
coefficient at the left end t_k (k = 0..n_steps - 1).  The steps built on a discrete chain (the
``reverse_diffusion`` and ``ancestral`` predictors, and the alpha_i = 1 - beta_i of the Langevin
correctors on VP / sub-VP) use the chain with N = n_steps levels, and grid step k uses level

    i = n_steps - 1 - k        (:func:`chain_level`),

passed to ``sde.discretize(x, t, N=n_steps, level=i)`` explicitly.  So a run visits the levels
N - 1, N - 2, ..., 0 once each, in that order: exactly score_sde's discrete chain, whose grid
linspace(T, eps, N) maps to the levels floor(t (N - 1) / T) = N - 1 - k (its k-th time is
T - k (T - eps) / (N - 1), which lies in level N - 1 - k's cell for eps < T / (N - 1)).

Why not floor(t_k (N - 1) / T) on the sampler's own grid: that grid has N + 1 points, spaced
(T - eps) / N instead of (T - eps) / (N - 1), so floor() drifts by one level over the run; with
n_steps = 1000 and eps = 1e-3 level 499 was used twice and level 0 never, i.e. the run was not the
DDPM / SMLD chain it claims to be.  Levels are chain data, not functions of the grid time.

Consequences: the chain's levels cover the chain times t_i = i T / (N - 1) on [0, T] (VP: the betas
sum to B(T) = int_0^T beta), while the score is evaluated at the grid times, which stop at eps.  The
limit law as n_steps grows is therefore within O(eps) of p_eps, not p_eps itself (for VP at eps = 1e-3
the moments move by about B(eps) ~ 1e-4); Euler-Maruyama has no such floor.  In the ``predictor_first``
PC order the correctors of step k run at t_{k+1} and use level n_steps - 1 - k too (the level of the
predictor step that just ran), so that every step, and every level, appears once.
"""

from __future__ import annotations

from typing import Any

from .._arrays import Array
from ._coefficients import time_array
from .grid import time_scalar


def chain_level(n_steps: int, k: int) -> int:
    """The level i = n_steps - 1 - k of the N = n_steps chain used by grid step k (module docstring)."""
    return n_steps - 1 - k  # step k of linspace(T, eps, n_steps + 1) <-> level N - 1 - k


def check_chain_steps(n_steps: int, what: str) -> None:
    """The chain with N = n_steps levels needs n_steps >= 2 (its times are i T / (N - 1))."""
    if n_steps < 2:
        raise ValueError(f"{what} runs the SDE's discrete chain with N = n_steps, which needs n_steps >= 2")


def check_ddpm_steps(sde: Any, N: int, what: str) -> None:
    """The DDPM betas beta_i = beta(t_i) T / N must stay below 1: N > beta_max T."""
    if sde.beta_max * sde.T / N >= 1.0:
        raise ValueError(
            f"{what} uses the DDPM betas beta(t_i) T / N with N = n_steps, which need n_steps > beta_max T "
            f"= {sde.beta_max * sde.T}; got n_steps = {N}"
        )


def ddpm_beta(sde: Any, N: int, level: int, like: Array) -> Array:
    """beta_i = beta(t_i) T / N at t_i = i T / (N - 1), i = ``level`` (DDPM, Ho et al. 2020): 0-d, like's dtype.

    The same beta_i as ``VPSDE.discretize(x, t, N=N, level=i)`` (G_i^2); also used for sub-VP's corrector.
    """
    t_i = time_scalar(level * (sde.T / (N - 1)), like)  # chain time t_i = i T / (N - 1)
    return sde.beta(t_i) * (sde.T / N)  # beta_i = beta(t_i) T / N, score_sde's discrete_betas[i]


def chain_times(sde: Any, N: int, like: Array) -> Array:
    """t_i = i T / (N - 1) of every level i = 0..N-1, shape (N,), in like's dtype and device (score_sde's chain)."""
    return time_array([level * (sde.T / (N - 1)) for level in range(N)], like)


def ddpm_betas(sde: Any, N: int, like: Array) -> Array:
    """beta_i of every level, shape (N,): :func:`ddpm_beta`'s arithmetic, elementwise."""
    return sde.beta(chain_times(sde, N, like)) * (sde.T / N)  # beta_i = beta(t_i) T / N


def smld_variances(sde: Any, N: int, level: int, like: Array) -> tuple[Array, Array]:
    """(var_i, var_{i-1}), 0-d of like's dtype: var_i = std(t_i)^2 at t_i = i T / (N - 1) in the SDE's
    convention and var_{-1} = 0 (SMLD chain, score_sde's discrete_sigmas)."""
    s_i = sde.sigma(time_scalar(level * (sde.T / (N - 1)), like))  # std(t_i)
    if level == 0:
        return s_i * s_i, 0.0 * s_i  # var_{-1} = 0
    s_prev = sde.sigma(time_scalar((level - 1) * (sde.T / (N - 1)), like))  # std(t_{i-1})
    return s_i * s_i, s_prev * s_prev
