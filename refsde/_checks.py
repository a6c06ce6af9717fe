"""Input checks shared by every public function: scalars, names, states, time grids and the user's score.

One module, so that a bad argument gets the same message wherever it is passed:

* scalars: :func:`check_integer`, :func:`check_positive`, :func:`check_float`, :func:`check_eps`,
  :func:`check_probability`, and names: :func:`check_choice`;
* arrays: :func:`check_state` (a batch-first floating state without NaN), :func:`check_grid` (a
  decreasing time grid t_0 > ... > t_n inside (0, T], converted to host floats once) and
  :func:`check_probes` (explicit Hutchinson probes);
* the user's callable: :class:`CheckedScore`, the one wrapper around ``score_fn(x, t)`` used by the
  samplers, the likelihood, the reverse-time SDE and the losses (shape, dtype, library and NaN checks, and
  the count of evaluations).

Every check raises ``ValueError`` (``TypeError`` where the type itself is wrong) naming the argument.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, Iterable

from ._arrays import Array, check_finite, host_floats, namespace_of, require_floating


# ---- scalars and names ---------------------------------------------------------------------------------
def check_integer(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; bools, non-integral numbers and smaller values raise ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n}")
    return int(n)


def check_float(name: str, value: Any) -> float:
    """``value`` as a finite Python float (bools, NaN, inf and non-numbers raise ValueError)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite float, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite float, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite float, got {out}")
    return out


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``)."""
    bound = ">= 0" if allow_zero else "> 0"
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}") from None
    if math.isnan(out) or out < 0 or (out == 0 and not allow_zero) or math.isinf(out):
        raise ValueError(f"{name} must be finite and {bound}, got {out}")
    return out


def check_probability(name: str, value: Any) -> float:
    """``value`` as a float in the open interval (0, 1) (NaN raises)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}") from None
    if not 0.0 < out < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return out


