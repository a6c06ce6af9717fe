"""Final Tweedie denoising step at the last grid time."""

from __future__ import annotations

from .._arrays import Array
from ._context import StepContext


def tweedie_denoise(ctx: StepContext, x: Array, t: Array) -> Array:
    """x0_hat = (x + sigma_t^2 s(x, t)) / alpha_t = E[x_0 | x_t = x] (Tweedie's formula); shape of ``x``."""
    alpha, sigma = ctx.sde.marginal_coefficients(t)
    s = ctx.score(x, t)
    return (x + (sigma * sigma) * s) / alpha  # Tweedie: E[x0 | x_t] = (x_t + sigma_t^2 grad log p_t) / alpha_t
