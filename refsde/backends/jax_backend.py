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
        self._device = jax.devices()[0] if device is None else self._find_device(jax, str(device))
        if dtype == "float64" and not jax.config.jax_enable_x64:
            from . import BackendUnavailableError

            raise BackendUnavailableError("jax float64 needs JAX_ENABLE_X64=1 (jax_enable_x64 is off)")

    @staticmethod
    def _find_device(jax: Any, spec: str) -> Any:
        """'cpu', 'gpu'/'cuda', 'cuda:N' / 'gpu:N', or a device's str(); jax.devices() lists only the default platform."""
        head, _, tail = spec.lower().partition(":")
        platform = {"cuda": "gpu"}.get(head, head)
        try:
            candidates = jax.devices(platform)
        except RuntimeError:
            candidates = []
        if candidates and (not tail or tail.isdigit()):
            index = int(tail) if tail else 0
            if index < len(candidates):
                return candidates[index]
        named = [d for d in jax.devices() if str(d) == spec]
        if named:
            return named[0]
        raise ValueError(f"jax has no device {spec!r}; default devices: {[str(d) for d in jax.devices()]}")

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
