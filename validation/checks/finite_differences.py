"""Finite-difference stencils on backend arrays (float64), used by the deterministic checks.

All stencils are the fourth-order central ones:

* first derivative  (f(-2) - 8 f(-1) + 8 f(1) - f(2)) / (12 h),
  truncation error h^4 |f^(5)| / 30, rounding error about 1.5 eps |f| / h;
* second derivative (-f(-2) + 16 f(-1) - 30 f(0) + 16 f(1) - f(2)) / (12 h^2),
  truncation error h^4 |f^(6)| / 90, rounding error about 5.3 eps |f| / h^2.

With h = 1e-3 times the natural length (or time) scale of f, the truncation terms are ~1e-13 to 1e-12
times the derivative's scale for the smooth functions checked here, and the rounding terms
~1e-12 |f| / (scale * derivative) -- far below the 1e-6/1e-7 thresholds of the checks, which are there
to catch formula errors (factors, signs, missing terms) of relative size >= 1e-3 or so.
"""

from __future__ import annotations

from typing import Any, Callable

Array = Any

_D1 = ((-2.0, 1.0 / 12.0), (-1.0, -8.0 / 12.0), (1.0, 8.0 / 12.0), (2.0, -1.0 / 12.0))
_D2 = ((-2.0, -1.0 / 12.0), (-1.0, 16.0 / 12.0), (0.0, -30.0 / 12.0), (1.0, 16.0 / 12.0), (2.0, -1.0 / 12.0))


def derivative(fn: Callable[[Array], Array], t: Array, h: Any) -> Array:
    """d fn / dt at ``t`` (any shape; ``fn`` elementwise in t), fourth-order central differences.
    ``h`` is a float or an array broadcasting against ``t``."""
    total = None
    for k, c in _D1:
        term = c * fn(t + k * h)
        total = term if total is None else total + term
    return total / h


def grad_laplacian(xp: Any, logp: Callable[[Array], Array], x: Array, h: float) -> tuple[Array, Array, Array]:
    """(f(x), gradient, Laplacian) of a per-sample scalar function ``logp``: (n, d) -> (n,), by
    fourth-order central differences along each axis with step ``h``; one batched call of ``logp``
    on (n (4d + 1), d) points."""
    n, d = x.shape
    eye = xp.eye(d, dtype=x.dtype, device=_device(x))
    shifted = [x]
    offsets = (-2.0, -1.0, 1.0, 2.0)
    for k in offsets:
        shifted.append(xp.reshape(x[:, None, :] + (k * h) * eye[None, :, :], (n * d, d)))
    vals = logp(xp.concat(shifted, axis=0))
    f0 = vals[:n]
    fk = {k: xp.reshape(vals[n + i * n * d : n + (i + 1) * n * d], (n, d)) for i, k in enumerate(offsets)}
    grad = (fk[-2.0] - 8.0 * fk[-1.0] + 8.0 * fk[1.0] - fk[2.0]) / (12.0 * h)
    second = (-fk[-2.0] + 16.0 * fk[-1.0] - 30.0 * f0[:, None] + 16.0 * fk[1.0] - fk[2.0]) / (12.0 * h * h)
    return f0, grad, xp.sum(second, axis=1)


def jacobian(xp: Any, fn: Callable[[Array], Array], x: Array, h: float) -> Array:
    """Per-sample Jacobian J[i, a, b] = d fn(x)[i, a] / d x[i, b] of ``fn``: (n, d) -> (n, m), by
    fourth-order central differences (one batched call on (4 n d, d) points)."""
    n, d = x.shape
    eye = xp.eye(d, dtype=x.dtype, device=_device(x))
    offsets = (-2.0, -1.0, 1.0, 2.0)
    pts = [xp.reshape(x[:, None, :] + (k * h) * eye[None, :, :], (n * d, d)) for k in offsets]
    vals = fn(xp.concat(pts, axis=0))
    m = vals.shape[1]
    fk = [xp.reshape(vals[i * n * d : (i + 1) * n * d, :], (n, d, m)) for i in range(4)]
    jt = (fk[0] - 8.0 * fk[1] + 8.0 * fk[2] - fk[3]) / (12.0 * h)  # (n, d_in, m)
    return xp.permute_dims(jt, (0, 2, 1))


def _device(x: Array) -> Any:
    from array_api_compat import device

    return device(x)
