"""Conformance checks of a user's forward SDE against a refsde reference: its coefficients (drift f(x, t) and
diffusion g(t)), its marginal q(x_t | x_0) and its prior (samples and log-density).

Inputs given to the candidate are arrays of the check's backend (``backend=``, else the active backend:
``use_backend`` / ``REFSDE_BACKEND``) in the check's dtype (``dtype=``, else the backend default):
batch-first ``x`` of shape (n, d) and ``t`` of shape (n,).  Outputs may be arrays of any library.

Deterministic checks (:func:`check_coefficients`, :func:`check_marginal`)
-------------------------------------------------------------------------
The time grid holds the hard points t/T in {0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 0.9,
1 - 1e-6, 1} (near 0, ``1 - exp(-B)`` cancels completely in float32) and uniform random t from ``seed``;
each row of x is N(0, I) times a random scale 10^U(-1, 1).  The inputs are rounded to the check dtype
and the *same rounded values* are given to the reference, evaluated in float64.  A value passes when

    |got - expected| <= atol + rtol_i |expected|      (elementwise; default atol = 0)

* float64 (default): rtol = 1e-10.  Two backward-stable float64 implementations of the same formula
  agree to ~1e-14, so this leaves four orders of magnitude for different-but-stable formulas, while
  every modelling error (O(1)) and the classic cancellation ``sqrt(1 - exp(-B))`` (relative error
  ~ eps/B ~ 1e-8 at t = 1e-7 T) fail.
* float32: rtol_i = 8 eps (1 + kappa(t_i)), eps = 2^-23, where kappa(t) = |t d log|q(t)| / dt| is the
  relative condition number of the time coefficient q (f, g, alpha or sigma) with respect to t,
  measured on the float64 reference by a central difference in log t.  Rounding t (or t / T, or a
  schedule parameter) to float32 perturbs it by <= eps relative, which moves q by kappa eps; the 8 ulps
  cover the few roundings of a stable evaluation (exp, sqrt, products, the product with x).  An
  implementation whose error exceeds that is not backward stable at that input (e.g. the naive
  ``sqrt(1 - exp(-B))`` is 100% wrong at t = 1e-7 T in float32).

``t_min`` (default 0): the grid starts there (hard points below it are replaced by t_min itself), for code that
is never evaluated below its training eps; the shrinker searches [t_min, T] too.

``rtol`` / ``atol`` given by the user replace these (``rtol`` as a flat relative tolerance; a negative, NaN
or infinite tolerance, or rtol = 0, is a ValueError: ``error / tolerance <= 1`` would pass anything).  On failure
the grid input with the largest error / tolerance ratio is reported (``input``, ``expected``, ``got``,
``statistic`` / ``threshold`` are those of the grid).  ``alpha`` is accepted for a uniform signature;
deterministic checks have no false-alarm rate.

Shrinking.  After a failure on the grid, and when ``hypothesis`` is importable (a test extra, imported
lazily), ``hypothesis.find`` searches for a simple input at which the *same property* fails under the
*same tolerance rule* (float64 rtol, or the float32 condition-number rule with kappa at that t): t from
{0, T, the hard points above, the worst grid t} (then, if none fails, any t in {0} u [1e-7 T, T]), x
coordinates small integers in [-3, 3] or multiples of 1e-3 in [-10, 10], rounded to the check dtype and given to the
candidate as a batch of one row (x of shape (1, d), t of shape (1,)).  Hypothesis shrinks towards
t = 0, T, small hard points and x = 0, so the result reads like ``t = 0.0, x = [0.0, 0.0, 1.0]``.  It is
added to the error as ``shrunk`` ("shrunk input (hypothesis): t = ..., x = [...], expected ..., got
..."); the search is derandomized with no example database (same result on every run, nothing written
to disk) and bounded (200 examples plus shrinking, well under a second when a hard point fails; up
to ~2 s when nothing fails in a batch of one).  It never changes the verdict: when
hypothesis is missing, a hypothesis test is already running (no nested searches), the candidate
rejects a batch of one, or no failing input is found, the grid report stands alone.  ``shrink=False``
turns it off.  ``check_prior`` shrinks its deterministic log-density part the same way (z a single
sample of the failing batch's feature shape, coordinates small integers times the prior std).

Statistical check (:func:`check_prior`)
---------------------------------------
See its docstring.  Its prior_logp part is deterministic.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ._causes import (
    Slip,
    diagnose,
    diffusion_slips,
    drift_slips,
    marginal_mean_slips,
    marginal_std_slips,
    prior_logp_slips,
    prior_std_slips,
)
from ._inputs import from_numpy, host, require_shape, to_reference, to_shape_of_x
from ._setup import Setup, call_candidate, check_tolerance
from ._shrink import shrink_sample_input, shrink_time_input
from ._stats import chi2_wilson_hilferty_z, norm_isf, z_two_sided
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport, add_panel, collects_evidence

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

HARD_S = (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 0.9, 1.0 - 1e-6, 1.0)
ULPS = 8.0
RTOL_FLOAT64 = 1e-10


class _Setup(Setup):
    """A :class:`~refsde.testing._setup.Setup` with the rounded (x, t) grid of the deterministic checks."""

    def __init__(self, check: str, ref: Any, backend: Any, dtype: Any, seed: int, n: int, d: int,
                 t_min: Any = 0.0) -> None:
        super().__init__(check, ref, backend, dtype, seed=seed)
        self.eps = float(np.finfo(self.np_dtype).eps)
        T = float(ref.T)
        t_min = check_tolerance("t_min", t_min, allow_none=False, allow_zero=True)
        if not t_min < T:
            raise ValueError(f"t_min must lie in [0, T) = [0, {T}), got {t_min!r}")
        lo = t_min / T
        # the hard points at or above t_min, and t_min itself (code never evaluated below its training eps)
        self.hard_s = tuple(sorted({s for s in HARD_S if s >= lo} | ({lo} if lo > 0 else set())))
        self.t_min = t_min
        rng = np.random.default_rng(self.seed)
        n = max(_count("n", n, 1), len(self.hard_s))
        d = _count("d", d, 1)
        s = np.concatenate([np.asarray(self.hard_s), rng.uniform(lo, 1.0, n - len(self.hard_s))])
        t = (T * s).astype(self.np_dtype)
        # rounding must not push t above T (when T is not representable in the check dtype), nor below t_min
        t = np.where(t.astype(np.float64) > T, np.nextafter(self.np_dtype(T), self.np_dtype(0)), t)
        t = np.where(t.astype(np.float64) < t_min, np.nextafter(self.np_dtype(t_min), self.np_dtype(T)), t)
        x = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-1.0, 1.0, (n, 1))
        x = x.astype(self.np_dtype)
        self.n, self.d = n, d
        self.t_host = t.astype(np.float64)
        self.x_host = x.astype(np.float64)
        self.t = from_numpy(self.backend, t, self.dtype)
        self.x = from_numpy(self.backend, x, self.dtype)
        self.t64 = from_numpy(self.backend, self.t_host, self.ref_dtype)
        self.x64 = from_numpy(self.backend, self.x_host, self.ref_dtype)

    def kappa(self, q: Callable[[Any], Any], t_host: np.ndarray | None = None) -> np.ndarray:
        """|t d log|q| / dt| per grid point (or at ``t_host``), by a central difference in log t
        (one-sided at T)."""
        T, h = float(self.ref.T), 1e-4
        t = self.t_host if t_host is None else np.asarray(t_host, dtype=np.float64)
        tp = np.minimum(t * math.exp(h), T)
        tm = t * math.exp(-h)
        qp, qm = (np.abs(host(self.backend, q(from_numpy(self.backend, a, self.ref_dtype)))) for a in (tp, tm))
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.abs(np.log(qp) - np.log(qm)) / np.log(tp / tm)
        return np.where(np.isfinite(k) & (t > 0), k, 0.0)

    def tolerance(self, kappa: np.ndarray, rtol: float | None, atol: float | None) -> tuple[np.ndarray, float]:
        if rtol is not None:
            r = np.full(kappa.shape, float(rtol))
        elif self.np_dtype == np.float32:
            r = ULPS * self.eps * (1.0 + kappa)
        else:
            r = np.full(kappa.shape, RTOL_FLOAT64)
        return r, 0.0 if atol is None else float(atol)

    def describe_row(self, i: int) -> str:
        row = np.array2string(self.x_host[i], precision=6, max_line_width=200)
        return f"t = {self.t_host[i]!r} (t/T = {self.t_host[i] / self.ref.T:.3g}), x[{i}] = {row}"


def _count(name: str, value: Any, minimum: int) -> int:
    from .._checks import check_integer

    return check_integer(value, name, minimum)


def _tolerances(rtol: Any, atol: Any) -> tuple[float | None, float | None]:
    """The user's rtol (> 0) and atol (>= 0), or None for the check's defaults; ValueError otherwise."""
    return check_tolerance("rtol", rtol), check_tolerance("atol", atol, allow_zero=True)


def _ratios(expected: np.ndarray, got: np.ndarray, rtol_rows: np.ndarray, atol: float) -> tuple[np.ndarray, ...]:
    """Per element: error / tolerance (inf where got is not finite), relative error, allowed relative
    error, for |got - expected| <= atol + rtol_i |expected|; arrays of shape (n, features)."""
    expected = expected.reshape(expected.shape[0], -1)
    got = got.reshape(got.shape[0], -1)
    tol = atol + rtol_rows.reshape(-1, 1) * np.abs(expected)
    diff = np.abs(got - expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / tol)
        ratio = np.where(np.isfinite(got), ratio, np.inf)
        rel = np.where(diff == 0, 0.0, diff / np.abs(expected))
        allowed = np.where(expected == 0, np.inf if atol > 0 else 0.0, tol / np.abs(expected))
    return ratio, rel, allowed, expected, got


def _compare(
    setup: _Setup,
    prop: str,
    expected: np.ndarray,
    got: np.ndarray,
    rtol_rows: np.ndarray,
    atol: float,
    stats: dict[str, float],
    thresholds: dict[str, float],
    *,
    input_of: Callable[[int], str] | None = None,
    shrinker: Callable[[int], str | None] | None = None,
    slips: Sequence[Slip] = (),
) -> None:
    """Elementwise |got - expected| <= atol + rtol_i |expected|; raise at the worst ratio, else record it.

    On failure ``shrinker(worst row)`` (if given) may add a hypothesis-shrunk failing input, and the known
    ``slips`` of the property are evaluated on the same inputs to name the likely cause."""
    got_raw = got
    ratio, rel, allowed, expected, got = _ratios(expected, got, rtol_rows, atol)
    i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    stats[f"{prop}: relative error"] = float(rel[i, j])
    thresholds[f"{prop}: relative error"] = float(allowed[i, j])
    if not ratio[i, j] <= 1.0:
        where = (input_of or setup.describe_row)(int(i))
        if expected.shape[1] > 1:
            where += f", component {int(j)}"
        raise ConformanceError(
            setup.check,
            prop,
            input=where,
            expected=repr(float(expected[i, j])),
            got=repr(float(got[i, j])),
            statistic=float(rel[i, j]),
            threshold=float(allowed[i, j]),
            statistic_name="relative error",
            reference=repr(setup.ref),
            note=f"tolerance: rtol {float(rtol_rows[i]):.3g}, atol {atol:.3g} ({setup.dtype_label})",
            shrunk=(shrinker(int(i)) or "") if shrinker is not None else "",
            cause=diagnose(slips, setup, got_raw, lambda alt: float(np.max(_ratios(alt, got_raw, rtol_rows, atol)[0])),
                           float(ratio[i, j])) if slips else "",
        )


def _failure_text(ratio: np.ndarray, rel: np.ndarray, allowed: np.ndarray, expected: np.ndarray, got: np.ndarray) -> str | None:
    """None when every element of the single-row comparison passes, else its worst element as text."""
    j = int(np.argmax(ratio[0]))
    if ratio[0, j] <= 1.0:
        return None
    where = f"component {j}: " if ratio.shape[1] > 1 else ""
    return (
        f"{where}expected {float(expected[0, j])!r}, got {float(got[0, j])!r} "
        f"(relative error {float(rel[0, j]):.3g} > {float(allowed[0, j]):.3g})"
    )


def _time_shrinker(
    setup: _Setup,
    evaluate: Callable[[Any, Any, Any, Any], tuple[np.ndarray, np.ndarray]],
    q: Callable[[Any], Any],
    rtol: float | None,
    atol: float | None,
    enabled: bool,
) -> Callable[[int], str | None] | None:
    """A shrinker for :func:`_compare`: hypothesis searches (t, x) in a batch of one row where
    ``evaluate(x, t, x64, t64) -> (expected, got)`` (host arrays) fails the check's tolerance rule."""
    if not enabled:
        return None

    def fails(example: tuple[float, np.ndarray]) -> str | None:
        t, x = example
        t_host, x_host = np.asarray([t]), np.asarray(x, dtype=np.float64).reshape(1, setup.d)
        expected, got = evaluate(
            from_numpy(setup.backend, x_host, setup.dtype),
            from_numpy(setup.backend, t_host, setup.dtype),
            from_numpy(setup.backend, x_host, setup.ref_dtype),
            from_numpy(setup.backend, t_host, setup.ref_dtype),
        )
        r, a = setup.tolerance(setup.kappa(q, t_host), rtol, atol)
        return _failure_text(*_ratios(expected, got, r, a))

    def shrinker(i: int) -> str | None:
        return shrink_time_input(
            fails, T=float(setup.ref.T), d=setup.d, np_dtype=setup.np_dtype, hard_fractions=setup.hard_s,
            hint=float(setup.t_host[i]),
        )

    return shrinker


