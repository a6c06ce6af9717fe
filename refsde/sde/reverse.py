"""Reverse-time SDE and probability-flow ODE of a forward SDE given its score (Anderson 1982)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._arrays import Array, batch_broadcast, check_finite, namespace_of

if TYPE_CHECKING:
    from .base import SDE, ScoreFn


class ReverseSDE:
    """dx = [f(x,t) - c g(t)^2 score(x,t)] dt + g_rev(t) dw_bar, run from T down to 0.

    c = 1 and g_rev = g for the reverse SDE (Song et al. 2021, eq. 6); c = 1/2 and g_rev = 0 for the
    probability-flow ODE (eq. 13).  The drift is written for *reverse* time: integrating backwards,
    x_{t - dt} = x_t - drift(x_t, t) dt + g_rev(t) sqrt(dt) z.
    """

    def __init__(self, sde: "SDE", score_fn: "ScoreFn", probability_flow: bool = False) -> None:
        if not callable(score_fn):
            raise TypeError("score_fn must be callable as score_fn(x, t)")
        self.sde = sde
        self.score_fn = score_fn
        self.probability_flow = bool(probability_flow)
        self.T = sde.T
        self.N = sde.N

    def _score(self, x: Array, t: Array) -> Array:
        s = self.score_fn(x, t)
        xp = namespace_of(x, s)
        if tuple(s.shape) != tuple(x.shape):
            raise ValueError(f"score_fn returned shape {tuple(s.shape)}, expected {tuple(x.shape)}")
        check_finite(xp, s, "score_fn output")
        return s

    def _weight(self) -> float:
        return 0.5 if self.probability_flow else 1.0

    def drift(self, x: Array, t: Any) -> Array:
        """f(x, t) - c g(t)^2 score(x, t), same shape as ``x``."""
        xp, t = self.sde._x_t(x, t)
        g2 = batch_broadcast(self.sde._g2(t), x)
        f = batch_broadcast(self.sde._drift_coef(t), x) * x
        return f - self._weight() * g2 * self._score(x, t)

    def diffusion(self, t: Any) -> Array:
        """g(t) for the reverse SDE, 0 for the probability-flow ODE; shape of ``t``."""
        t = self.sde._t(t)
        xp = namespace_of(t)
        g = xp.sqrt(self.sde._g2(t))
        return xp.zeros_like(g) if self.probability_flow else g

    def sde_coefficients(self, x: Array, t: Any) -> tuple[Array, Array]:
        """(drift, diffusion) as score_sde's ``rsde.sde``."""
        return self.drift(x, t), self.diffusion(t)

    def discretize(self, x: Array, t: Any) -> tuple[Array, Array]:
        """Reverse of the forward discrete chain: (f_i - c G_i^2 score, G_i or 0) (score_sde's rsde)."""
        xp, t_arr = self.sde._x_t(x, t)
        f, G = self.sde.discretize(x, t)
        rev_f = f - self._weight() * batch_broadcast(G * G, x) * self._score(x, t_arr)
        return rev_f, xp.zeros_like(G) if self.probability_flow else G
