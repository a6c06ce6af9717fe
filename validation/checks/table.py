"""The results table of ``refsde validate``: one row per check (name, verdict, statistic, threshold,
seconds; the detail of every row that did not pass under it) and the summary line."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from .registry import CheckResult

__all__ = ["format_header", "format_row", "format_table", "summary_line"]


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
