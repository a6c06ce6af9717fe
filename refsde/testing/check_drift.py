"""Deterministic checks of the two drifts built from a score: the probability-flow ODE drift
(:func:`check_pf_ode_drift`) and the reverse-SDE drift (:func:`check_reverse_drift`).

These are the cheapest and most precise place to find a drift bug (g for g^2, a missing 1/2, a flipped
sign, a noise prediction used as the score, coefficients at T - t): no sampling, no step-size error, a
relative tolerance of 1e-10 in float64.  A sampler check sees the same bug only through the law of its
output.

The candidate is ``drift_fn(score_fn, x, t) -> v`` like ``x``; ``x`` of shape (n, d) and ``t`` of shape (n,)
(as in :func:`~refsde.testing.check_coefficients`: the time grid has the hard points t/T in {0, 1e-7, ...,
1 - 1e-6, 1} and uniform random t, x is N(0, I) times 10^U(-1, 1) per row; inputs are rounded to the check
dtype and the same rounded values go to the reference).  ``score_fn(x, t)`` is the exact score of Gaussian
data N(m, C) (the sampler checks' data: eigenvalues (0.02, 0.5, 2) rotated off the axes, mean (1, -0.5,
0.25)); it accepts t as a float or an array of shape (n,), and also offers ``score_fn.eps`` (noise
prediction) and ``score_fn.x0`` (data prediction) for code written in those parameterizations.  Wrap code
with another signature in one line, e.g. ``lambda score, x, t: my_pf_drift(x, t, model=score)``.

Expected values (host float64 at the rounded inputs), eqs. (13) and (6) of Song et al., ICLR 2021:

    probability flow   v(x, t) = f(x, t) - g(t)^2 s(x, t) / 2
    reverse SDE        v(x, t) = f(x, t) - g(t)^2 s(x, t)

with f, g the reference's coefficients (themselves checked against closed forms by the test suite) and s
the exact score.  ``time="forward"`` (default) is the field of dx = v dt with t running from T down to 0
(score_sde's ``sde.reverse(score_fn).sde`` returns this drift); ``time="reversed"`` is the field of dx/dtau
for tau = T - t (what an ODE solver integrating forward in tau is given): -v at the same t.

Tolerance, elementwise: |got - expected| <= atol + rtol_i (|f x| + w g^2 |s|), w = 1/2 or 1: a stable
candidate computes each of the two terms to a few ulps, and where they cancel only the size of the terms
bounds the rounding of their difference.  float64: rtol = 1e-10 (four orders above two stable
implementations' disagreement; every modelling slip is O(1)).  float32: rtol_i = 8 eps (1 + kappa_i),
kappa_i the larger relative condition number of f(t) and g(t)^2 with respect to t at t_i (as in
:mod:`refsde.testing.check_forward_sde`).  ``rtol`` / ``atol`` replace these (a negative, NaN or infinite
tolerance is a ValueError).  On failure the known slips of :mod:`refsde.testing._causes` are evaluated on the
same inputs and the one the candidate matches is named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._cases import ExactScore, gaussian_case
from ._causes import Slip, diagnose
from ._inputs import from_numpy, host, require_shape, to_reference
from .check_forward_sde import _candidate, _Setup, _tolerances
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport, collects_evidence

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

__all__ = ["check_pf_ode_drift", "check_reverse_drift", "drift_slips_of"]

TIMES = ("forward", "reversed")


class _Terms:
    """f x, g, s and the sign of the time convention on the check's grid (host float64, x's shape), and
    the same at T - t (a slip): everything a slip's expected value is made of."""

    def __init__(self, setup: _Setup, score: ExactScore, sign: float) -> None:
        be, ref = setup.backend, setup.ref
        self.sign = sign
        self.fx, g = (host(be, a) for a in ref.sde(setup.x64, setup.t64))
        self.g = np.broadcast_to(g.reshape(-1, 1), self.fx.shape)
        self.s = host(be, score(setup.x64, setup.t64))
        _, sigma = ref.marginal_coefficients(setup.t64)
        self.sigma = host(be, sigma).reshape(-1, 1)
        flip = from_numpy(be, float(ref.T) - setup.t_host, setup.ref_dtype)
        self.fx_flip, g_flip = (host(be, a) for a in ref.sde(setup.x64, flip))
        self.g_flip = np.broadcast_to(g_flip.reshape(-1, 1), self.fx.shape)


