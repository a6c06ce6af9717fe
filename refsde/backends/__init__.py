"""Backend selection and registry.

Precedence (highest first): an explicit ``backend=`` argument, :func:`use_backend` /
:func:`set_backend`, the environment variable ``REFSDE_BACKEND`` (read on first use, not at import),
then ``numpy``.  ``REFSDE_DEVICE`` and ``REFSDE_DTYPE`` choose the device and default float dtype of a
backend selected by name.  Third-party backends register under the entry-point group
``refsde.backends`` (name -> :class:`~refsde.backends.base.Backend` subclass or factory).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import numbers
import os
from typing import Any, Callable, Iterator

from .base import RNG, Backend

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "RNG",
    "available_backends",
    "backend_of",
    "get_backend",
    "make_rng",
    "set_backend",
    "use_backend",
]


class BackendUnavailableError(RuntimeError):
    """A known backend cannot be used here (library not installed, no GPU, ...); the message says why."""


# name -> "module:attribute" of the plugin class, imported only when the backend is first used.
_BUILTIN: dict[str, str] = {
    "numpy": "refsde.backends.numpy_backend:NumpyBackend",
    "torch": "refsde.backends.torch_backend:TorchBackend",
    "cupy": "refsde.backends.cupy_backend:CupyBackend",
    "jax": "refsde.backends.jax_backend:JaxBackend",
    "array_api_strict": "refsde.backends.array_api_strict_backend:ArrayApiStrictBackend",
}
_INSTALL_HINT = {
    "torch": "pip install 'refsde[torch]' (CPU: pip install torch==2.13.0)",
    "cupy": "pip install 'refsde[cupy]' (needs an NVIDIA GPU)",
    "jax": "pip install 'refsde[jax]'",
    "array_api_strict": "pip install array-api-strict",
}

_cache: dict[tuple[str, str | None, str | None], Backend] = {}
_global_choice: Backend | None = None
_context_choice: contextvars.ContextVar[Backend | None] = contextvars.ContextVar("refsde_backend", default=None)


def _entry_point_factories() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="refsde.backends")}


def available_backends() -> list[str]:
    """Names that :func:`get_backend` accepts (built-in and entry-point plugins; not necessarily usable)."""
    return sorted(set(_BUILTIN) | set(_entry_point_factories()))


def _missing_library(name: str, exc: ModuleNotFoundError) -> BackendUnavailableError | None:
    """The error to raise when ``exc`` says that built-in backend ``name``'s own library is missing."""
    library = {"array_api_strict": "array_api_strict"}.get(name, name)
    if name in _BUILTIN and exc.name is not None and exc.name.split(".")[0] == library:
        return BackendUnavailableError(
            f"backend {name!r} needs {library}, which is not installed: {_INSTALL_HINT.get(name, '')}"
        )
    return None


def _load_factory(name: str) -> Callable[..., Backend]:
    if name in _BUILTIN:
        module, attr = _BUILTIN[name].split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            missing = _missing_library(name, exc)
            if missing is not None:
                raise missing from exc
            raise
    plugins = _entry_point_factories()
    if name in plugins:
        try:
            return plugins[name].load()
        except ImportError as exc:  # the plugin's package or its array library is not installed
            raise BackendUnavailableError(
                f"backend plugin {name!r} ({getattr(plugins[name], 'value', '?')}) cannot be imported: {exc}"
            ) from exc
    raise ValueError(f"unknown backend {name!r}; available backends: {', '.join(available_backends())}")


def _call_factory(name: str, factory: Callable[..., Backend], device: str | None, dtype: str | None) -> Any:
    """Call a Backend subclass (or factory taking device=, dtype=) or, as documented, a zero-argument factory."""
    try:
        zero_argument = not isinstance(factory, type) and not inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no introspectable signature: assume the Backend calling convention
        zero_argument = False
    if not zero_argument:
        return factory(device=device, dtype=dtype)
    if device is not None or dtype is not None:
        raise ValueError(
            f"backend plugin {name!r} is a zero-argument factory and cannot honour device={device!r}, dtype={dtype!r}"
        )
    return factory()


