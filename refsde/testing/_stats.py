"""The few distribution functions the statistical checks need, in pure Python (no scipy).

* :func:`norm_sf` from :func:`math.erfc` (full relative precision in the upper tail).
* :func:`norm_isf` by Newton's method on ``log norm_sf(x) = log q`` started at ``x0 = sqrt(-2 log q)``:
  ``log norm_sf`` is concave and decreasing and ``norm_sf(x0) <= exp(-x0^2/2)/2 = q/2``, so the iterates
  decrease monotonically to the root (quadratic convergence, to ~1e-15 relative).
* :func:`chi2_wilson_hilferty_z`: the Wilson-Hilferty transform of a chi-square(k) statistic to an
  approximately standard normal z.  Its tail error is negligible for the degrees of freedom used here
  (k >= 1e3: the 1e-7 tail quantile is off by < 1e-4 relative at k = 1e3, < 1e-7 at k = 1e5).
"""

from __future__ import annotations

import math


def norm_sf(x: float) -> float:
    """P(Z > x) for Z ~ N(0, 1)."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def norm_isf(q: float) -> float:
    """The x with P(Z > x) = q, for 0 < q < 1."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie in (0, 1), got {q}")
    if q > 0.5:
        return -norm_isf(1.0 - q)
    log_q = math.log(q)
    x = math.sqrt(-2.0 * log_q)
    for _ in range(100):
        sf = norm_sf(x)
        pdf = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        step = (math.log(sf) - log_q) * sf / pdf  # Newton on log sf: (log sf - log q) / (pdf / sf)
        x += step
        if abs(step) <= 1e-15 * max(1.0, abs(x)):
            break
    return x


def z_two_sided(alpha: float) -> float:
    """Critical |z| of a two-sided normal test at level ``alpha``."""
    return norm_isf(0.5 * alpha)


def chi2_wilson_hilferty_z(q: float, k: float) -> float:
    """z = ((q/k)^(1/3) - (1 - 2/(9k))) / sqrt(2/(9k)), approximately N(0, 1) when q ~ chi-square(k)."""
    v = 2.0 / (9.0 * k)
    return ((q / k) ** (1.0 / 3.0) - (1.0 - v)) / math.sqrt(v)
