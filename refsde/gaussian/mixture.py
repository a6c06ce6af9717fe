"""Gaussian mixtures sum_k w_k N(m_k, C_k) as analytic oracles for diffusion SDEs."""

from __future__ import annotations

from typing import Any

from .._arrays import Array, namespace_of
from ._components import Components, build_components
from ._mix import log_mixture, mixture_score
from ._validate import check_samples, check_sde, common_namespace
from .gaussian import Gaussian
from .sampling import sample_components
from .score import ExactScore


class GaussianMixture:
    """sum_k w_k N(means[k], covs[k]): weights (K,), means (K, d), covs (K, d, d) of one backend.

    Weights must be finite, non-negative and sum to 1 (to K * 1000 eps); each covariance must be
    symmetric positive definite (checked as for :class:`Gaussian`).  Densities are evaluated in
    log-space (logsumexp with max subtraction).  Methods taking ``x`` (n, d) return ``x``'s dtype.
    """

    def __init__(self, weights: Array, means: Array, covs: Array) -> None:
        xp = common_namespace(weights, means, covs)
        if weights.ndim != 1 or means.ndim != 2 or covs.ndim != 3:
            raise ValueError(
                "GaussianMixture: expected weights (K,), means (K, d), covs (K, d, d), got shapes "
                f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}"
            )
        self._comps = build_components(xp, weights, means, covs, "GaussianMixture")

    @classmethod
    def _from_components(cls, comps: Components) -> "GaussianMixture":
        obj = cls.__new__(cls)
        obj._comps = comps
        return obj

    # ---- parameters ----------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Dimension d."""
        return self._comps.dim

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return self._comps.K

    @property
    def weights(self) -> Array:
        """Normalized weights, shape (K,)."""
        return self._comps.xp.exp(self._comps.log_w)

    @property
    def means(self) -> Array:
        """Component means, shape (K, d)."""
        return self._comps.means

    @property
    def covs(self) -> Array:
        """Component covariances (symmetrized), shape (K, d, d)."""
        return self._comps.covs

    @property
    def dtype(self) -> Any:
        return self._comps.dtype

    @property
    def components(self) -> list[Gaussian]:
        """The components as :class:`Gaussian` objects (weights dropped)."""
        return [Gaussian._from_components(self._comps.select(k)) for k in range(self._comps.K)]

    # ---- density -------------------------------------------------------------------------------------
    def _terms(self, x: Array) -> tuple[Any, Array, Array, Array]:
        """(xp, log p (n,), responsibilities (K, n), component scores (K, n, d))."""
        xp = namespace_of(x, self._comps.means)
        if xp is None:
            raise TypeError("x must be an array")
        check_samples(xp, x, self.dim)
        comps = self._comps.as_dtype(x.dtype)
        log_comp, comp_scores = comps.chol_terms(x)
        log_p, r = log_mixture(xp, comps.log_w, log_comp)
        return xp, log_p, r, comp_scores

    def sample(self, n: int, rng: Any = None) -> Array:
        """n independent draws, shape (n, d); ``rng``: int seed, refsde RNG or None."""
        return sample_components(self._comps, n, rng)

    def log_prob(self, x: Array) -> Array:
        """log sum_k w_k N(x; m_k, C_k), shape (n,)."""
        return self._terms(x)[1]

    def score(self, x: Array) -> Array:
        """grad_x log p = sum_k r_k(x) (-C_k^{-1} (x - m_k)), shape (n, d)."""
        xp, _, r, comp_scores = self._terms(x)
        return mixture_score(xp, r, comp_scores)

    # ---- diffusion -------------------------------------------------------------------------------------
    def marginal(self, sde: Any, t: Any) -> "GaussianMixture":
        """p_t = sum_k w_k N(alpha_t m_k, alpha_t^2 C_k + sigma_t^2 I) for a scalar t."""
        check_sde(sde)
        alpha, sigma2 = self._comps.scalar_coefficients(sde, t)
        return GaussianMixture._from_components(self._comps.marginal(alpha, sigma2))

    def score_fn(self, sde: Any) -> ExactScore:
        """The exact score of p_t as ``score_fn(x, t)`` (t float, 0-d or (n,)), with hessian/divergence."""
        return ExactScore(sde, self._comps)

    def __repr__(self) -> str:
        return f"GaussianMixture(n_components={self.n_components}, dim={self.dim}, dtype={self.dtype})"
