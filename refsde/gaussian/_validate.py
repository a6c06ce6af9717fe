"""Input checks for the Gaussian oracles: shapes, dtypes, NaN, symmetry, positive definiteness.

Every check raises ``ValueError`` with a message naming the offending argument (``TypeError`` for a
non-floating dtype or arrays of two libraries, as :func:`refsde._arrays.namespace_of` does).
"""

from __future__ import annotations

from typing import Any

from .._arrays import Array, any_true, namespace_of, require_floating

#: Relative asymmetry max|C - C^T| / max|C| accepted (in units of the dtype's eps) before symmetrizing.
SYMMETRY_TOL_EPS = 1000.0


def common_namespace(*arrays: Array) -> Any:
    """Namespace of ``arrays`` (TypeError for mixed libraries or non-arrays, ValueError for mixed devices)."""
    xp = namespace_of(*arrays)
    if xp is None or any(a is None or isinstance(a, (int, float, bool)) for a in arrays):
        raise TypeError("expected arrays (any Array-API library), got Python scalars or None")
    return xp


def check_finite_all(xp: Any, a: Array, name: str) -> None:
    """ValueError if ``a`` has a NaN or an infinite entry."""
    if any_true(xp, xp.isnan(a)):
        raise ValueError(f"{name} contains NaN")
    if any_true(xp, xp.isinf(a)):
        raise ValueError(f"{name} contains an infinite value")


def promote(xp: Any, *arrays: Array) -> tuple[Array, ...]:
    """Cast real floating ``arrays`` to their common (promoted) dtype."""
    dtype = xp.result_type(*arrays)
    return tuple(a if a.dtype == dtype else xp.astype(a, dtype) for a in arrays)


def symmetrized_spd(xp: Any, covs: Array, name: str) -> tuple[Array, Array, Array, Array]:
    """Validate a stack of covariances (K, d, d); return (C_sym, eigenvalues, eigenvectors, cholesky).

    C_sym = (C + C^T) / 2 after checking max|C - C^T| <= 1000 eps max|C| per matrix.  Positive
    definite means, to working precision, smallest eigenvalue > d * eps * largest |eigenvalue|
    (eigh's eigenvalues are accurate to about eps * ||C||, so this is the weakest test that is
    not decided by rounding), and Cholesky must succeed.
    """
    d = covs.shape[-1]
    eps = float(xp.finfo(covs.dtype).eps)
    covs_t = xp.matrix_transpose(covs)
    asym = xp.max(xp.reshape(xp.abs(covs - covs_t), (covs.shape[0], -1)), axis=1)
    scale = xp.max(xp.reshape(xp.abs(covs), (covs.shape[0], -1)), axis=1)
    if any_true(xp, asym > SYMMETRY_TOL_EPS * eps * scale):
        worst = float(xp.max(asym / xp.where(scale > 0, scale, xp.ones_like(scale))))
        raise ValueError(f"{name} is not symmetric: max|C - C^T| / max|C| = {worst:.3g}")
    sym = 0.5 * (covs + covs_t)  # symmetric part (C + C^T)/2
    lam, Q = xp.linalg.eigh(sym)
    lam_min = xp.min(lam, axis=1)
    lam_max = xp.max(xp.abs(lam), axis=1)
    if any_true(xp, lam_min <= d * eps * lam_max):
        raise ValueError(
            f"{name} is not positive definite: smallest eigenvalue {float(xp.min(lam_min)):.3g} "
            f"(largest {float(xp.max(lam_max)):.3g}); a covariance must be symmetric positive definite"
        )
    try:
        chol = xp.linalg.cholesky(sym)
    except Exception as exc:  # numpy LinAlgError, torch LinAlgError, ...: all mean "not PD"
        raise ValueError(f"{name} is not positive definite (Cholesky failed: {exc})") from exc
    if any_true(xp, ~xp.isfinite(chol)):
        raise ValueError(f"{name} is not positive definite (Cholesky produced non-finite values)")
    return sym, lam, Q, chol


def check_samples(xp: Any, x: Array, d: int, name: str = "x") -> None:
    """``x`` must be a real floating array of shape (n, d) without NaN."""
    require_floating(xp, x, name)
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}), got {tuple(x.shape)}")
    if any_true(xp, xp.isnan(x)):
        raise ValueError(f"{name} contains NaN")


def check_sde(sde: Any) -> None:
    """``sde`` must look like a :class:`refsde.SDE` (marginal coefficients, drift, diffusion)."""
    for attr in ("marginal_coefficients", "T"):
        if not hasattr(sde, attr):
            raise TypeError(f"sde must be a refsde SDE (missing {attr!r}), got {type(sde).__name__}")
