"""A checked, counting wrapper around the user's ``score_fn(x, t)``."""

from __future__ import annotations

from typing import Callable

from .._arrays import Array, check_finite, namespace_of


class CheckedScore:
    """Calls ``score_fn(x, t)`` with ``t`` a 0-d array, checks the result and counts evaluations.

    The result must be an array of x's namespace with x's shape (else ValueError / TypeError) and free
    of NaN (else ValueError naming the time); a different floating dtype is cast to x's dtype.
    ``nfe`` is the number of calls so far.

    ``nan="always"`` checks every output for NaN (one reduction and host sync per call);
    ``nan="first"`` checks the first output only, for samplers that watch their state instead
    (:mod:`refsde.sampling._watch`, which explains why that still catches every NaN output).  Shape,
    dtype and array type are checked on every call (host metadata, no sync); the library and device
    (:func:`refsde._arrays.namespace_of`) on every call that checks NaN, so at least on the first.
    """

    def __init__(self, score_fn: Callable[[Array, Array], Array], nan: str = "always") -> None:
        if not callable(score_fn):
            raise TypeError("score_fn must be callable as score_fn(x, t)")
        if nan not in ("always", "first"):
            raise ValueError(f"nan must be 'always' or 'first', got {nan!r}")
        self._fn = score_fn
        self._check_nan = True
        self._nan_first_only = nan == "first"
        self.nfe = 0

    def __call__(self, x: Array, t: Array) -> Array:
        s = self._fn(x, t)
        self.nfe += 1
        if not hasattr(s, "shape") or tuple(s.shape) != tuple(x.shape):
            shape = tuple(s.shape) if hasattr(s, "shape") else type(s).__name__
            raise ValueError(f"score_fn returned shape {shape}, expected {tuple(x.shape)} (the shape of x)")
        if s.dtype == x.dtype and type(s) is type(x) and not self._check_nan:
            return s  # fast path: same library and dtype as the (floating) state, nothing to convert or check
        xp = namespace_of(x, s)
        if not xp.isdtype(s.dtype, "real floating"):
            raise ValueError(f"score_fn returned dtype {s.dtype}, expected a real floating dtype")
        if s.dtype != x.dtype:
            s = xp.astype(s, x.dtype)
        if self._check_nan:
            try:
                check_finite(xp, s, "score_fn output")
            except ValueError:
                raise ValueError(f"score_fn output contains NaN at t = {_describe(t)}") from None
            self._check_nan = not self._nan_first_only
        return s


def _describe(t: Array) -> str:
    """t as text for an error message (a float when 0-d)."""
    return str(float(t)) if getattr(t, "ndim", 0) == 0 else str(t)
