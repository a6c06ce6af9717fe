"""``solve_ode``: one entry point for the fixed-step and adaptive solvers, with input validation."""

from __future__ import annotations

import math
from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import Array, progress_bar
from .._checks import check_float, check_integer
from ._state import check_y0, checked_fun
from .fixed_step import solve_fixed
from .info import ODEInfo
from .rk45 import rk45

METHODS = ("euler", "heun", "rk4", "rk45")
ERROR_NORMS = ("batch", "sample")
RTOL_MIN = 100 * 2.220446049250313e-16  # scipy's floor for rtol (100 float64 ulp)


def _bar(progress: bool, desc: str, total: int | None = None) -> Any:
    """A tqdm bar when asked for and installed, else None (a warning once when tqdm is missing)."""
    return progress_bar(progress, desc, total)


def solve_ode(
    fun: Callable[[Array, Any], Any],
    y0: Any,
    t0: float,
    t1: float,
    *,
    method: str = "rk45",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    n_steps: int | None = None,
    error_norm: str = "batch",
    first_step: float | None = None,
    max_steps: int = 100_000,
    progress: bool = False,
    sync_every: int = 1,
) -> tuple[Any, ODEInfo]:
    """Solve y' = fun(t, y) from t0 to t1 (t1 < t0 integrates backwards) and return (y(t1), info).

    Args:
        fun: ``fun(t, y)`` -> derivatives with y's layout (one array, or a tuple of arrays with the
            shapes of y).  ``t`` is a 0-d array of y's dtype and device for the fixed-step methods and
            for rk45 with error_norm="batch"; with error_norm="sample" it has shape (n,) (every sample
            has its own time).  Outputs of another floating dtype are cast to y's dtype.
        y0: the state at t0: an array of shape (n, ...), or a tuple of batch-first arrays sharing n,
            namespace, dtype and device (e.g. (x of shape (n, d), logdet of shape (n,))).  A single array
            in gives a single array out.
        t0, t1: Python floats, t0 != t1 or equal (then y0 is returned, nfe 0).
        method: "euler" (order 1), "heun" (2), "rk4" (4) on the grid linspace(t0, t1, n_steps + 1), or
            "rk45": adaptive Dormand-Prince 5(4) as ``scipy.integrate.solve_ivp(method="RK45")``.
        rtol, atol: tolerances of rk45 (rtol >= max(100 float64 ulp, 10 ulp of the state's dtype), atol >= 0); scalars for all components.
        n_steps: int >= 1, required by the fixed-step methods; must be None for rk45.
        error_norm: rk45 only.  "batch": one RMS error over every component of every state array and one
            step size for the batch (what scipy does on the flattened state).  "sample": RMS per sample
            and per-sample t and h; every sample takes the steps it would take alone.
        first_step: initial |h| for rk45 (0 < first_step <= |t1 - t0|); None selects it as scipy does.
        max_steps: rk45 gives up (RuntimeError) after this many step attempts (accepted + rejected).
        progress: a tqdm bar over steps / step attempts when tqdm is installed.
        sync_every: rk45 reads its termination/error status from the device once every this many step
            attempts (default 1: one device -> host read per attempt; a finished batch is frozen, so larger
            values only cost a few wasted evaluations).  With error_norm="batch" and sync_every=1 that read
            is the error norm itself and the step control runs in host floats, as scipy's (cheaper on small
            states: no 0-d device arithmetic per attempt); otherwise it is array arithmetic on the device.
            The fixed-step methods never sync in the loop.

    Returns:
        (y1, info): y1 with y0's layout, namespace, dtype and device; info an :class:`ODEInfo`.

    Raises:
        ValueError: bad method / n_steps / tolerance combination, bad shapes, NaN or inf in y0, or a state
            that becomes NaN/inf (the message names the time).  RuntimeError: max_steps exceeded or a step
            size below 10 ulp of t (rk45).
    """
    if not callable(fun):
        raise TypeError("fun must be callable as fun(t, y)")
    if method not in METHODS:
        raise ValueError(f"unknown ODE method {method!r}; choose one of {', '.join(map(repr, METHODS))}")
    if error_norm not in ERROR_NORMS:
        raise ValueError(f"unknown error_norm {error_norm!r}; choose 'batch' or 'sample'")
    state, single, xp = check_y0(y0)
    t0, t1 = check_float("t0", t0), check_float("t1", t1)
    if method == "rk45":
        if n_steps is not None:
            raise ValueError("n_steps must be None for the adaptive method 'rk45' (it chooses its own steps)")
        rtol, atol = check_float("rtol", rtol), check_float("atol", atol)
        # scipy's floor is 100 ulp of float64; a float32 state cannot resolve errors below a few of its own
        # ulp, so its floor is 10 float32 ulp (1.2e-6: rtol = 1e-5, the usual likelihood setting, is allowed)
        rtol_min = max(RTOL_MIN, 10.0 * float(xp.finfo(state[0].dtype).eps))
        if rtol < rtol_min:
            raise ValueError(f"rtol must be >= {rtol_min:.3g} (100 float64 ulp, and 10 ulp of the state's dtype "
                             f"{state[0].dtype}), got {rtol}")
        if atol < 0:
            raise ValueError(f"atol must be >= 0, got {atol}")
        if first_step is not None:
            first_step = check_float("first_step", first_step)
            if not 0 < first_step <= abs(t1 - t0) and t0 != t1:
                raise ValueError(f"first_step must satisfy 0 < first_step <= |t1 - t0| = {abs(t1 - t0)}, got {first_step}")
        max_steps = check_integer(max_steps, "max_steps", 1)
        sync_every = check_integer(sync_every, "sync_every", 1)
    else:
        if n_steps is None:
            raise ValueError(f"method {method!r} needs n_steps (an integer >= 1); use method='rk45' for adaptive steps")
        n_steps = check_integer(n_steps, "n_steps", 1)
    call = checked_fun(fun, state, single)
    counted = _Counter(call)

    if t0 == t1:
        out: Any = state
        info = ODEInfo(0, 0, 0, method, 0, xp.stack([xp.asarray(t0, dtype=state[0].dtype, device=device_of(state[0]))]))
    elif method == "rk45":
        bar = _bar(progress, "ode(rk45)")
        tick = (lambda: bar.update(1)) if bar is not None else (lambda: None)
        try:
            out, book = rk45(
                xp, counted, state, t0, t1, rtol=rtol, atol=atol, per_sample=error_norm == "sample",
                first_step=first_step, max_steps=max_steps, sync_every=sync_every, tick=tick,
            )
        finally:
            if bar is not None:
                bar.close()
        info = ODEInfo(
            counted.nfe, book["n_accepted"], book["n_rejected"], method, book["n_attempts"], book["ts"],
            book["accepted_per_sample"] if error_norm == "sample" else None,
            book["rejected_per_sample"] if error_norm == "sample" else None,
        )
    else:
        bar = _bar(progress, f"ode({method})", n_steps)

        def steps(r: range) -> Any:
            for k in r:
                yield k
                if bar is not None:
                    bar.update(1)

        try:
            out, grid, bad_t = solve_fixed(xp, counted, state, t0, t1, n_steps, method, steps)
        finally:
            if bar is not None:
                bar.close()
        bad = float(bad_t)  # one host sync at the end
        if not math.isnan(bad):
            raise ValueError(f"the ODE state became NaN or inf at t = {bad} (method {method!r})")
        info = ODEInfo(counted.nfe, n_steps, 0, method, n_steps, grid)
    return (out[0] if single else out), info


class _Counter:
    """Counts calls of the checked ``fun``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.nfe = fn, 0

    def __call__(self, t: Array, y: Any, t_host: float | None = None) -> Any:
        self.nfe += 1
        return self.fn(t, y) if t_host is None else self.fn(t, y, t_host)
