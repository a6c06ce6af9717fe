"""A checked, counting wrapper around the user's ``score_fn(x, t)``."""

from __future__ import annotations

from typing import Callable

from .._arrays import Array, check_finite, namespace_of


class CheckedScore:
    """Calls ``score_fn(x, t)`` with ``t`` a 0-d array, checks the result and counts evaluations.

    The result must be an array of x's namespace with x's shape (else ValueError / TypeError) and free
    of NaN (else ValueError naming the time); a different floating dtype is cast to x's dtype.
    ``nfe`` is the number of calls so far.
    """

    def __init__(self, score_fn: Callable[[Array, Array], Array]) -> None:
        if not callable(score_fn):
            raise TypeError("score_fn must be callable as score_fn(x, t)")
        self._fn = score_fn
        self.nfe = 0

    def __call__(self, x: Array, t: Array) -> Array:
        s = self._fn(x, t)
        self.nfe += 1
        xp = namespace_of(x, s)
        if not hasattr(s, "shape") or tuple(s.shape) != tuple(x.shape):
            shape = tuple(s.shape) if hasattr(s, "shape") else type(s).__name__
            raise ValueError(f"score_fn returned shape {shape}, expected {tuple(x.shape)} (the shape of x)")
        if not xp.isdtype(s.dtype, "real floating"):
            raise ValueError(f"score_fn returned dtype {s.dtype}, expected a real floating dtype")
        if s.dtype != x.dtype:
            s = xp.astype(s, x.dtype)
        try:
            check_finite(xp, s, "score_fn output")
        except ValueError:
            raise ValueError(f"score_fn output contains NaN at t = {float(t)}") from None
        return s
