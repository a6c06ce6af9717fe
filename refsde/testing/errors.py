"""The exception raised by the conformance checks of :mod:`refsde.testing`."""

from __future__ import annotations

from typing import Any


class ConformanceError(AssertionError):
    """A candidate implementation disagrees with the refsde reference.

    A subclass of :class:`AssertionError`, so a failing check fails a pytest test like ``assert``.
    Attributes: ``check`` (the check's name), ``property`` (what was compared, e.g. ``"diffusion g(t)"``),
    ``input`` (the worst input, as text), ``expected`` / ``got`` (the reference and candidate values
    there), ``statistic`` / ``threshold`` (the test statistic and the bound it exceeded) and
    ``reference`` (repr of the reference SDE); ``shrunk`` (deterministic checks, when hypothesis is
    installed: a minimal failing input found by hypothesis, with expected / got there; else ""); ``cause``
    (the known slip the candidate's output matches, or a line saying none of those tried does;
    :mod:`refsde.testing._causes`); ``evidence`` (the panels the check recorded before failing, from which
    ``refsde validate --impl --plots`` draws figures).
    """

    def __init__(
        self,
        check: str,
        property: str,
        *,
        input: str = "",
        expected: Any = None,
        got: Any = None,
        statistic: float | None = None,
        threshold: float | None = None,
        statistic_name: str = "statistic",
        reference: str = "",
        note: str = "",
        shrunk: str = "",
        cause: str = "",
    ) -> None:
        self.check = check
        self.property = property
        self.input = input
        self.expected = expected
        self.got = got
        self.statistic = statistic
        self.threshold = threshold
        self.statistic_name = statistic_name
        self.reference = reference
        self.note = note
        self.shrunk = shrunk
        self.cause = cause
        self.evidence: list = []  # panels for figures (refsde.testing.report.add_panel), set by the check
        super().__init__(self._message())

    def with_cause(self, cause: str) -> "ConformanceError":
        """Set :attr:`cause` after the fact (a check diagnoses a failure raised by a shared test) and refresh the
        message; returns self, to re-raise."""
        self.cause = cause
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        lines = [f"{self.check}: property {self.property!r} does not conform"]
        if self.reference:
            lines[0] += f" to reference {self.reference}"
        if self.input:
            lines.append(f"  at input: {self.input}")
        if self.shrunk:
            lines.append(f"  shrunk input (hypothesis): {self.shrunk}")
        if self.expected is not None or self.got is not None:
            lines.append(f"  expected: {self.expected}")
            lines.append(f"  got:      {self.got}")
        if self.statistic is not None:
            thr = "" if self.threshold is None else f" > threshold {self.threshold:.3g}"
            lines.append(f"  {self.statistic_name} {self.statistic:.3g}{thr}")
        if self.note:
            lines.append(f"  {self.note}")
        if self.cause:
            lines.append(f"  {self.cause}")
        return "\n".join(lines)


def hide_from_pytest(excinfo: Any) -> bool:
    """pytest's ``__tracebackhide__`` hook, set at module level in refsde.testing's modules: for a
    :class:`ConformanceError` pytest shows the user's frames and the error's text, not refsde's internals
    (as pytest's own helpers do); for any other exception (a bug in refsde) every frame stays visible."""
    return excinfo is not None and excinfo.errisinstance(ConformanceError)


__tracebackhide__ = hide_from_pytest
