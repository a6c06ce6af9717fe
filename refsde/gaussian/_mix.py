"""Mixture algebra in log-space: log-density, responsibilities, score, Hessian and its trace.

For p = sum_k w_k N_k with component scores s_k = grad log N_k and Hessians H_k = -S_k^{-1}:
responsibilities r_k = w_k N_k / p, score s = sum_k r_k s_k and
Hessian of log p = sum_k r_k (H_k + s_k s_k^T) - s s^T = sum_k r_k H_k + sum_k r_k (s_k - s)(s_k - s)^T.
The centred second form is used: it is a sum of positive semi-definite terms, so there is no
cancellation between sum_k r_k s_k s_k^T and s s^T.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import device as device_of

from .._arrays import Array


def log_mixture(xp: Any, log_w: Array, log_comp: Array) -> tuple[Array, Array]:
    """(log p (n,), responsibilities r (K, n)) from log weights (K,) and log N_k (K, n)."""
    a = xp.expand_dims(log_w, axis=1) + log_comp  # log w_k + log N_k(x)
    m = xp.max(a, axis=0)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))  # guard the all -inf case
    total = xp.sum(xp.exp(a - m), axis=0)  # >= 1 unless every a_k is -inf (then 0)
    some = total > 0
    # logsumexp with max subtraction: log p = m + log sum_k exp(a_k - m); -inf (no log(0) warning) if all underflow
    log_p = xp.where(some, m + xp.log(xp.where(some, total, xp.ones_like(total))), xp.full_like(total, -math.inf))
    r = xp.exp(a - xp.where(some, log_p, xp.zeros_like(log_p)))  # r_k = softmax_k(a_k) = w_k N_k / p
    # Where every log N_k underflowed to -inf (x astronomically far away) the softmax is 0/0: give the whole
    # weight to the largest a_k (exact for one component, the limit of the responsibilities otherwise).
    bad = xp.logical_not(xp.isfinite(log_p))
    if bool(xp.any(bad)):
        K = a.shape[0]
        k = xp.arange(K, dtype=xp.int64, device=device_of(a))
        onehot = xp.astype(xp.expand_dims(k, axis=1) == xp.expand_dims(xp.argmax(a, axis=0), axis=0), a.dtype)
        r = xp.where(xp.expand_dims(bad, axis=0), onehot, r)
    return log_p, r


def mixture_score(xp: Any, r: Array, comp_scores: Array) -> Array:
    """s = sum_k r_k s_k: (n, d) from r (K, n) and s_k (K, n, d)."""
    return xp.sum(xp.expand_dims(r, axis=2) * comp_scores, axis=0)


def _spread(xp: Any, r: Array, comp_scores: Array, score: Array) -> Array:
    """sum_k r_k (s_k - s)(s_k - s)^T, shape (n, d, d)."""
    dev = comp_scores - xp.expand_dims(score, axis=0)  # s_k - s, (K, n, d)
    dev_n = xp.permute_dims(dev, (1, 0, 2))  # (n, K, d)
    r_n = xp.expand_dims(xp.permute_dims(r, (1, 0)), axis=2)  # (n, K, 1)
    return xp.matmul(xp.matrix_transpose(dev_n * r_n), dev_n)  # D^T diag(r) D per sample


def mixture_hessian(xp: Any, r: Array, comp_scores: Array, score: Array, eigvals: Array, eigvecs: Array) -> Array:
    """Hessian of log p, (n, d, d), for components with covariance Q_k diag(v_k) Q_k^T.

    r (K, n), comp_scores (K, n, d), score (n, d), eigvals v (K, n or 1, d), eigvecs Q (K, d, d).
    """
    K = eigvecs.shape[0]
    hess = _spread(xp, r, comp_scores, score)
    for k in range(K):
        q = eigvecs[k, ...]  # (d, d)
        c = xp.expand_dims(r[k, ...], axis=1) / eigvals[k, ...]  # r_k / v_k, (n, d)
        # r_k H_k = -Q_k diag(r_k / v_k) Q_k^T, per sample
        hess = hess - xp.matmul(xp.expand_dims(q, axis=0) * xp.expand_dims(c, axis=1), xp.matrix_transpose(q))
    return hess


def mixture_divergence(xp: Any, r: Array, comp_scores: Array, score: Array, eigvals: Array) -> Array:
    """Laplacian of log p = trace of the Hessian: sum_k r_k (-sum_i 1/v_ki + |s_k - s|^2), shape (n,)."""
    dev = comp_scores - xp.expand_dims(score, axis=0)
    tr_h = -xp.sum(1.0 / eigvals, axis=2)  # tr H_k = -tr S_k^{-1} = -sum_i 1/v_ki, (K, n or 1)
    return xp.sum(r * (tr_h + xp.sum(dev * dev, axis=2)), axis=0)