def _make(name: str, device: str | None = None, dtype: str | None = None) -> Backend:
    key = (name, device, dtype)
    if key not in _cache:
        factory = _load_factory(name)
        try:
            backend = _call_factory(name, factory, device, dtype)
        except ModuleNotFoundError as exc:
            # cupy, jax and array_api_strict are imported in the plugin's __init__, not at module level
            missing = _missing_library(name, exc)
            if missing is not None:
                raise missing from exc
            raise
        if not isinstance(backend, Backend):
            raise TypeError(f"backend plugin {name!r} returned {type(backend).__name__}, not a refsde Backend")
        backend.default_dtype  # an unsupported dtype (REFSDE_DTYPE=float16) fails here, at selection
        _cache[key] = backend
    return _cache[key]


def _resolve(spec: str | Backend, device: str | None = None, dtype: str | None = None) -> Backend:
    if isinstance(spec, Backend):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"backend must be a name or a Backend, not {type(spec).__name__}")
    name = spec.strip().lower()
    if device is None:
        # REFSDE_DEVICE belongs to the backend REFSDE_BACKEND names (or to any backend when that is unset),
        # so REFSDE_BACKEND=torch REFSDE_DEVICE=cuda leaves get_backend("numpy") on the CPU.
        env_backend = (os.environ.get("REFSDE_BACKEND") or "").strip().lower()
        if not env_backend or env_backend == name:
            device = os.environ.get("REFSDE_DEVICE") or None
    if dtype is None:
        dtype = os.environ.get("REFSDE_DTYPE") or None
    return _make(name, device, dtype)


def get_backend(backend: str | Backend | None = None, *, device: str | None = None, dtype: str | None = None) -> Backend:
    """The backend to use: ``backend`` if given, else the active choice (context > global > env > numpy)."""
    if backend is not None:
        return _resolve(backend, device, dtype)
    chosen = _context_choice.get() or _global_choice
    if chosen is not None:
        return chosen
    return _resolve(os.environ.get("REFSDE_BACKEND") or "numpy", device, dtype)


def set_backend(backend: str | Backend | None, *, device: str | None = None, dtype: str | None = None) -> None:
    """Select the process-wide default backend (``None`` returns to ``REFSDE_BACKEND`` / numpy)."""
    global _global_choice
    _global_choice = None if backend is None else _resolve(backend, device, dtype)


@contextlib.contextmanager
def use_backend(backend: str | Backend, *, device: str | None = None, dtype: str | None = None) -> Iterator[Backend]:
    """Context manager selecting a backend for the enclosed block (thread- and task-local)."""
    token = _context_choice.set(_resolve(backend, device, dtype))
    try:
        yield _context_choice.get()  # type: ignore[misc]
    finally:
        _context_choice.reset(token)


def backend_of(x: Any) -> Backend:
    """The backend that owns array ``x`` on ``x``'s device (the active backend when it matches)."""
    import array_api_compat as aac

    active = get_backend()
    if active.owns(x) and aac.device(x) == active.device:
        return active
    if aac.is_numpy_array(x):
        return _make("numpy", None, None)
    if aac.is_torch_array(x):
        return _make("torch", str(x.device), None)
    if aac.is_cupy_array(x):
        return _make("cupy", f"cuda:{x.device.id}", None)
    if aac.is_jax_array(x):
        return _make("jax", None, None)
    if aac.is_array_api_obj(x) and aac.is_array_api_strict_namespace(aac.array_namespace(x)):
        return _make("array_api_strict", getattr(x.device, "_device", None), None)
    raise TypeError(f"no refsde backend owns arrays of type {type(x).__module__}.{type(x).__name__}")


def make_rng(seed: int | RNG | None = None, backend: str | Backend | None = None) -> RNG:
    """An :class:`RNG` for ``backend`` (active backend if None) seeded by ``seed``; an RNG passes through."""
    if isinstance(seed, RNG):
        if backend is not None:
            wanted = get_backend(backend)
            if wanted.name != seed.backend.name:
                raise TypeError(f"rng belongs to backend {seed.backend.name!r}, not {wanted.name!r}")
            if str(wanted.device) != str(seed.backend.device):
                raise ValueError(
                    f"rng draws on device {seed.backend.device}, but the arrays are on {wanted.device}; "
                    f"make it with refsde.make_rng(seed, refsde.get_backend({wanted.name!r}, device=...))"
                )
        return seed
    # numbers.Integral, not int: NumPy integers (np.int64 seeds) are not int subclasses
    if seed is not None and not isinstance(seed, numbers.Integral):
        raise TypeError(f"rng must be an int seed, a refsde RNG or None, not {type(seed).__name__}")
    return get_backend(backend).rng(None if seed is None else int(seed))
