"""JAX backend; float64 only when ``jax_enable_x64`` is on, else float32.  jvp by ``jax.jvp``."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .base import RNG, Backend, Shape


class JaxRNG(RNG):
    """Stateful wrapper over JAX's splittable keys: each draw consumes a fresh subkey."""

    def __init__(self, backend: "JaxBackend", seed: int | None) -> None:
        import jax

        self.backend = backend
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._key = jax.random.key(int(seed))

    def _next(self) -> Any:
        import jax

        self._key, sub = jax.random.split(self._key)
        return sub

    def _dtype(self, dtype: Any) -> Any:
        return self.backend.default_dtype if dtype is None else dtype

    def normal(self, shape: Shape, *, dtype: Any = None) -> Any:
        import jax

        return jax.random.normal(self._next(), tuple(shape), dtype=self._dtype(dtype))

    def uniform(self, shape: Shape, *, low: float = 0.0, high: float = 1.0, dtype: Any = None) -> Any:
        import jax

        return jax.random.uniform(self._next(), tuple(shape), dtype=self._dtype(dtype), minval=low, maxval=high)

    def rademacher(self, shape: Shape, *, dtype: Any = None) -> Any:
        import jax

        return jax.random.rademacher(self._next(), tuple(shape), dtype=self._dtype(dtype))


class JaxBackend(Backend):
    name = "jax"
    exact_jvp = True

    def __init__(self, device: str | None = None, dtype: str | None = None) -> None:
        super().__init__(device, dtype)
        import jax

        self._jax = jax
        devices = jax.devices()
        self._device = devices[0] if device is None else next(
            (d for d in jax.devices() if str(d) == device or d.platform == device), None
        )
        if self._device is None:
            raise ValueError(f"jax has no device {device!r}; it has {[str(d) for d in devices]}")
        if dtype == "float64" and not jax.config.jax_enable_x64:
            from . import BackendUnavailableError

            raise BackendUnavailableError("jax float64 needs JAX_ENABLE_X64=1 (jax_enable_x64 is off)")

    @property
    def xp(self) -> Any:
        import jax.numpy as jnp

        return jnp

    @property
    def device(self) -> Any:
        return self._device

    @property
    def default_dtype(self) -> Any:
        if self._dtype_request is not None:
            return self.dtype_from_name(self._dtype_request)
        return self.xp.float64 if self._jax.config.jax_enable_x64 else self.xp.float32

    def rng(self, seed: int | None = None) -> RNG:
        return JaxRNG(self, seed)

    def jvp(self, fn: Callable[[Any], Any], x: Any, v: Any) -> tuple[Any, Any]:
        return self._jax.jvp(fn, (x,), (v,))

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)
