"""Registry, results table and command-line entry point of ``refsde validate``.

A *check* is a function ``fn(ctx) -> Outcome`` registered under a unique name.  It computes on the
active backend (``ctx.backend``; arrays of that library, on its device) and converts to NumPy only the
final scalars of its statistic.  ``Outcome(statistic, threshold, detail)`` passes iff
``statistic <= threshold`` (NaN fails); every check is written so that its statistic is an error, a
distance or a normal-equivalent |z|, so "smaller is better" throughout.  A check that cannot run here
raises :class:`SkipCheck`; any other exception is reported as ERROR with its message.

Statistical checks draw from ``ctx.rng()``, seeded by ``--seed`` combined with a CRC32 of the check's
name, so a check gives the same numbers whether it runs alone (``--only``) or in the full suite.

The exit code of :func:`run_cli` is 0 iff no check FAILed or ERRORed (SKIPs are allowed).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import traceback
import warnings
import zlib
from typing import Any, Callable, Iterable, Sequence

__all__ = [
    "Check",
    "CheckResult",
    "Context",
    "Outcome",
    "REGISTRY",
    "SkipCheck",
    "all_checks",
    "format_table",
    "register",
    "run",
    "run_checks",
    "run_cli",
]


class SkipCheck(Exception):
    """Raised by a check that cannot run in this environment (the message is the reason)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a check measured: passes iff ``statistic <= threshold``."""

    statistic: float
    threshold: float
    detail: str = ""

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
_LOADED = False


def register(name: str, fn: Callable[[Context], Outcome], family: str = "") -> None:
    """Add a check (names must be unique)."""
    if any(c.name == name for c in REGISTRY):
        raise ValueError(f"duplicate check name {name!r}")
    REGISTRY.append(Check(name, fn, family))


def all_checks() -> list[Check]:
    """The registered checks (importing the check modules on first use)."""
    global _LOADED
    if not _LOADED:
        from . import dogfood, forward_sde, gaussian_oracles  # noqa: F401  (they register at import)

        _LOADED = True
    return list(REGISTRY)


def run_checks(checks: Iterable[Check], backend: Any, seed: int = 0, echo: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run ``checks`` on ``backend`` and return their results (never raises for a failing check)."""
    results = []
    for check in checks:
        ctx = Context(backend=backend, seed=seed, name=check.name)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = check.fn(ctx)
                res = CheckResult(check.name, out.passed, float(out.statistic), float(out.threshold), 0.0, out.detail)
            except SkipCheck as exc:
                res = CheckResult(check.name, None, math.nan, math.nan, 0.0, str(exc))
            except Exception as exc:  # noqa: BLE001 - every failure becomes an ERROR row
                where = _where(exc)
                res = CheckResult(check.name, None, math.nan, math.nan, 0.0, f"{type(exc).__name__}: {exc}{where}", error=True)
        res.seconds = time.perf_counter() - start
        if caught:  # warnings do not decide a verdict; they are kept in the detail
            msgs = sorted({f"{w.category.__name__}: {w.message} ({os.path.basename(w.filename)}:{w.lineno})" for w in caught})
            res.detail = (res.detail + "; " if res.detail else "") + "warnings: " + " | ".join(msgs)
        results.append(res)
        if echo is not None:
            echo(res)
    return results


