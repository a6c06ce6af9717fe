"""The fixed time grid shared by all samplers: t_k = T + k (eps - T) / n_steps, k = 0..n_steps.

Step k goes from t_k down to t_{k+1} = t_k - h_k with h_k = t_k - t_{k+1} (= (T - eps) / n_steps up to
rounding); t_0 = T and t_{n_steps} = eps exactly.  The grid points are computed as Python floats (the
same arithmetic as ``numpy.linspace(T, eps, n_steps + 1)``) and only then converted to the state's
dtype, so every backend sees the same step sizes.
"""

from __future__ import annotations

from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import Array, namespace_of
from ._checks import check_eps, check_n_steps


def grid_points(T: float, n_steps: int, eps: float) -> list[float]:
    """The n_steps + 1 grid times as Python floats, from T down to eps."""
    step = (eps - T) / n_steps
    times = [T + k * step for k in range(n_steps)]  # linspace(T, eps, n_steps + 1) without its endpoint
    times.append(eps)
    return times


def time_grid(sde: Any, n_steps: int, eps: float = 1e-3, *, like: Array | None = None) -> Array:
    """linspace(T, eps, n_steps + 1): shape (n_steps + 1,), decreasing.

    In ``like``'s namespace, dtype and device when given, else the active backend's default dtype.
    Raises ValueError for n_steps < 1 or eps outside (0, T).
    """
    n_steps = check_n_steps(n_steps)
    eps = check_eps(sde, eps)
    points = grid_points(sde.T, n_steps, eps)
    if like is None:
        from ..backends import get_backend

        return get_backend().asarray(points)
    xp = namespace_of(like)
    return xp.asarray(points, dtype=like.dtype, device=device_of(like))


def time_scalars(like: Array) -> Callable[[float], Array]:
    """``make(t)``: the host time t as a 0-d array of ``like``'s namespace, dtype and device (looked up once)."""
    xp, dtype, dev = namespace_of(like), like.dtype, device_of(like)

    def make(t: float) -> Array:
        return xp.asarray(t, dtype=dtype, device=dev)

    return make


def time_scalar(t: float, like: Array) -> Array:
    """The grid time ``t`` as a 0-d array of ``like``'s namespace, dtype and device."""
    xp = namespace_of(like)
    return xp.asarray(t, dtype=like.dtype, device=device_of(like))
