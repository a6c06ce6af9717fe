"""Every check that applies to an implementation, from Python: :func:`check_all` (what ``refsde validate --impl``
does, returning one combined report).

The implementation is any object (a module, a class instance, a ``types.SimpleNamespace``) that names its
pieces by attribute (:data:`PIECES`); ``reference`` (the refsde SDE that is the contract) is required.
Optional ``check_options``: a dict from attribute name to keyword arguments of that piece's check, e.g.
``{"sde_sampler": {"method": "euler_maruyama", "n_steps": 100}}``; optional ``backend`` ("torch", ...),
``device`` and ``dtype``: the arrays the checks give to the implementation (``backend=`` of
:func:`check_all` wins over them).

============================  ==========================  ============================================
attribute                     check                       call
============================  ==========================  ============================================
``sde_fn``                    check_coefficients          ``sde_fn(x, t) -> (drift, diffusion)``
``marginal_fn``               check_marginal              ``marginal_fn(x0, t) -> (mean, std)``
``prior_sample_fn`` +         check_prior                 ``prior_sample_fn(shape) -> z``,
``prior_logp_fn``                                         ``prior_logp_fn(z) -> (n,)``
``pf_ode_drift``              check_pf_ode_drift          ``pf_ode_drift(score_fn, x, t) -> v``
``reverse_drift``             check_reverse_drift         ``reverse_drift(score_fn, x, t) -> v``
``sde_sampler``               check_sde_sampler           ``sde_sampler(score_fn, x_T, n_steps) -> x``
``ode_sampler``               check_ode_sampler           ``ode_sampler(score_fn, x_T, n_steps) -> x``
``corrector``                 check_corrector             ``corrector(score_fn, x, t) -> x'``
``dsm_loss``                  check_dsm_loss              ``dsm_loss(score_fn, x0) -> scalar``
``ddpm_loss``                 check_ddpm_loss             ``ddpm_loss(eps_model, x0) -> scalar``
``smld_loss``                 check_smld_loss             ``smld_loss(score_model, x0) -> scalar``
``log_likelihood``            check_log_likelihood        ``log_likelihood(score_fn, x0) -> (n,)``
``bits_per_dim``              check_bits_per_dim          ``bits_per_dim(score_fn, y) -> (n,)`` (its ``scale``
                                                          in ``check_options``)
============================  ==========================  ============================================

No silent passes: an implementation with none of these pieces is a ValueError (there is nothing to check),
and a piece whose check raised anything but :class:`ConformanceError` is an ERROR, not a pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .check_corrector import check_corrector
from .check_drift import check_pf_ode_drift, check_reverse_drift
from .check_forward_sde import check_coefficients, check_marginal, check_prior
from .check_likelihood import check_bits_per_dim, check_log_likelihood
from .check_loss import check_ddpm_loss, check_dsm_loss, check_smld_loss
from .check_samplers import check_ode_sampler, check_sde_sampler
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

__all__ = ["PIECES", "AllReport", "PieceResult", "check_all", "check_piece", "declared_backend"]

# (attributes of the implementation, the check in refsde.testing that takes them, in this order)
PIECES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("sde_fn",), "check_coefficients"),
    (("marginal_fn",), "check_marginal"),
    (("prior_sample_fn", "prior_logp_fn"), "check_prior"),
    (("pf_ode_drift",), "check_pf_ode_drift"),
    (("reverse_drift",), "check_reverse_drift"),
    (("sde_sampler",), "check_sde_sampler"),
    (("ode_sampler",), "check_ode_sampler"),
    (("corrector",), "check_corrector"),
    (("dsm_loss",), "check_dsm_loss"),
    (("ddpm_loss",), "check_ddpm_loss"),
    (("smld_loss",), "check_smld_loss"),
    (("log_likelihood",), "check_log_likelihood"),
    (("bits_per_dim",), "check_bits_per_dim"),
)


CHECKS: dict[str, Any] = {f.__name__: f for f in (
    check_coefficients, check_marginal, check_prior, check_pf_ode_drift, check_reverse_drift, check_sde_sampler,
    check_ode_sampler, check_corrector, check_dsm_loss, check_ddpm_loss, check_smld_loss, check_log_likelihood,
    check_bits_per_dim)}


@dataclass
class PieceResult:
    """The verdict on one piece: PASS (``report``), FAIL (``error``, a ConformanceError), ERROR (``error``,
    anything else the check raised) or SKIP (``reason``: the implementation lacks the piece)."""

    piece: str
    check: str
    verdict: str
    report: CheckReport | None = None
    error: BaseException | None = None
    reason: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        if self.verdict == "PASS" and self.report is not None:
            return f"{self.piece:<32} {self.check:<22} PASS  ({', '.join(self.report.properties)})"
        if self.verdict == "SKIP":
            return f"{self.piece:<32} {self.check:<22} SKIP  ({self.reason})"
        first = str(self.error).splitlines()[0] if self.error is not None else self.reason
        return f"{self.piece:<32} {self.check:<22} {self.verdict}  {first}"


@dataclass
class AllReport:
    """The combined report of :func:`check_all`: one :class:`PieceResult` per piece of :data:`PIECES`."""

    reference: str
    backend: str
    results: list[PieceResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True iff no piece FAILed or ERRORed and at least one piece was checked."""
        return any(r.verdict == "PASS" for r in self.results) and all(r.verdict in ("PASS", "SKIP") for r in self.results)

    @property
    def failures(self) -> list[PieceResult]:
        return [r for r in self.results if r.verdict in ("FAIL", "ERROR")]

    def __str__(self) -> str:
        counts = {v: sum(r.verdict == v for r in self.results) for v in ("PASS", "FAIL", "ERROR", "SKIP")}
        head = (f"check_all vs {self.reference} on {self.backend}: "
                + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        lines = [head, *("  " + r.line() for r in self.results)]
        for r in self.failures:
            lines += ["", f"{r.piece} ({r.check}):", *("  " + s for s in str(r.error).splitlines())]
        return "\n".join(lines)


def declared_backend(impl: Any) -> tuple[str | None, str | None, str | None]:
    """(backend, device, dtype) the implementation declares (``backend = "torch"``, ``device``, ``dtype``
    attributes), each None when absent."""
    return tuple(getattr(impl, key, None) for key in ("backend", "device", "dtype"))  # type: ignore[return-value]


def _reference(impl: Any) -> Any:
    ref = getattr(impl, "reference", None)
    if ref is None or not hasattr(ref, "marginal_coefficients"):
        raise ValueError("the implementation must have an attribute 'reference': the refsde SDE it implements "
                         "(e.g. reference = refsde.VPSDE(beta_min=0.1, beta_max=20.0))")
    return ref


def _options(impl: Any) -> dict:
    options = getattr(impl, "check_options", None) or {}
    if not isinstance(options, dict):
        raise ValueError(f"check_options must be a dict from attribute name to keyword arguments, got "
                         f"{type(options).__name__}")
    unknown = sorted(set(options) - {a for attrs, _ in PIECES for a in attrs})
    if unknown:
        raise ValueError(f"check_options names {unknown}, which are not pieces (known: "
                         f"{', '.join(a for attrs, _ in PIECES for a in attrs)})")
    return options


def check_piece(impl: Any, attrs: Sequence[str], check_name: str, *, backend: Any = None, seed: int = 0) -> PieceResult:
    """Run the check of one piece (``attrs``, ``check_name``: a row of :data:`PIECES`) on ``impl``."""
    ref = _reference(impl)
    label = " + ".join(attrs)
    missing = [a for a in attrs if not hasattr(impl, a)]
    if missing:
        return PieceResult(label, check_name, "SKIP", reason=f"the implementation has no attribute {' / '.join(missing)}")
    kwargs = dict(_options(impl).get(attrs[0], {}) or {})
    kwargs.setdefault("backend", backend)
    kwargs.setdefault("seed", seed)
    check = CHECKS[check_name]
    start = time.perf_counter()
    try:
        report = check(*(getattr(impl, a) for a in attrs), ref, **kwargs)
    except ConformanceError as err:
        return PieceResult(label, check_name, "FAIL", error=err, seconds=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - bad options or a bug: an ERROR row, never a pass
        return PieceResult(label, check_name, "ERROR", error=exc, seconds=time.perf_counter() - start)
    return PieceResult(label, check_name, "PASS", report=report, seconds=time.perf_counter() - start)


def check_all(impl: Any, *, backend: Any = None, seed: int = 0, only: str | None = None,
              raise_on_failure: bool = True) -> AllReport:
    """Run every check whose piece ``impl`` has (module docstring); return an :class:`AllReport`.

    ``backend``: the arrays given to the implementation (default: the impl's ``backend`` / ``device`` /
    ``dtype`` attributes, else the active backend).  ``only``: run only pieces whose check name contains this
    text.  With ``raise_on_failure`` (default) a FAIL or ERROR raises one :class:`ConformanceError` whose text
    is the whole report (``err.report`` is the :class:`AllReport`), so ``rt.check_all(impl)`` is a pytest
    test.  ValueError when ``impl`` has no ``reference`` or none of the pieces.
    """
    from ..backends import get_backend

    ref = _reference(impl)
    _options(impl)
    if backend is None:
        name, device, dtype = declared_backend(impl)
        backend = get_backend(name, device=device, dtype=dtype) if name is not None else get_backend()
    else:
        backend = get_backend(backend)
    rows = [(attrs, name) for attrs, name in PIECES if only is None or only in name]
    if not any(all(hasattr(impl, a) for a in attrs) for attrs, _ in rows):
        raise ValueError("the implementation has none of the pieces "
                         + ", ".join(" + ".join(attrs) for attrs, _ in rows) + ": there is nothing to check")
    out = AllReport(repr(ref), backend.describe())
    for attrs, name in rows:
        out.results.append(check_piece(impl, attrs, name, backend=backend, seed=seed))
    if raise_on_failure and out.failures:
        err = ConformanceError("check_all", f"{len(out.failures)} of {len(out.results)} pieces", reference=repr(ref),
                               note="\n".join("  " + s for s in str(out).splitlines()))
        err.report = out  # type: ignore[attr-defined]
        raise err
    return out
