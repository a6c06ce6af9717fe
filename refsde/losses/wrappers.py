"""Turn an epsilon-, x0-, v-prediction or EDM denoiser model into a ``score_fn(x, t)`` for samplers and
likelihoods, and a score into an EDM denoiser D(x~, sigma~) for sigma-space code.

EDM / k-diffusion variables (Karras et al. 2022, eq. 4 with s(t) = alpha_t): x~ = x / alpha_t and the noise
level sigma~ = sigma_t / alpha_t; the denoiser is D(x~; sigma~) = E[x_0 | x_t = alpha_t x~], so
score(x, t) = (alpha_t D(x / alpha_t; sigma~_t) - x) / sigma_t^2 and D = (x + sigma_t^2 score(x, t)) / alpha_t.
"""

from __future__ import annotations

from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import Array, batch_broadcast, namespace_of
from . import parameterization as P

Model = Callable[[Array, Array], Array]


def _coefficients(sde: Any, x: Array, t: Any) -> tuple[Array, Array, Array]:
    xp, t_arr = sde._x_t(x, t)
    alpha = batch_broadcast(xp.exp(sde._log_alpha(t_arr)), x)
    sigma = batch_broadcast(sde._sigma(t_arr), x)
    return t_arr, alpha, sigma


def _checked(out: Array, x: Array, what: str) -> Array:
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError(f"{what} model returned shape {tuple(out.shape)}, expected {tuple(x.shape)}")
    return out


def score_fn_from_eps(model: Model, sde: Any) -> Callable[[Array, Any], Array]:
    """score(x, t) = -model(x, t) / sigma_t for an epsilon-prediction model."""

    def score_fn(x: Array, t: Any) -> Array:
        t_arr, _, sigma = _coefficients(sde, x, t)
        return P.score_from_eps(_checked(model(x, t_arr), x, "eps"), sigma)

    return score_fn


def score_fn_from_x0(model: Model, sde: Any) -> Callable[[Array, Any], Array]:
    """score(x, t) = (alpha_t model(x, t) - x) / sigma_t^2 for an x0-prediction (denoiser) model."""

    def score_fn(x: Array, t: Any) -> Array:
        t_arr, alpha, sigma = _coefficients(sde, x, t)
        return P.score_from_x0(x, _checked(model(x, t_arr), x, "x0"), alpha, sigma)

    return score_fn


def score_fn_from_v(model: Model, sde: Any) -> Callable[[Array, Any], Array]:
    """score(x, t) from a v-prediction model, v = alpha eps - sigma x0."""

    def score_fn(x: Array, t: Any) -> Array:
        t_arr, alpha, sigma = _coefficients(sde, x, t)
        return P.score_from_v(x, _checked(model(x, t_arr), x, "v"), alpha, sigma)

    return score_fn


def score_fn_from_denoiser(denoiser: Model, sde: Any) -> Callable[[Array, Any], Array]:
    """score(x, t) = (alpha_t D(x / alpha_t, sigma~_t) - x) / sigma_t^2 for an EDM denoiser ``D(x~, sigma~)``
    (sigma~_t = sigma_t / alpha_t, passed with t's shape: 0-d or (n,))."""

    def score_fn(x: Array, t: Any) -> Array:
        t_arr, alpha, sigma = _coefficients(sde, x, t)
        sigma_edm = sde._sigma(t_arr) / namespace_of(t_arr).exp(sde._log_alpha(t_arr))  # sigma~ = sigma / alpha
        d = _checked(denoiser(x / alpha, sigma_edm), x, "denoiser")
        return P.score_from_x0(x, d, alpha, sigma)  # Tweedie: D is E[x0 | x_t]

    return score_fn


def denoiser_from_score(score_fn: Callable[[Array, Any], Array], sde: Any) -> Callable[[Array, Any], Array]:
    """D(x~, sigma~) = (x + sigma_t^2 score(x, t)) / alpha_t at x = alpha_t x~ and t = ``sde.t_from_sigma(sigma~)``:
    a score (e.g. a conformance check's exact score) as the denoiser of sigma-space code.  ``sigma~`` is a
    float, a 0-d array or shape (n,)."""

    def denoiser(x_edm: Array, sigma_edm: Any) -> Array:
        xp = namespace_of(x_edm)
        if isinstance(sigma_edm, (int, float)):
            sigma_edm = xp.asarray(float(sigma_edm), dtype=x_edm.dtype, device=device_of(x_edm))
        t = sde.t_from_sigma(sigma_edm)
        t_arr, alpha, sigma = _coefficients(sde, x_edm, t)
        x = alpha * x_edm
        return P.x0_from_score(x, score_fn(x, t_arr), alpha, sigma)

    return denoiser
