"""``refsde validate --report FILE.md [--plots DIR]``: the run as a markdown report with figures.

The report names the machine, the library versions, the backend and the command, then gives the summary
line, the table of every check (statistic vs threshold, seconds; the detail of every row that did not
pass) and, with ``--plots DIR``, the figures of :mod:`.figures` (of the user's code under ``--impl``; skipped
with a note when matplotlib is not installed; without ``--plots`` the report says none were drawn).
:func:`check_outputs` validates ``--report``, ``--plots`` and ``--seed`` before any check runs; a file that
existed before the run and is replaced is named on the output.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any, Sequence

from ..checks.registry import CheckResult
from ..checks.table import _fmt, summary_line

__all__ = ["check_outputs", "environment_lines", "markdown_report", "write_outputs"]


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


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_outputs(report: str | None, plots: str | None, seed: Any) -> str | None:
    """Why ``--report`` / ``--plots`` / ``--seed`` cannot be used (None when they can): checked before any check
    runs, so a long run never ends in "cannot write"."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        return f"--seed must be an integer >= 0, got {seed!r}"
    for flag, path, is_dir in (("--report", report, False), ("--plots", plots, True)):
        if path is None:
            continue
        if not str(path).strip():
            return f"{flag} needs a path"
        if is_dir and os.path.exists(path) and not os.path.isdir(path):
            return f"--plots {path!r} is a file; it must be a directory (created if missing)"
        if not is_dir:
            if os.path.isdir(path):
                return f"--report {path!r} is a directory; it must be a file name ending in .md"
            if not path.lower().endswith((".md", ".markdown")):
                return f"--report {path!r}: the report is markdown; give a file name ending in .md"
        base = _nearest_existing(path if is_dir else os.path.dirname(os.path.abspath(path)))
        if not os.path.isdir(base) or not os.access(base, os.W_OK):
            return f"{flag} {path!r}: cannot create it ({base!r} is not a writable directory)"
    return None


def _say_if_overwriting(path: str, out: Any) -> None:
    """Every file is written once per run, so one that exists now existed before this run: say so."""
    if os.path.exists(path):
        print(f"refsde validate: overwriting {path} (it existed before this run)", file=out)


def write_outputs(results: Sequence[CheckResult], backend: Any, *, seed: int, seconds: float, report: str | None,
                  plots: str | None, impl: str | None = None, only: str | None = None, stream: Any = None) -> None:
    """Write the figures (only with ``plots``) and the report (only with ``report``).

    Under ``impl`` the figures are of the user's code (:func:`..figures.make_impl_figures`), else refsde's own
    (:func:`..figures.make_figures`).  An existing file that is replaced is named on the stream."""
    out = stream if stream is not None else sys.stdout
    figures: list[tuple[str, str]] = []
    note = ""
    if plots:
        from .figures import make_figures, make_impl_figures

        existing = set(os.listdir(plots)) if os.path.isdir(plots) else set()
        if impl is not None:
            made, note = make_impl_figures(results, plots, stream=out)
        else:
            made, note = make_figures(backend, plots, seed=seed, stream=out)
        for _, path in made:
            if os.path.basename(path) in existing:
                print(f"refsde validate: overwrote {path} (it existed before this run)", file=out)
        base = os.path.dirname(os.path.abspath(report)) if report else None
        figures = [(cap, os.path.relpath(path, base) if base else path) for cap, path in made]
        if made:
            print(f"refsde validate: {len(made)} figures in {plots}", file=out)
        if note:
            print(f"refsde validate: {note}", file=out)
    elif report:
        note = "figures: not drawn (pass --plots DIR to draw them)"
    if report:
        cmd = ["refsde validate", f"--backend {backend.name}", f"--seed {seed}"]
        cmd += [f"--impl {impl}"] if impl is not None else []
        cmd += [f"--only {only}"] if only else []
        cmd += [f"--report {os.path.basename(report)}"]
        cmd += [f"--plots {os.path.relpath(plots, os.path.dirname(os.path.abspath(report)))}"] if plots else []
        text = markdown_report(results, backend, seed=seed, seconds=seconds, command=" ".join(cmd), figures=figures,
                               figure_note=note)
        os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
        _say_if_overwriting(report, out)
        with open(report, "w") as fh:
            fh.write(text)
        print(f"refsde validate: report written to {report}", file=out)
