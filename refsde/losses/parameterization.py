"""Conversions between the score, epsilon, x0 and v parameterizations of x_t = alpha_t x0 + sigma_t eps.

All functions are elementwise; ``alpha`` and ``sigma`` must broadcast against ``x_t`` (e.g. the
(n, 1, ..., 1) std returned by ``SDE.marginal``) and be Python floats or arrays of the same library as the
other arguments (arrays of two libraries raise TypeError naming both, as everywhere in refsde).  The v-parameterization is Salimans & Ho (2022):
v = alpha eps - sigma x0, written here for any (alpha, sigma), not only alpha^2 + sigma^2 = 1.
"""

from __future__ import annotations

from .._arrays import Array, namespace_of


def score_from_eps(eps: Array, sigma: Array) -> Array:
    """score = -eps / sigma (grad log q(x_t | x0) = -(x_t - alpha x0) / sigma^2)."""
    namespace_of(eps, sigma)  # one library (TypeError naming both otherwise)
    return -eps / sigma


def eps_from_score(score: Array, sigma: Array) -> Array:
    """eps = -sigma score."""
    namespace_of(score, sigma)  # one library (TypeError naming both otherwise)
    return -sigma * score


def x0_from_eps(x_t: Array, eps: Array, alpha: Array, sigma: Array) -> Array:
    """x0 = (x_t - sigma eps) / alpha."""
    namespace_of(x_t, eps, alpha, sigma)  # one library (TypeError naming both otherwise)
    return (x_t - sigma * eps) / alpha


def eps_from_x0(x_t: Array, x0: Array, alpha: Array, sigma: Array) -> Array:
    """eps = (x_t - alpha x0) / sigma."""
    namespace_of(x_t, x0, alpha, sigma)  # one library (TypeError naming both otherwise)
    return (x_t - alpha * x0) / sigma


def score_from_x0(x_t: Array, x0: Array, alpha: Array, sigma: Array) -> Array:
    """score = (alpha x0 - x_t) / sigma^2 (Tweedie: x0 is E[x0 | x_t])."""
    namespace_of(x_t, x0, alpha, sigma)  # one library (TypeError naming both otherwise)
    return (alpha * x0 - x_t) / (sigma * sigma)


def x0_from_score(x_t: Array, score: Array, alpha: Array, sigma: Array) -> Array:
    """Tweedie's formula E[x0 | x_t] = (x_t + sigma^2 score) / alpha."""
    namespace_of(x_t, score, alpha, sigma)  # one library (TypeError naming both otherwise)
    return (x_t + sigma * sigma * score) / alpha


def v_from_eps_x0(eps: Array, x0: Array, alpha: Array, sigma: Array) -> Array:
    """v = alpha eps - sigma x0 (Salimans & Ho 2022, eq. in sec. 4)."""
    namespace_of(eps, x0, alpha, sigma)  # one library (TypeError naming both otherwise)
    return alpha * eps - sigma * x0


def x0_from_v(x_t: Array, v: Array, alpha: Array, sigma: Array) -> Array:
    """x0 = (alpha x_t - sigma v) / (alpha^2 + sigma^2)."""
    namespace_of(x_t, v, alpha, sigma)  # one library (TypeError naming both otherwise)
    return (alpha * x_t - sigma * v) / (alpha * alpha + sigma * sigma)


def eps_from_v(x_t: Array, v: Array, alpha: Array, sigma: Array) -> Array:
    """eps = (sigma x_t + alpha v) / (alpha^2 + sigma^2)."""
    namespace_of(x_t, v, alpha, sigma)  # one library (TypeError naming both otherwise)
    return (sigma * x_t + alpha * v) / (alpha * alpha + sigma * sigma)


def score_from_v(x_t: Array, v: Array, alpha: Array, sigma: Array) -> Array:
    """score = -eps / sigma with eps from v."""
    namespace_of(x_t, v, alpha, sigma)  # one library (TypeError naming both otherwise)
    return -eps_from_v(x_t, v, alpha, sigma) / sigma
