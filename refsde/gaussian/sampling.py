"""Exact sampling from stacked Gaussian components with the refsde RNG of the parameters' backend."""

from __future__ import annotations

from typing import Any

from array_api_compat import to_device

from .._arrays import Array, device_of
from ..backends import backend_of, make_rng
from ._components import Components
from .._checks import check_integer


def sample_components(comps: Components, n: int, rng: Any = None) -> Array:
    """n draws, shape (n, d), from sum_k w_k N(m_k, L_k L_k^T) in the components' dtype and device.

    ``rng`` is an int seed, a refsde RNG (:func:`refsde.make_rng`) of the same backend, or None
    (fresh entropy).  The component index is the number of cumulative weights <= u for u ~ U[0, 1)
    (inverse-CDF sampling of the categorical law); x = m_k + L_k z with z ~ N(0, I).
    """
    n = check_integer(n, "n", 0)  # a sample count >= 0
    xp = comps.xp
    gen = make_rng(rng, backend_of(comps.means))
    dtype = comps.dtype
    K, d = comps.K, comps.dim
    idx = None
    if K > 1:
        u = _fit(comps, gen.uniform((n,), dtype=dtype))
        cum_w = xp.cumulative_sum(xp.exp(comps.log_w))[: K - 1]  # F(k) = w_0 + ... + w_k, k < K - 1
        # k = #{j < K - 1 : F(j) <= u}  (inverse CDF of the categorical law)
        idx = xp.sum(xp.astype(xp.expand_dims(u, axis=1) >= xp.expand_dims(cum_w, axis=0), xp.int64), axis=1)
        # rounding can leave F(K-2) < 1 <= u: never pick a trailing component of weight 0
        positive = xp.astype(xp.exp(comps.log_w) > 0, xp.int64) * xp.arange(K, dtype=xp.int64, device=device_of(u))
        idx = xp.clip(idx, 0, int(xp.max(positive)))
    z = _fit(comps, gen.normal((n, d), dtype=dtype))
    if idx is None:
        # x = m + L z for every row: (n, d) @ L^T
        return comps.means[0:1, ...] + xp.matmul(z, xp.matrix_transpose(comps.chol[0, ...]))
    means = xp.take(comps.means, idx, axis=0)  # m_{k_i}, (n, d)
    chol = xp.take(comps.chol, idx, axis=0)  # L_{k_i}, (n, d, d)
    return means + xp.matmul(chol, xp.expand_dims(z, axis=2))[..., 0]  # x_i = m_{k_i} + L_{k_i} z_i


def _fit(comps: Components, a: Array) -> Array:
    """``a`` in the components' dtype and on their device."""
    if a.dtype != comps.dtype:
        a = comps.xp.astype(a, comps.dtype)
    dev = device_of(comps.means)
    return a if device_of(a) == dev else to_device(a, dev)
