"""Bits per dimension of integer data under a continuous model, with the data scaling made explicit.

Integer data x_int in {0, ..., n_bins - 1}^D is dequantized to x_int + u, u ~ U[0, 1)^D, a density on
[0, n_bins)^D whose integral over each unit cell is the discrete probability P(x_int) (Theis et al.
2016, Ho et al. 2019), and mapped affinely to the model's space

    y = scale * (x_int + u) / n_bins + shift        (|dy/d(x_int + u)| = (scale / n_bins)^D).

Change of variables gives log p(x_int + u) = log p_model(y) + D log(scale / n_bins), and Jensen's
inequality gives log P(x_int) >= E_u[log p(x_int + u)], so

    bpd = -(log p_model(y) + D log(scale / n_bins)) / (D log 2)

is an upper bound (in expectation over u) on the discrete code length per dimension.

score_sde instead adds a hard-coded offset (``7 - inverse_scaler(-1)`` bits: 8 for data in [0, 1],
7 for data in [-1, 1]) to -log p_model / (D log 2).  That equals log2(n_bins / scale) only for
n_bins = 256 and those two scalings, and hides the Jacobian term in a scaler convention; here n_bins,
scale and shift are arguments and the term is computed from them.  (The shift has Jacobian 1 and does
not enter the formula; it matters only for where y lands.)
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .._arrays import Array, namespace_of, require_floating
from .._checks import check_integer
from .info import LikelihoodInfo
from .log_likelihood import log_likelihood


def _positive_scale(scale: Any) -> float:
    value = float(scale)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"scale must be a finite float > 0, got {value}")
    return value


def bits_per_dim(log_p: Array, n_dims: int, *, scale: float, n_bins: int = 256) -> Array:
    """bpd = -(log p_model(y) + D log(scale / n_bins)) / (D log 2), shape of ``log_p`` (n,).

    Args:
        log_p: log p_model(y) in nats of the dequantized, affinely mapped data y (e.g. from
            :func:`log_likelihood`), shape (n,).
        n_dims: D, the number of data dimensions (prod of the non-batch shape of y).
        scale: the slope in y = scale * (x_int + u) / n_bins + shift (2 for data mapped to [-1, 1), 1 for [0, 1)).
        n_bins: number of integer levels (256 for 8-bit data).
    """
    xp = namespace_of(log_p)
    if xp is None:
        raise TypeError("log_p must be an array")
    require_floating(xp, log_p, "log_p")
    d = check_integer(n_dims, "n_dims")
    n_bins = check_integer(n_bins, "n_bins", 2)
    scale = _positive_scale(scale)
    jacobian = d * math.log(scale / n_bins)  # log|det dy/d(x_int + u)| = D log(scale / n_bins)
    return -(log_p + jacobian) / (d * math.log(2.0))


def dequantize(
    x_int: Array, *, scale: float, shift: float, n_bins: int = 256, rng: Any = None, dtype: Any = None
) -> Array:
    """y = scale * (x_int + u) / n_bins + shift with u ~ U[0, 1) i.i.d., same shape as ``x_int``.

    ``x_int``: integer array, or floating array of whole numbers, with values in [0, n_bins - 1].
    ``dtype``: floating dtype of y (default: x_int's if floating, else the backend's default).
    ``rng``: int seed, refsde RNG of x_int's backend, or None.
    """
    from ..backends import backend_of, make_rng

    xp = namespace_of(x_int)
    if xp is None:
        raise TypeError("x_int must be an array")
    n_bins = check_integer(n_bins, "n_bins", 2)
    scale = _positive_scale(scale)
    shift = float(shift)
    if not math.isfinite(shift):
        raise ValueError(f"shift must be finite, got {shift}")
    backend = backend_of(x_int)
    if dtype is None:
        dtype = x_int.dtype if xp.isdtype(x_int.dtype, "real floating") else backend.default_dtype
    x = xp.astype(x_int, dtype)
    if xp.isdtype(x_int.dtype, "real floating") and bool(xp.any(xp.isnan(x) | (x != xp.round(x)))):
        raise ValueError("x_int must hold whole numbers (integer levels), got non-integral values or NaN")
    if bool(xp.any((x < 0) | (x > n_bins - 1))):
        raise ValueError(f"x_int must lie in {{0, ..., n_bins - 1}} = {{0, ..., {n_bins - 1}}}")
    u = make_rng(rng, backend).uniform(tuple(x.shape), dtype=dtype)
    return (scale / n_bins) * (x + u) + shift


def dequantized_bits_per_dim(
    score_fn: Callable[[Array, Any], Array],
    sde: Any,
    x_int: Array,
    *,
    scale: float,
    shift: float,
    n_bins: int = 256,
    rng: Any = None,
    dtype: Any = None,
    **likelihood_options: Any,
) -> tuple[Array, LikelihoodInfo]:
    """bpd of integer data x_int (n, *dims): dequantize with one draw of u, then :func:`log_likelihood`.

    One generator (from ``rng``) draws u first and then any Hutchinson probes.  ``likelihood_options``
    go to :func:`log_likelihood` (eps, divergence, method, ...).  Returns (bpd of shape (n,), its info).
    """
    from ..backends import backend_of, make_rng

    gen = make_rng(rng, backend_of(x_int))
    y = dequantize(x_int, scale=scale, shift=shift, n_bins=n_bins, rng=gen, dtype=dtype)
    log_p, info = log_likelihood(score_fn, sde, y, rng=gen, **likelihood_options)
    d = int(math.prod(y.shape[1:]))
    return bits_per_dim(log_p, d, scale=scale, n_bins=n_bins), info
