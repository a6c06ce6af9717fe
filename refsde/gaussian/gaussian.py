"""The multivariate normal N(mean, cov) as an analytic oracle for diffusion SDEs."""

from __future__ import annotations

from typing import Any

from .._arrays import Array, namespace_of
from ._components import Components, build_components
from ._validate import check_samples, check_sde, common_namespace
from .flow import flow_map
from .sampling import sample_components
from .score import ExactScore


class Gaussian:
    """N(mean, cov) with mean (d,) and cov (d, d) symmetric positive definite, of any Array-API backend.

    The covariance is checked for symmetry (max|C - C^T| <= 1000 eps max|C|) and stored symmetrized,
    then for positive definiteness to working precision (smallest eigenvalue > d eps times the largest,
    and Cholesky succeeds); both factorizations are kept.  Mean and cov are promoted to a common dtype.  Methods
    taking ``x`` of shape (n, d) return results in ``x``'s dtype and device (parameters are cast).
    """

    def __init__(self, mean: Array, cov: Array) -> None:
        xp = common_namespace(mean, cov)
        if mean.ndim != 1:
            raise ValueError(f"Gaussian: mean must have shape (d,), got {tuple(mean.shape)}")
        d = int(mean.shape[0])
        if tuple(cov.shape) != (d, d):
            raise ValueError(f"Gaussian: cov must have shape ({d}, {d}) to match mean, got {tuple(cov.shape)}")
        self._comps = build_components(xp, None, xp.reshape(mean, (1, d)), xp.reshape(cov, (1, d, d)), "Gaussian")

    @classmethod
    def _from_components(cls, comps: Components) -> "Gaussian":
        obj = cls.__new__(cls)
        obj._comps = comps
        return obj

    # ---- parameters ----------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Dimension d."""
        return self._comps.dim

    @property
    def mean(self) -> Array:
        """Mean, shape (d,)."""
        return self._comps.means[0, ...]

    @property
    def cov(self) -> Array:
        """Covariance (symmetrized), shape (d, d)."""
        return self._comps.covs[0, ...]

    @property
    def dtype(self) -> Any:
        return self._comps.dtype

    # ---- density -------------------------------------------------------------------------------------
    def _x(self, x: Array) -> Components:
        xp = namespace_of(x, self._comps.means)
        if xp is None:
            raise TypeError("x must be an array")
        check_samples(xp, x, self.dim)
        return self._comps.as_dtype(x.dtype)

    def sample(self, n: int, rng: Any = None) -> Array:
        """n independent draws, shape (n, d); ``rng``: int seed, refsde RNG or None."""
        return sample_components(self._comps, n, rng)

    def log_prob(self, x: Array) -> Array:
        """log N(x; mean, cov) per row of x (n, d): shape (n,)."""
        return self._x(x).chol_terms(x)[0][0, ...]

    def score(self, x: Array) -> Array:
        """grad_x log N(x; mean, cov) = -cov^{-1} (x - mean), shape (n, d)."""
        return self._x(x).chol_terms(x)[1][0, ...]

    # ---- diffusion -------------------------------------------------------------------------------------
    def marginal(self, sde: Any, t: Any) -> "Gaussian":
        """p_t = N(alpha_t mean, alpha_t^2 cov + sigma_t^2 I) for a scalar t (float or 0-d array)."""
        check_sde(sde)
        alpha, sigma2 = self._comps.scalar_coefficients(sde, t)
        return Gaussian._from_components(self._comps.marginal(alpha, sigma2))

    def score_fn(self, sde: Any) -> ExactScore:
        """The exact score of p_t as ``score_fn(x, t)`` (t float, 0-d or (n,)), with hessian/divergence."""
        return ExactScore(sde, self._comps)

    def flow_map(self, sde: Any, s: Any, t: Any, x: Array) -> tuple[Array, Array]:
        """Exact probability-flow map Phi_{s->t}(x) (n, d) and log|det dPhi/dx| (n,); see :mod:`.flow`."""
        return flow_map(self._comps, sde, s, t, x)

    def __repr__(self) -> str:
        return f"Gaussian(dim={self.dim}, dtype={self.dtype})"
