"""Interleaved A/B timing: refsde (A) against a baseline (B) on the same work, in the same process.

Each repeat times A once and B once, alternating the order (AB, BA, AB, ...) so that a slow drift of the
machine (other processes, thermal state) hits both sides alike; every repeat gives one ratio
r_i = t_A,i / t_B,i and the summary is the median ratio with its interquartile range and min-max over the
repeats.  One untimed warm-up call of each side runs first (caches, lazy imports, allocator).  Wall time is
``time.perf_counter``; ``block`` (a function of the result, e.g. a tiny device-to-host copy) is called
inside the timed region so that asynchronous devices finish their work before the clock stops.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time
from typing import Any, Callable, Sequence


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Timings of ``repeats`` interleaved A/B pairs (seconds) and their per-repeat ratios A/B."""

    name: str
    times_a: tuple[float, ...]
    times_b: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(a / b for a, b in zip(self.times_a, self.times_b))

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ratio_iqr(self) -> tuple[float, float]:
        return quartiles(self.ratios)

    @property
    def median_a(self) -> float:
        return statistics.median(self.times_a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.times_b)


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """(25th, 75th) percentiles by linear interpolation (the min and max for fewer than 2 values)."""
    v = sorted(values)
    if len(v) < 2:
        return (v[0], v[0])

    def q(p: float) -> float:
        pos = p * (len(v) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (pos - lo) * (v[hi] - v[lo])

    return (q(0.25), q(0.75))


def _timed(fn: Callable[[], Any], block: Callable[[Any], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    block(fn())
    return time.perf_counter() - start


def compare(
    name: str,
    fn_a: Callable[[], Any],
    fn_b: Callable[[], Any],
    repeats: int,
    block: Callable[[Any], Any] = lambda result: None,
    warmup: bool = True,
) -> Comparison:
    """Time ``fn_a`` (refsde) and ``fn_b`` (baseline) ``repeats`` times each, interleaved AB, BA, AB, ...

    ``warmup=False`` skips the untimed warm-up calls (for callers that have just run both sides)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup:
        block(fn_a())  # warm-up, untimed
        block(fn_b())
    times_a: list[float] = []
    times_b: list[float] = []
    for i in range(repeats):
        if i % 2 == 0:
            times_a.append(_timed(fn_a, block))
            times_b.append(_timed(fn_b, block))
        else:
            times_b.append(_timed(fn_b, block))
            times_a.append(_timed(fn_a, block))
    return Comparison(name, tuple(times_a), tuple(times_b))


def time_once(fn: Callable[[], Any], block: Callable[[Any], Any] = lambda result: None) -> tuple[float, Any]:
    """(seconds, result) of one call of ``fn`` (no warm-up)."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    block(result)
    return time.perf_counter() - start, result
