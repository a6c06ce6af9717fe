"""NaN detection for the fixed-step samplers: the state, every few steps, with one fused reduction.

Checking every score output for NaN costs an extra pass over the output and a device -> host sync per
evaluation.  A NaN in a score output always reaches the state (every update adds c * s, and IEEE
arithmetic propagates NaN through c * s even for c = 0), so the samplers check the score's first output
only (:class:`refsde.sampling._score.CheckedScore` with ``nan="first"``, which names the time), and then
the *state*: ``isnan(sum(x))`` every :data:`CHECK_EVERY` steps and after the last step (one reduction and
one host bool per check; a NaN sum is confirmed by an exact ``any(isnan(x))`` before raising, so a sum
that only overflowed raises nothing).  A NaN is therefore reported at most CHECK_EVERY - 1 steps after it
appeared, with the window of times where it appeared; the run stops there.

A prediction that reaches the state only as the *input* of a later score call (DPM-Solver-3's first
stage) would be lost by a score that maps a NaN input to a finite output; such a value is registered with
:meth:`NaNWatch.also`, a device-side flag folded into the same host read.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .._arrays import Array, any_true, namespace_of

CHECK_EVERY = 16


class NaNWatch:
    """``after(k, x)``: check the state x after grid step k (a no-op except every CHECK_EVERY steps and at the end)."""

    def __init__(self, x: Array, times: Sequence[float], every: int = CHECK_EVERY) -> None:
        self._xp = namespace_of(x)
        self._times = times
        self._n = len(times) - 1
        self._every = every
        self._checked = 0  # steps known to be NaN-free
        self._side: Array | None = None  # 0-d bool: a value registered with also() held NaN

    def also(self, a: Array) -> None:
        """Watch ``a`` too (a score output that reaches the state only through a later score call's input);
        one reduction on the device, no host read."""
        flag = self._xp.any(self._xp.isnan(a))
        self._side = flag if self._side is None else self._side | flag

    def after(self, k: int, x: Array) -> None:
        if (k + 1) % self._every == 0 or k + 1 == self._n:
            self.check(k, x)

    def check(self, k: int, x: Array) -> None:
        """Raise ValueError if x (the state after step k), or a value given to :meth:`also`, contains NaN."""
        xp = self._xp
        if self._side is None:
            bad = has_nan(xp, x)
        else:  # one host read for both; an exact check only when it fires
            bad = any_true(xp, xp.isnan(xp.sum(x)) | self._side) and (
                any_true(xp, self._side) or any_true(xp, xp.isnan(x))
            )
        if bad:
            first = self._checked
            t0, t1 = self._times[first], self._times[k + 1]
            when = f"at t = {t0}" if t0 == t1 else f"t from {t0} down to {t1}"
            raise ValueError(
                f"the sampler state became NaN in steps {first}..{k} ({when}): score_fn returned NaN there, "
                "or an update overflowed"
            )
        self._checked = k + 1

    def check_denoised(self, x: Array) -> None:
        """Raise ValueError if the output of the final denoising step contains NaN."""
        if has_nan(self._xp, x):
            raise ValueError(f"the denoised state contains NaN: score_fn returned NaN at t = {self._times[-1]}")


def has_nan(xp: Any, x: Array) -> bool:
    """Whether x contains NaN: a NaN sum (one fused reduction) confirmed by an exact ``any(isnan(x))``."""
    return math.isnan(float(xp.sum(x))) and any_true(xp, xp.isnan(x))
