"""Adaptive Dormand-Prince 5(4) with FSAL, step-size control and initial step exactly as
``scipy.integrate.solve_ivp(method="RK45")``, written in the Array API so that it stays on the device.

Two ways to run the step-size logic, with the same arithmetic:

* host floats (error_norm="batch" with ``sync_every=1``, the default and what ``log_likelihood`` uses): the
  loop reads the error norm, one host float per step attempt (the one device -> host transfer it needs
  anyway for its status), and does t, |h|, acceptance and the next |h| in Python floats as scipy does
  (float64; the stage times are cast to the state's dtype when they are passed to ``fun``).  Per attempt
  the device then only runs the stage combinations (one matmul each over the stacked state), the error
  norm and ``fun``: on small states, where every array operation costs its dispatch rather than its
  arithmetic, this is most of the saving over the array form below (the likelihood benchmark's overhead
  per attempt, backends/*/BENCH.md).
* array arithmetic (error_norm="sample", or ``sync_every > 1``): t and |h| are 0-d arrays (one step size
  for the batch) or arrays of shape (n,) (every sample has its own time and step; accepted samples
  advance, rejected ones retry, finished ones are frozen by masked ``where`` updates).  The loop needs one
  host bool per ``sync_every`` step attempts: the "all done / non-finite / step too small" status, read
  with a single device -> host transfer.

Error control (Hairer, Norsett & Wanner I, II.4; scipy ``rk.py``): err = h sum_j E_j K_j,
||err|| = RMS of err / (atol + rtol max(|y_old|, |y_new|)); accept when ||err|| < 1; new |h| =
|h| min(10, 0.9 ||err||^(-1/5)) after an acceptance (capped at 1 right after a rejection), else
|h| max(0.2, 0.9 ||err||^(-1/5)).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from array_api_compat import device as device_of

from .._arrays import Array
from ._state import StageStack, State, axpy, full, rms, select

SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
ERROR_EXPONENT = -1.0 / 5.0  # -1 / (error estimator order 4 + 1)

# Dormand-Prince 5(4) tableau (Dormand & Prince 1980), as scipy's RK45
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
E = (-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40)  # 5th minus 4th order weights

# The tableau as one matrix over the stacked vectors (y, K_1, ..., K_7) (columns 0..7), to be multiplied
# by (1, h, ..., h) column-wise: rows 0-4 give the stage inputs y + h sum_j A[s][j] K_j (s = 1..5), row 5
# y_new = y + h sum_j B_j K_j, row 6 the error estimate h sum_j E_j K_j.
SLOTS = 8
_ROWS = [(1.0,) + a for a in A[1:]] + [(1.0,) + B, (0.0,) + E]
TABLEAU = tuple(row + (0.0,) * (SLOTS - len(row)) for row in _ROWS)
ROW_B, ROW_E = 5, 6

Fun = Callable[[Array, State], State]


def _too_many_steps(max_steps: int, t1: Any) -> RuntimeError:
    """The error of both step loops (device and host step control) when max_steps attempts did not reach t1."""
    return RuntimeError(f"rk45 exceeded max_steps={max_steps} step attempts before reaching t1={t1}; "
                        "raise max_steps or loosen rtol/atol")


def _too_stiff(rtol: float, atol: float) -> RuntimeError:
    """The error of both step loops when the step size fell below 10 ulp of t."""
    return RuntimeError("rk45: required step size fell below 10 ulp of t (the problem is too stiff or singular); "
                        f"try larger rtol/atol (rtol={rtol}, atol={atol})")


def _scaled(d: State, scale: State) -> State:
    """d / scale componentwise."""
    return tuple(a / s for a, s in zip(d, scale))


def select_initial_step(
    xp: Any, fun: Fun, t0: Array, y0: State, f0: State, t1: float, direction: float, rtol: float, atol: float,
    per_sample: bool,
) -> Array:
    """Initial |h| as scipy's ``select_initial_step`` (Hairer I, II.4), one per sample with per_sample."""
    interval = xp.abs(t1 - t0)
    scale = tuple(atol + xp.abs(a) * rtol for a in y0)
    d0 = rms(xp, _scaled(y0, scale), per_sample)
    d1 = rms(xp, _scaled(f0, scale), per_sample)
    one = xp.ones_like(d1)
    tiny = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = xp.where(tiny, 1e-6 * one, 0.01 * d0 / xp.where(tiny, one, d1))
    h0 = xp.minimum(h0, interval)  # do not step past t1
    y1 = axpy(y0, h0 * direction, f0)
    f1 = fun(t0 + h0 * direction, y1)
    d2 = rms(xp, _scaled(tuple(b - a for a, b in zip(f0, f1)), scale), per_sample) / h0
    flat = (d1 <= 1e-15) & (d2 <= 1e-15)
    dmax = xp.maximum(d1, d2)
    h1 = xp.where(flat, xp.maximum(1e-6 * one, h0 * 1e-3), (0.01 / xp.where(flat, one, dmax)) ** (1.0 / 5.0))
    return xp.minimum(xp.minimum(100.0 * h0, h1), interval)