def _candidate(setup: Setup, fn: Callable[..., Any], *args: Any, what: str, names: tuple[str, ...] = ()) -> Any:
    """``fn(*args)`` (by ``names`` where it binds only so: :func:`refsde.testing._setup.call_candidate`); an
    exception inside the candidate is a ConformanceError saying so (the original chained)."""
    try:
        return call_candidate(fn, args, names) if names else fn(*args)
    except ConformanceError:
        raise
    except Exception as exc:
        shapes = ", ".join(str(tuple(a.shape)) for a in args if hasattr(a, "shape"))
        raise ConformanceError(setup.check, f"{what} call", input=f"arrays of shape {shapes}",
                               expected="its outputs", got=f"{type(exc).__name__}: {exc}", reference=setup.reference,
                               note="the candidate raised under this reference") from exc


def _pair(out: Any, check: str, what: str) -> tuple[Any, Any]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ConformanceError(check, f"{what} return value", expected="a pair", got=type(out).__name__)
    return out[0], out[1]


def _broadcast_host(setup: _Setup, a: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A reference coefficient of shape (n,) / (n, 1) as a host array of x's shape (or ``shape``)."""
    h = host(setup.backend, a)
    if h.ndim <= 1:
        h = h.reshape(-1, 1)
    return np.broadcast_to(h, setup.x_host.shape if shape is None else shape)


def _time_panel(setup: _Setup, what: str, expected: np.ndarray, got: np.ndarray, per_x: bool = False) -> None:
    """A curve panel of a time coefficient: the candidate's against the reference's on the check's t grid (per row
    the coordinate of largest |x|; divided by x there when ``per_x``)."""
    rows = np.arange(setup.n)
    j = np.argmax(np.abs(setup.x_host), axis=1) if per_x else np.zeros(setup.n, dtype=int)
    e = expected.reshape(setup.n, -1)[rows, j]
    g = got.reshape(setup.n, -1)[rows, j]
    if per_x:
        e, g = e / setup.x_host[rows, j], g / setup.x_host[rows, j]
    order = np.argsort(setup.t_host, kind="stable")
    add_panel("curve", what, x=setup.t_host[order], expected=e[order], got=g[order], xlabel="t", ylabel=what,
              logx=False, logy=bool(np.all(e > 0)))


def _report(setup: _Setup, props: tuple[str, ...], stats: dict, thresholds: dict) -> CheckReport:
    return setup.report(props, setup.n, stats, thresholds, deterministic=True, detectable={
        "relative error at a grid point (any above its tolerance is detected)": max(thresholds.values())})


@collects_evidence
def check_coefficients(
    sde_fn: Callable[[Any, Any], tuple[Any, Any]],
    ref: Any,
    *,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    rtol: float | None = None,
    atol: float | None = None,
    n: int = 64,
    d: int = 3,
    shrink: bool = True,
    t_min: float = 0.0,
) -> CheckReport:
    """Check ``sde_fn(x, t) -> (drift, diffusion)`` against ``ref.drift`` and ``ref.diffusion``.

    ``drift`` must have x's shape; ``diffusion`` may have shape (n,) (score_sde) or any shape
    broadcastable to x's.  Tolerances: see the module docstring.  Raises :class:`ConformanceError`
    naming "drift f(x, t)" or "diffusion g(t)" and the worst input; returns a :class:`CheckReport`.
    """
    name = "check_coefficients"
    rtol, atol = _tolerances(rtol, atol)
    setup = _Setup(name, ref, backend, dtype, seed, n, d, t_min)
    be = setup.backend

    def outputs(x: Any, t: Any) -> tuple[Any, Any]:
        drift_c, diff_c = _pair(_candidate(setup, sde_fn, x, t, what="sde_fn"), name, "sde_fn")
        drift_c = to_reference(drift_c, be, check=name, name="drift f(x, t)")
        require_shape(drift_c, tuple(x.shape), check=name, name="drift f(x, t)")
        diff_c = to_reference(diff_c, be, check=name, name="diffusion g(t)")
        return drift_c, to_shape_of_x(diff_c, be, tuple(x.shape), check=name, name="diffusion g(t)")

    def drift_at(x: Any, t: Any, x64: Any, t64: Any) -> tuple[np.ndarray, np.ndarray]:
        return host(be, ref.drift(x64, t64)), host(be, outputs(x, t)[0])

    def diffusion_at(x: Any, t: Any, x64: Any, t64: Any) -> tuple[np.ndarray, np.ndarray]:
        return _broadcast_host(setup, ref.diffusion(t64), tuple(x.shape)), host(be, outputs(x, t)[1])

    drift_c, diff_c = outputs(setup.x, setup.t)
    _time_panel(setup, "diffusion g(t)", _broadcast_host(setup, ref.diffusion(setup.t64)), host(be, diff_c))
    _time_panel(setup, "drift coefficient f(t) = f(x, t) / x", host(be, ref.drift(setup.x64, setup.t64)), host(be, drift_c),
                per_x=True)
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    r, a = setup.tolerance(setup.kappa(ref.drift_coefficient), rtol, atol)
    _compare(setup, "drift f(x, t)", host(be, ref.drift(setup.x64, setup.t64)), host(be, drift_c), r, a, stats, thresholds,
             shrinker=_time_shrinker(setup, drift_at, ref.drift_coefficient, rtol, atol, shrink), slips=drift_slips(ref))
    r, a = setup.tolerance(setup.kappa(ref.diffusion), rtol, atol)
    _compare(setup, "diffusion g(t)", _broadcast_host(setup, ref.diffusion(setup.t64)), host(be, diff_c), r, a, stats, thresholds,
             shrinker=_time_shrinker(setup, diffusion_at, ref.diffusion, rtol, atol, shrink), slips=diffusion_slips(ref))
    return _report(setup, ("drift f(x, t)", "diffusion g(t)"), stats, thresholds)


@collects_evidence
def check_marginal(
    marginal_fn: Callable[[Any, Any], tuple[Any, Any]],
    ref: Any,
    *,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    rtol: float | None = None,
    atol: float | None = None,
    n: int = 64,
    d: int = 3,
    shrink: bool = True,
    t_min: float = 0.0,
) -> CheckReport:
    """Check ``marginal_fn(x0, t) -> (mean, std)`` of q(x_t | x_0) against ``ref.marginal``.

    ``mean`` must have x0's shape; ``std`` may have shape (n,) or any shape broadcastable to x0's.
    The reference's convention is the contract (e.g. ``VESDE(convention="score_sde")`` expects
    std = sigma(t), the default "exact" convention sqrt(sigma(t)^2 - sigma_min^2)).
    """
    name = "check_marginal"
    rtol, atol = _tolerances(rtol, atol)
    setup = _Setup(name, ref, backend, dtype, seed, n, d, t_min)
    be = setup.backend

    def outputs(x: Any, t: Any) -> tuple[Any, Any]:
        mean_c, std_c = _pair(_candidate(setup, marginal_fn, x, t, what="marginal_fn"), name, "marginal_fn")
        mean_c = to_reference(mean_c, be, check=name, name="marginal mean")
        require_shape(mean_c, tuple(x.shape), check=name, name="marginal mean")
        std_c = to_reference(std_c, be, check=name, name="marginal std")
        return mean_c, to_shape_of_x(std_c, be, tuple(x.shape), check=name, name="marginal std")

    def mean_at(x: Any, t: Any, x64: Any, t64: Any) -> tuple[np.ndarray, np.ndarray]:
        return host(be, ref.marginal(x64, t64)[0]), host(be, outputs(x, t)[0])

    def std_at(x: Any, t: Any, x64: Any, t64: Any) -> tuple[np.ndarray, np.ndarray]:
        return _broadcast_host(setup, ref.marginal(x64, t64)[1], tuple(x.shape)), host(be, outputs(x, t)[1])

    mean_c, std_c = outputs(setup.x, setup.t)
    mean_r, std_r = ref.marginal(setup.x64, setup.t64)
    _time_panel(setup, "marginal std sigma_t", _broadcast_host(setup, std_r), host(be, std_c))
    _time_panel(setup, "marginal mean coefficient alpha_t = mean / x0", host(be, mean_r), host(be, mean_c), per_x=True)
    alpha_fn = lambda t: ref.marginal_coefficients(t)[0]  # noqa: E731
    sigma_fn = lambda t: ref.marginal_coefficients(t)[1]  # noqa: E731
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    r, a = setup.tolerance(setup.kappa(alpha_fn), rtol, atol)
    _compare(setup, "marginal mean", host(be, mean_r), host(be, mean_c), r, a, stats, thresholds,
             shrinker=_time_shrinker(setup, mean_at, alpha_fn, rtol, atol, shrink), slips=marginal_mean_slips(ref))
    r, a = setup.tolerance(setup.kappa(sigma_fn), rtol, atol)
    _compare(setup, "marginal std", _broadcast_host(setup, std_r), host(be, std_c), r, a, stats, thresholds,
             shrinker=_time_shrinker(setup, std_at, sigma_fn, rtol, atol, shrink), slips=marginal_std_slips(ref))
    return _report(setup, ("marginal mean", "marginal std"), stats, thresholds)


def prior_sample_size(d: int, *, alpha: float = 1e-6, rel_std_error: float = 0.02, power: float = 0.99) -> int:
    """Samples n of dimension d that :func:`check_prior` needs to detect a relative prior-std error
    ``rel_std_error`` with probability ``power``: k = (n - 1) d = 2 ((z_a + z_p) / (2 log(1 + delta)))^2,
    z_a = z_{1 - alpha/4} (the chi-square test's two-sided share alpha/2), z_p = z_{power}."""
    z = z_two_sided(alpha / 2.0) + norm_isf(1.0 - power)
    k = 2.0 * (z / (2.0 * math.log1p(rel_std_error))) ** 2
    return 1 + math.ceil(k / d)


@collects_evidence
def check_prior(
    prior_sample_fn: Callable[[tuple[int, ...]], Any],
    prior_logp_fn: Callable[[Any], Any],
    ref: Any,
    *,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    n: int | None = None,
    d: int = 16,
    rel_std_error: float = 0.02,
    power: float = 0.99,
    rtol: float | None = None,
    shrink: bool = True,
) -> CheckReport:
    """Check a prior sampler and log-density against N(0, ref.prior_std^2 I).

    Sampling (statistical): ``z = prior_sample_fn((n, d))`` must have shape (n, d) and finite values.
    With s = ref.prior_std, two tests share ``alpha`` by Bonferroni:

    * scale (tested first): Q = sum_ij (z_ij - mean_i z_ij)^2 / s^2 ~ chi-square(k = (n - 1) d) under
      the null, whatever the mean; the Wilson-Hilferty z of Q is tested two-sided at level alpha/2;
    * mean: z_j = sqrt(n) mean_i(z_ij) / s for each of the d coordinates, two-sided at level alpha/(2d)
      each (exact under the null; independent of Q for Gaussian samples).

    The false-alarm rate (<= alpha) is over the candidate's own randomness: the check just calls
    ``prior_sample_fn(shape)``; seed the candidate yourself for a reproducible run.  With n = None, n is
    chosen so that a relative std error ``rel_std_error`` (2%) is detected with probability ``power``:
    log(Q/k) ~ N(2 log(1 + delta), 2/k), so k = 2 ((z_{1-alpha/4} + z_power) / (2 log(1 + delta)))^2
    (:func:`prior_sample_size`; 4310 samples for d = 16 at the defaults).  The report gives the
    detectable std error and mean offset for the n used.

    Log-density (deterministic): ``prior_logp_fn(z)`` must return shape (m,) and equal ``ref.prior_logp``
    (the sum over *all* non-batch dims) on up to 256 of the samples and on hard points: zeros, 30 s,
    1e-20 s and a (4, 3, 5)-shaped batch.  Tolerance |err| <= rtol * S with
    S = |z|^2/(2 s^2) + (D/2)(|log(2 pi s^2)| + 1) (D features): rtol = 1e-10 in float64 and
    (8 + D) eps in float32 (recursive summation of D terms errs by <= (D - 1) eps/2 times the sum of
    their magnitudes; 8 ulps for the rest).  The candidate receives arrays of the check dtype.
    """
    name = "check_prior"
    setup = Setup(name, ref, backend, dtype, alpha=alpha, power=power, seed=seed)
    rtol = check_tolerance("rtol", rtol)
    d = _count("d", d, 1)
    if n is None:
        n = prior_sample_size(d, alpha=alpha, rel_std_error=check_tolerance("rel_std_error", rel_std_error,
                                                                             allow_none=False), power=power)
    n = _count("n", n, 2)
    z_mean, z_chi = z_two_sided(alpha / 2.0 / d), z_two_sided(alpha / 2.0)  # Bonferroni: alpha/2 each
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    zh = _prior_samples(setup, prior_sample_fn, n, d)
    add_panel("qq", f"prior samples / prior_std ({n} x {d}) against N(0, 1)",
              series=[("all coordinates", zh / float(ref.prior_std))])
    _prior_scale_and_mean(setup, zh, z_chi, z_mean, stats, thresholds)
    _prior_logp(setup, prior_logp_fn, zh, rtol, shrink, stats, thresholds)
    z_pow = norm_isf(1.0 - power)
    detectable = {
        "relative error of the prior std": math.expm1((z_chi + z_pow) / math.sqrt(2.0 * (n - 1) * d)),
        "mean offset of one coordinate / prior std": (z_mean + z_pow) / math.sqrt(n),
    }
    return setup.report(("prior mean", "prior std", "prior logp"), n, stats, thresholds, detectable=detectable,
                        notes=("false-alarm rate alpha is over the candidate's own randomness (it draws its samples)",))


def _prior_samples(setup: Setup, prior_sample_fn: Callable[[tuple[int, ...]], Any], n: int, d: int) -> np.ndarray:
    """The candidate's (n, d) prior samples on the host (shape and finiteness checked)."""
    try:
        out = prior_sample_fn((n, d))
    except Exception as exc:
        raise ConformanceError(setup.check, "prior sample call", input=f"shape ({n}, {d})", expected="an array",
                               got=f"{type(exc).__name__}: {exc}", reference=setup.reference,
                               note="the candidate raised under this reference") from exc
    return setup.output(out, (n, d), "prior sample")


def _prior_scale_and_mean(setup: Setup, zh: np.ndarray, z_chi: float, z_mean: float, stats: dict, thresholds: dict) -> None:
    """Scale first, about the sample mean (so a mean offset does not masquerade as a scale error); with the scale
    within ~rel_std_error, the mean test can use the reference std."""
    n, d = zh.shape
    s = float(setup.ref.prior_std)
    k = (n - 1) * d
    centered = zh - zh.mean(axis=0)
    q = float(np.sum(centered * centered)) / (s * s)
    zq = chi2_wilson_hilferty_z(q, k)
    stats["prior std: |Wilson-Hilferty z| of centered sum z^2 / s^2"] = abs(zq)
    thresholds["prior std: |Wilson-Hilferty z| of centered sum z^2 / s^2"] = z_chi
    stats["prior std: sample std / prior_std - 1"] = math.sqrt(q / k) - 1.0
    if abs(zq) > z_chi:
        # the same chi-square test against the std each known slip would give (module _causes)
        tried = prior_std_slips(setup.ref)
        fits = [(abs(chi2_wilson_hilferty_z(float(np.sum(centered * centered)) / (alt * alt), k)), text)
                for text, alt in tried]
        fits = [(z, text) for z, text in fits if z <= z_chi]
        cause = (f"likely cause: {min(fits)[1]} (|z| {min(fits)[0]:.3g} under it; {abs(zq):.3g} under the reference)"
                 if fits else "no known slip of this property matches (tried: " + ", ".join(t for t, _ in tried) + ")")
        raise ConformanceError(
            setup.check, "prior std", input=f"{n} samples of shape ({n}, {d})", expected=repr(s),
            got=repr(math.sqrt(q / k) * s), statistic=abs(zq), threshold=z_chi,
            statistic_name="|z| (chi-square, Wilson-Hilferty)", reference=setup.reference, cause=cause,
        )
    zj = np.sqrt(n) * zh.mean(axis=0) / s
    j = int(np.argmax(np.abs(zj)))
    stats["prior mean: max |z| over coordinates"] = float(abs(zj[j]))
    thresholds["prior mean: max |z| over coordinates"] = z_mean
    if abs(zj[j]) > z_mean:
        raise ConformanceError(
            setup.check, "prior mean", input=f"coordinate {j} of {n} samples of shape ({n}, {d})", expected="0.0",
            got=repr(float(zh[:, j].mean())), statistic=float(abs(zj[j])), threshold=z_mean,
            statistic_name="|z|", reference=setup.reference,
        )


def _prior_logp(setup: Setup, prior_logp_fn: Callable[[Any], Any], zh: np.ndarray, rtol: float | None, shrink: bool,
                stats: dict, thresholds: dict) -> None:
    """prior_logp_fn against ref.prior_logp on samples and hard batches (deterministic; module docstring)."""
    be, s = setup.backend, float(setup.ref.prior_std)
    n, d = zh.shape
    rng = np.random.default_rng(setup.seed)
    batches = [
        ("samples", zh[: min(n, 256)]),
        ("zeros", np.zeros((4, d))),
        ("large (30 s)", 30.0 * s * rng.choice([-1.0, 1.0], (4, d))),
        ("tiny (1e-20 s)", 1e-20 * s * rng.standard_normal((4, d))),
        ("shape (4, 3, 5)", s * rng.standard_normal((4, 3, 5))),
    ]

    def logp_errors(zb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """error / scale S, expected and got per row of the batch zb (values of the check dtype)."""
        D = int(np.prod(zb.shape[1:]))
        got = to_reference(prior_logp_fn(from_numpy(be, zb, setup.dtype)), be, check=setup.check, name="prior logp")
        require_shape(got, (zb.shape[0],), check=setup.check, name="prior logp")
        gh = host(be, got)
        eh = host(be, setup.ref.prior_logp(from_numpy(be, zb, setup.ref_dtype)))
        sq = np.sum(zb.reshape(zb.shape[0], -1) ** 2, axis=1)
        # S = |z|^2 / (2 s^2) + (D/2)(|log(2 pi s^2)| + 1): the magnitude of the terms of log N(z; 0, s^2 I)
        scale = sq / (2 * s * s) + 0.5 * D * (abs(math.log(2 * math.pi * s * s)) + 1.0)
        f32 = setup.np_dtype == np.float32
        r = float(rtol) if rtol is not None else ((8.0 + D) * float(np.finfo(np.float32).eps) if f32 else 1e-10)
        err = np.abs(gh - eh) / scale
        return np.where(np.isfinite(gh), err, np.inf), eh, gh, r

    def logp_fails(z: np.ndarray) -> str | None:
        err, eh, gh, r = logp_errors(z[None])
        if err[0] <= r:
            return None
        return f"expected {float(eh[0])!r}, got {float(gh[0])!r} (error / scale S {float(err[0]):.3g} > {r:.3g})"

    worst = (-1.0, 0.0, 0.0)
    for label, zb in batches:
        zb = zb.astype(setup.np_dtype).astype(np.float64)
        D = int(np.prod(zb.shape[1:]))
        err, eh, gh, r = logp_errors(zb)
        i = int(np.argmax(err))
        if err[i] / r > worst[0]:
            worst = (err[i] / r, float(err[i]), r)
        if not err[i] <= r:
            shrunk = ""
            if shrink:
                shrunk = shrink_sample_input(logp_fails, shape=zb.shape[1:], scale=s, np_dtype=setup.np_dtype) or ""
            raise ConformanceError(
                setup.check, "prior logp", input=f"{label}, row {i}: z = {np.array2string(zb[i].ravel()[:8], precision=4)}"
                + (" ..." if D > 8 else "") + f" (shape {zb.shape})",
                expected=repr(float(eh[i])), got=repr(float(gh[i])), statistic=float(err[i]), threshold=r,
                statistic_name="error / scale S", reference=setup.reference, shrunk=shrunk,
                cause=_logp_cause(zb, gh, eh, s, r, float(err[i])),
            )
    stats["prior logp: max error / scale S"] = worst[1]
    thresholds["prior logp: max error / scale S"] = worst[2]


def _logp_cause(zb: np.ndarray, got: np.ndarray, expected: np.ndarray, s: float, r: float, err: float) -> str:
    """The prior log-density slip (module _causes) under which the candidate's values pass the same rule."""
    D = int(np.prod(zb.shape[1:]))
    scale = np.sum(zb.reshape(zb.shape[0], -1) ** 2, axis=1) / (2 * s * s) + 0.5 * D * (abs(math.log(2 * math.pi * s * s)) + 1.0)
    tried = prior_logp_slips(s)
    fits = []
    for text, fn in tried:
        e = float(np.max(np.abs(got - fn(zb)) / scale))
        if e <= r:
            fits.append((e / r, text))
    if not fits:
        return "no known slip of this property matches (tried: " + ", ".join(t for t, _ in tried) + ")"
    ratio, text = min(fits)
    return f"likely cause: {text} (error / tolerance {ratio:.3g} under it; {err / r:.3g} under the reference)"
