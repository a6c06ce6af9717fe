"""Tests of sample moments against a Gaussian law with a tolerance band (the samplers' and corrector's checks).

Per coordinate j (independent coordinates: the eigen-coordinates of the data), with n samples y_ij:

* variance: Q_j = sum_i (y_ij - mean_i y_ij)^2 ~ V_j' chi-square(n - 1) for the true variance V_j'.  The
  null is V_j' in the band [V_j (1 - a_j), V_j (1 + a_j)]; it is rejected when the Wilson-Hilferty z of
  Q_j / (V_j (1 + a_j)) exceeds z_c or that of Q_j / (V_j (1 - a_j)) is below -z_c (two one-sided tests
  at level alpha_1 / 2 each at the band's edges, so the level is <= alpha_1 anywhere in the band).
* mean: |mean_i y_ij - M_j| - b_j <= z_c sqrt(V_j (1 + a_j) / n) (level <= alpha_1 for a true mean within
  b_j of M_j and a variance within the band).

z_c = z_{1 - alpha_1 / 2} with alpha_1 = alpha / (number of tests of the check) (Bonferroni).
"""

from __future__ import annotations

import math

import numpy as np

from ._stats import chi2_wilson_hilferty_z, norm_isf
from .errors import ConformanceError


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
