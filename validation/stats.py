"""Statistical helpers of the validation suite, in pure Python (no scipy at run time).

Distribution functions
----------------------
* :func:`norm_cdf`, :func:`norm_sf` -- from :func:`math.erfc`, full double precision in both tails.
* :func:`norm_ppf`, :func:`norm_isf` -- P. J. Acklam's rational approximation (relative error
  < 1.15e-9 on (0, 1)) followed by two Halley steps on ``0.5 erfc(-x / sqrt 2) - p``.  Each Halley step
  triples the number of correct digits, so the result is accurate to a few ulp (checked against
  ``scipy.special.ndtri`` to 1e-14 relative for p in [1e-300, 1 - 1e-16] in tests/test_validation.py).
  For an upper-tail probability q use ``norm_isf(q)``, which never forms ``1 - q``.
* :func:`chi2_cdf`, :func:`chi2_sf` (and :func:`log_gammainc`) -- exact, through the regularized
  incomplete gamma function: the power series of P(a, x) for x < a + 1 and the Legendre continued
  fraction of Q(a, x) (modified Lentz) for x >= a + 1, each summed to a relative increment of 1e-16 and
  combined with the prefactor in log space (no underflow); the complement is taken only where it is
  >= ~0.4, so both tails keep full relative precision.  Both expansions need O(sqrt(a)) terms, a few
  thousand for the 1e5-1e6 degrees of freedom used here (milliseconds).  The log-prefactor
  a log x - x - lgamma(a) is a difference of terms of size ~a log a, whose rounding gives a relative
  error ~1e-16 a log a (1.4e-9 at a = 1e6) -- irrelevant for tail probabilities compared with alpha.
* :func:`chi2_ppf`, :func:`chi2_isf` -- start from the Wilson-Hilferty normal approximation
  k (1 - 2/(9k) + z sqrt(2/(9k)))^3 and polish it by Newton steps on the exact log cdf / log sf in the
  variable log x to a relative change < 1e-14.  Wilson-Hilferty alone is accurate enough for the huge
  degrees of freedom of the sample tests (measured relative error of the 1e-8 tail quantile: 2.6e-3 at
  k = 100, 1.1e-4 at k = 1e3, 7e-8 at k = 1.5e5, 2.5e-8 at k = 3e5) but poor for small k (4% at k = 10,
  79% for the lower tail), hence the refinement; the result matches scipy.stats.chi2 to 1e-10 relative
  for k from 1 to 1e6 and tail probabilities down to 1e-300 (tests/test_validation.py).

Test design helpers
-------------------
:func:`z_two_sided` (Bonferroni critical values), :func:`z_equivalent` (report a p-value as the
two-sided normal |z| with the same p), sample-size formulas for variance-ratio and mean tests and
the Dvoretzky-Kiefer-Wolfowitz-Massart bound used by the Kolmogorov-Smirnov checks.

Backend helper
--------------
:func:`erfc_backend` -- a complementary error function written with Array-API operations only
(the standard has no ``erf``), used for mixture CDFs on the active backend.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

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
    """Standard normal survival function 1 - Phi(x) (full relative precision for x >> 0)."""
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
    """Inverse standard normal CDF Phi^{-1}(p) for 0 < p < 1 (0 and 1 give -inf / +inf).

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
    """Inverse survival function: the x with 1 - Phi(x) = q (accurate for tiny q)."""
    return -norm_ppf(q)


def z_two_sided(alpha: float, m: int = 1) -> float:
    """Two-sided Bonferroni critical value: |Z| > z has probability alpha / m under N(0, 1)."""
    return norm_isf(alpha / (2.0 * m))


def z_equivalent(p: float) -> float:
    """The |z| whose two-sided normal p-value is ``p`` (p = 0 gives inf): a common scale for tests."""
    p = min(max(float(p), 0.0), 1.0)
    if p == 0.0:
        return math.inf
    return norm_isf(0.5 * p)


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
    c = 2.0 / (9.0 * k)
    return k * max(1.0 - c + z * math.sqrt(c), 1e-3) ** 3


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


def bonferroni_max_z(p_values: Sequence[float]) -> float:
    """Largest normal-equivalent |z| of a family of p-values (compare with z_two_sided(alpha, m))."""
    return max(z_equivalent(p) for p in p_values)


# ---------------------------------------------------------------------------------------------------
# backend helper
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