class _Status:
    """Sticky device flags polled by the host loop."""

    def __init__(self, xp: Any, t: Array) -> None:
        false = t != t
        self.bad = false  # non-finite error norm (NaN/inf in a stage or the new state)
        self.small = false  # step size fell below 10 ulp of t
        self.bad_t = t  # the time at which a sample first went bad


def rk45(
    xp: Any,
    fun: Fun,
    y: State,
    t0: float,
    t1: float,
    *,
    rtol: float,
    atol: float,
    per_sample: bool,
    first_step: float | None,
    max_steps: int,
    sync_every: int,
    tick: Callable[[], None],
) -> tuple[State, dict[str, Any]]:
    """Integrate y' = fun(t, y) from t0 to t1 (either order); returns (y1, bookkeeping dict).

    Raises RuntimeError after ``max_steps`` step attempts or when the step size underflows, ValueError
    when the error norm (so a stage or the state) is NaN/inf, naming the time.
    """
    if not per_sample and sync_every == 1:
        return _rk45_host(xp, fun, y, t0, t1, rtol=rtol, atol=atol, first_step=first_step, max_steps=max_steps,
                          tick=tick)
    like = y[0]
    n = like.shape[0]
    direction = 1.0 if t1 > t0 else -1.0
    t = full(xp, (n,) if per_sample else (), t0, like)
    nfe = 0
    f = fun(t, y)
    nfe += 1
    if first_step is None:
        h_abs = select_initial_step(xp, fun, t, y, f, t1, direction, rtol, atol, per_sample)
        nfe += 1
    else:
        h_abs = full(xp, tuple(t.shape), first_step, like)
    zero = xp.zeros_like(t)
    rejected = t != t  # "step_rejected" of the current step (False at the start of every step)
    n_acc, n_rej = zero, zero
    status = _Status(xp, t)
    toward = full(xp, tuple(t.shape), direction * float("inf"), like)
    # loop constants, made once (each costs a dispatch per use on torch; values as in the expressions below)
    one = xp.ones_like(t)
    end = full(xp, tuple(t.shape), t1, like)
    max_factor, min_factor = MAX_FACTOR * one, MIN_FACTOR * one
    reduce_all = (lambda a: a) if t.ndim == 0 else xp.all  # a 0-d flag is its own all / any
    reduce_any = (lambda a: a) if t.ndim == 0 else xp.any
    times, accepted_flags = [t], []
    stages = StageStack(xp, y, SLOTS)
    tableau = xp.asarray(TABLEAU, dtype=like.dtype, device=device_of(like))  # (7, SLOTS)
    y_column = xp.asarray([True] + [False] * (SLOTS - 1), device=device_of(like))
    one_slots = xp.ones((SLOTS,), dtype=like.dtype, device=device_of(like))
    attempts = 0
    while True:
        if attempts % sync_every == 0:
            # the one host sync per poll: bit 0 all done, bit 1 non-finite, bit 2 step too small
            code = int(
                xp.astype(reduce_all(t == t1), xp.int32)
                + 2 * xp.astype(reduce_any(status.bad), xp.int32)
                + 4 * xp.astype(reduce_any(status.small), xp.int32)
            )
            if code & 2:
                when = _first_bad(xp, status.bad, status.bad_t, direction)
                raise ValueError(f"the ODE state became NaN or inf in a step starting at t = {when}")
            if code & 4:
                raise _too_stiff(rtol, atol)
            if code & 1:
                break
        if attempts >= max_steps:
            raise _too_many_steps(max_steps, t1)
        attempts += 1
        tick()
        active = t != t1
        min_step = 10.0 * xp.abs(xp.nextafter(t, toward) - t)
        h_abs = xp.where(rejected, h_abs, xp.maximum(h_abs, min_step))  # scipy clips |h| up at a step's start
        small = active & (h_abs < min_step)
        t_new = t + h_abs * direction
        t_new = xp.where(direction * (t_new - t1) > 0, end, t_new)  # land on t1
        h = t_new - t
        h_try = xp.abs(h)
        # Dormand-Prince stages with FSAL: K[0] = f(t, y) from the previous accepted step; every combination
        # below is one matmul of a row of TABLEAU * (1, h, ..., h) with the stacked (y, K_1, ..., K_7)
        if per_sample:  # a tableau per sample: (n, 7, SLOTS)
            coefs = tableau * xp.where(y_column, one_slots, h[:, None])[:, None, :]
        else:  # (1, 7, SLOTS): one row for the batch (StageStack: a (1, k) @ (k, n D) product)
            coefs = tableau[None, ...] * xp.where(y_column, one_slots, h)
        stages.put(0, y)
        stages.put(1, f)
        for s in range(1, 6):
            y_s = stages.combine(coefs[..., s - 1:s, :s + 1], 0, s + 1)
            stages.put(s + 1, fun(t + C[s] * h, y_s))
        nfe += 5
        y_new = stages.combine(coefs[..., ROW_B:ROW_B + 1, :SLOTS - 1], 0, SLOTS - 1)
        f_new = fun(t + h, y_new)
        nfe += 1
        stages.put(SLOTS - 1, f_new)
        err = stages.combine(coefs[..., ROW_E:ROW_E + 1, 1:], 1, SLOTS)
        scale = tuple(atol + xp.maximum(xp.abs(a), xp.abs(b)) * rtol for a, b in zip(y, y_new))
        err_norm = rms(xp, _scaled(err, scale), per_sample)  # Hairer I (4.11): RMS of err / (atol + rtol max|y|)
        bad = active & ~xp.isfinite(err_norm)
        status.bad_t = xp.where(bad & ~status.bad, t, status.bad_t)
        status.bad = status.bad | bad
        status.small = status.small | small
        accept = active & ~small & (err_norm < 1)
        positive = xp.where(err_norm > 0, err_norm, one)
        power = SAFETY * positive**ERROR_EXPONENT
        grow = xp.where(err_norm == 0, max_factor, xp.minimum(power, max_factor))
        grow = xp.where(rejected, xp.minimum(grow, one), grow)  # no growth right after a rejection
        shrink = xp.maximum(power, min_factor)
        h_abs = xp.where(active, h_try * xp.where(accept, grow, shrink), h_abs)
        rejected = xp.where(active, ~accept, rejected)
        y = select(xp, accept, y_new, y)
        f = select(xp, accept, f_new, f)  # FSAL: the last stage is the next step's first
        t = xp.where(accept, t_new, t)
        n_acc = n_acc + xp.astype(accept, t.dtype)
        n_rej = n_rej + xp.astype(active & ~accept, t.dtype)
        if not per_sample:
            times.append(t)
            accepted_flags.append(accept)
    book: dict[str, Any] = {"nfe": nfe, "n_attempts": attempts}
    if per_sample:
        book["accepted_per_sample"] = xp.astype(n_acc, xp.int64)
        book["rejected_per_sample"] = xp.astype(n_rej, xp.int64)
        book["n_accepted"] = int(xp.max(n_acc))
        book["n_rejected"] = int(xp.max(n_rej))
        book["ts"] = None
    else:
        book["n_accepted"] = int(n_acc)
        book["n_rejected"] = int(n_rej)
        if accepted_flags:
            keep = xp.stack([xp.ones_like(accepted_flags[0])] + accepted_flags)  # t0 and every accepted step's new time
            book["ts"] = xp.stack(times)[keep]
        else:
            book["ts"] = xp.stack(times)
    return y, book


