"""The result object returned by a passing conformance check, and the evidence (figures' data) a check records."""

from __future__ import annotations

import functools
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames


@dataclass
class CheckReport:
    """What a check compared and how sensitive it was.

    ``statistics[key]`` is the observed value and ``thresholds[key]`` the bound it had to stay within
    (a deterministic check reports, per property, the relative error and the tolerance at the input
    where error / tolerance is largest).  ``detectable`` holds the smallest discrepancy the check
    detects with probability ``power`` (1.0 for deterministic checks: any error above the tolerance
    at a grid point is detected); ``alpha`` is the false-alarm rate (0 for deterministic checks).
    """

    check: str
    reference: str
    properties: tuple[str, ...]
    n: int
    statistics: dict[str, float]
    thresholds: dict[str, float]
    passed: bool
    alpha: float = 0.0
    power: float = 1.0
    detectable: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    dtype: str = ""
    notes: tuple[str, ...] = ()
    evidence: list = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        head = f"{self.check} vs {self.reference}: {'PASSED' if self.passed else 'FAILED'}"
        lines = [
            head,
            f"  backend {self.backend}, dtype {self.dtype}, n = {self.n}, alpha = {self.alpha:.3g}, power = {self.power:.3g}",
            "  properties: " + ", ".join(self.properties),
        ]
        width = max((len(k) for k in self.statistics), default=0)
        for key, value in self.statistics.items():
            thr = self.thresholds.get(key)
            bound = "" if thr is None else f"  (threshold {thr:.3g})"
            lines.append(f"    {key:<{width}}  {value:.3g}{bound}")
        if self.detectable:
            lines.append("  smallest detectable discrepancy:")
            for key, value in self.detectable.items():
                lines.append(f"    {key}: {value:.3g}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


# ---- evidence: what a check computed from the candidate, for figures (refsde validate --impl --plots) -------------
_PANELS: ContextVar[list | None] = ContextVar("refsde_testing_panels", default=None)

PANEL_KINDS = {
    "curve": "x, expected, got (host float64), xlabel, ylabel, logx, logy: a property of t against its closed form",
    "qq": "series [(label, p, q)]: quantiles q at levels p of the candidate's samples standardized by the exact law "
          "the check used (N(0, 1) under it; add_panel takes (label, z) and keeps <= 2000 quantiles)",
    "ladder": "steps, errors, expected_order, observed_order, ylabel: an error against the step count (log-log)",
    "hist": "values, xlabel: the candidate's errors against the exact values",
}


def add_panel(kind: str, title: str, **data: Any) -> None:
    """Record a panel of evidence (a kind of :data:`PANEL_KINDS`) for the check that is running; a no-op outside
    one.  Arrays are copied to host float64 (they are small: at most a few thousand values)."""
    panels = _PANELS.get()
    if panels is None:
        return
    if kind not in PANEL_KINDS:
        raise ValueError(f"unknown panel kind {kind!r}")
    if kind == "qq":
        data["series"] = [_quantiles(label, z) for label, z in data["series"]]
    panels.append({"kind": kind, "title": title, **data})


def _quantiles(label: str, z: Any, keep: int = 2000) -> tuple[str, Any, Any]:
    import numpy as np

    q = np.sort(np.asarray(z, dtype=np.float64).ravel())
    p = (np.arange(q.size) + 0.5) / q.size
    if q.size > keep:
        idx = np.unique(np.linspace(0, q.size - 1, keep).round().astype(int))
        p, q = p[idx], q[idx]
    return label, p, q


def collects_evidence(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator of a public check: the panels it records (:func:`add_panel`) become ``report.evidence`` of the
    :class:`CheckReport` it returns, or ``err.evidence`` of the :class:`ConformanceError` it raises."""

    @functools.wraps(fn)
    def check(*args: Any, **kwargs: Any) -> Any:
        from .errors import ConformanceError

        token = _PANELS.set([])
        try:
            out = fn(*args, **kwargs)
        except ConformanceError as err:
            err.evidence = list(_PANELS.get() or [])
            raise
        finally:
            panels = list(_PANELS.get() or [])
            _PANELS.reset(token)
        if isinstance(out, CheckReport):
            out.evidence = panels
        return out

    return check
