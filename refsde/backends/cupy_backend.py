"""CuPy backend (NVIDIA GPUs); jvp by central differences (documented in :meth:`Backend.jvp`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import RNG, Backend, Shape


class CupyRNG(RNG):
    def __init__(self, backend: "CupyBackend", seed: int | None) -> None:
        import cupy

        self.backend = backend
        with cupy.cuda.Device(backend.device.id):
            self._gen = cupy.random.default_rng(seed)

    def _dtype(self, dtype: Any) -> Any:
        return self.backend.default_dtype if dtype is None else dtype

    def normal(self, shape: Shape, *, dtype: Any = None) -> Any:
        return self._gen.standard_normal(tuple(shape), dtype=self._dtype(dtype))

    def uniform(self, shape: Shape, *, low: float = 0.0, high: float = 1.0, dtype: Any = None) -> Any:
        return low + (high - low) * self._gen.random(tuple(shape), dtype=self._dtype(dtype))


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self, device: str | None = None, dtype: str | None = None) -> None:
        super().__init__(device, dtype)
        import cupy

        from . import BackendUnavailableError

        try:
            available = cupy.cuda.is_available()
        except Exception as exc:  # CUDA driver/runtime missing or broken
            raise BackendUnavailableError(f"cupy is installed but CUDA is unusable: {exc}") from exc
        if not available:
            raise BackendUnavailableError("cupy is installed but cupy.cuda.is_available() is False (no GPU)")
        spec = "cuda" if device is None else str(device).strip().lower()
        head, _, tail = spec.partition(":")
        if head != "cuda" or (tail and not tail.isdigit()):
            raise ValueError(f"cupy backend has only CUDA devices ('cuda' or 'cuda:N'), not {device!r}")
        index = int(tail) if tail else 0
        self._device = cupy.cuda.Device(index)

    @property
    def xp(self) -> Any:
        import array_api_compat.cupy as xp

        return xp

    @property
    def device(self) -> Any:
        return self._device

    def rng(self, seed: int | None = None) -> RNG:
        return CupyRNG(self, seed)

    def to_numpy(self, x: Any) -> np.ndarray:
        import cupy

        return cupy.asnumpy(x)
