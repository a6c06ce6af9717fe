"""array-api-strict backend: the minimal standard namespace, used to prove refsde is portable."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import RNG, Backend
from .numpy_backend import NumpyRNG


class ArrayApiStrictBackend(Backend):
    name = "array_api_strict"

    def __init__(self, device: str | None = None, dtype: str | None = None) -> None:
        super().__init__(device, dtype)
        import array_api_strict

        self._xp = array_api_strict
        devices = list(array_api_strict.__array_namespace_info__().devices())
        if device is None:
            self._device = devices[0]
        else:
            # Devices print as "array_api_strict.Device('device1')": accept that, the bare name
            # ("device1", as REFSDE_DEVICE gives it) and "cpu" for CPU_DEVICE.
            wanted = "CPU_DEVICE" if device.lower() == "cpu" else device
            named = [d for d in devices if str(d) == device or getattr(d, "_device", None) == wanted]
            if not named:
                raise ValueError(f"array_api_strict has no device {device!r}; it has {devices}")
            self._device = named[0]

    @property
    def xp(self) -> Any:
        return self._xp

    @property
    def device(self) -> Any:
        return self._device

    def rng(self, seed: int | None = None) -> RNG:
        # array-api-strict has no random module; draw with NumPy's PCG64 and convert.
        return NumpyRNG(self, seed)

    def asarray(self, obj: Any, *, dtype: Any = None) -> Any:
        if isinstance(obj, np.ndarray):
            obj = obj.tolist() if obj.ndim == 0 else obj
        return super().asarray(obj, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.from_dlpack(x).copy()
