"""NumPy backend (the float64 reference)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import RNG, Backend, Shape


class NumpyRNG(RNG):
    """PCG64 stream from ``numpy.random.Generator``; also serves backends whose arrays wrap NumPy."""

    def __init__(self, backend: Backend, seed: int | None) -> None:
        self.backend = backend
        self._gen = np.random.Generator(np.random.PCG64(seed))

    def _dtype(self, dtype: Any) -> Any:
        dt = self.backend.default_dtype if dtype is None else dtype
        return np.float32 if str(dt).endswith("float32") else np.float64

    def _wrap(self, a: np.ndarray, dtype: Any) -> Any:
        return self.backend.asarray(a, dtype=self.backend.default_dtype if dtype is None else dtype)

    def normal(self, shape: Shape, *, dtype: Any = None) -> Any:
        return self._wrap(self._gen.standard_normal(tuple(shape), dtype=self._dtype(dtype)), dtype)

    def uniform(self, shape: Shape, *, low: float = 0.0, high: float = 1.0, dtype: Any = None) -> Any:
        u = self._gen.random(tuple(shape), dtype=self._dtype(dtype))
        return self._wrap(low + (high - low) * u, dtype)

    def rademacher(self, shape: Shape, *, dtype: Any = None) -> Any:
        signs = 2.0 * self._gen.integers(0, 2, size=tuple(shape)) - 1.0
        return self._wrap(signs.astype(self._dtype(dtype)), dtype)


class NumpyBackend(Backend):
    name = "numpy"

    def __init__(self, device: str | None = None, dtype: str | None = None) -> None:
        super().__init__(device, dtype)
        if device not in (None, "cpu"):
            raise ValueError(f"numpy backend has only the 'cpu' device, not {device!r}")

    @property
    def xp(self) -> Any:
        import array_api_compat.numpy as xp

        return xp

    @property
    def device(self) -> Any:
        return "cpu"

    def owns(self, x: Any) -> bool:
        return isinstance(x, (np.ndarray, np.generic))

    def rng(self, seed: int | None = None) -> RNG:
        return NumpyRNG(self, seed)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)
