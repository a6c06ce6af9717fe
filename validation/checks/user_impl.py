"""``refsde validate --impl module:object``: run the :mod:`refsde.testing` checks on a user's implementation.

The object (a module, a class instance, a ``types.SimpleNamespace`` ...) names its pieces by attribute, as
:func:`refsde.testing.check_all` reads them (the table of pieces, ``reference``, ``check_options``, ``backend``
/ ``device`` / ``dtype``: :mod:`refsde.testing.check_all`; one definition, used by both).  A missing piece is
a SKIP row that says so.
A passing check is a PASS row whose statistic/threshold are those of its tightest comparison (largest
statistic / threshold); a :class:`refsde.testing.ConformanceError` is a FAIL row with the error's statistic,
threshold and message.  Any other exception from the candidate is an ERROR row.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from refsde.testing.check_all import PIECES, _options, _reference, check_piece, declared_backend

from .registry import Check, Context, Outcome, SkipCheck

__all__ = ["IMPL_ATTRIBUTES", "declared_backend", "impl_checks", "library_of", "load_impl", "outcome_of",
           "rejected_arrays"]

# (attributes, check name in refsde.testing): the one table is refsde.testing.check_all.PIECES
IMPL_ATTRIBUTES = PIECES


def load_impl(spec: str) -> Any:
    """Import ``module:object`` (or ``module`` alone: the module is the object); ValueError when malformed.

    The current directory is put on ``sys.path`` first, as ``python -m`` does, so a file next to the user
    can be named.
    """
    if not spec or spec.count(":") > 1:
        raise ValueError(f"--impl expects 'module:object' or 'module', got {spec!r}")
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    if not attr:
        return module
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"--impl {spec!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


ARRAY_LIBRARIES = ("torch", "jax", "cupy")


def library_of(obj: Any) -> str | None:
    """The array library the implementation's module imports (torch, jax or cupy), if any: where its code
    rejects NumPy arrays, the backend to suggest."""
    import types

    module = obj if isinstance(obj, types.ModuleType) else sys.modules.get(getattr(obj, "__module__", "") or "")
    names = set()
    for value in vars(module).values() if module is not None else ():
        if isinstance(value, types.ModuleType):
            names.add(value.__name__.split(".")[0])
    for lib in ARRAY_LIBRARIES:
        if lib in names:
            return lib
    return None


def rejected_arrays(detail: str) -> bool:
    """Whether a failing row says the candidate raised on the check's arrays (not a wrong result)."""
    return "raised under this reference" in detail or detail.startswith(("TypeError", "AttributeError", "RuntimeError"))


def _outcome_from_report(report: Any) -> Outcome:
    """PASS row: the statistic/threshold pair with the largest signed ratio (the tightest comparison).

    Every check passes when statistic <= threshold; some statistics are signed (one-sided z values far
    below their threshold), so the ratio keeps its sign: |statistic| would turn a deep pass into a FAIL.
    """
    best: tuple[float, float, float, str] = (-math.inf, math.nan, math.nan, "")
    for key, value in report.statistics.items():
        thr = report.thresholds.get(key)
        if thr is None or not math.isfinite(float(thr)) or float(thr) <= 0:
            continue
        ratio = float(value) / float(thr)
        if ratio > best[0]:
            best = (ratio, float(value), float(thr), key)
    if best[3] == "":  # no thresholded statistic: report pass as 0 <= 1
        return Outcome(0.0, 1.0, f"{report.check}: passed ({', '.join(report.properties)})")
    return Outcome(best[1], best[2], f"tightest: {best[3]}")


def outcome_of(run: Callable[[], Any]) -> Outcome:
    """Run one refsde.testing check: a report -> its tightest statistic / threshold (PASS row), a
    ConformanceError -> a FAIL row with the error's statistic, threshold and message."""
    from refsde.testing import ConformanceError

    try:
        report = run()
    except ConformanceError as err:
        stat = math.inf if err.statistic is None else float(err.statistic)
        thr = math.nan if err.threshold is None else float(err.threshold)
        if math.isnan(thr):
            stat, thr = 1.0, 0.0  # a failure without a statistic (e.g. wrong shape) still reads FAIL
        return Outcome(stat, thr, str(err), evidence=tuple(getattr(err, "evidence", ())))
    out = _outcome_from_report(report)
    return Outcome(out.statistic, out.threshold, out.detail, evidence=tuple(getattr(report, "evidence", ())))


def _run_one(check_name: str, attrs: tuple[str, ...], obj: Any) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        res = check_piece(obj, attrs, check_name, backend=ctx.backend, seed=ctx.seed)
        if res.verdict == "SKIP":
            raise SkipCheck(res.reason)
        if res.verdict == "ERROR":
            raise res.error  # type: ignore[misc]  # the runner's ERROR row
        return outcome_of(lambda: res.report if res.error is None else _raise(res.error))

    return run


def _raise(err: BaseException) -> Any:
    raise err


def impl_checks(obj: Any) -> list[Check]:
    """The checks of ``obj`` (rows named ``impl.<check>``); ValueError when it has no ``reference`` SDE or a
    malformed ``check_options``."""
    _reference(obj)
    _options(obj)
    return [Check(f"impl.{name.removeprefix('check_')}", _run_one(name, attrs, obj), "impl", " + ".join(attrs))
            for attrs, name in PIECES]
