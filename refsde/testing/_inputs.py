"""Making check inputs and bringing candidate outputs, from any array library, to the reference backend.

A candidate may return arrays of any library that array-api-compat knows (NumPy, PyTorch, CuPy, JAX,
array-api-strict, ...), NumPy scalars or Python floats, whatever backend its inputs came from.
:func:`to_reference` converts them to the reference backend's arrays (DLPack first, a NumPy copy through
the owning backend's ``to_numpy`` when DLPack cannot cross devices or libraries).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import device as device_of, is_array_api_obj

from ..backends import Backend, backend_of
from .errors import ConformanceError, hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames


def resolve_dtype(backend: Backend, dtype: Any) -> Any:
    """``dtype`` as the backend's dtype object: None -> backend default; "float32"/"float64" by name."""
    if dtype is None:
        return backend.default_dtype
    if isinstance(dtype, str):
        return backend.dtype_from_name(dtype)
    return dtype


def dtype_name(backend: Backend, dtype: Any) -> str:
    return "float32" if dtype == backend.xp.float32 else "float64" if dtype == backend.xp.float64 else str(dtype)


def reference_dtype(backend: Backend) -> Any:
    """float64 where the backend has it (the reference is always evaluated at the highest precision)."""
    try:
        return backend.dtype_from_name("float64")
    except Exception:  # pragma: no cover - float64-less devices
        return backend.default_dtype


def from_numpy(backend: Backend, a: np.ndarray, dtype: Any) -> Any:
    return backend.asarray(np.ascontiguousarray(a), dtype=dtype)


def _to_numpy_any(obj: Any) -> np.ndarray:
    if isinstance(obj, (np.ndarray, np.generic)):
        return np.asarray(obj)
    if hasattr(obj, "detach"):  # torch tensors that require grad
        obj = obj.detach()
    try:
        return np.asarray(backend_of(obj).to_numpy(obj))
    except TypeError:
        try:
            return np.from_dlpack(obj)
        except Exception:
            return np.asarray(obj)


def to_reference(obj: Any, backend: Backend, *, check: str, name: str) -> Any:
    """Candidate output ``obj`` as a float64 array of ``backend`` on its device.

    Raises :class:`ConformanceError` (property ``name``) when ``obj`` is not real-valued numeric data.
    """
    ref_dtype = reference_dtype(backend)
    if isinstance(obj, (bool, int, float)) or isinstance(obj, np.generic) or not is_array_api_obj(obj):
        try:
            host = np.asarray(obj, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConformanceError(check, name, got=f"{type(obj).__name__}", note=f"not an array or float: {exc}") from exc
        return from_numpy(backend, host, ref_dtype)
    if backend.owns(obj) and device_of(obj) == backend.device:
        arr = obj
    else:
        src = obj.detach() if hasattr(obj, "detach") else obj
        try:
            arr = backend.xp.from_dlpack(src)
            if device_of(arr) != backend.device:
                raise BufferError("wrong device")
        except Exception:
            arr = from_numpy(backend, _to_numpy_any(obj), None)
    xp = backend.xp
    if not xp.isdtype(arr.dtype, ("real floating", "integral")):
        raise ConformanceError(check, name, got=f"array of dtype {arr.dtype}", note="expected a real floating array")
    return arr if arr.dtype == ref_dtype else xp.astype(arr, ref_dtype)


def to_shape_of_x(arr: Any, backend: Backend, x_shape: tuple[int, ...], *, check: str, name: str) -> Any:
    """A per-sample coefficient (shape (n,), score_sde style) or an array broadcastable to ``x_shape``,
    broadcast to ``x_shape``.  (When n equals the feature size, shape (n,) is read as per-sample.)"""
    xp = backend.xp
    n = x_shape[0]
    shape = tuple(arr.shape)
    if len(x_shape) > 1 and shape == (n,):
        arr = xp.reshape(arr, (n,) + (1,) * (len(x_shape) - 1))
    try:
        return xp.broadcast_to(arr, x_shape)
    except Exception as exc:
        raise ConformanceError(
            check,
            f"{name} shape",
            expected=f"shape ({n},) or broadcastable to {x_shape}",
            got=f"shape {shape}",
        ) from exc


def require_shape(arr: Any, shape: tuple[int, ...], *, check: str, name: str) -> None:
    if tuple(arr.shape) != tuple(shape):
        raise ConformanceError(check, f"{name} shape", expected=f"shape {tuple(shape)}", got=f"shape {tuple(arr.shape)}")


def host(backend: Backend, arr: Any) -> np.ndarray:
    """float64 NumPy copy for statistics and messages."""
    return np.asarray(backend.to_numpy(arr), dtype=np.float64)
