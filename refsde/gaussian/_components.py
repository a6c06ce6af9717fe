"""A stack of K Gaussian components with their factorizations, shared by Gaussian and GaussianMixture.

Each component k keeps its mean m_k (d,), covariance C_k (d, d), eigendecomposition
C_k = Q_k diag(lam_k) Q_k^T and Cholesky factor C_k = L_k L_k^T, stacked along a leading axis of
length K.  Cholesky serves the static densities (log_prob, score at one covariance); the
eigendecomposition serves the diffusion marginals, whose covariance alpha^2 C_k + sigma^2 I has the same
eigenvectors and eigenvalues alpha^2 lam_k + sigma^2, so one eigh per component covers every t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .._arrays import Array, any_true, as_time, device_of, require_floating
from ._validate import check_finite_all, promote, symmetrized_spd

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(eq=False)
class Components:
    """K stacked components: log_w (K,), means (K, d), covs (K, d, d), eigvals (K, d),
    eigvecs (K, d, d) (columns are eigenvectors), chol (K, d, d) lower triangular."""

    xp: Any
    log_w: Array
    means: Array
    covs: Array
    eigvals: Array
    eigvecs: Array
    chol: Array
    _cast_cache: list = field(default_factory=list, repr=False, compare=False)

    @property
    def K(self) -> int:
        return int(self.means.shape[0])

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @property
    def dtype(self) -> Any:
        return self.means.dtype

    def as_dtype(self, dtype: Any) -> "Components":
        """The same components cast to ``dtype`` (factorizations are cast, not recomputed; cached)."""
        if dtype == self.dtype:
            return self
        for dt, comps in self._cast_cache:
            if dt == dtype:
                return comps
        xp = self.xp
        parts = (self.log_w, self.means, self.covs, self.eigvals, self.eigvecs, self.chol)
        cast = Components(xp, *(xp.astype(a, dtype) for a in parts))
        self._cast_cache.append((dtype, cast))
        return cast

    def select(self, k: int) -> "Components":
        """Component ``k`` alone, with log weight 0."""
        xp = self.xp
        sl = slice(k, k + 1)
        return Components(
            xp,
            xp.zeros_like(self.log_w[sl]),
            self.means[sl, ...],
            self.covs[sl, ...],
            self.eigvals[sl, ...],
            self.eigvecs[sl, ...],
            self.chol[sl, ...],
        )

    # ---- static densities (Cholesky) --------------------------------------------------------------
    def chol_terms(self, x: Array) -> tuple[Array, Array]:
        """(log N(x; m_k, C_k) of shape (K, n), grad_x log N_k of shape (K, n, d)) for x (n, d)."""
        xp = self.xp
        diff = xp.expand_dims(x, axis=0) - xp.expand_dims(self.means, axis=1)  # (K, n, d)
        diff_t = xp.matrix_transpose(diff)  # (K, d, n)
        w = xp.linalg.solve(self.chol, diff_t)  # w = L^{-1} (x - m), (K, d, n)
        half_logdet = xp.sum(xp.log(xp.linalg.diagonal(self.chol)), axis=1)  # log det C / 2 = sum log diag L
        # log N = -||L^{-1}(x - m)||^2 / 2 - sum log diag L - (d/2) log 2 pi
        logn = -0.5 * xp.sum(w * w, axis=1) - xp.expand_dims(half_logdet, axis=1) - 0.5 * self.dim * LOG_2PI
        # grad log N = -C^{-1}(x - m) = -L^{-T} L^{-1} (x - m)
        score = -xp.matrix_transpose(xp.linalg.solve(xp.matrix_transpose(self.chol), w))
        return logn, score

    # ---- diffusion marginals (eigen-coordinates) ---------------------------------------------------
    def coefficients(self, sde: Any, t: Any, like: Array) -> tuple[Array, Array]:
        """(alpha_t, sigma_t^2) from ``sde.marginal_coefficients``, shaped (1, n or 1, 1) to broadcast
        against (K, n, d).  ``t`` is validated against ``like`` (float, 0-d or (n,))."""
        xp = self.xp
        t_arr = as_time(t, sde.T, like=like)
        alpha, sigma = sde.marginal_coefficients(t_arr)
        shape = (1, 1, 1) if alpha.ndim == 0 else (1, alpha.shape[0], 1)
        return xp.reshape(alpha, shape), xp.reshape(sigma * sigma, shape)

    def scalar_coefficients(self, sde: Any, t: Any) -> tuple[Array, Array]:
        """(alpha_t, sigma_t^2) as 0-d arrays in the components' dtype; ``t`` must be a scalar time."""
        if not isinstance(t, (int, float)) and getattr(t, "ndim", None) != 0:
            raise ValueError(f"t must be a float or a 0-d array here, got shape {tuple(getattr(t, 'shape', ()))}")
        alpha, sigma = sde.marginal_coefficients(as_time(t, sde.T, like=self.means))
        return alpha, sigma * sigma

    def marginal_eigvals(self, alpha: Array, sigma2: Array) -> Array:
        """Eigenvalues of S_k(t) = alpha^2 C_k + sigma^2 I: alpha^2 lam_k + sigma^2, shape (K, n or 1, d)."""
        return alpha * alpha * self.xp.expand_dims(self.eigvals, axis=1) + sigma2

    def eigen_terms(self, x: Array, alpha: Array, sigma2: Array) -> tuple[Array, Array, Array]:
        """For the marginal components N(alpha m_k, S_k(t)) at x (n, d):
        (log N_k (K, n), grad log N_k (K, n, d), eigenvalues v of S_k(t) (K, n or 1, d))."""
        xp = self.xp
        v = self.marginal_eigvals(alpha, sigma2)
        diff = xp.expand_dims(x, axis=0) - alpha * xp.expand_dims(self.means, axis=1)  # x - alpha m_k, (K, n, d)
        z = xp.matmul(diff, self.eigvecs)  # eigen-coordinates z = Q_k^T (x - alpha m_k), (K, n, d)
        u = z / v  # S_k^{-1}(x - alpha m_k) in eigen-coordinates
        # log N = -z^T diag(1/v) z / 2 - sum log v / 2 - (d/2) log 2 pi
        logn = -0.5 * xp.sum(z * u, axis=2) - 0.5 * xp.sum(xp.log(v), axis=2) - 0.5 * self.dim * LOG_2PI
        # grad log N = -S_k^{-1}(x - alpha m_k) = -Q_k diag(1/v) z
        score = -xp.matmul(u, xp.matrix_transpose(self.eigvecs))
        return logn, score, v

    def marginal(self, alpha: Array, sigma2: Array) -> "Components":
        """Components of p_t: means alpha m_k, covariances alpha^2 C_k + sigma^2 I (alpha, sigma2 0-d)."""
        xp = self.xp
        eye = xp.eye(self.dim, dtype=self.dtype, device=device_of(self.means))
        covs = alpha * alpha * self.covs + sigma2 * eye  # S_k(t) = alpha^2 C_k + sigma^2 I
        covs = 0.5 * (covs + xp.matrix_transpose(covs))  # exactly symmetric
        eigvals = alpha * alpha * self.eigvals + sigma2  # same eigenvectors, eigenvalues alpha^2 lam + sigma^2
        try:
            chol = xp.linalg.cholesky(covs)
        except Exception as exc:
            raise ValueError(f"marginal covariance is not positive definite to working precision ({exc})") from exc
        return Components(xp, self.log_w, alpha * self.means, covs, eigvals, self.eigvecs, chol)