def _host_ulp(t: float, direction: float, dtype_bits: int) -> float:
    """|nextafter(t, direction * inf) - t| in the state's floating format (the device path's ``min_step``)."""
    ftype = {16: np.float16, 32: np.float32}.get(dtype_bits, np.float64)
    tt = ftype(t)
    return float(abs(np.nextafter(tt, ftype(direction * np.inf)) - tt))


def _rk45_host(
    xp: Any, fun: Fun, y: State, t0: float, t1: float, *, rtol: float, atol: float, first_step: float | None,
    max_steps: int, tick: Callable[[], None],
) -> tuple[State, dict[str, Any]]:
    """:func:`rk45` for one step size for the batch with its status read every attempt: t, |h| and the step
    control are host floats (scipy's ``RK45._step_impl`` line by line), the one host read per attempt is
    the error norm."""
    like = y[0]
    dtype, dev = like.dtype, device_of(like)
    bits = int(xp.finfo(dtype).bits)
    direction = 1.0 if t1 > t0 else -1.0

    def time_arr(value: float) -> Array:
        return xp.asarray(value, dtype=dtype, device=dev)

    def call(value: float, state: State) -> State:  # fun at host time ``value`` (solve_ode's wrappers pass it on)
        return fun(time_arr(value), state, value)  # type: ignore[call-arg]

    nfe = 0
    t = t0
    f = call(t, y)
    nfe += 1
    if first_step is None:
        h_abs = float(select_initial_step(xp, fun, time_arr(t), y, f, t1, direction, rtol, atol, False))
        nfe += 1
    else:
        h_abs = float(first_step)
    stages = StageStack(xp, y, SLOTS)
    count = sum(math.prod(a.shape) for a in y)
    accepted_times = [t0]
    n_acc = n_rej = 0
    attempts = 0
    rejected = False  # "step_rejected" of the current step
    fresh = True  # y, f not yet in slots 0, 1
    while t != t1:
        if attempts >= max_steps:
            raise _too_many_steps(max_steps, t1)
        attempts += 1
        tick()
        min_step = 10.0 * _host_ulp(t, direction, bits)
        if not rejected:
            h_abs = max(h_abs, min_step)  # scipy clips |h| up at a step's start
        if h_abs < min_step:
            raise _too_stiff(rtol, atol)
        t_new = t + h_abs * direction
        if direction * (t_new - t1) > 0:
            t_new = t1  # land on t1
        h = t_new - t
        h_try = abs(h)
        # the tableau times (1, h, ..., h) column-wise, on the host: one small transfer per attempt
        coefs = xp.asarray([[a if j == 0 else a * h for j, a in enumerate(row)] for row in TABLEAU],
                           dtype=dtype, device=dev)  # (7, SLOTS)
        if fresh:
            stages.put(0, y)
            stages.put(1, f)
        for s in range(1, 6):
            y_s = stages.combine(coefs[..., s - 1:s, :s + 1], 0, s + 1)
            stages.put(s + 1, call(t + C[s] * h, y_s))
        nfe += 5
        new_flat = stages.combine_flat(coefs[..., ROW_B:ROW_B + 1, :SLOTS - 1], 0, SLOTS - 1)
        y_new = stages.split(new_flat) if new_flat is not None else \
            stages.combine(coefs[..., ROW_B:ROW_B + 1, :SLOTS - 1], 0, SLOTS - 1)
        f_new = call(t_new, y_new)
        nfe += 1
        stages.put(SLOTS - 1, f_new)
        err_flat = stages.combine_flat(coefs[..., ROW_E:ROW_E + 1, 1:], 1, SLOTS)
        if err_flat is not None:  # one pass over the stacked state
            y_flat = stages.slot_flat(0)
            scale = atol + xp.maximum(xp.abs(y_flat), xp.abs(new_flat)) * rtol
            q = err_flat / scale
            err_norm = math.sqrt(float(xp.sum(q * q)) / count)  # the one host read of the attempt
        else:
            err = stages.combine(coefs[..., ROW_E:ROW_E + 1, 1:], 1, SLOTS)
            scale_t = tuple(atol + xp.maximum(xp.abs(a), xp.abs(b)) * rtol for a, b in zip(y, y_new))
            err_norm = float(rms(xp, _scaled(err, scale_t), False))
        if not math.isfinite(err_norm):
            raise ValueError(f"the ODE state became NaN or inf in a step starting at t = {t}")
        if err_norm < 1:  # Hairer I (4.11): RMS of err / (atol + rtol max|y|)
            factor = MAX_FACTOR if err_norm == 0 else min(MAX_FACTOR, SAFETY * err_norm**ERROR_EXPONENT)
            if rejected:
                factor = min(1.0, factor)  # no growth right after a rejection
            h_abs = h_try * factor
            y, f, t = y_new, f_new, t_new  # FSAL: the last stage is the next step's first
            fresh = True
            rejected = False
            n_acc += 1
            accepted_times.append(t)
        else:
            h_abs = h_try * max(MIN_FACTOR, SAFETY * err_norm**ERROR_EXPONENT)
            rejected = True
            fresh = False  # y and f are still in slots 0, 1
            n_rej += 1
    book: dict[str, Any] = {"nfe": nfe, "n_attempts": attempts, "n_accepted": n_acc, "n_rejected": n_rej,
                            "ts": xp.asarray(accepted_times, dtype=dtype, device=dev)}
    return y, book


def _first_bad(xp: Any, bad: Array, bad_t: Array, direction: float) -> float:
    """The earliest (in integration order) time at which a sample went bad, as a host float."""
    if bad_t.ndim == 0:
        return float(bad_t)
    keyed = xp.where(bad, bad_t * direction, xp.full_like(bad_t, float("inf")))
    return float(xp.min(keyed)) * direction