def drift_slips_of(weight: float) -> list[Slip]:
    """The known slips of v = f - weight g^2 s (weight 1/2: probability flow; 1: reverse SDE), each as the
    value such code returns (in the check's time convention)."""
    other = 1.0 if weight == 0.5 else 0.5
    other_name = "the reverse-SDE drift f - g^2 s (score weight 1)" if weight == 0.5 else \
        "the probability-flow drift f - g^2 s / 2 (score weight 1/2)"

    def v(fx: Callable[[_Terms], Any], g2: Callable[[_Terms], Any], s: Callable[[_Terms], Any], w: float = weight,
          sign: float = 1.0) -> Callable[[Any], np.ndarray]:
        return lambda st: sign * st.terms.sign * (fx(st.terms) - w * g2(st.terms) * s(st.terms))

    fx, g2, s = (lambda T: T.fx), (lambda T: T.g ** 2), (lambda T: T.s)
    return [
        Slip("g_for_g2", "g(t) in place of g(t)^2 in the score term", v(fx, lambda T: T.g, s)),
        Slip("g4_for_g2", "g(t)^4 in place of g(t)^2 (the diffusion squared twice)", v(fx, lambda T: T.g ** 4, s)),
        Slip("score_weight", other_name, v(fx, g2, s, w=other)),
        Slip("score_sign", "the score term's sign flipped (f + w g^2 s)", v(fx, g2, lambda T: -T.s)),
        Slip("time_convention", "the other time convention: the field of dx/dtau, tau = T - t, where dx/dt was "
             "asked (or the reverse); pass time='reversed' (or 'forward') if that is your convention",
             v(fx, g2, s, sign=-1.0)),
        Slip("no_drift", "the drift f(x, t) missing", v(lambda T: 0.0 * T.fx, g2, s)),
        Slip("drift_sign", "f(x, t) with its sign flipped", v(lambda T: -T.fx, g2, s)),
        Slip("eps_as_score", "a noise prediction eps = -sigma_t s used as the score", v(fx, g2, lambda T: -T.sigma * T.s)),
        Slip("score_over_sigma", "the score divided by -sigma_t (the score converted as if it were a noise prediction)",
             v(fx, g2, lambda T: -T.s / T.sigma)),
        Slip("coefficients_at_T_minus_t", "f and g evaluated at T - t (the reversed time) with the score at t",
             v(lambda T: T.fx_flip, lambda T: T.g_flip ** 2, s)),
    ]


