"""Array-API helpers shared by all math code: namespace detection, time validation and broadcasting, host
floats, and the optional progress bar of the loops.

Everything here takes the namespace from its inputs; the active backend is consulted only when no
input is an array (e.g. ``t`` given as a Python float and no ``x``).
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace, is_array_api_obj
from array_api_compat import device as device_of

Array = Any
_SCALARS = (int, float, bool)


def _library_name(xp: Any) -> str:
    name = getattr(xp, "__name__", repr(xp))
    return name.replace("array_api_compat.", "").split(".")[0]


def namespace_of(*objs: Any) -> Any:
    """The Array-API namespace of the array arguments (Python scalars and None are ignored).

    Raises ``TypeError`` naming both libraries when arrays of two libraries are mixed, and
    ``ValueError`` naming both devices when arrays live on two devices.  Returns None when no
    argument is an array.
    """
    arrays = [a for a in objs if a is not None and not isinstance(a, _SCALARS)]
    if not arrays:
        # NumPy returns 0-d results as numpy scalars (np.float64 subclasses float).  Next to arrays they
        # count as Python scalars (so np.float64 t may accompany a torch x), but alone they are NumPy
        # arrays: otherwise e.g. sde.diffusion(0.5) lost its namespace on the numpy backend.
        generics = [a for a in objs if isinstance(a, _SCALARS) and is_array_api_obj(a)]
        return array_namespace(generics[0]) if generics else None
    xp = None
    first = None
    for a in arrays:
        if not is_array_api_obj(a):
            raise TypeError(f"expected an array or a Python float, got {type(a).__module__}.{type(a).__name__}")
        a_xp = array_namespace(a)
        if xp is None:
            xp, first = a_xp, a
        elif a_xp is not xp:
            raise TypeError(
                f"arrays from two backends in one call: {_library_name(xp)} and {_library_name(a_xp)}; "
                "convert them to one library first"
            )
        elif device_of(a) != device_of(first) and None not in (device_of(a), device_of(first)):
            # (JAX tracers inside jax.jvp / jit report no device: nothing to compare)
            raise ValueError(f"arrays on two devices in one call: {device_of(first)} and {device_of(a)}")
    return xp


def require_floating(xp: Any, x: Array, name: str) -> None:
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name} must be a real floating array, got dtype {x.dtype}")


def any_true(xp: Any, mask: Array) -> bool:
    """Host-side ``bool(any(mask))`` (one device sync)."""
    return bool(xp.any(mask))


def check_finite(xp: Any, x: Array, name: str) -> None:
    if any_true(xp, xp.isnan(x)):
        raise ValueError(f"{name} contains NaN")


def as_time(t: Any, T: float, *, like: Array | None = None, backend: Any = None, check: bool = True) -> Array:
    """Validate ``t`` and return it as an array of ``like``'s namespace, float dtype and device.

    ``t`` may be a Python float, a 0-d array or a 1-d array of shape (n,) (or (1,)) where n is
    ``like.shape[0]``.  With no ``like`` the namespace comes from ``t`` itself, else from ``backend``.
    Raises ValueError for NaN, values outside [0, T], more than one dimension or a batch mismatch.
    """
    if like is not None:
        xp = namespace_of(like, t)
        dtype, device = like.dtype, device_of(like)
        if isinstance(t, _SCALARS):
            t_arr = xp.asarray(float(t), dtype=dtype, device=device)
        else:
            t_arr = t if t.dtype == dtype else xp.astype(t, dtype)
    elif isinstance(t, _SCALARS):
        if backend is None:
            from .backends import get_backend

            backend = get_backend()
        xp = backend.xp
        t_arr = backend.asarray(float(t))
    else:
        xp = namespace_of(t)
        if not xp.isdtype(t.dtype, "real floating"):
            t_arr = xp.astype(t, xp.float64 if _library_name(xp) != "jax" else xp.float32)
        else:
            t_arr = t
    if check:
        if t_arr.ndim > 1:
            raise ValueError(f"t must be a float, a 0-d array or shape (n,), got shape {tuple(t_arr.shape)}")
        if like is not None and t_arr.ndim == 1:
            if like.ndim == 0:
                raise ValueError("x must have a batch dimension when t has shape (n,)")
            if t_arr.shape[0] not in (1, like.shape[0]):
                raise ValueError(
                    f"batch mismatch: t has shape {tuple(t_arr.shape)} but x has batch size {like.shape[0]}"
                )
        if any_true(xp, xp.isnan(t_arr)):
            raise ValueError("t contains NaN")
        if any_true(xp, (t_arr < 0) | (t_arr > T)):
            lo, hi = float(xp.min(t_arr)), float(xp.max(t_arr))
            raise ValueError(f"t must lie in [0, T] = [0, {T}], got values in [{lo}, {hi}]")
    return t_arr


def host_floats(a: Array) -> list[float]:
    """The entries of the 1-d array ``a`` as Python floats, in one device -> host transfer where possible."""
    tolist = getattr(a, "tolist", None)
    if tolist is not None:
        return [float(v) for v in tolist()]
    return [float(a[i]) for i in range(a.shape[0])]  # array_api_strict has no tolist


def linspace_floats(t0: float, t1: float, n_steps: int) -> list[float]:
    """t_k = t0 + k (t1 - t0) / n_steps, k = 0..n_steps, as Python floats with t_{n_steps} = t1 exactly
    (numpy.linspace's arithmetic): the uniform grid of the samplers and the fixed-step ODE solvers."""
    step = (t1 - t0) / n_steps
    times = [t0 + k * step for k in range(n_steps)]
    times.append(t1)
    return times


def host_array(values: Any, like: Array | None = None) -> Array:
    """Python floats as a 1-d array of ``like``'s namespace, dtype and device (each value rounded once to that
    dtype), or of the active backend's default float dtype without ``like``."""
    if like is None:
        from .backends import get_backend

        return get_backend().asarray([float(v) for v in values])
    xp = namespace_of(like)
    return xp.asarray([float(v) for v in values], dtype=like.dtype, device=device_of(like))


def batch_broadcast(c: Array, x: Array) -> Array:
    """Reshape a per-sample coefficient of shape (n,) to (n, 1, ..., 1) so it broadcasts against ``x``."""
    if c.ndim == 1 and x.ndim > 1:
        xp = array_namespace(c)
        return xp.reshape(c, (c.shape[0],) + (1,) * (x.ndim - 1))
    return c


def sum_non_batch(xp: Any, x: Array) -> Array:
    """Sum over all axes but the first: shape (n, ...) -> (n,)."""
    if x.ndim <= 1:
        return x
    return xp.sum(xp.reshape(x, (x.shape[0], -1)), axis=1)


def n_features(x: Array) -> int:
    return int(math.prod(x.shape[1:]))


def softplus(xp: Any, x: Array) -> Array:
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return xp.where(x > 0, x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))


def progress_bar(enabled: bool, desc: str, total: int | None = None) -> Any:
    """A tqdm bar when ``enabled`` and tqdm is importable, else None; without tqdm a warning says so once per
    process (``progress=True`` is then a plain loop)."""
    global _WARNED_NO_TQDM
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if not _WARNED_NO_TQDM:
            _WARNED_NO_TQDM = True
            import warnings

            warnings.warn("progress=True needs tqdm (pip install tqdm); running without a progress bar",
                          stacklevel=3)
        return None
    return tqdm(total=total, desc=desc, leave=False)


_WARNED_NO_TQDM = False
