"""score_sde's discrete chains at N = n_steps: index, DDPM betas, SMLD variances.

``sde.discretize`` uses ``sde.N``; until it takes N as an argument, the samplers call it on a shallow
copy of the SDE with N = n_steps (:func:`with_n_steps`).  The discrete index of a time t is
i = floor(t (N - 1) / T) on the chain grid t_i = i T / (N - 1) (score_sde's convention).  With the
sampler grid linspace(T, eps, n_steps + 1) this index is N - 1 at t = T and decreases by one per step
only while eps is small against T / N^2; otherwise a few indices repeat and the lowest ones are
never reached.  This is the chain score_sde would run at these times.
"""

from __future__ import annotations

import copy
from typing import Any

from .._arrays import Array, namespace_of


def with_n_steps(sde: Any, n_steps: int, what: str) -> Any:
    """Shallow copy of ``sde`` with N = n_steps, so that ``discretize`` runs the N-step chain."""
    if n_steps < 2:
        raise ValueError(f"{what} runs the SDE's discrete chain with N = n_steps, which needs n_steps >= 2")
    out = copy.copy(sde)  # shallow copy: only N differs (until discretize takes N)
    out.N = n_steps
    return out


def chain_time(t: Array, N: int, T: float) -> tuple[Array, Array]:
    """(i, t_i): i = floor(t (N - 1) / T) as a float array and t_i = i T / (N - 1), both of t's dtype."""
    xp = namespace_of(t)
    i = xp.floor(t * ((N - 1) / T))  # score_sde's timestep index
    return i, i * (T / (N - 1))  # chain grid time t_i = i T / (N - 1)


def check_ddpm_steps(sde: Any, N: int, what: str) -> None:
    """The DDPM betas beta_i = beta(t_i) T / N must stay below 1: N > beta_max T."""
    if sde.beta_max * sde.T / N >= 1.0:
        raise ValueError(
            f"{what} uses the DDPM betas beta(t_i) T / N with N = n_steps, which need n_steps > beta_max T "
            f"= {sde.beta_max * sde.T}; got n_steps = {N}"
        )


def ddpm_beta(sde: Any, t: Array, N: int) -> Array:
    """beta_i = beta(t_i) T / N at i = floor(t (N - 1) / T) (DDPM discretization, Ho et al. 2020)."""
    _, t_i = chain_time(t, N, sde.T)
    return sde.beta(t_i) * (sde.T / N)  # beta_i = beta(t_i) T / N, score_sde's discrete_betas


def smld_variances(sde: Any, t: Array, N: int) -> tuple[Array, Array]:
    """(var_i, var_{i-1}) with var_i = std(t_i)^2 in the SDE's convention and var_{-1} = 0 (SMLD chain)."""
    xp = namespace_of(t)
    i, t_i = chain_time(t, N, sde.T)
    s_i = sde.sigma(t_i)
    t_prev = xp.clip((i - 1.0) * (sde.T / (N - 1)), 0.0, sde.T)  # t_{i-1}, clipped at 0 for i = 0
    s_prev = sde.sigma(t_prev)
    var_prev = xp.where(i >= 1.0, s_prev * s_prev, xp.zeros_like(s_prev))  # var_{-1} = 0
    return s_i * s_i, var_prev
