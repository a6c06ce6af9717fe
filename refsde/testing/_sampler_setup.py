"""Shared set-up of the sampler and corrector checks: backend and dtypes, the exact score, seeds, outputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import Backend, get_backend
from ..gaussian import Gaussian
from . import _laws
from ._inputs import dtype_name, from_numpy, host, reference_dtype, require_shape, resolve_dtype, to_reference
from .errors import ConformanceError


def input_seed(seed: int) -> int:
    """The seed of the check's own draws (x_T, the corrector's x): derived from ``seed`` rather than equal to
    it, so that a candidate seeding its noise with the same small integer does not reuse the stream (its
    noise would then equal x_T's draws and the law would be wrong through no fault of its own)."""
    return (int(seed) * 1_000_003 + 271_828_183) % (2**31 - 1)


class Ctx:
    """Backend, dtypes, data case and exact score shared by the checks."""

    def __init__(self, check: str, ref: Any, backend: Any, dtype: Any, case: _laws.DataCase) -> None:
        self.check, self.ref, self.case = check, ref, case
        self.backend: Backend = get_backend(backend)
        self.dtype = resolve_dtype(self.backend, dtype)
        self.ref_dtype = reference_dtype(self.backend)
        self.np_dtype = np.float32 if dtype_name(self.backend, self.dtype) == "float32" else np.float64
        to = lambda a: from_numpy(self.backend, a, self.ref_dtype)  # noqa: E731
        data = Gaussian(to(case.m), to(case.cov))
        self.score_fn = data.score_fn(ref)  # casts to x's dtype on every call
        self.reference = repr(ref)

    def prior(self, n: int, seed: int) -> tuple[Any, np.ndarray]:
        """x_T ~ pi as an array of the check dtype, and its host float64 copy (the same rounded values)."""
        x = self.ref.prior_sample((n, self.case.d), rng=input_seed(seed), backend=self.backend, dtype=self.dtype)
        return x, host(self.backend, x)

    def output(self, out: Any, n: int, what: str) -> np.ndarray:
        """The candidate's x at eps as host float64 eigen-coordinates y = x Q, checked for shape and finiteness."""
        if isinstance(out, (tuple, list)) and len(out) == 2 and hasattr(out[0], "shape"):
            out = out[0]  # refsde-style (x, info) is accepted
        arr = to_reference(out, self.backend, check=self.check, name=what)
        require_shape(arr, (n, self.case.d), check=self.check, name=what)
        h = host(self.backend, arr)
        if not np.all(np.isfinite(h)):
            i = int(np.argmax(~np.all(np.isfinite(h), axis=1)))
            raise ConformanceError(
                self.check, f"{what} values", input=f"sample {i}", expected="finite values", got=repr(h[i]),
                reference=self.reference,
            )
        return h @ self.case.Q


def check_probabilities(**values: float) -> None:
    for key, value in values.items():
        if not 0.0 < float(value) < 1.0:  # also rejects NaN
            raise ValueError(f"{key} must lie in (0, 1), got {value!r}")


def check_common(ref: Any, n_steps: Any, eps: Any, method: Any, allowed: tuple[str, ...]) -> tuple[int, float]:
    if method is not None and method not in allowed:
        raise ValueError(f"method must be None or one of {allowed}, got {method!r}")
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    eps = float(eps)
    if not 0.0 < eps < float(ref.T):
        raise ValueError(f"eps must lie in (0, T) = (0, {ref.T}), got {eps}")
    return int(n_steps), eps
