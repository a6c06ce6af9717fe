"""Fixed-step explicit Runge-Kutta methods as data: Euler, Heun (explicit trapezoid) and classic RK4.

The one definition of these schemes in refsde: :func:`refsde.ode.solve_ode` (fixed-step methods, the
likelihood's ``method="rk4"``...) and the probability-flow ODE sampler :func:`refsde.sampling.sample_ode`
both call :func:`rk_step`.

A :class:`Tableau` is a Butcher tableau whose rows are written as a scale times integer-like weights, so
that every combination is computed as ``y + (h p / q) (w_1 k_1 + w_2 k_2 + ...)``: the product of the step
with one scale, then one weighted sum (weights 1 are not multiplied, zero weights are skipped).  This is the
textbook form of each scheme (RK4: y + h/6 (k_1 + 2 k_2 + 2 k_3 + k_4)) and rounds as the hand-written
loops of the benchmarks and tests do.

``h`` is signed (negative when integrating backwards) and ``t`` a Python float; ``fun(t, y)`` receives the
stage time as a Python float (callers convert it to a 0-d array once, or look it up in a table of
precomputed coefficients: :func:`stage_times` lists them).  ``y`` is one array, or any object with ``+``
and multiplication by a float (:class:`TupleState` for the solver's tuple states).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .._arrays import Array, linspace_floats
from ._state import State

Scale = tuple[float, float]  # (p, q): the row's factor h p / q
Row = tuple[Scale, tuple[float, ...]]


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge-Kutta method: stage i >= 1 evaluates ``fun`` at t + c_i h on y + (h p_i / q_i)
    sum_j w_ij k_j (``stages[i - 1]``); the step returns y + (h p / q) sum_j v_j k_j (``final``)."""

    name: str
    order: int
    c: tuple[float, ...]
    stages: tuple[Row, ...]
    final: Row

    @property
    def n_stages(self) -> int:
        return len(self.c)


EULER = Tableau("euler", 1, (0.0,), (), ((1.0, 1.0), (1.0,)))  # y + h k_1
HEUN = Tableau("heun", 2, (0.0, 1.0), (((1.0, 1.0), (1.0,)),), ((1.0, 2.0), (1.0, 1.0)))  # y + h/2 (k_1 + k_2)
RK4 = Tableau(  # classic RK4: midpoint stages from k_1 and k_2, end stage from k_3, weights 1/6, 1/3, 1/3, 1/6
    "rk4", 4, (0.0, 0.5, 0.5, 1.0),
    (((1.0, 2.0), (1.0,)), ((1.0, 2.0), (0.0, 1.0)), ((1.0, 1.0), (0.0, 0.0, 1.0))),
    ((1.0, 6.0), (1.0, 2.0, 2.0, 1.0)),
)
TABLEAUS: dict[str, Tableau] = {tab.name: tab for tab in (EULER, HEUN, RK4)}


def _scaled(h: float, scale: Scale) -> float:
    p, q = scale
    return h * p / q if (p, q) != (1.0, 1.0) else h


def _weighted(ks: Sequence[Any], weights: Sequence[float]) -> Any:
    """sum_j w_j k_j in order, skipping zero weights and multiplications by 1."""
    acc = None
    for w, k in zip(weights, ks):
        if w == 0.0:
            continue
        term = k if w == 1.0 else w * k
        acc = term if acc is None else acc + term
    return acc


def rk_step(tab: Tableau, fun: Callable[[float, Any], Any], t: float, h: float, y: Any) -> Any:
    """One step of ``tab`` from t to t + h (``tab.n_stages`` evaluations of ``fun``)."""
    ks = [fun(t, y)]
    for c, (scale, w) in zip(tab.c[1:], tab.stages):
        ks.append(fun(t + c * h, y + _scaled(h, scale) * _weighted(ks, w)))
    scale, w = tab.final
    return y + _scaled(h, scale) * _weighted(ks, w)


def stage_times(tab: Tableau, t: float, h: float) -> list[float]:
    """The host times at which :func:`rk_step` evaluates ``fun`` in the step from t to t + h (the same floats)."""
    return [t] + [t + c * h for c in tab.c[1:]]


class TupleState:
    """A tuple of arrays with componentwise ``+`` and multiplication by a float, so that :func:`rk_step`
    steps the solver's tuple states (e.g. (x, log det)) with the same expressions as a single array."""

    __slots__ = ("parts",)

    def __init__(self, parts: State) -> None:
        self.parts = tuple(parts)

    def __add__(self, other: "TupleState") -> "TupleState":
        return TupleState(tuple(a + b for a, b in zip(self.parts, other.parts)))

    def __rmul__(self, c: float) -> "TupleState":
        return TupleState(tuple(c * a for a in self.parts))


def solve_fixed(xp: Any, fun: Callable[[Array, State], State], y: State, t0: float, t1: float, n_steps: int,
                method: str, bar: Any) -> tuple[State, Array, Array]:
    """Integrate with ``method`` on linspace(t0, t1, n_steps + 1); returns (y1, grid as an array, first
    non-finite grid time or NaN as a 0-d array).  No host sync inside the loop."""
    from array_api_compat import device as device_of

    like = y[0]
    dev = device_of(like)

    def ts(t: float) -> Array:
        return xp.asarray(t, dtype=like.dtype, device=dev)

    def f(t: float, state: TupleState) -> TupleState:
        return TupleState(fun(ts(t), state.parts))

    tab = TABLEAUS[method]
    times = linspace_floats(t0, t1, n_steps)
    nan = ts(float("nan"))
    bad_t = nan
    state = TupleState(y)
    for k in bar(range(n_steps)):
        state = rk_step(tab, f, times[k], times[k + 1] - times[k], state)
        finite = xp.all(xp.stack([xp.all(xp.isfinite(a)) for a in state.parts]))
        bad_t = xp.where(xp.isnan(bad_t) & ~finite, ts(times[k + 1]), bad_t)  # first time the state went bad
    return state.parts, xp.asarray(times, dtype=like.dtype, device=dev), bad_t