def check_eps(sde: Any, eps: Any) -> float:
    """``eps`` as a float with 0 < eps < T (NaN and non-numbers raise ValueError)."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a float with 0 < eps < T = {sde.T}, got {eps!r}") from None
    if math.isnan(value) or not (0.0 < value < sde.T):
        raise ValueError(f"eps must satisfy 0 < eps < T = {sde.T}, got {value}")
    return value


def check_choice(value: Any, choices: Iterable[Any], name: str) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    options = tuple(choices)
    # exact type and value (an array or a bool never matches a name; None matches None)
    if not any(value is c or (type(value) is type(c) and value == c) for c in options):
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(repr(c) for c in options)}")
    return value


# ---- arrays ---------------------------------------------------------------------------------------------
def check_state(x: Array, name: str = "x_T") -> Any:
    """The namespace of the batch-first floating state ``x`` of shape (n, *dims), n >= 1; NaN raises."""
    xp = namespace_of(x)
    if xp is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    require_floating(xp, x, name)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, *dims) with n >= 1, got shape {tuple(x.shape)}")
    check_finite(xp, x, name)
    return xp


def check_grid(grid: Any, T: float, *, lower: float = 0.0, name: str = "grid") -> list[float]:
    """A time grid as host floats: 1-d, at least 2 points, strictly decreasing, every time in (lower, T].

    ``grid`` is a sequence of floats or a 1-d array of any namespace (read to the host once).  The
    ValueError names the first bad index.  ``lower = 0`` excludes t = 0 (every score is singular there).
    """
    if isinstance(grid, (str, bytes)):
        raise ValueError(f"{name} must be a 1-d array of times, got {grid!r}")
    if hasattr(grid, "shape") and hasattr(grid, "dtype"):
        if len(grid.shape) != 1:
            raise ValueError(f"{name} must be a 1-d array of times, got shape {tuple(grid.shape)}")
        times = host_floats(grid)
    else:
        try:
            times = [float(t) for t in grid]
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a 1-d array or sequence of float times, got {grid!r}") from None
    if len(times) < 2:
        raise ValueError(f"{name} must have at least 2 points (one step), got {len(times)}")
    for k, t in enumerate(times):
        if math.isnan(t):
            raise ValueError(f"{name}[{k}] is NaN")
        if not lower < t <= T:
            raise ValueError(f"{name}[{k}] = {t} lies outside ({lower}, T = {T}]")
        if k > 0 and not t < times[k - 1]:
            raise ValueError(f"{name} must be strictly decreasing: {name}[{k}] = {t} >= {name}[{k - 1}] = {times[k - 1]}")
    return times


def check_probes(probes: Array, x: Array, n_probes: Any) -> Array:
    """Explicit Hutchinson probes: shape (n_probes, *x.shape), x's namespace, finite, cast to x's dtype.

    ``n_probes`` None accepts any leading size; an int must equal ``probes.shape[0]``.
    """
    xp = namespace_of(x, probes)
    require_floating(xp, probes, "probes")
    shape = tuple(probes.shape)
    if len(shape) != x.ndim + 1 or shape[1:] != tuple(x.shape) or shape[0] < 1:
        want = ", ".join(map(str, x.shape))
        raise ValueError(f"probes must have shape (n_probes, *x.shape) = (k, {want}), got {shape}")
    if n_probes is not None and check_integer(n_probes, "n_probes") != shape[0]:
        raise ValueError(f"n_probes = {n_probes} but probes has {shape[0]} probes (leading dimension)")
    check_finite(xp, probes, "probes")
    if bool(xp.any(xp.isinf(probes))):
        raise ValueError("probes contains an infinite value")
    return probes if probes.dtype == x.dtype else xp.astype(probes, x.dtype)


# ---- the user's score -----------------------------------------------------------------------------------
class CheckedScore:
    """Calls ``score_fn(x, t)``, checks the result and counts evaluations (``nfe``).

    The result must be an array of x's library with x's shape (else ValueError / TypeError); a different
    floating dtype is cast to x's dtype.  NaN, by ``nan``:

    * ``"always"``: every output is checked (one reduction and host read per call);
    * ``"first"``: the first output only, for callers that watch their state instead (the samplers' NaN
      watch and the ODE solver's status check: a NaN output always reaches the state, see
      :mod:`refsde.sampling._loop`), so the loop reads nothing from the device per call.

    Shape, dtype and array type are host metadata and checked on every call; the library and device
    (:func:`refsde._arrays.namespace_of`) on every call that checks NaN or converts.  ``name`` is the
    callable's name in messages (``"score_fn"``, ``"model"``).  :meth:`divergence` calls the score's own
    ``score_fn.divergence(x, t)`` (the Gaussian oracles have one) with the same checks, counted in
    ``divergence_calls``.
    """

    def __init__(self, score_fn: Callable[[Array, Any], Array], nan: str = "always", name: str = "score_fn") -> None:
        if not callable(score_fn):
            raise TypeError(f"{name} must be callable as {name}(x, t)")
        if nan not in ("always", "first"):
            raise ValueError(f"nan must be 'always' or 'first', got {nan!r}")
        self.fn = score_fn
        self.name = name
        self._check_nan = True
        self._nan_first_only = nan == "first"
        self._div_nan_checked = False
        self.nfe = 0
        self.divergence_calls = 0

    def __call__(self, x: Array, t: Any) -> Array:
        s = self.fn(x, t)
        self.nfe += 1
        if not hasattr(s, "shape") or tuple(s.shape) != tuple(x.shape):
            shape = tuple(s.shape) if hasattr(s, "shape") else type(s).__name__
            raise ValueError(f"{self.name} returned shape {shape}, expected {tuple(x.shape)} (the shape of x)")
        if type(s) is type(x) and s.dtype == x.dtype and not self._check_nan:
            return s  # fast path: same library and dtype as the (floating) state, nothing to convert or check
        xp = namespace_of(x, s)
        if not xp.isdtype(s.dtype, "real floating"):
            raise ValueError(f"{self.name} returned dtype {s.dtype}, expected a real floating dtype")
        if s.dtype != x.dtype:
            s = xp.astype(s, x.dtype)
        if self._check_nan:
            try:
                check_finite(xp, s, f"{self.name} output")
            except ValueError:
                raise ValueError(f"{self.name} output contains NaN at t = {_describe(t)}") from None
            self._check_nan = not self._nan_first_only
        return s

    @property
    def oracle_divergence(self) -> Callable[[Array, Any], Array] | None:
        """``score_fn.divergence`` when the score object has a callable one, else None."""
        div = getattr(self.fn, "divergence", None)
        return div if callable(div) else None

    def divergence(self, x: Array, t: Any) -> Array:
        """The score's own divergence ``score_fn.divergence(x, t)``, checked to have shape (n,) (NaN: first call)."""
        div_fn = self.oracle_divergence
        if div_fn is None:
            raise TypeError(f"{self.name} has no divergence(x, t) method")
        d = div_fn(x, t)
        self.divergence_calls += 1
        n = x.shape[0]
        if not hasattr(d, "shape") or tuple(d.shape) != (n,):
            got = tuple(d.shape) if hasattr(d, "shape") else type(d).__name__
            raise ValueError(f"{self.name}.divergence returned shape {got}, expected ({n},)")
        if self._div_nan_checked and type(d) is type(x) and d.dtype == x.dtype:
            return d  # fast path (as __call__'s): checked once, same library and dtype, nothing to convert
        xp = namespace_of(x, d)
        if d.dtype != x.dtype:
            d = xp.astype(d, x.dtype)
        if not self._div_nan_checked:
            self._div_nan_checked = True
            if bool(xp.any(xp.isnan(d))):
                raise ValueError(f"{self.name}.divergence output contains NaN")
        return d


def _describe(t: Any) -> str:
    """t as text for an error message (a float when 0-d or a Python number)."""
    if isinstance(t, (int, float)) or getattr(t, "ndim", 0) == 0:
        return str(float(t))
    return f"one of the times of a t of shape {tuple(t.shape)}"
