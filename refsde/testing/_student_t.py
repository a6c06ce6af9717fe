"""Student-t upper quantiles and Gauss-Legendre quadrature for the statistical checks (no scipy).

:func:`t_isf` uses the Cornish-Fisher expansion of the t quantile in powers of 1/df around the normal
quantile z (Abramowitz & Stegun 26.7.5, four terms).  For df >= 50 and z <= 6 the truncation error is
below 2e-3 in the quantile (the fifth term is O(z^11 / df^5)); the checks call it with df >= 50 only.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._stats import norm_isf

MIN_DF = 50


def t_isf(q: float, df: int) -> float:
    """The x with P(T_df > x) = q, for 0 < q < 1/2 and df >= 50."""
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
