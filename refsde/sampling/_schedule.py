"""Schedule values as Python floats: (t, alpha_t, sigma_t, lambda_t) at given times, and times from log-SNRs.

The exponential-integrator and EDM samplers precompute every step coefficient on the host.  The SDE is
evaluated once per grid, vectorized, in x_T's namespace and device and in float64 where the library has
it (else in x_T's dtype); the values come back as Python floats, so a float32 run uses float64-accurate
coefficients rounded once when they multiply the state.

Here ``lam`` is the *half* log-SNR lambda_t = log(alpha_t / sigma_t) of Lu et al. (2022), i.e. half of
:meth:`refsde.SDE.log_snr` = log(alpha_t^2 / sigma_t^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from array_api_compat import device as device_of

from .._arrays import Array, namespace_of
from ._coefficients import host_floats


@dataclass(frozen=True)
class Node:
    """One time of a solver: t, alpha_t, sigma_t and lam = log(alpha_t / sigma_t) (half log-SNR), all floats."""

    t: float
    alpha: float
    sigma: float
    lam: float

    @property
    def edm_sigma(self) -> float:
        """The EDM noise level sigma_t / alpha_t = exp(-lam) (Karras et al. 2022, eq. 4 with s = alpha)."""
        return self.sigma / self.alpha


def wide_dtype(like: Array) -> Any:
    """float64 of ``like``'s namespace when its device supports it, else ``like``'s dtype."""
    xp = namespace_of(like)
    if like.dtype == xp.float64:
        return like.dtype
    try:
        xp.asarray(0.0, dtype=xp.float64, device=device_of(like))
    except Exception:  # e.g. torch on MPS has no float64
        return like.dtype
    return xp.float64


def _array(values: Sequence[float], like: Array) -> Array:
    xp = namespace_of(like)
    return xp.asarray([float(v) for v in values], dtype=wide_dtype(like), device=device_of(like))


def nodes_at(sde: Any, times: Sequence[float], like: Array) -> list[Node]:
    """The :class:`Node` of each time (Python floats in [0, T]); ValueError where lambda_t is not finite."""
    if not times:
        return []
    t = _array(times, like)
    alpha, sigma = sde.marginal_coefficients(t)
    lam = 0.5 * sde.log_snr(t)  # lambda = log(alpha / sigma) = log_snr / 2
    columns = zip(times, host_floats(alpha), host_floats(sigma), host_floats(lam))  # one transfer per array
    nodes = [Node(float(ti), a, s, lm) for ti, a, s, lm in columns]
    for node in nodes:
        if not (math.isfinite(node.lam) and node.sigma > 0.0 and node.alpha > 0.0):
            raise ValueError(
                f"the log-SNR is not finite at t = {node.t} (alpha_t = {node.alpha}, sigma_t = {node.sigma}); "
                "these samplers need alpha_t > 0 and sigma_t > 0 on [eps, T] (sigma_eps = 0: choose a larger eps)"
            )
    return nodes


def times_at(sde: Any, lams: Sequence[float], like: Array) -> list[float]:
    """Times with half log-SNR ``lams`` (via :meth:`refsde.SDE.t_from_log_snr` of 2 lam), as floats."""
    if not lams:
        return []
    return host_floats(sde.t_from_log_snr(2.0 * _array(lams, like)))  # log_snr = 2 lam, one transfer


def nodes_at_lam(sde: Any, lams: Sequence[float], like: Array) -> list[Node]:
    """The nodes at the times whose half log-SNR is ``lams`` (lam recomputed from the time found)."""
    return nodes_at(sde, times_at(sde, lams, like), like)
