"""Predictors: one step of a reverse-time SDE solver from t_k down to t_{k+1} = t_k - h.

Every predictor has the signature ``step(ctx, x, t, h, z, level) -> (x_next, x_mean)``: ``x`` of shape
(n, *dims), ``t`` the 0-d grid time t_k (coefficients and the score are evaluated there, at the left
end), ``h`` the Python-float step size, ``z`` a standard normal draw like ``x``, ``level`` the level
i = n_steps - 1 - k of the N = n_steps discrete chain that step k uses (:mod:`refsde.sampling._discrete`;
ignored by Euler-Maruyama); ``x_mean`` is ``x_next`` without its noise term.  :func:`setup_predictor`
validates a name against an SDE and the step count.
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, namespace_of
from ..sde import VESDE, VPSDE
from ._checks import check_choice
from ._context import StepContext
from ._discrete import check_chain_steps, check_ddpm_steps, ddpm_beta, smld_variances

Step = Callable[[StepContext, Array, Array, float, Array, int], "tuple[Array, Array]"]


def euler_maruyama(ctx: StepContext, x: Array, t: Array, h: float, z: Array, level: int) -> tuple[Array, Array]:
    """x' = x - [f(x, t) - g(t)^2 s(x, t)] h + g(t) sqrt(h) z (``level`` only locates step k in ``ctx.table``)."""
    if ctx.table is not None:  # precomputed f(t_k), g(t_k)^2, sqrt(g^2 h_k) of grid step k = N - 1 - level
        k = ctx.n_steps - 1 - level
        f, g2, scale = ctx.table.f[k], ctx.table.g2[k], ctx.table.em_scale[k]
        s = ctx.score(x, t)
        mean = x - (f * x - g2 * s) * h  # Euler step of the reverse SDE (Song et al. eq. 6)
        return mean + scale * z, mean
    xp = namespace_of(x)
    f = ctx.sde.drift_coefficient(t)
    g2 = ctx.sde.diffusion_squared(t)
    s = ctx.score(x, t)
    mean = x - (f * x - g2 * s) * h  # Euler step of the reverse SDE dx = [f - g^2 s] dt + g dw_bar (Song et al. eq. 6)
    return mean + xp.sqrt(g2 * h) * z, mean


def reverse_diffusion(ctx: StepContext, x: Array, t: Array, h: float, z: Array, level: int) -> tuple[Array, Array]:
    """x' = x - f_i + G_i^2 s(x, t) + G_i z with (f_i, G_i) = sde.discretize(x, t, N=n_steps, level=i).

    The chain's own step is T / N, not h (Song et al. 2021, App. E, reverse diffusion sampling); VP and
    VE take f_i, G_i from level i, every other SDE (Euler-Maruyama chain) from t.
    """
    levels = ctx.levels
    if levels is not None and levels.rd_c is not None:  # f_i = c_i x, tabulated (refsde's own chains)
        c, G, G2 = levels.rd_c[level], levels.rd_G[level], levels.rd_G2[level]  # type: ignore[index]
        s = ctx.score(x, t)
        f = 0.0 if c == 0.0 else (c * x if levels.rd_dt == 1.0 else (c * x) * levels.rd_dt)  # f_i as discretize
        mean = x - f + G2 * s  # reverse of x_{i+1} = x_i + f_i + G_i z (Song et al. App. E)
        return mean + G * z, mean
    f, G = ctx.sde.discretize(x, t, N=ctx.n_steps, level=level)  # a user's own chain: evaluated per step
    s = ctx.score(x, t)
    mean = x - f + (G * G) * s  # reverse of x_{i+1} = x_i + f_i + G_i z (Song et al. App. E)
    return mean + G * z, mean


