"""What a check is and where it is registered: :class:`Check`, :class:`Context`, :class:`Outcome`,
:class:`CheckResult`, :class:`SkipCheck`, :data:`REGISTRY` and :func:`register`.

A *check* is a function ``fn(ctx) -> Outcome`` registered under a unique name.  It computes on the
active backend (``ctx.backend``; arrays of that library, on its device) and converts to NumPy only the
final scalars of its statistic.  ``Outcome(statistic, threshold, detail)`` passes iff
``statistic <= threshold`` (NaN fails); every check is written so that its statistic is an error, a
distance or a normal-equivalent |z|, so "smaller is better" throughout.  A check that cannot run here
raises :class:`SkipCheck`; any other exception is reported as ERROR with its message.

Statistical checks draw from ``ctx.rng()``, seeded by ``--seed`` combined with a CRC32 of the check's
name, so a check gives the same numbers whether it runs alone (``--only``) or in the full suite.

This module imports no check module: the check modules import it to register themselves, and
:mod:`.runner` imports them (on first use) to fill the registry.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Callable

__all__ = ["Check", "CheckResult", "Context", "Outcome", "REGISTRY", "SkipCheck", "register"]


class SkipCheck(Exception):
    """Raised by a check that cannot run in this environment (the message is the reason)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a check measured: passes iff ``statistic <= threshold``."""

    statistic: float
    threshold: float
    detail: str = ""
    evidence: tuple = dataclasses.field(default=(), compare=False, repr=False)  # panels for figures (--impl --plots)

    @property
    def passed(self) -> bool:
        return bool(self.statistic <= self.threshold)  # NaN -> False


@dataclasses.dataclass
class CheckResult:
    """One row of the table.  ``passed`` is None for SKIP and ERROR."""

    name: str
    passed: bool | None
    statistic: float
    threshold: float
    seconds: float
    detail: str = ""
    error: bool = False
    evidence: tuple = dataclasses.field(default=(), compare=False, repr=False)  # refsde.testing.report panels
    piece: str = ""  # under --impl: the implementation's attribute(s) the row judged

    @property
    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        if self.passed is None:
            return "SKIP"
        return "PASS" if self.passed else "FAIL"


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[["Context"], Outcome]
    family: str = ""
    piece: str = ""  # an --impl row: the implementation's attribute(s) it judges


@dataclasses.dataclass
class Context:
    """What a check needs: the backend, the seed and helpers to make arrays of it."""

    backend: Any
    seed: int = 0
    name: str = ""

    @property
    def xp(self) -> Any:
        return self.backend.xp

    def rng(self, stream: str = "") -> Any:
        """A backend RNG seeded by (seed, check name, stream): reproducible and independent of order."""
        from refsde import make_rng

        key = f"{self.name}|{stream}".encode()
        return make_rng((int(self.seed) * 0x9E3779B1 + zlib.crc32(key)) % (2**63), self.backend)

    def f64(self, obj: Any) -> Any:
        """``obj`` as a float64 array of the backend (SkipCheck if the device has no float64)."""
        xp = self.xp
        if not hasattr(xp, "float64"):
            raise SkipCheck("this backend has no float64")
        try:
            return self.backend.asarray(obj, dtype=xp.float64)
        except (TypeError, RuntimeError) as exc:  # e.g. torch MPS
            raise SkipCheck(f"float64 unavailable on {self.backend.describe()}: {exc}") from exc

    def asarray(self, obj: Any, dtype: Any = None) -> Any:
        return self.backend.asarray(obj, dtype=dtype)

    def scalar(self, x: Any) -> float:
        """A backend 0-d (or size-1) array as a Python float, through ``backend.to_numpy``."""
        return float(self.backend.to_numpy(x).reshape(()))

    def numpy(self, x: Any) -> Any:
        return self.backend.to_numpy(x)


REGISTRY: list[Check] = []


def register(name: str, fn: Callable[[Context], Outcome], family: str = "") -> None:
    """Add a check (names must be unique)."""
    if any(c.name == name for c in REGISTRY):
        raise ValueError(f"duplicate check name {name!r}")
    REGISTRY.append(Check(name, fn, family))
