"""``refsde validate --report FILE.md [--plots DIR]``: the run as a markdown report with figures.

The report names the machine, the library versions, the backend and the command, then gives the summary
line, the table of every check (statistic vs threshold, seconds; the detail of every row that did not
pass) and the figures of :mod:`.figures` (written to ``--plots`` or, by default, ``figures/`` next to
the report; skipped with a note when matplotlib is not installed).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any, Sequence

from ..checks.registry import CheckResult
from ..checks.table import _fmt, summary_line

__all__ = ["environment_lines", "markdown_report", "write_outputs"]


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - not installed
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_lines(backend: Any) -> list[str]:
    """Machine, Python and library versions (markdown bullet lines)."""
    libs = ", ".join(f"{m} {v}" for m in ("refsde", "numpy", "array-api-compat", "torch", "array-api-strict", "cupy", "jax", "scipy")
                     if (v := _version(m)) is not None)
    return [
        f"- machine: {_cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {libs}",
        f"- backend: {backend.describe()}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(results: Sequence[CheckResult], backend: Any, *, seed: int, seconds: float, command: str,
                    figures: Sequence[tuple[str, str]] = (), figure_note: str = "") -> str:
    """The report text; ``figures`` are (caption, path relative to the report)."""
    lines = ["# refsde validation report", "", *environment_lines(backend), f"- command: `{command}`", "",
             f"**{summary_line(results, seconds, backend)}** (seed {seed})", "",
             "A check passes iff statistic <= threshold; statistical checks have family-wise false-alarm rate "
             "1e-6 (each check's test and its derivation are in the docstrings of `validation/*/*.py` and `refsde/testing/*.py`).", "",
             "| check | verdict | statistic | threshold | seconds |", "|---|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| `{r.name}` | {r.verdict} | {_fmt(r.statistic)} | {_fmt(r.threshold)} | {r.seconds:.2f} |")
    details = [r for r in results if r.verdict != "PASS" and r.detail]
    if details:
        lines += ["", "## Rows that did not pass", ""]
        for r in details:
            lines += [f"### `{r.name}`: {r.verdict}", "", "```", r.detail, "```", ""]
    if figures or figure_note:
        lines += ["", "## Figures", ""]
        if figure_note:
            lines += [figure_note, ""]
        for caption, path in figures:
            lines += [f"**{caption}**", "", f"![{caption}]({path})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_outputs(results: Sequence[CheckResult], backend: Any, *, seed: int, seconds: float, report: str | None,
                  plots: str | None, impl: str | None = None, only: str | None = None, stream: Any = None) -> None:
    """Write the figures (to ``plots`` or ``<report dir>/figures``) and the report."""
    out = stream if stream is not None else sys.stdout
    plot_dir = plots or (os.path.join(os.path.dirname(os.path.abspath(report)), "figures") if report else None)
    figures: list[tuple[str, str]] = []
    note = ""
    if plot_dir:
        from .figures import make_figures

        made, note = make_figures(backend, plot_dir, seed=seed, stream=out)
        base = os.path.dirname(os.path.abspath(report)) if report else None
        figures = [(cap, os.path.relpath(path, base) if base else path) for cap, path in made]
        if made:
            print(f"refsde validate: {len(made)} figures in {plot_dir}", file=out)
        if note:
            print(f"refsde validate: {note}", file=out)
    if report:
        cmd = ["refsde validate", f"--backend {backend.name}", f"--seed {seed}"]
        cmd += [f"--impl {impl}"] if impl is not None else []
        cmd += [f"--only {only}"] if only else []
        cmd += [f"--report {os.path.basename(report)}"]
        text = markdown_report(results, backend, seed=seed, seconds=seconds, command=" ".join(cmd), figures=figures, figure_note=note)
        os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
        with open(report, "w") as fh:
            fh.write(text)
        print(f"refsde validate: report written to {report}", file=out)
