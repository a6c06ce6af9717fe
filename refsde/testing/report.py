"""The result object returned by a passing conformance check."""

from __future__ import annotations

from dataclasses import dataclass, field


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