def _check_drift(drift_fn: Callable[..., Any], ref: Any, weight: float, name: str, prop: str, *, time: str, seed: int,
                 backend: Any, dtype: Any, rtol: Any, atol: Any, n: int, d: int, t_min: float) -> CheckReport:
    if not callable(drift_fn):
        raise TypeError(f"{name}: drift_fn must be callable drift_fn(score_fn, x, t), got {drift_fn!r}")
    if time not in TIMES:
        raise ValueError(f"{name}: time must be one of {TIMES}, got {time!r}")
    rtol, atol = _tolerances(rtol, atol)
    setup = _Setup(name, ref, backend, dtype, seed, n, d, t_min)
    be = setup.backend
    score = ExactScore(gaussian_case((setup.d,)), ref, be, setup.ref_dtype, name)
    terms = _Terms(setup, score, 1.0 if time == "forward" else -1.0)
    setup.terms = terms  # type: ignore[attr-defined]  # what the slips read
    out = _candidate(setup, drift_fn, score, setup.x, setup.t, what="drift_fn", names=("score_fn", "x", "t"))
    out = to_reference(out, be, check=name, name=prop)
    require_shape(out, tuple(setup.x.shape), check=name, name=prop)
    got = host(be, out)
    expected = terms.sign * (terms.fx - weight * terms.g ** 2 * terms.s)
    scale = np.abs(terms.fx) + weight * terms.g ** 2 * np.abs(terms.s)
    kappa = np.maximum(setup.kappa(ref.drift_coefficient), setup.kappa(ref.diffusion_squared))
    r, a = setup.tolerance(kappa, rtol, atol)
    tol = a + r.reshape(-1, 1) * scale  # |got - expected| <= atol + r_i (|f x| + w g^2 |s|)

    def ratios(alt: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = np.abs(got - alt)
            return np.where(np.isfinite(got), np.where(diff == 0, 0.0, diff / tol), np.inf)

    ratio = ratios(expected)
    i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    unit = np.where(scale == 0, 1.0, scale)
    err, allowed = float(np.abs(got - expected)[i, j] / unit[i, j]), float(tol[i, j] / unit[i, j])
    key = f"{prop}: error / (|f x| + w g^2 |s|)"
    stats, thresholds = {key: err}, {key: allowed}
    if not ratio[i, j] <= 1.0:
        raise ConformanceError(
            name, prop, input=setup.describe_row(int(i)) + (f", component {int(j)}" if got.shape[1] > 1 else ""),
            expected=repr(float(expected[i, j])), got=repr(float(got[i, j])), statistic=err,
            threshold=allowed, statistic_name="error / (|f x| + w g^2 |s|)", reference=setup.reference,
            note=f"time convention {time!r}; tolerance rtol {float(r[i]):.3g}, atol {a:.3g} ({setup.dtype_label})",
            cause=diagnose(drift_slips_of(weight), setup, got, lambda alt: float(np.max(ratios(alt))), float(ratio[i, j])),
        )
    return setup.report((prop,), setup.n, stats, thresholds, deterministic=True,
                        detectable={"relative error at a grid point (any above its tolerance is detected)":
                                    max(thresholds.values())},
                        notes=(f"time convention {time!r}", score.domain_note()))


@collects_evidence
def check_pf_ode_drift(drift_fn: Callable[[Any, Any, Any], Any], ref: Any, *, time: str = "forward", seed: int = 0,
                       backend: Any = None, dtype: Any = None, rtol: float | None = None, atol: float | None = None,
                       n: int = 64, d: int = 3, t_min: float = 0.0) -> CheckReport:
    """Check ``drift_fn(score_fn, x, t)`` against the probability-flow drift f(x, t) - g(t)^2 s(x, t) / 2.

    ``x`` (n, d), ``t`` (n,) in the check dtype; returns a :class:`CheckReport` or raises
    :class:`ConformanceError` at the worst element, naming the known slip it matches.  ``time``: "forward"
    (dx = v dt, t decreasing) or "reversed" (dx/dtau, tau = T - t).  ``t_min``: the grid starts there (for
    code never evaluated below its training eps).  Tolerances: module docstring.
    """
    return _check_drift(drift_fn, ref, 0.5, "check_pf_ode_drift", "probability-flow drift f - g^2 s / 2", time=time,
                        seed=seed, backend=backend, dtype=dtype, rtol=rtol, atol=atol, n=n, d=d, t_min=t_min)


@collects_evidence
def check_reverse_drift(drift_fn: Callable[[Any, Any, Any], Any], ref: Any, *, time: str = "forward", seed: int = 0,
                        backend: Any = None, dtype: Any = None, rtol: float | None = None, atol: float | None = None,
                        n: int = 64, d: int = 3, t_min: float = 0.0) -> CheckReport:
    """Check ``drift_fn(score_fn, x, t)`` against the reverse-SDE drift f(x, t) - g(t)^2 s(x, t).

    Same inputs, conventions and tolerances as :func:`check_pf_ode_drift`.
    """
    return _check_drift(drift_fn, ref, 1.0, "check_reverse_drift", "reverse-SDE drift f - g^2 s", time=time,
                        seed=seed, backend=backend, dtype=dtype, rtol=rtol, atol=atol, n=n, d=d, t_min=t_min)
