"""Runs the checks of ``refsde validate`` and is its command-line entry point (:func:`run_cli`).

:func:`all_checks` imports the check modules (:mod:`.forward_sde`, :mod:`.gaussian_oracles`,
:mod:`.dogfood`), which register their checks in :data:`.registry.REGISTRY` at import;
:func:`run_checks` runs any list of checks (those of ``--impl`` come from :mod:`.user_impl`) and turns
every outcome, skip and exception into a :class:`~.registry.CheckResult` row, printed with :mod:`.table`.
What a check is, its context and its seeding: :mod:`.registry`.

The exit code of :func:`run_cli` is 0 iff no check FAILed or ERRORed (SKIPs are allowed).
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
import warnings
from typing import Any, Callable, Iterable, Sequence

from .registry import REGISTRY, Check, CheckResult, Context, SkipCheck
from .table import _widths, format_header, format_row, summary_line

__all__ = ["all_checks", "run", "run_checks", "run_cli", "select"]

_LOADED = False


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
                res = CheckResult(check.name, out.passed, float(out.statistic), float(out.threshold), 0.0, out.detail,
                                  evidence=tuple(out.evidence), piece=check.piece)
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


def _backend_hint(obj: Any, first: Check, backend: Any, seed: int, echo: Any, out: Any) -> str | None:
    """Run the implementation's first check on the default backend; when its code rejected the arrays and it is
    written with another array library, stop with one line saying which backend to use (None: go on)."""
    from .user_impl import library_of, rejected_arrays

    library = library_of(obj)
    if library is None or library == backend.name:
        return None
    (res,) = run_checks([first], backend, seed)
    if res.verdict in ("FAIL", "ERROR") and rejected_arrays(res.detail):
        hint = (f"your code rejected {backend.name} arrays; set backend = {library!r} on the impl or pass "
                f"--backend {library}")
        print(f"refsde validate: {hint}", file=out)
        return hint
    return None


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
    flag = getattr(args, "backend", None)  # --backend (REFSDE_BACKEND is a default, not a choice for this code)
    explicit = flag or os.environ.get("REFSDE_BACKEND")
    name = explicit or "numpy"
    device, dtype = getattr(args, "device", None), getattr(args, "dtype", None)
    seed = int(getattr(args, "seed", 0) or 0)
    only = getattr(args, "only", None)
    impl_spec = getattr(args, "impl", None)
    impl_obj = None
    report, plots = getattr(args, "report", None), getattr(args, "plots", None)
    if report or plots or seed < 0:
        from ..report.markdown import check_outputs

        problem = check_outputs(report, plots, seed)
        if problem is not None:
            print(f"refsde validate: {problem}", file=out)
            return 2
    if checks is None and impl_spec is not None:
        from .user_impl import declared_backend, impl_checks, load_impl

        try:
            impl_obj = load_impl(impl_spec)
            checks = impl_checks(impl_obj)
        except (ImportError, ValueError) as exc:
            print(f"refsde validate: cannot use --impl {impl_spec!r}: {type(exc).__name__}: {exc}", file=out)
            return 2
        declared, d_device, d_dtype = declared_backend(impl_obj)
        if declared is not None and not explicit:  # the implementation says which library its arrays are
            name, device, dtype = declared, device or d_device, dtype or d_dtype
    try:
        backend = refsde.get_backend(name, device=device, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 - unknown or unavailable backend, bad device or dtype
        print(f"refsde validate: cannot use backend {name!r}: {type(exc).__name__}: {exc}", file=out)
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
        if impl_obj is not None and not flag and getattr(impl_obj, "backend", None) is None:
            hint = _backend_hint(impl_obj, chosen[0], backend, seed, echo, out)
            if hint is not None:
                return 2
        results = run_checks(chosen, backend, seed, echo=echo)
    elapsed = time.perf_counter() - start
    print(summary_line(results, elapsed, backend), file=out)
    if report or plots:
        from ..report.markdown import write_outputs

        write_outputs(results, backend, seed=seed, seconds=elapsed, report=report, plots=plots,
                      impl=impl_spec, only=only, stream=out)
    return 0 if all(r.verdict in ("PASS", "SKIP") for r in results) else 1
