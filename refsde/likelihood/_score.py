"""A checked, counting wrapper around the user's ``score_fn(x, t)`` (and its optional ``divergence``).

Shape and dtype are host metadata and are checked on every call.  NaN needs a device -> host read, so
it is checked on the *first* call only (a score that is NaN everywhere fails there with a clear message);
a NaN appearing later reaches the ODE state, which :func:`refsde.ode.solve_ode` checks anyway (once per
step attempt for rk45, once at the end for fixed steps) and reports as a ValueError naming the time.
This keeps the likelihood ODE free of per-evaluation host syncs on accelerators.
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, namespace_of


def _has_nan(xp: Any, a: Array) -> bool:
    return bool(xp.any(xp.isnan(a)))


class CountingScore:
    """Calls ``score_fn(x, t)``, checks shape / dtype (every call) and NaN (first call) and counts calls.

    ``calls`` counts evaluations of the score itself, including those made inside a Jacobian-vector
    product (an autodiff jvp evaluates the function once, a central difference three times), so it is
    the honest number of network evaluations.  ``divergence_calls`` counts calls of the oracle
    ``score_fn.divergence(x, t)`` when it is used.
    """

    def __init__(self, score_fn: Callable[[Array, Any], Array]) -> None:
        if not callable(score_fn):
            raise TypeError("score_fn must be callable as score_fn(x, t)")
        self.fn = score_fn
        self.calls = 0
        self.divergence_calls = 0
        self._nan_checked = False
        self._div_nan_checked = False

    @property
    def oracle_divergence(self) -> Callable[[Array, Any], Array] | None:
        """``score_fn.divergence`` when the score object has a callable one, else None."""
        div = getattr(self.fn, "divergence", None)
        return div if callable(div) else None

    def __call__(self, x: Array, t: Any) -> Array:
        s = self.fn(x, t)
        self.calls += 1
        if not hasattr(s, "shape") or tuple(s.shape) != tuple(x.shape):
            got = tuple(s.shape) if hasattr(s, "shape") else type(s).__name__
            raise ValueError(f"score_fn returned shape {got}, expected {tuple(x.shape)} (the shape of x)")
        xp = namespace_of(x, s)
        if not xp.isdtype(s.dtype, "real floating"):
            raise ValueError(f"score_fn returned dtype {s.dtype}, expected a real floating dtype")
        if s.dtype != x.dtype:
            s = xp.astype(s, x.dtype)
        if not self._nan_checked:
            self._nan_checked = True
            if _has_nan(xp, s):
                raise ValueError("score_fn output contains NaN")
        return s

    def divergence(self, x: Array, t: Any) -> Array:
        """The oracle's divergence of the score, checked to have shape (n,) and no NaN."""
        div_fn = self.oracle_divergence
        if div_fn is None:
            raise TypeError("score_fn has no divergence(x, t) method")
        d = div_fn(x, t)
        self.divergence_calls += 1
        n = x.shape[0]
        if not hasattr(d, "shape") or tuple(d.shape) != (n,):
            got = tuple(d.shape) if hasattr(d, "shape") else type(d).__name__
            raise ValueError(f"score_fn.divergence returned shape {got}, expected ({n},)")
        xp = namespace_of(x, d)
        if d.dtype != x.dtype:
            d = xp.astype(d, x.dtype)
        if not self._div_nan_checked:
            self._div_nan_checked = True
            if _has_nan(xp, d):
                raise ValueError("score_fn.divergence output contains NaN")
        return d