def build_components(xp: Any, weights: Array | None, means: Array, covs: Array, name: str) -> Components:
    """Validated :class:`Components` from weights (K,) (None: one component), means (K, d), covs (K, d, d)."""
    arrays = (means, covs) if weights is None else (weights, means, covs)
    for label, a in zip(("weights", "means", "covs")[3 - len(arrays) :], arrays):
        require_floating(xp, a, f"{name} {label}")
    means, covs = promote(xp, means, covs)
    if means.ndim != 2 or means.shape[1] < 1:
        raise ValueError(f"{name}: means must have shape (K, d) with d >= 1, got {tuple(means.shape)}")
    K, d = int(means.shape[0]), int(means.shape[1])
    if K < 1:
        raise ValueError(f"{name}: need at least one component")
    if tuple(covs.shape) != (K, d, d):
        raise ValueError(f"{name}: covariance shape {tuple(covs.shape)} does not match means {tuple(means.shape)}")
    check_finite_all(xp, means, f"{name} mean")
    check_finite_all(xp, covs, f"{name} covariance")
    if weights is None:
        log_w = xp.zeros((1,), dtype=means.dtype, device=device_of(means))
    else:
        if tuple(weights.shape) != (K,):
            raise ValueError(f"{name}: weights must have shape ({K},), got {tuple(weights.shape)}")
        check_finite_all(xp, weights, f"{name} weights")
        if any_true(xp, weights < 0):
            raise ValueError(f"{name}: weights must be non-negative, got min {float(xp.min(weights)):.3g}")
        total = float(xp.sum(weights))
        tol = K * 1e3 * float(xp.finfo(weights.dtype).eps)  # in the weights' own precision
        if not abs(total - 1.0) <= tol:
            raise ValueError(f"{name}: weights must sum to 1, got sum {total!r} (tolerance {tol:.2g})")
        weights = xp.astype(weights, means.dtype) if weights.dtype != means.dtype else weights
        w = weights / xp.sum(weights)  # normalize away the rounding of the sum
        positive = w > 0
        # log w_k, with log 0 = -inf written explicitly (no divide-by-zero warning)
        log_w = xp.where(positive, xp.log(xp.where(positive, w, xp.ones_like(w))), xp.full_like(w, -math.inf))
    covs, eigvals, eigvecs, chol = symmetrized_spd(xp, covs, f"{name} covariance")
    return Components(xp, log_w, means, covs, eigvals, eigvecs, chol)
