"""``refsde validate --impl module:object``: run the :mod:`refsde.testing` checks on a user's implementation.

The object (a module, a class instance, a ``types.SimpleNamespace`` ...) names its pieces by attribute:

============================  ========================================================================
attribute                     checked by
============================  ========================================================================
``reference``                 required: the refsde SDE that is the contract (e.g. ``refsde.VPSDE()``)
``sde_fn``                    ``check_coefficients``  ``sde_fn(x, t) -> (drift, diffusion)``
``marginal_fn``               ``check_marginal``      ``marginal_fn(x0, t) -> (mean, std)``
``prior_sample_fn`` +         ``check_prior``         ``prior_sample_fn(shape) -> z``,
``prior_logp_fn``                                     ``prior_logp_fn(z) -> (n,)``
``sde_sampler``               ``check_sde_sampler``   ``sde_sampler(score_fn, x_T, n_steps) -> x``
``ode_sampler``               ``check_ode_sampler``   ``ode_sampler(score_fn, x_T, n_steps) -> x``
``corrector``                 ``check_corrector``     ``corrector(score_fn, x, t) -> x'``
``dsm_loss``                  ``check_dsm_loss``      ``dsm_loss(score_fn, x0) -> scalar``
``log_likelihood``            ``check_log_likelihood`` ``log_likelihood(score_fn, x0) -> (n,)``
============================  ========================================================================

Optional ``check_options``: a dict from attribute name to keyword arguments of its check, e.g.
``{"sde_sampler": {"method": "euler_maruyama", "n_steps": 100}, "dsm_loss": {"weighting": "likelihood"}}``.
Missing attributes give SKIP rows that say so; a check this refsde does not have gives a SKIP row too.
A passing check is a PASS row whose statistic/threshold are those of its tightest comparison (largest
statistic / threshold); a :class:`refsde.testing.ConformanceError` is a FAIL row with the error's statistic,
threshold and message.  Any other exception from the candidate is an ERROR row.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from typing import Any, Callable

from .registry import Check, Context, Outcome, SkipCheck

__all__ = ["IMPL_ATTRIBUTES", "declared_backend", "impl_checks", "library_of", "load_impl", "outcome_of",
           "rejected_arrays"]

# (attribute, check name in refsde.testing, how to call it: fn(check, obj, ref, options))
IMPL_ATTRIBUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("sde_fn",), "check_coefficients"),
    (("marginal_fn",), "check_marginal"),
    (("prior_sample_fn", "prior_logp_fn"), "check_prior"),
    (("sde_sampler",), "check_sde_sampler"),
    (("ode_sampler",), "check_ode_sampler"),
    (("corrector",), "check_corrector"),
    (("dsm_loss",), "check_dsm_loss"),
    (("log_likelihood",), "check_log_likelihood"),
)


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


def declared_backend(obj: Any) -> tuple[str | None, str | None, str | None]:
    """(backend, device, dtype) the implementation declares (``backend = "torch"``, ``device``, ``dtype``
    attributes), each None when absent."""
    return tuple(getattr(obj, key, None) for key in ("backend", "device", "dtype"))  # type: ignore[return-value]


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
        return Outcome(stat, thr, str(err))
    return _outcome_from_report(report)


def _run_one(check_name: str, attrs: tuple[str, ...], obj: Any, ref: Any, options: dict) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        from refsde import testing as rt

        missing = [a for a in attrs if not hasattr(obj, a)]
        if missing:
            raise SkipCheck(f"the implementation has no attribute {' / '.join(missing)}")
        check = getattr(rt, check_name, None)
        if check is None:
            raise SkipCheck(f"refsde.testing has no {check_name} in this version")
        kwargs = dict(options)
        kwargs.setdefault("backend", ctx.backend)
        kwargs.setdefault("seed", ctx.seed)
        return outcome_of(lambda: check(*(getattr(obj, a) for a in attrs), ref, **kwargs))

    return run


def impl_checks(obj: Any) -> list[Check]:
    """The checks of ``obj`` (rows named ``impl.<check>``); ValueError when it has no ``reference`` SDE."""
    ref = getattr(obj, "reference", None)
    if ref is None or not hasattr(ref, "marginal_coefficients"):
        raise ValueError("the implementation must have an attribute 'reference': the refsde SDE it implements "
                         "(e.g. reference = refsde.VPSDE(beta_min=0.1, beta_max=20.0))")
    options_all = getattr(obj, "check_options", None) or {}
    if not isinstance(options_all, dict):
        raise ValueError(f"check_options must be a dict from attribute name to keyword arguments, got {type(options_all).__name__}")
    checks = []
    for attrs, check_name in IMPL_ATTRIBUTES:
        options = dict(options_all.get(attrs[0], {}) or {})
        label = check_name.removeprefix("check_")
        checks.append(Check(f"impl.{label}", _run_one(check_name, attrs, obj, ref, options), "impl"))
    return checks