def _where(exc: BaseException) -> str:
    """' at file:line' of the innermost frame in refsde or the validation suite (else the innermost)."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    ours = [f for f in tb if f"{os.sep}refsde{os.sep}" in f.filename or f"{os.sep}validation{os.sep}" in f.filename]
    frame = (ours or tb)[-1]
    parent = os.path.basename(os.path.dirname(frame.filename))
    return f" at {parent}/{os.path.basename(frame.filename)}:{frame.lineno}"


def select(checks: Sequence[Check], only: str | None) -> list[Check]:
    if not only:
        return list(checks)
    return [c for c in checks if only in c.name]


def run(backend: Any = None, *, only: str | None = None, seed: int = 0, device: str | None = None, dtype: str | None = None) -> list[CheckResult]:
    """Run the registered checks on ``backend`` (name, Backend or None for the active one)."""
    import refsde

    be = refsde.get_backend(backend, device=device, dtype=dtype)
    with refsde.use_backend(be):
        return run_checks(select(all_checks(), only), be, seed)


# ---------------------------------------------------------------------------------------------------
# table
# ---------------------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.4g}"
    return f"{v:.3e}"


_HEADER = ("name", "verdict", "statistic", "threshold", "seconds")


def _widths(names: Iterable[str]) -> tuple[int, ...]:
    return (max([len(_HEADER[0])] + [len(n) for n in names]), 7, 11, 11, 8)


def format_row(res: CheckResult, widths: tuple[int, ...]) -> str:
    cells = (res.name, res.verdict, _fmt(res.statistic), _fmt(res.threshold), f"{res.seconds:.2f}")
    line = "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    if res.verdict != "PASS" and res.detail:
        line += "\n" + " " * 4 + res.detail.replace("\n", "\n    ")
    return line


def format_header(widths: tuple[int, ...]) -> str:
    head = "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(_HEADER, widths)))
    return head + "\n" + "-" * len(head)


def summary_line(results: Sequence[CheckResult], seconds: float, backend: Any = None) -> str:
    counts = {v: sum(r.verdict == v for r in results) for v in ("PASS", "FAIL", "SKIP", "ERROR")}
    ok = counts["FAIL"] == 0 and counts["ERROR"] == 0
    where = f" on {backend.describe()}" if backend is not None else ""
    return (
        f"{'OK' if ok else 'FAILED'}: {len(results)} checks, {counts['PASS']} passed, {counts['FAIL']} failed, "
        f"{counts['SKIP']} skipped, {counts['ERROR']} errors in {seconds:.1f} s{where}"
    )


def format_table(results: Sequence[CheckResult]) -> str:
    widths = _widths(r.name for r in results)
    return "\n".join([format_header(widths)] + [format_row(r, widths) for r in results])


# ---------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------
def run_cli(args: Any, *, checks: Sequence[Check] | None = None, stream: Any = None) -> int:
    """Entry point of ``refsde validate``: run, print the table (row by row) and a summary line.

    ``args`` has ``backend``, ``dtype``, ``device``, ``only``, ``seed`` and optionally ``impl``, ``report``
    and ``plots`` (see refsde/cli.py).  Returns 0 iff no check FAILed or ERRORed; 2 when the backend or
    the ``--impl`` object cannot be used or nothing matches.
    """
    import refsde

    out = stream if stream is not None else sys.stdout
    name = getattr(args, "backend", None) or os.environ.get("REFSDE_BACKEND") or "numpy"
    seed = int(getattr(args, "seed", 0) or 0)
    only = getattr(args, "only", None)
    try:
        backend = refsde.get_backend(name, device=getattr(args, "device", None), dtype=getattr(args, "dtype", None))
    except Exception as exc:  # noqa: BLE001 - unknown or unavailable backend, bad device or dtype
        print(f"refsde validate: cannot use backend {name!r}: {type(exc).__name__}: {exc}", file=out)
        return 2
    impl_spec = getattr(args, "impl", None)
    if checks is None and impl_spec is not None:
        from .user_impl import impl_checks, load_impl

        try:
            checks = impl_checks(load_impl(impl_spec))
        except (ImportError, ValueError) as exc:
            print(f"refsde validate: cannot use --impl {impl_spec!r}: {type(exc).__name__}: {exc}", file=out)
            return 2
    chosen = select(all_checks() if checks is None else checks, only)
    if not chosen:
        print(f"refsde validate: no check name contains {only!r}", file=out)
        return 2
    print(f"refsde validate: backend {backend.describe()}, seed {seed}, {len(chosen)} checks", file=out)
    widths = _widths(c.name for c in chosen)
    print(format_header(widths), file=out)

    def echo(res: CheckResult) -> None:
        print(format_row(res, widths), file=out, flush=True)

    start = time.perf_counter()
    with refsde.use_backend(backend):
        results = run_checks(chosen, backend, seed, echo=echo)
    elapsed = time.perf_counter() - start
    print(summary_line(results, elapsed, backend), file=out)
    report, plots = getattr(args, "report", None), getattr(args, "plots", None)
    if report or plots:
        from ..report.markdown import write_outputs

        write_outputs(results, backend, seed=seed, seconds=elapsed, report=report, plots=plots,
                      impl=impl_spec, only=only, stream=out)
    return 0 if all(r.verdict in ("PASS", "SKIP") for r in results) else 1
