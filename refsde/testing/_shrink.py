"""Hypothesis-shrunk failing inputs for the deterministic conformance checks.

When a deterministic check has found a failure on its fixed grid, :func:`shrink_time_input` (or
:func:`shrink_sample_input`) asks
``hypothesis.find`` for a *simple* input at which the same property fails under the same tolerance
rule: hypothesis generates inputs from the strategies below (hard points first, then free values) and
shrinks the first failing one towards zeros, small integers and the first hard points.  The search is
derandomized with no example database (reproducible, nothing written to disk) and bounded by
``max_examples`` (hard time points first; then, with half the budget, any t in the grid's range
{0} u [1e-7 T, T]).  It only adds information to a failure that has already been decided: it returns
``None`` (the caller keeps its grid report) when hypothesis is not installed, when called from inside
a running hypothesis test (no nested searches), or when no failing input is found.

``hypothesis`` is a test extra, imported lazily here: refsde's runtime dependencies stay numpy and
array-api-compat.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from .errors import hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

MAX_EXAMPLES = 200

# fails(example) -> None where the property holds at example, else a short "expected ..., got ..." text
Fails = Callable[[Any], "str | None"]


def _hypothesis() -> Any:
    """The hypothesis module, or None when it is not installed or a hypothesis test is running."""
    try:
        import hypothesis
        from hypothesis.control import currently_in_test_context
    except ImportError:
        return None
    return None if currently_in_test_context() else hypothesis


def round_time(t: float, T: float, np_dtype: Any) -> float:
    """t rounded to the check dtype, kept <= T (as the checks' grid does when T is not representable)."""
    r = np_dtype(t)
    if float(r) > T:
        r = np.nextafter(np_dtype(T), np_dtype(0))
    return float(r)


def _coordinates(st: Any, shape: tuple[int, ...]) -> Any:
    """Arrays of ``shape``: small integers first (they shrink to 0), then multiples of 1e-3 in [-10, 10]
    (no tiny or subnormal values: their underflow in float32 is no error of the candidate).  No hint
    rows: hypothesis does not shrink out of a sampled hint into these simpler values."""
    size = int(np.prod(shape))
    value = st.one_of(st.integers(-3, 3), st.integers(-10_000, 10_000).map(lambda k: k / 1000.0)).map(float)
    return st.lists(value, min_size=size, max_size=size).map(lambda v: np.asarray(v, dtype=np.float64).reshape(shape))


def _hard_times(st: Any, T: float, hard_fractions: Sequence[float], hints: Sequence[float]) -> Any:
    """The hard points 0 (when among ``hard_fractions``), T, T * hard_fractions (ascending), then the hints; shrinks
    to the first ones."""
    head = [0.0, T] if 0.0 in hard_fractions else [T]
    hard = head + sorted(T * s for s in hard_fractions if 0.0 < s < 1.0) + [float(h) for h in hints]
    return st.sampled_from(hard)


def _search(strategy: Any, fails: Fails, max_examples: int) -> tuple[Any, str] | None:
    hyp = _hypothesis()
    if hyp is None:
        return None

    def failing(example: Any) -> bool:
        try:
            return fails(example) is not None
        except Exception:  # the candidate may reject a batch of 1 or other shapes: not a failure found
            return False

    config = hyp.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hyp.Phase.generate, hyp.Phase.shrink],
        suppress_health_check=list(hyp.HealthCheck),
        report_multiple_bugs=False,
    )
    try:
        example = hyp.find(strategy, failing, settings=config)
    except Exception:  # NoSuchExample, Unsatisfiable, ...: keep the grid report
        return None
    try:
        detail = fails(example)
    except Exception:
        return None
    return None if detail is None else (example, detail)


def _floats_text(a: np.ndarray) -> str:
    return repr([float(v) for v in np.asarray(a).ravel()])


def shrink_time_input(
    fails: Fails,
    *,
    T: float,
    d: int,
    np_dtype: Any,
    hard_fractions: Sequence[float],
    hint: float | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> str | None:
    """A minimal failing (t, x) of a time-dependent property, as the text
    ``"t = ..., x = [...], expected ..., got ..."``, or None (see the module docstring).

    ``fails((t, x))`` receives t (a float) and x (shape (d,)) already rounded to ``np_dtype``;
    ``hint`` is the t of the worst grid input, added to the hard time points.
    """
    hyp = _hypothesis()
    if hyp is None:
        return None
    st = hyp.strategies
    t_hints = [] if hint is None else [hint]

    def rounded(tx: tuple[float, np.ndarray]) -> tuple[float, np.ndarray]:
        return round_time(tx[0], T, np_dtype), tx[1].astype(np_dtype).astype(np.float64)

    xs = _coordinates(st, (d,))
    # first the hard times only (readable results: t = 0, T, 1e-7 T, ...; the worst grid t is among them),
    # then, if none fails in a batch of one, any t in [0, T]
    found = _search(st.tuples(_hard_times(st, T, hard_fractions, t_hints), xs).map(rounded), fails, max_examples)
    if found is None:  # t = 0 or in [t_min, T], t_min the smallest positive hard point: the grid's domain
        t_min = T * min(s for s in hard_fractions if s > 0.0)
        free_t = st.floats(t_min, T, allow_nan=False, allow_infinity=False)
        if 0.0 in hard_fractions:  # a check with t_min > 0 never evaluates t = 0
            free_t = st.one_of(st.just(0.0), free_t)
        found = _search(st.tuples(free_t, xs).map(rounded), fails, max(1, max_examples // 2))
    if found is None:
        return None
    (t, x), detail = found
    return f"t = {t!r} (t/T = {t / T:.3g}), x = {_floats_text(x)}, {detail}"


def shrink_sample_input(
    fails: Fails,
    *,
    shape: tuple[int, ...],
    scale: float,
    np_dtype: Any,
    max_examples: int = MAX_EXAMPLES,
) -> str | None:
    """A minimal failing sample z of feature ``shape`` (coordinates: small integers times ``scale``, or
    free floats times ``scale``), as ``"z = [...] (shape ...), expected ..., got ..."``, or None."""
    hyp = _hypothesis()
    if hyp is None:
        return None
    st = hyp.strategies
    strategy = _coordinates(st, shape).map(lambda z: (scale * z).astype(np_dtype).astype(np.float64))
    found = _search(strategy, fails, max_examples)
    if found is None:
        return None
    z, detail = found
    return f"z = {_floats_text(z)} (shape {(1,) + tuple(shape)}), {detail}"
