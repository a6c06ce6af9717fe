"""The ODE state: a tuple of batch-first arrays of one namespace, dtype and device, and arithmetic on it.

Shared by the fixed-step and adaptive solvers.  A coefficient ``c`` multiplying a state array is a Python
float, a 0-d array or (per-sample steps) an array of shape (n,), broadcast against (n, *dims).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import Array, namespace_of

State = tuple[Array, ...]


def check_y0(y0: Any) -> tuple[State, bool, Any]:
    """(state tuple, whether y0 was a single array, namespace); raises for bad shapes, dtypes or NaN/inf."""
    single = not isinstance(y0, (tuple, list))
    state = (y0,) if single else tuple(y0)
    if not state:
        raise ValueError("y0 must be an array or a non-empty tuple of arrays")
    xp = namespace_of(*state)
    if xp is None or any(isinstance(a, (int, float, bool)) for a in state):
        raise TypeError("y0 must be an array or a tuple of arrays (Python scalars are not a state)")
    dtype = state[0].dtype
    for i, a in enumerate(state):
        if not xp.isdtype(a.dtype, "real floating"):
            raise TypeError(f"y0[{i}] must be a real floating array, got dtype {a.dtype}")
        if a.dtype != dtype:
            raise ValueError(f"all state arrays must share one dtype: y0[0] is {dtype}, y0[{i}] is {a.dtype}")
        if a.ndim < 1:
            raise ValueError(f"y0[{i}] must be batch-first with shape (n, ...), got shape ()")
        if a.shape[0] != state[0].shape[0]:
            raise ValueError(
                f"all state arrays must share the batch size: y0[0] has {state[0].shape[0]}, y0[{i}] has {a.shape[0]}"
            )
    if not all_finite(xp, state):
        raise ValueError("y0 contains NaN or inf")
    return state, single, xp


def all_finite(xp: Any, state: State) -> bool:
    """Host bool: every entry of every state array is finite (one sync per array)."""
    return all(bool(xp.all(xp.isfinite(a))) for a in state)


def bcast(c: Any, x: Array) -> Any:
    """A per-sample coefficient of shape (n,) reshaped to (n, 1, ..., 1) to broadcast against ``x``."""
    if hasattr(c, "ndim") and c.ndim == 1 and x.ndim > 1:
        xp = namespace_of(c)
        return xp.reshape(c, (c.shape[0],) + (1,) * (x.ndim - 1))
    return c


def axpy(y: State, h: Any, k: State) -> State:
    """y + h k componentwise; ``h`` a float, a 0-d array or per-sample (n,)."""
    return tuple(a + bcast(h, a) * b for a, b in zip(y, k))


def select(xp: Any, mask: Array, new: State, old: State) -> State:
    """where(mask, new, old) componentwise; ``mask`` 0-d or per-sample (n,)."""
    return tuple(xp.where(bcast(mask, a), a, b) for a, b in zip(new, old))


def rms(xp: Any, state: State, per_sample: bool) -> Array:
    """Root mean square over all components of all arrays (0-d), or per sample (shape (n,))."""
    if per_sample:
        total = None
        count = 0
        for a in state:
            flat = xp.reshape(a, (a.shape[0], -1))
            s = xp.sum(flat * flat, axis=1)
            total = s if total is None else total + s
            count += math.prod(a.shape[1:])
    else:
        total = None
        count = 0
        for a in state:
            s = xp.sum(a * a)
            total = s if total is None else total + s
            count += math.prod(a.shape)
    return xp.sqrt(total / count)  # RMS norm as scipy.integrate's common.norm


def checked_fun(fun: Callable[..., Any], state: State, single: bool) -> Callable[..., State]:
    """``fun`` called with the user's state layout (single array or tuple), its output checked for
    arity and shapes (host metadata only, no sync) and cast to the state's dtype.

    Private protocol for refsde's own right-hand sides: when ``fun`` has an attribute
    ``with_host_time(t, t_host, y)``, a solver that keeps its time on the host passes it as ``t_host`` (a
    Python float equal to ``t`` up to the state dtype's rounding) and that is called instead (the likelihood
    then evaluates the SDE's coefficients on the host, :func:`refsde.sde.reverse.host_coefficients`)."""
    shapes = [tuple(a.shape) for a in state]
    xp = namespace_of(*state)
    dtype = state[0].dtype
    with_host_time = getattr(fun, "with_host_time", None)

    def call(t: Array, y: State, t_host: float | None = None) -> State:
        if t_host is not None and with_host_time is not None:
            out = with_host_time(t, t_host, y[0] if single else y)
        else:
            out = fun(t, y[0] if single else y)
        out = (out,) if single and not isinstance(out, (tuple, list)) else tuple(out)
        if len(out) != len(shapes):
            raise ValueError(f"fun returned {len(out)} arrays, expected {len(shapes)} (one per state array)")
        fixed = []
        for i, (d, shape) in enumerate(zip(out, shapes)):
            if not hasattr(d, "shape") or tuple(d.shape) != shape:
                got = tuple(d.shape) if hasattr(d, "shape") else type(d).__name__
                raise ValueError(f"fun returned shape {got} for state array {i}, expected {shape}")
            fixed.append(d if d.dtype == dtype else xp.astype(d, dtype))
        return tuple(fixed)

    return call


def full(xp: Any, shape: tuple[int, ...], value: float, like: Array) -> Array:
    """An array of ``shape`` filled with ``value`` in ``like``'s namespace, dtype and device."""
    return xp.full(shape, value, dtype=like.dtype, device=device_of(like))


class StageStack:
    """The Runge-Kutta stages of a state stacked in one buffer, so that every linear combination
    y + h sum_j a_j k_j is a single ``matmul`` of a coefficient row with the stack (one pass over the
    state instead of two elementwise passes per term, and one call for all state arrays).

    The buffer has shape (slots, n, D), D = sum_i D_i, D_i = prod(dims_i): state array i occupies the
    columns offsets[i]:offsets[i] + D_i, and slot j holds the j-th vector (e.g. y, k_1, ..., k_7), written
    with ``__setitem__``.  One coefficient row for the batch is then a plain (1, k) @ (k, n D) product (a
    broadcast batched matmul over n was up to 10 x slower on small states); a row per sample is a batched
    (n, 1, k) @ (n, k, D) product over the permuted slots.  The result is split back into the state arrays
    by column slices (views where the library allows).  Namespaces without in-place updates (JAX) keep a
    list of slots per state array instead and stack the ones a combination needs.
    """

    def __init__(self, xp: Any, like: State, slots: int, in_place: bool | None = None) -> None:
        """``in_place=None`` probes whether ``like``'s arrays accept slice assignment."""
        self.xp = xp
        self.shapes = [tuple(a.shape) for a in like]
        n = like[0].shape[0]
        self.n = n
        self.flat = [(n, math.prod(s[1:])) for s in self.shapes]
        self.offsets = [0]
        for _, d in self.flat:
            self.offsets.append(self.offsets[-1] + d)
        self.width = self.offsets[-1]
        self.buffer: Any = xp.empty((slots, n, self.width), dtype=like[0].dtype, device=device_of(like[0]))
        self.lists: list[list[Any]] | None = None
        if in_place is None:
            try:
                self.buffer[0, :, 0:self.flat[0][1]] = xp.reshape(like[0], self.flat[0])
                in_place = True
            except (TypeError, NotImplementedError, AttributeError, ValueError):  # immutable arrays (JAX)
                in_place = False
        if not in_place:
            self.buffer = None
            self.lists = [[None] * slots for _ in like]

    def put(self, slot: int, state: State) -> None:
        """Store ``state`` (one array per component, the shapes given at construction) in ``slot``."""
        for i, a in enumerate(state):
            if self.lists is None:
                lo, hi = self.offsets[i], self.offsets[i + 1]
                if a.ndim == 1:  # (n,): one column, no reshape
                    self.buffer[slot, :, lo] = a
                else:
                    self.buffer[slot, :, lo:hi] = a if a.ndim == 2 else self.xp.reshape(a, self.flat[i])
            else:
                self.lists[i][slot] = self.xp.reshape(a, self.flat[i])

    def combine_flat(self, coefs: Array, start: int, stop: int) -> Array | None:
        """sum_{j=start}^{stop-1} coefs[..., j - start] slot_j over the whole buffer, shape (n, D); None in
        list mode (no buffer).  ``coefs``: (1, k) or (1, 1, k) for the batch, (n, 1, k) per sample."""
        if self.lists is not None:
            return None
        xp, k = self.xp, stop - start
        stages = self.buffer[start:stop, ...]
        if coefs.ndim == 2 or coefs.shape[0] == 1:  # one row: (1, k) @ (k, n D), the operator (no wrapper)
            row = coefs if coefs.ndim == 2 else coefs[0, ...]
            return xp.reshape(row @ xp.reshape(stages, (k, self.n * self.width)), (self.n, self.width))
        return (coefs @ xp.permute_dims(stages, (1, 0, 2)))[:, 0, :]  # a row per sample: (n, 1, k) @ (n, k, D)

    def slot_flat(self, slot: int) -> Array | None:
        """Slot ``slot`` of the buffer, shape (n, D) (a view); None in list mode."""
        return None if self.lists is not None else self.buffer[slot, ...]

    def split(self, flat: Array) -> State:
        """A (n, D) array of the buffer's columns (a combination's result) as the state arrays (n, *dims_i).

        State arrays of shape (n, D_i) are column slices (views), those of shape (n,) one column; only other
        shapes are reshaped (one call each: on small states every call costs more than its arithmetic)."""
        out = []
        for i, shape in enumerate(self.shapes):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            if len(shape) == 1:
                out.append(flat[:, lo])
            elif len(shape) == 2:
                out.append(flat[:, lo:hi])
            else:
                out.append(self.xp.reshape(flat[:, lo:hi], shape))
        return tuple(out)

    def combine(self, coefs: Array, start: int, stop: int) -> State:
        """sum_{j=start}^{stop-1} coefs[..., j - start] slot_j, componentwise.

        ``coefs`` has shape (1, stop - start) (one row for the batch) or (n, 1, stop - start) (a row per
        sample); returns arrays of the component shapes (n, *dims_i).
        """
        if self.lists is None:
            return self.split(self.combine_flat(coefs, start, stop))
        out = []
        for i, shape in enumerate(self.shapes):
            stages = self.xp.stack(self.lists[i][start:stop], axis=1)
            out.append(self.xp.reshape(self.xp.matmul(coefs, stages), shape))  # (n, 1, D_i) -> (n, *dims_i)
        return tuple(out)
