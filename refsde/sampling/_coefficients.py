"""Time coefficients of a whole grid, evaluated once (vectorized, validated) and kept as host floats.

The fixed-step samplers need f(t), g(t)^2 and a few derived scalars at every step.  Calling
``sde.drift_coefficient(t_k)`` per step validated t_k (NaN and range checks: host syncs) and ran several
tiny 0-d array operations per step; that was most of the samplers' per-step overhead over a hand-written
loop.  Here every coefficient of the run is computed in one vectorized call of the SDE's public methods, in
the state's dtype and on its device (so exactly the arithmetic a 0-d evaluation does, elementwise), and
moved to the host in one transfer.  The values are the state dtype's numbers held in Python floats, so
``x * c`` rounds exactly as ``x * c_0d`` did (a float32 value is exact in a Python float and is cast back
exactly); results stay bit-identical to a per-step 0-d evaluation for the linear schedules (only + and *);
transcendental coefficients (sub-VP, VE, schedules) may differ in the last ulp where the library's
vectorized exp / log differs from its scalar one.
"""

from __future__ import annotations

from typing import Any, Sequence

from array_api_compat import device as device_of

from .._arrays import Array, namespace_of


def host_floats(a: Array) -> list[float]:
    """The entries of the 1-d array ``a`` as Python floats, in one device -> host transfer where possible."""
    tolist = getattr(a, "tolist", None)
    if tolist is not None:
        return [float(v) for v in tolist()]
    return [float(a[i]) for i in range(a.shape[0])]  # array_api_strict has no tolist


def time_array(times: Sequence[float], like: Array) -> Array:
    """``times`` as a 1-d array of ``like``'s namespace, dtype and device (each rounded to that dtype)."""
    xp = namespace_of(like)
    return xp.asarray([float(t) for t in times], dtype=like.dtype, device=device_of(like))


class DriftTable:
    """f(t) and g(t)^2 of ``sde`` at host times, one vectorized evaluation; ``f[t]``, ``g2[t]`` by time.

    Keys are the Python floats passed in (exactly the floats the caller later looks up).
    """

    def __init__(self, sde: Any, times: Sequence[float], like: Array) -> None:
        keys = list(dict.fromkeys(float(t) for t in times))  # unique, in order
        t = time_array(keys, like)
        f = host_floats(sde.drift_coefficient(t))  # validates every time once (NaN, [0, T])
        g2 = host_floats(sde.diffusion_squared(t))
        self.f = dict(zip(keys, f))
        self.g2 = dict(zip(keys, g2))


def sqrt_products(a: Sequence[float], b: Sequence[float], like: Array) -> list[float]:
    """sqrt(a_k b_k) computed in ``like``'s dtype, elementwise (as the 0-d ``xp.sqrt(a * b)`` would be)."""
    xp = namespace_of(like)
    return host_floats(xp.sqrt(time_array(a, like) * time_array(b, like)))


class GridTable:
    """Host coefficients of every step k of the grid t_0 = T > ... > t_{n_steps} = eps (left ends t_k).

    ``f[k]`` = f(t_k), ``g2[k]`` = g(t_k)^2, ``em_scale[k]`` = sqrt(g2[k] h_k) (the Euler-Maruyama noise
    scale, h_k = t_k - t_{k+1}), and ``alpha[i]`` = 1 - beta_i of chain level i for the Langevin
    corrector (set by :meth:`with_alphas`, else None).  Values are in the state's dtype (see module doc).
    """

    def __init__(self, sde: Any, times: Sequence[float], like: Array) -> None:
        left = [float(t) for t in times[:-1]]
        steps = [times[k] - times[k + 1] for k in range(len(left))]
        t = time_array(left, like)
        self.f = host_floats(sde.drift_coefficient(t))  # validates every grid time once
        g2 = sde.diffusion_squared(t)
        self.g2 = host_floats(g2)
        self.em_scale = host_floats(namespace_of(like).sqrt(g2 * time_array(steps, like)))  # sqrt(g^2 h)
        self.alpha: list[float] | None = None

    def with_alphas(self, alphas: list[float]) -> "GridTable":
        self.alpha = alphas
        return self