def ancestral(ctx: StepContext, x: Array, t: Array, h: float, z: Array, level: int) -> tuple[Array, Array]:
    """Ancestral sampling of the discrete chain at N = n_steps, level i (DDPM for VP, SMLD for VE).

    VP: x' = (x + beta_i s) / sqrt(1 - beta_i) + sqrt(beta_i) z.
    VE: x' = x + (var_i - var_{i-1}) s + sqrt(var_{i-1} (var_i - var_{i-1}) / var_i) z (noise 0 where var_i = 0).
    """
    if isinstance(ctx.sde, VPSDE):
        return _ancestral_vp(ctx, x, t, z, level)
    return _ancestral_ve(ctx, x, t, z, level)


def _ancestral_vp(ctx: StepContext, x: Array, t: Array, z: Array, level: int) -> tuple[Array, Array]:
    xp = namespace_of(x)
    levels = ctx.levels
    if levels is not None and levels.ddpm_beta is not None:  # tabulated beta_i, sqrt(1 - beta_i), sqrt(beta_i)
        beta, root = levels.ddpm_beta[level], levels.ddpm_root[level]  # type: ignore[index]
        noise = levels.ddpm_noise[level]  # type: ignore[index]
        s = ctx.score(x, t)
        mean = (x + beta * s) / root  # DDPM ancestral mean (Ho et al. 2020 eq. 11, score form)
        return mean + noise * z, mean
    beta = ddpm_beta(ctx.sde, ctx.n_steps, level, x)
    s = ctx.score(x, t)
    mean = (x + beta * s) / xp.sqrt(1.0 - beta)  # DDPM ancestral mean (Ho et al. 2020 eq. 11, score form)
    return mean + xp.sqrt(beta) * z, mean


def _ancestral_ve(ctx: StepContext, x: Array, t: Array, z: Array, level: int) -> tuple[Array, Array]:
    xp = namespace_of(x)
    levels = ctx.levels
    if levels is not None and levels.smld_dvar is not None:  # tabulated var_i - var_{i-1} and the noise std
        dvar, std = levels.smld_dvar[level], levels.smld_std[level]  # type: ignore[index]
        mean = x + dvar * ctx.score(x, t)  # SMLD ancestral mean (Song et al. 2021, App. F)
        return mean + std * z, mean
    var_i, var_prev = smld_variances(ctx.sde, ctx.n_steps, level, x)
    dvar = var_i - var_prev
    s = ctx.score(x, t)
    mean = x + dvar * s  # SMLD ancestral mean (Song et al. 2021, App. F)
    positive = var_i > 0.0
    safe = xp.where(positive, var_i, xp.ones_like(var_i))
    # std = sqrt(var_{i-1} (var_i - var_{i-1}) / var_i), defined as 0 where var_i = 0
    std = xp.where(positive, xp.sqrt(var_prev * dvar / safe), xp.zeros_like(var_i))
    return mean + std * z, mean


PREDICTORS: dict[str, Step] = {
    "euler_maruyama": euler_maruyama,
    "reverse_diffusion": reverse_diffusion,
    "ancestral": ancestral,
}


def setup_predictor(name: Any, sde: Any, n_steps: int) -> Step:
    """The step function for predictor ``name``; ValueError if it does not apply to ``sde`` / ``n_steps``."""
    check_choice(name, PREDICTORS, "predictor method")
    if name == "reverse_diffusion":
        check_chain_steps(n_steps, "reverse_diffusion")
        if isinstance(sde, VPSDE):
            check_ddpm_steps(sde, n_steps, "reverse_diffusion on a VPSDE")
    elif name == "ancestral":
        if not isinstance(sde, (VPSDE, VESDE)):
            raise ValueError(f"ancestral sampling is defined for VPSDE and VESDE only, not {type(sde).__name__}")
        check_chain_steps(n_steps, "ancestral")
        if isinstance(sde, VPSDE):
            check_ddpm_steps(sde, n_steps, "ancestral sampling on a VPSDE")
    return PREDICTORS[name]


__all__ = ["PREDICTORS", "ancestral", "euler_maruyama", "reverse_diffusion", "setup_predictor"]
