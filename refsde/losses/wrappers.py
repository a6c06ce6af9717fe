"""Turn an epsilon-, x0- or v-prediction model into a ``score_fn(x, t)`` for samplers and likelihoods."""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, batch_broadcast
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
