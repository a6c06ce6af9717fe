"""Reverse-time SDE and probability-flow ODE of a forward SDE given its score (Anderson 1982).

:func:`pf_drift` is the one definition of the probability-flow drift F(x, t) = f(t) x - g(t)^2 s(x, t) / 2
(Song et al. 2021, eq. 13) from given coefficients; :func:`probability_flow_drift` is the public, validated
F(x, t) of an SDE (also exported by :mod:`refsde.likelihood`).  :class:`ReverseSDE`, the ODE samplers
(:mod:`refsde.sampling.pf_ode`) and the likelihood ODE (:mod:`refsde.likelihood.flow`) all evaluate
:func:`pf_drift`.
This module imports nothing from :mod:`refsde.sde.base` (the forward SDE constructs a ReverseSDE).
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, as_time, batch_broadcast, namespace_of
from .._checks import CheckedScore


def pf_drift(f: Any, g2: Any, x: Array, score_fn: Callable[[Array, Any], Array], t: Any) -> Array:
    """F(x, t) = f(t) x - g(t)^2 score_fn(x, t) / 2 (Song et al. 2021, eq. 13), same shape as ``x``.

    ``f`` and ``g2`` are f(t) and g(t)^2 already broadcastable against ``x`` (Python floats, 0-d arrays or
    (n, 1, ..., 1)); ``t`` is passed to ``score_fn`` unchanged.  One expression in this order: NumPy then
    reuses the temporaries of f x and of the score output in place (its temporary elision), which a named
    score output would prevent.
    """
    return f * x - (0.5 * g2) * score_fn(x, t)  # eq. 13


def probability_flow_drift(sde: Any, score_fn: Callable[[Array, Any], Array], x: Array, t: Any) -> Array:
    """F(x, t) = f(t) x - g(t)^2 score_fn(x, t) / 2 (Song et al. 2021, eq. 13) of ``sde``, same shape as ``x``.

    ``t`` is a float, a 0-d array or an array of shape (n,), validated (ValueError outside [0, T] or NaN).
    """
    t = as_time(t, sde.T, like=x)  # x's namespace, dtype and device; ValueError outside [0, T]
    f, g2 = solver_coefficients(sde, t)
    return pf_drift(batch_broadcast(f, x), batch_broadcast(g2, x), x, score_fn, t)


def solver_coefficients(sde: Any, t: Array) -> tuple[Array, Array]:
    """(f(t), g(t)^2) at a time produced by a solver, without re-validating it.

    ``t`` must already be an array of the state's dtype and device inside [0, T] (an ODE solver's stage
    time is, by construction); the public methods would check NaN and the range on every call, a host
    read each, i.e. several device syncs per drift evaluation.  Objects that are not a refsde SDE
    (duck-typed user SDEs without the private closed forms) get their public methods.
    """
    if hasattr(sde, "_drift_coef") and hasattr(sde, "_g2"):
        return sde._drift_coef(t), sde._g2(t)
    return sde.drift_coefficient(t), sde.diffusion_squared(t)


class ReverseSDE:
    """dx = [f(x,t) - c g(t)^2 score(x,t)] dt + g_rev(t) dw_bar, run from T down to 0.

    c = 1 and g_rev = g for the reverse SDE (Song et al. 2021, eq. 6); c = 1/2 and g_rev = 0 for the
    probability-flow ODE (eq. 13).  The drift is written for *reverse* time: integrating backwards,
    x_{t - dt} = x_t - drift(x_t, t) dt + g_rev(t) sqrt(dt) z.  The score's output is checked on every
    call (shape, library, NaN: :class:`refsde._checks.CheckedScore`).
    """

    def __init__(self, sde: Any, score_fn: Callable[[Array, Any], Array], probability_flow: bool = False) -> None:
        if not callable(score_fn):
            raise TypeError("score_fn must be callable as score_fn(x, t)")
        self.sde = sde
        self.score_fn = score_fn
        self._score = CheckedScore(score_fn, nan="always")
        self.probability_flow = bool(probability_flow)
        self.T = sde.T
        self.N = sde.N

    def drift(self, x: Array, t: Any) -> Array:
        """f(x, t) - c g(t)^2 score(x, t), same shape as ``x``."""
        _, t = self.sde._x_t(x, t)
        f = batch_broadcast(self.sde._drift_coef(t), x)
        g2 = batch_broadcast(self.sde._g2(t), x)
        if self.probability_flow:
            return pf_drift(f, g2, x, self._score, t)
        return f * x - g2 * self._score(x, t)  # reverse-SDE drift f - g^2 s (Song et al. eq. 6)

    def diffusion(self, t: Any) -> Array:
        """g(t) for the reverse SDE, 0 for the probability-flow ODE; shape of ``t``."""
        g = self.sde.diffusion(t)
        return namespace_of(g).zeros_like(g) if self.probability_flow else g

    def sde_coefficients(self, x: Array, t: Any) -> tuple[Array, Array]:
        """(drift, diffusion) as score_sde's ``rsde.sde``."""
        return self.drift(x, t), self.diffusion(t)

    def discretize(self, x: Array, t: Any) -> tuple[Array, Array]:
        """Reverse of the forward discrete chain: (f_i - c G_i^2 score, G_i or 0) (score_sde's rsde)."""
        _, t_arr = self.sde._x_t(x, t)
        f, G = self.sde.discretize(x, t)
        weight = 0.5 if self.probability_flow else 1.0
        rev_f = f - weight * batch_broadcast(G * G, x) * self._score(x, t_arr)
        return rev_f, namespace_of(G).zeros_like(G) if self.probability_flow else G
