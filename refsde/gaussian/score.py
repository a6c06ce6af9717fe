"""ExactScore: the closed-form score of the diffused marginals p_t of Gaussian (mixture) data.

Under a linear SDE with q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I), data sum_k w_k N(m_k, C_k) has
marginal p_t = sum_k w_k N(alpha_t m_k, S_k(t)) with S_k(t) = alpha_t^2 C_k + sigma_t^2 I
(Gaussian convolution).  With C_k = Q_k diag(lam_k) Q_k^T precomputed, S_k(t) = Q_k diag(v_k) Q_k^T,
v_k = alpha_t^2 lam_k + sigma_t^2, so per-sample times cost O(n K d^2) and no factorization per call.
"""

from __future__ import annotations

from typing import Any

from .._arrays import Array, namespace_of
from ._components import Components
from ._mix import log_mixture, mixture_divergence, mixture_hessian, mixture_score
from ._validate import check_samples, check_sde


class ExactScore:
    """Callable ``score_fn(x, t)`` = grad_x log p_t(x) for Gaussian-mixture data under ``sde``.

    ``x`` has shape (n, d); ``t`` is a Python float, a 0-d array or an array of shape (n,) (one time per
    sample, in [0, sde.T]).  Results have ``x``'s namespace, dtype and device (the data parameters are
    cast to ``x``'s dtype).  Correct also where sigma_t = 0 (then S_k = C_k, positive definite).
    """

    def __init__(self, sde: Any, components: Components) -> None:
        check_sde(sde)
        self.sde = sde
        self._comps = components

    @property
    def dim(self) -> int:
        return self._comps.dim

    def _evaluate(self, x: Array, t: Any) -> tuple[Any, Components, Array, Array, Array, Array]:
        """(xp, components in x's dtype, log p_t (n,), r (K, n), s_k (K, n, d), v (K, n or 1, d))."""
        xp = namespace_of(x, self._comps.means)
        if xp is None:
            raise TypeError("x must be an array")
        check_samples(xp, x, self.dim)
        comps = self._comps.as_dtype(x.dtype)
        alpha, sigma2 = comps.coefficients(self.sde, t, x)
        log_comp, comp_scores, v = comps.eigen_terms(x, alpha, sigma2)
        log_p, r = log_mixture(xp, comps.log_w, log_comp)
        return xp, comps, log_p, r, comp_scores, v

    def __call__(self, x: Array, t: Any) -> Array:
        """grad_x log p_t(x), shape (n, d)."""
        xp, _, _, r, comp_scores, _ = self._evaluate(x, t)
        return mixture_score(xp, r, comp_scores)

    def log_prob(self, x: Array, t: Any) -> Array:
        """log p_t(x), shape (n,)."""
        return self._evaluate(x, t)[2]

    def hessian(self, x: Array, t: Any) -> Array:
        """Hessian of log p_t at x (the Jacobian of the score), shape (n, d, d), symmetric."""
        xp, comps, _, r, comp_scores, v = self._evaluate(x, t)
        score = mixture_score(xp, r, comp_scores)
        return mixture_hessian(xp, r, comp_scores, score, v, comps.eigvecs)

    def divergence(self, x: Array, t: Any) -> Array:
        """Divergence of the score (Laplacian of log p_t, the Hessian's trace), shape (n,)."""
        xp, _, _, r, comp_scores, v = self._evaluate(x, t)
        score = mixture_score(xp, r, comp_scores)
        return mixture_divergence(xp, r, comp_scores, score, v)

    def __repr__(self) -> str:
        return f"ExactScore(sde={self.sde!r}, components={self._comps.K}, dim={self.dim})"
