"""Exact probability-flow ODE map for Gaussian data N(m, C) under a linear SDE.

With S_u = alpha_u^2 C + sigma_u^2 I, the probability-flow ODE dx/du = f(u) x - g(u)^2/2 grad log p_u(x)
is linear and solved by Phi_{s->t}(x) = alpha_t m + S_t^{1/2} S_s^{-1/2} (x - alpha_s m).  S_s and S_t
share C's eigenvectors Q, so in eigen-coordinates Phi multiplies coordinate i by sqrt(v_t,i / v_s,i),
v_u = alpha_u^2 lam + sigma_u^2, and log|det dPhi/dx| = sum_i log(v_t,i / v_s,i) / 2.
"""

from __future__ import annotations

from typing import Any

from .._arrays import Array, namespace_of
from ._components import Components
from ._validate import check_samples, check_sde


def flow_map(comps: Components, sde: Any, s: Any, t: Any, x: Array) -> tuple[Array, Array]:
    """(Phi_{s->t}(x) of shape (n, d), log|det dPhi/dx| of shape (n,)) for one component.

    ``s`` and ``t`` are floats, 0-d arrays or (n,) arrays in [0, sde.T]; s < t, s > t and s = t all
    work (Phi_{t->s} is the inverse of Phi_{s->t}).  Output in ``x``'s dtype and device.
    """
    check_sde(sde)
    if comps.K != 1:
        raise ValueError("flow_map needs a single Gaussian component")
    xp = namespace_of(x, comps.means)
    if xp is None:
        raise TypeError("x must be an array")
    check_samples(xp, x, comps.dim)
    c = comps.as_dtype(x.dtype)
    a_s, s2_s = c.coefficients(sde, s, x)
    a_t, s2_t = c.coefficients(sde, t, x)
    v_s = c.marginal_eigvals(a_s, s2_s)[0, ...]  # eigenvalues of S_s, (n or 1, d)
    v_t = c.marginal_eigvals(a_t, s2_t)[0, ...]
    mean, q = c.means[0:1, ...], c.eigvecs[0, ...]
    ratio = v_t / v_s
    z = xp.matmul(x - a_s[0, ...] * mean, q)  # Q^T (x - alpha_s m) as rows
    # Phi(x) = alpha_t m + Q diag(sqrt(v_t / v_s)) Q^T (x - alpha_s m)
    y = a_t[0, ...] * mean + xp.matmul(z * xp.sqrt(ratio), xp.matrix_transpose(q))
    # log|det dPhi/dx| = sum_i log(v_t,i / v_s,i) / 2
    logdet = 0.5 * xp.sum(xp.log(ratio), axis=1)
    return y, logdet + xp.zeros_like(x[:, 0])
