"""The statistics of refsde's checks, in one place: distribution functions, quantiles, test design and the
moment tests, in pure Python and NumPy (no scipy at run time).

Used by the conformance checks of :mod:`refsde.testing` and by the validation suite (``refsde_validation``
imports it from here; this module imports nothing from the suite).  Every accuracy figure below was
measured against scipy / 50-digit mpmath; the tests named pin them.

Normal distribution
-------------------
* :func:`norm_cdf`, :func:`norm_sf` -- ``erfc(-+x / sqrt 2) / 2`` with :func:`math.erfc`: full double
  precision in both tails (tests/test_validation.py: 1e-14 relative to ``scipy.special.ndtr``).
* :func:`norm_ppf` (lower quantile Phi^{-1}(p)), :func:`norm_isf` (upper quantile, the x with
  P(Z > x) = q) -- P. J. Acklam's rational approximation (relative error < 1.15e-9 on (0, 1)) followed by
  two Halley steps on ``Phi(x) - p``; each Halley step triples the number of correct digits.  Measured
  against the 50-digit root of ``erfc(x / sqrt 2) / 2 = q`` on 7,500 q from 1e-300 to 1 - 1e-16:
  relative error <= 3.1e-16 for q < 1e-10 and <= 2.5e-15 (<= 19 ulp) for q in [1e-10, 0.49] and above
  0.51; within 0.01 of q = 1/2, where the quantile x is tiny, the error is absolute, <= 7e-17 (it is that
  of forming Phi(x) - p in double precision; relative up to 1.1e-9 there).  ``scipy.special.ndtri`` is
  within 3 ulp everywhere; tests/test_testing_stats.py asserts 4e-15 relative + 2e-16 absolute against
  it (1e-15 relative below q = 1e-10).  Probabilities above 1/2 are
  reflected, ``Phi^{-1}(p) = -Phi^{-1}(1 - p)``, exact in floating point for p >= 1/2; for a tiny
  upper-tail probability q call ``norm_isf(q)``, which never forms 1 - q.  ``norm_ppf`` accepts [0, 1]
  (0 and 1 give -inf / +inf); ``norm_isf`` accepts only (0, 1) and raises ValueError otherwise (a
  false-alarm rate or power of 0 or 1 is a caller's error in the checks).
  (This replaces a second ``norm_isf``, Newton's method on log sf from sqrt(-2 log q), which was as
  accurate in the tails but 27 times less accurate near q = 1/2: 3.1e-8 relative.)
* :func:`z_two_sided` (two-sided Bonferroni critical value for m tests), :func:`z_equivalent` (a p-value
  as the two-sided |z| with the same p: the common scale of the validation suite's statistics),
  :func:`bonferroni_max_z`.

Student t
---------
:func:`t_isf` -- the Cornish-Fisher expansion of the t quantile in powers of 1/df around the normal
quantile z (Abramowitz & Stegun 26.7.5, four terms), for df >= :data:`MIN_DF` = 50 only.  The fifth term
is O(z^11 / df^5); measured against ``scipy.stats.t.isf`` for df from 50 to 1e5 and q from 1e-9 (z = 6)
to 0.49 the relative error is <= 1.7e-5 (largest at df = 50, q = 1e-9); tests/test_testing_loss.py
asserts 2e-3.

Incomplete gamma and chi-square
-------------------------------
* :func:`chi2_cdf`, :func:`chi2_sf` (and :func:`log_gammainc`, :func:`gammainc_p`, :func:`gammainc_q`) --
  exact, through the regularized incomplete gamma function: the power series of P(a, x) for x < a + 1
  and the Legendre continued fraction of Q(a, x) (modified Lentz) for x >= a + 1, each summed to a
  relative increment of 1e-16 and combined with the prefactor in log space (no underflow); the
  complement is taken only where it is >= ~0.4, so both tails keep full relative precision.  Both
  expansions need O(sqrt(a)) terms, a few thousand for 1e5-1e6 degrees of freedom (milliseconds).  The
  log-prefactor a log x - x - lgamma(a) is a difference of terms of size ~a log a, whose rounding gives a
  relative error ~1e-16 a log a (1.4e-9 at a = 1e6) -- irrelevant for tail probabilities compared with
  alpha.  Matches ``scipy.stats.chi2`` to 1e-9 relative for k from 1 to 1e6 (tests/test_validation.py).
* :func:`chi2_ppf`, :func:`chi2_isf` -- start from the Wilson-Hilferty quantile
  k (1 - 2/(9k) + z sqrt(2/(9k)))^3 and polish it by Newton steps on the exact log cdf / log sf in the
  variable log x to a relative change < 1e-14; match ``scipy.stats.chi2`` to 1e-10 relative for k from 1
  to 1e6 and tail probabilities down to 1e-300 (tests/test_validation.py).
* :func:`chi2_two_sided_p` -- 2 min(cdf, sf), capped at 1.
* :func:`chi2_wilson_hilferty_z` -- the Wilson-Hilferty transform ((q/k)^(1/3) - (1 - 2/(9k))) / sqrt(2/(9k))
  of a chi-square(k) statistic to an approximately standard normal z (the inverse of the quantile
  formula above), used by the conformance checks at their large k without the exact refinement.
  Measured relative error of the Wilson-Hilferty quantile against ``scipy.stats.chi2`` (upper / lower
  tail): at tail probability 1e-7, 2.1e-3 / 5.6e-3 at k = 100, 8.9e-5 / 1.2e-4 at k = 1e3, 1.0e-7 /
  1.05e-7 at k = 1e5; at 1e-8, 2.6e-3 / 7.4e-3 at k = 100, 1.1e-4 / 1.6e-4 at k = 1e3, 7e-8 at k = 1.5e5,
  2.5e-8 at k = 3e5; poor for small k (4% at k = 10, 79% for the lower tail).

Test design
-----------
* :func:`n_for_variance_ratio`, :func:`mean_shift_detectable` -- the validation suite's sample sizes for
  the chi-square variance test and the detectable mean shift of a z-test (derivations in the docstrings).
* :func:`dkw_epsilon`, :func:`dkw_p_bound` -- the Dvoretzky-Kiefer-Wolfowitz-Massart bound of the
  Kolmogorov-Smirnov checks (non-asymptotic).
* :func:`sample_size`, :func:`detectable_std_error` -- n and the detectable relative std error of the
  moment tests against a variance band (the samplers' and corrector's checks).

Moment tests against a Gaussian law with a tolerance band (:func:`moment_tests`)
--------------------------------------------------------------------------------
Per coordinate j (independent coordinates: the eigen-coordinates of the data), with n samples y_ij:

* variance: Q_j = sum_i (y_ij - mean_i y_ij)^2 ~ V_j' chi-square(n - 1) for the true variance V_j'.  The
  null is V_j' in the band [V_j (1 - a_j), V_j (1 + a_j)]; it is rejected when the Wilson-Hilferty z of
  Q_j / (V_j (1 + a_j)) exceeds z_c or that of Q_j / (V_j (1 - a_j)) is below -z_c (two one-sided tests
  at level alpha_1 / 2 each at the band's edges, so the level is <= alpha_1 anywhere in the band).
* mean: |mean_i y_ij - M_j| - b_j <= z_c sqrt(V_j (1 + a_j) / n) (level <= alpha_1 for a true mean within
  b_j of M_j and a variance within the band).

z_c = z_{1 - alpha_1 / 2} with alpha_1 = alpha / (number of tests of the check) (Bonferroni).

Quadrature
----------
:func:`integrate_log_t` -- composite Gauss-Legendre in u = log t (200 panels of 20 nodes by default), for
the DSM-loss moments whose integrands behave like 1/t near t = 0.

Backend helpers
---------------
:func:`erfc_backend`, :func:`norm_cdf_backend` -- erfc and Phi written with Array-API operations only (the
standard has no ``erf``; Numerical Recipes' Chebyshev fit): fractional error < 1.2e-7 in erfc, absolute
error < 1.2e-7 in Phi (tests/test_validation.py), used for mixture CDFs in the Kolmogorov-Smirnov checks,
whose thresholds are ~1e-2.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConformanceError, hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

SQRT2 = math.sqrt(2.0)
SQRT2PI = math.sqrt(2.0 * math.pi)

# ---------------------------------------------------------------------------------------------------
# normal distribution
# ---------------------------------------------------------------------------------------------------
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


def norm_cdf(x: float) -> float:
    """Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 (full relative precision for x << 0)."""
    return 0.5 * math.erfc(-x / SQRT2)


def norm_sf(x: float) -> float:
    """P(Z > x) = erfc(x / sqrt 2) / 2 for Z ~ N(0, 1) (full relative precision for x >> 0)."""
    return 0.5 * math.erfc(x / SQRT2)


def _acklam_lower(p: float) -> float:
    """Acklam's approximation of Phi^{-1}(p) for 0 < p <= 0.5 (relative error < 1.15e-9)."""
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
        den = (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
        return num / den
    q = p - 0.5
    r = q * q
    num = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
    den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
    return num / den


def norm_ppf(p: float) -> float:
    """Inverse standard normal CDF Phi^{-1}(p) for 0 <= p <= 1 (0 and 1 give -inf / +inf; module docstring).

    Probabilities above 1/2 are reflected (Phi^{-1}(p) = -Phi^{-1}(1 - p)), which is exact in
    floating point for p >= 1/2; for tiny upper-tail probabilities call :func:`norm_isf` instead.
    """
    p = float(p)
    if math.isnan(p) or p < 0.0 or p > 1.0:
        raise ValueError(f"probability must lie in [0, 1], got {p}")
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p > 0.5:
        return -norm_ppf(1.0 - p)
    x = _acklam_lower(p)
    for _ in range(2):  # Halley steps on F(x) = Phi(x) - p
        e = norm_cdf(x) - p
        u = e * SQRT2PI * math.exp(0.5 * x * x)
        x = x - u / (1.0 + 0.5 * x * u)
    return x


def norm_isf(q: float) -> float:
    """The x with P(Z > x) = q, for 0 < q < 1 (ValueError otherwise): -Phi^{-1}(q), accurate for tiny q."""
    if not 0.0 < q < 1.0:  # also rejects NaN
        raise ValueError(f"q must lie in (0, 1), got {q}")
    return -norm_ppf(q)


def z_two_sided(alpha: float, m: int = 1) -> float:
    """Two-sided Bonferroni critical value: |Z| > z has probability alpha / m under N(0, 1)
    (m = 1: the critical |z| of a two-sided normal test at level ``alpha``)."""
    return norm_isf(alpha / (2.0 * m))


def z_equivalent(p: float) -> float:
    """The |z| whose two-sided normal p-value is ``p`` (p = 0 gives inf): a common scale for tests."""
    p = min(max(float(p), 0.0), 1.0)
    if p == 0.0:
        return math.inf
    return norm_isf(0.5 * p)


def bonferroni_max_z(p_values: Sequence[float]) -> float:
    """Largest normal-equivalent |z| of a family of p-values (compare with z_two_sided(alpha, m))."""
    return max(z_equivalent(p) for p in p_values)


# ---------------------------------------------------------------------------------------------------
# Student t
# ---------------------------------------------------------------------------------------------------
MIN_DF = 50


def t_isf(q: float, df: int) -> float:
    """The x with P(T_df > x) = q, for 0 < q < 1/2 and df >= 50 (Cornish-Fisher; module docstring)."""
    if df < MIN_DF:
        raise ValueError(f"t_isf needs df >= {MIN_DF} for its stated accuracy, got {df}")
    z = norm_isf(q)
    z2 = z * z
    # A&S 26.7.5: t = z + g1/v + g2/v^2 + g3/v^3 + g4/v^4
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    v = float(df)
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


# ---------------------------------------------------------------------------------------------------
# incomplete gamma and chi-square
# ---------------------------------------------------------------------------------------------------
def _log_prefactor(a: float, x: float) -> float:
    return a * math.log(x) - x - math.lgamma(a)


def _series_sum(a: float, x: float) -> float:
    """sum_k x^k / (a (a+1) ... (a+k)), so that P(a, x) = e^-x x^a / Gamma(a) * sum; for x < a + 1."""
    ap = a
    term = 1.0 / a
    total = term
    for _ in range(10_000_000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * 1e-16:
            return total
    raise RuntimeError("incomplete gamma series did not converge")  # pragma: no cover


def _cf_value(a: float, x: float) -> float:
    """The continued fraction h with Q(a, x) = e^-x x^a / Gamma(a) * h (modified Lentz); for x >= a + 1."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < tiny:
            d = tiny
        c = b + an / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            return h
    raise RuntimeError("incomplete gamma continued fraction did not converge")  # pragma: no cover


def log_gammainc(a: float, x: float, upper: bool) -> float:
    """log P(a, x) (or log Q(a, x) when ``upper``), without underflow in either tail."""
    if a <= 0:
        raise ValueError("a must be > 0")
    if not x > 0:
        return 0.0 if upper else -math.inf
    if math.isinf(x):
        return -math.inf if upper else 0.0
    if x < a + 1.0:
        log_p = _log_prefactor(a, x) + math.log(_series_sum(a, x))
        return math.log1p(-math.exp(log_p)) if upper else log_p
    log_q = _log_prefactor(a, x) + math.log(_cf_value(a, x))
    return log_q if upper else math.log1p(-math.exp(log_q))


def gammainc_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) = gamma(a, x) / Gamma(a)."""
    return math.exp(log_gammainc(a, x, upper=False))


def gammainc_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate when it is tiny."""
    return math.exp(log_gammainc(a, x, upper=True))


def chi2_cdf(q: float, k: float) -> float:
    """P(chi^2_k <= q)."""
    return gammainc_p(0.5 * k, 0.5 * q)


def chi2_sf(q: float, k: float) -> float:
    """P(chi^2_k > q)."""
    return gammainc_q(0.5 * k, 0.5 * q)


def _chi2_log_pdf(q: float, k: float) -> float:
    a = 0.5 * k
    return (a - 1.0) * math.log(0.5 * q) - 0.5 * q - math.lgamma(a) - math.log(2.0)


def _wilson_hilferty(z: float, k: float) -> float:
    """The Wilson-Hilferty chi-square(k) quantile at normal quantile z (inverse of chi2_wilson_hilferty_z,
    its cube floored at 1e-3 so that it stays positive)."""
    c = 2.0 / (9.0 * k)
    return k * max(1.0 - c + z * math.sqrt(c), 1e-3) ** 3


def chi2_wilson_hilferty_z(q: float, k: float) -> float:
    """z = ((q/k)^(1/3) - (1 - 2/(9k))) / sqrt(2/(9k)), approximately N(0, 1) when q ~ chi-square(k)."""
    v = 2.0 / (9.0 * k)
    return ((q / k) ** (1.0 / 3.0) - (1.0 - v)) / math.sqrt(v)


def _chi2_quantile(prob: float, k: float, upper: bool) -> float:
    """Newton's method on log F(x) = log prob in the variable log x (F = cdf, or sf when ``upper``),
    which is well scaled in both tails (F ~ x^(k/2) near 0, F ~ exp(-x/2) far out); log F is computed
    without underflow, and steps are capped at 20 in log x."""
    if not 0.0 < prob < 1.0:
        raise ValueError(f"probability must lie in (0, 1), got {prob}")
    z = norm_isf(prob) if upper else norm_ppf(prob)
    u = math.log(_wilson_hilferty(z, k))
    target = math.log(prob)
    for _ in range(200):
        x = math.exp(u)
        if x == 0.0 or math.isinf(x):  # the quantile under- or overflows double precision
            return x
        log_f = log_gammainc(0.5 * k, 0.5 * x, upper)
        # d log F / d log x = +- x pdf(x) / F(x)
        slope = math.exp(math.log(x) + _chi2_log_pdf(x, k) - log_f)
        step = max(-20.0, min(20.0, (log_f - target) / (-slope if upper else slope)))
        u -= step
        if abs(step) < 1e-14:
            break
    return math.exp(u)


def chi2_ppf(p: float, k: float) -> float:
    """Lower quantile: the q with P(chi^2_k <= q) = p."""
    return _chi2_quantile(p, k, upper=False)


def chi2_isf(p: float, k: float) -> float:
    """Upper quantile: the q with P(chi^2_k > q) = p."""
    return _chi2_quantile(p, k, upper=True)


def chi2_two_sided_p(q: float, k: float) -> float:
    """Two-sided p-value 2 min(P(chi^2_k <= q), P(chi^2_k > q)) (capped at 1)."""
    return min(1.0, 2.0 * min(chi2_cdf(q, k), chi2_sf(q, k)))


# ---------------------------------------------------------------------------------------------------
# design of the statistical checks
# ---------------------------------------------------------------------------------------------------
def n_for_variance_ratio(rel_error: float, alpha: float, power: float) -> int:
    """Sample size n for the two-sided test of sum_i (v.w_i)^2 ~ chi^2_n (variance 1) to detect a
    variance (1 + rel_error) with the given power at false-alarm rate ``alpha`` (two-sided).

    With chi^2_n ~ N(n, 2n): reject when q/n > 1 + z_a sqrt(2/n), z_a = Phi^{-1}(1 - alpha/2).  Under
    the alternative q/n ~ N(1 + d, 2 (1 + d)^2 / n), so power >= 1 - beta needs
    d >= sqrt(2/n) (z_a + z_b (1 + d)), z_b = Phi^{-1}(power), i.e.
    n >= 2 (z_a + z_b (1 + d))^2 / d^2.  (A variance that is too small, 1 - d, needs fewer samples.)
    """
    d = abs(float(rel_error))
    za, zb = norm_isf(0.5 * alpha), norm_ppf(power)
    return int(math.ceil(2.0 * (za + zb * (1.0 + d)) ** 2 / d**2))


def mean_shift_detectable(n: int, alpha: float, power: float) -> float:
    """Smallest mean shift (in units of the standard deviation) along a direction that a two-sided
    z-test on n samples detects with the given power: (z_{1-alpha/2} + z_power) / sqrt(n)."""
    return (norm_isf(0.5 * alpha) + norm_ppf(power)) / math.sqrt(n)


def dkw_epsilon(n: int, alpha: float) -> float:
    """Dvoretzky-Kiefer-Wolfowitz-Massart: P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2) = alpha for
    every continuous F and every n (a non-asymptotic bound)."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def dkw_p_bound(n: int, d_stat: float) -> float:
    """Upper bound 2 exp(-2 n D^2) of the Kolmogorov-Smirnov p-value (DKW-Massart), capped at 1."""
    return min(1.0, 2.0 * math.exp(-2.0 * n * d_stat * d_stat))


def sample_size(z_c: float, power: float, rel_std_error: float, allowance: float) -> int:
    """n so that a relative std error ``rel_std_error`` beyond a variance band of half-width ``allowance`` is
    detected with probability ``power``: 2 log(1 + delta) - log(1 + a) = (z_c + z_p) sqrt(2 / (n - 1))."""
    gap = 2.0 * math.log1p(rel_std_error) - math.log1p(allowance)
    if gap <= 0.0:
        raise ValueError(
            f"the tolerance band (relative variance {allowance:.3g}) is wider than the discrepancy to detect "
            f"(relative std {rel_std_error:.3g}); use more steps or a larger rel_std_error"
        )
    z = z_c + norm_isf(1.0 - power)
    return 1 + math.ceil(2.0 * (z / gap) ** 2)


def detectable_std_error(z_c: float, power: float, n: int, allowance: float) -> float:
    """The relative std error detected with probability ``power`` (inverse of :func:`sample_size`)."""
    z = z_c + norm_isf(1.0 - power)
    return math.expm1(0.5 * (math.log1p(allowance) + z * math.sqrt(2.0 / (n - 1))))


# ---------------------------------------------------------------------------------------------------
# moment tests against a Gaussian law with a tolerance band
# ---------------------------------------------------------------------------------------------------
def moment_tests(
    check: str,
    what: str,
    y: np.ndarray,
    M: np.ndarray,
    V: np.ndarray,
    mean_allow: np.ndarray,
    var_allow: np.ndarray,
    z_c: float,
    stats: dict[str, float],
    thresholds: dict[str, float],
    *,
    reference: str,
    input: str,
) -> None:
    """Variance then mean tests of every column of ``y`` (n, d) (module docstring); raise at the first failure,
    else record the worst statistic of each kind in ``stats`` / ``thresholds``."""
    n = y.shape[0]
    ybar = y.mean(axis=0)
    Q = np.sum((y - ybar) ** 2, axis=0)
    k = n - 1
    z_hi = np.array([chi2_wilson_hilferty_z(q / (v * (1.0 + a)), k) for q, v, a in zip(Q, V, var_allow)])
    z_lo = np.array([chi2_wilson_hilferty_z(q / (v * (1.0 - a)), k) for q, v, a in zip(Q, V, var_allow)])
    zv = np.maximum(z_hi, -z_lo)
    j = int(np.argmax(zv))
    key = f"{what} variance: max one-sided z at the band edge"
    stats[key], thresholds[key] = float(zv[j]), z_c
    if not zv[j] <= z_c:
        raise ConformanceError(
            check, f"{what} variance", input=f"{input}, eigen-direction {j} (data variance rank {j})",
            expected=f"{V[j]:.6g} (band +-{100 * var_allow[j]:.3g}%)",
            got=f"{Q[j] / k:.6g} ({Q[j] / k / V[j] - 1:+.3%})",
            statistic=float(zv[j]), threshold=z_c, statistic_name="z (chi-square, Wilson-Hilferty, at the band edge)",
            reference=reference,
        )
    se = np.sqrt(V * (1.0 + var_allow) / n)
    zm = (np.abs(ybar - M) - mean_allow) / se
    j = int(np.argmax(zm))
    key = f"{what} mean: max (|mean - expected| - allowance) / se"
    stats[key], thresholds[key] = float(zm[j]), z_c
    if not zm[j] <= z_c:
        raise ConformanceError(
            check, f"{what} mean", input=f"{input}, eigen-direction {j}",
            expected=f"{M[j]:.6g} (+- {mean_allow[j]:.3g})", got=f"{ybar[j]:.6g}",
            statistic=float(zm[j]), threshold=z_c, statistic_name="z", reference=reference,
        )


# ---------------------------------------------------------------------------------------------------
# quadrature
# ---------------------------------------------------------------------------------------------------
def integrate_log_t(h: Callable[[np.ndarray], np.ndarray], a: float, b: float, panels: int = 200, nodes: int = 20) -> float:
    """int_a^b h(t) dt for 0 < a < b by composite Gauss-Legendre in u = log t (dt = t du).

    ``h`` maps a float64 array of times to an array of the same shape.  The substitution makes integrands
    like 1/t (likelihood weighting near t = 0) smooth and evenly resolved on every decade.
    """
    x, w = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(math.log(a), math.log(b), panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    u = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    t = np.exp(u)
    vals = np.asarray(h(t), dtype=np.float64) * t
    return float(np.sum(vals.reshape(panels, nodes) * (half[:, None] * w[None, :])))


# ---------------------------------------------------------------------------------------------------
# backend helpers
# ---------------------------------------------------------------------------------------------------
_ERFC_COEF = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
              0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def erfc_backend(xp: Any, x: Any) -> Any:
    """erfc(x) elementwise with Array-API operations only (Press et al., Numerical Recipes 6.2,
    Chebyshev fit): fractional error < 1.2e-7 everywhere, so Phi(x) = erfc(-x/sqrt 2)/2 has an absolute
    error < 1.2e-7.  Used for CDFs in the Kolmogorov-Smirnov checks, whose thresholds are ~1e-2."""
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = _ERFC_COEF[-1] * xp.ones_like(t)
    for c in reversed(_ERFC_COEF[:-1]):
        poly = poly * t + c
    ans = t * xp.exp(-z * z + poly)
    return xp.where(x >= 0, ans, 2.0 - ans)


def norm_cdf_backend(xp: Any, x: Any) -> Any:
    """Phi(x) on the backend (absolute error < 1.2e-7, see :func:`erfc_backend`)."""
    return 0.5 * erfc_backend(xp, -x / SQRT2)
