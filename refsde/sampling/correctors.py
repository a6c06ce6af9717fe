"""Correctors: Langevin MCMC steps at a fixed time t that target p_t (Song et al. 2021, App. G, Algs. 4-5).

Every corrector has the signature ``step(ctx, x, t, z, snr, batch_norm, level) -> (x_next, x_mean)``
with ``x`` of shape (n, *dims), ``t`` a 0-d time, ``z`` a standard normal draw like ``x``, ``level`` the
chain level i = n_steps - 1 - k of grid step k (:mod:`refsde.sampling._discrete`):
x_mean = x + e s(x, t) and x_next = x_mean + sqrt(2 e) z with step size e:

* ``langevin``: e = 2 alpha_i (snr ||z|| / ||s||)^2.  Norms are over all non-batch axes, per sample by
  default, so e has shape (n,) and samples stay independent.  ``batch_norm=True`` uses score_sde's
  batch means of the per-sample norms instead: one e for the whole batch, which couples the samples
  (each sample's step depends on all the others).  A sample with ||s|| = 0 does not move (e = 0).
* ``annealed_langevin``: e = 2 alpha_i (snr sigma_t)^2 with sigma_t the marginal std of q(x_t | x_0).

alpha_i = 1 - beta_i with the DDPM beta_i of level i of the N = n_steps chain for VPSDE and SubVPSDE
(score_sde's ``alphas``), and 1 for every other SDE.  Step k's correctors use level n_steps - 1 - k in
both PC orders (in ``predictor_first`` they run at t_{k+1}, after the predictor of that level).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .._arrays import Array, namespace_of, sum_non_batch
from ..sde import SubVPSDE, VPSDE
from ._checks import check_choice
from ._chain_table import annealed_step_size
from ._coefficients import host_floats
from ._context import StepContext
from ._discrete import check_chain_steps, check_ddpm_steps, ddpm_beta, ddpm_betas

Corrector = Callable[[StepContext, Array, Array, Array, float, bool, int], "tuple[Array, Array]"]


def _alpha(ctx: StepContext, level: int, like: Array) -> Array | float:
    """alpha_i = 1 - beta_i at level i (VP, sub-VP) or 1 (others), as in score_sde's correctors."""
    if ctx.table is not None and ctx.table.alpha is not None:
        return ctx.table.alpha[level]  # precomputed by chain_alphas
    if isinstance(ctx.sde, (VPSDE, SubVPSDE)):
        return 1.0 - ddpm_beta(ctx.sde, ctx.n_steps, level, like)
    return 1.0


def chain_alphas(sde: Any, n_steps: int, like: Array) -> list[float]:
    """alpha_i of every level i = 0..n_steps - 1 as host floats in ``like``'s dtype, one vectorized evaluation
    of the same arithmetic as :func:`_alpha` (1 - beta(t_i) T / N, t_i = i T / (N - 1); 1 for other SDEs)."""
    if not isinstance(sde, (VPSDE, SubVPSDE)):
        return [1.0] * n_steps
    return host_floats(1.0 - ddpm_betas(sde, n_steps, like))  # 1 - beta_i, beta_i = beta(t_i) T / N


def _norms(xp: Any, a: Array) -> Array:
    """Per-sample Euclidean norms over the non-batch axes: shape (n,)."""
    return xp.sqrt(sum_non_batch(xp, a * a))


def langevin_update(score: Any, x: Array, t: Array, z: Array, snr: float, batch_norm: bool, alpha: Array | float) -> tuple[Array, Array]:
    """One Langevin step with e = 2 alpha (snr ||z|| / ||s||)^2 (Song et al. 2021, Algs. 4-5)."""
    xp = namespace_of(x)
    s = score(x, t)
    s_norm, z_norm = _norms(xp, s), _norms(xp, z)
    if batch_norm:
        s_norm, z_norm = xp.mean(s_norm), xp.mean(z_norm)  # score_sde: batch means of the norms
    # ||s|| = 0 (or NaN): divide by +inf instead, so that ratio = 0 and e = 0 exactly (one where, no warning)
    ratio = z_norm / xp.where(s_norm > 0.0, s_norm, xp.full_like(s_norm, math.inf))
    r = snr * ratio
    e = 2.0 * alpha * (r * r)  # e = 2 alpha (snr |z|/|s|)^2 (r * r: the same rounding as r ** 2, cheaper)
    if e.ndim == 1 and x.ndim > 1:
        e = xp.reshape(e, (e.shape[0],) + (1,) * (x.ndim - 1))  # per-sample e against (n, *dims)
    mean = x + e * s  # Langevin drift step x + e grad log p_t
    return mean + xp.sqrt(2.0 * e) * z, mean  # plus sqrt(2 e) z


def annealed_langevin_update(score: Any, x: Array, t: Array, z: Array, e: Any, noise_scale: Any) -> tuple[Array, Array]:
    """One annealed Langevin step x + e s(x, t) + sqrt(2 e) z; ``e`` and ``noise_scale`` = sqrt(2 e) from
    :func:`annealed_step_size` (floats or 0-d arrays: they depend on t only, so a caller computes them once)."""
    s = score(x, t)
    mean = x + e * s  # Langevin drift step x + e grad log p_t
    return mean + noise_scale * z, mean  # plus sqrt(2 e) z


def langevin(
    ctx: StepContext, x: Array, t: Array, z: Array, snr: float, batch_norm: bool, level: int
) -> tuple[Array, Array]:
    """:func:`langevin_update` with alpha_i of chain level ``level``."""
    return langevin_update(ctx.score, x, t, z, snr, batch_norm, _alpha(ctx, level, x))


def annealed_langevin(
    ctx: StepContext, x: Array, t: Array, z: Array, snr: float, batch_norm: bool, level: int
) -> tuple[Array, Array]:
    """:func:`annealed_langevin_update` with alpha_i of chain level ``level`` (e_i from ``ctx.levels`` when tabulated)."""
    levels = ctx.levels
    if levels is not None and levels.annealed_e is not None:
        e, noise_scale = levels.annealed_e[level], levels.annealed_noise[level]  # type: ignore[index]
        return annealed_langevin_update(ctx.score, x, t, z, e, noise_scale)
    e, noise_scale = annealed_step_size(ctx.sde, t, snr, _alpha(ctx, level, x))
    return annealed_langevin_update(ctx.score, x, t, z, e, noise_scale)


CORRECTORS: dict[str, Corrector] = {"langevin": langevin, "annealed_langevin": annealed_langevin}


def setup_corrector(name: Any, sde: Any, n_steps: int) -> Corrector:
    """The corrector step function for ``name``; ValueError for unknown names or too few DDPM steps."""
    check_choice(name, CORRECTORS, "corrector")
    if isinstance(sde, (VPSDE, SubVPSDE)):
        check_chain_steps(n_steps, f"the {name} corrector on a {type(sde).__name__} (alpha_i = 1 - beta_i)")
        check_ddpm_steps(sde, n_steps, f"the {name} corrector on a {type(sde).__name__} (alpha_i = 1 - beta_i)")
    return CORRECTORS[name]


__all__ = [
    "CORRECTORS", "annealed_langevin", "annealed_langevin_update", "annealed_step_size", "chain_alphas", "langevin",
    "langevin_update", "setup_corrector",
]
