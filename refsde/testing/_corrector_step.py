"""The step-size part of :func:`refsde.testing.check_corrector`: is the candidate's Langevin step e the snr rule's?

Rules (Song et al. 2021, App. G, Algs. 4-5; score_sde's ``LangevinCorrector`` / ``AnnealedLangevinDynamics``;
:mod:`refsde.sampling.pc`), with a = ``step_scale`` (score_sde's alpha_i; 1 at a fixed t):

* ``"langevin"``:          e_i = 2 a (snr |z_i| / |s_i|)^2, norms per sample over the non-batch axes;
  ``batch_norm=True``:     e = 2 a (snr mean_i |z_i| / mean_i |s_i|)^2 (score_sde: batch means of the norms);
* ``"annealed_langevin"``: e = 2 a (snr sigma_t)^2, sigma_t the std of q(x_t | x_0).

Estimator.  The step is r_i = x'_i - x_i = e_i s_i + sqrt(2 e_i) z_i with z_i ~ N(0, I_d) independent of x,
and the direction of z_i independent of |z_i|, so u_i = <r_i, s_i> = e_i |s_i|^2 + sqrt(2 e_i) <z_i, s_i>
has, given x, the mean m_i = E[e_i] |s_i|^2 of the rule:

* per-sample langevin: m_i = 2 a snr^2 E|z|^2 = 2 a snr^2 d (|z|^2 ~ chi-square(d)), whatever s_i;
  Var u_i = Var(2 a snr^2 |z|^2) + E[2 e_i <z, s_i>^2] = 2 (2 a snr^2)^2 d + 2 (2 a snr^2)(d + 2)
  (E|z|^4 = d (d + 2), E cos^2 = 1/d);
* batch norms: m_i = 2 a snr^2 E[(mean |z|)^2] |s_i|^2 / (mean |s|)^2 with
  E[(mean |z|)^2] = mu_chi^2 + (d - mu_chi^2) / n, mu_chi = sqrt(2) Gamma((d+1)/2) / Gamma(d/2) (chi(d) mean);
  Var u_i ~ 2 e |s_i|^2 (e's own fluctuation is O(1/(n d)) relative, neglected);
* annealed: m_i = 2 a (snr sigma_t)^2 |s_i|^2, Var u_i = 2 e |s_i|^2.

K = sum_i u_i / sum_i m_i estimates e_candidate / e_rule (1 for the rule, exactly in expectation; also 1 for
whole-batch Frobenius norms e = 2 a snr^2 |Z|_F^2 / |S|_F^2, where sum_i e |s_i|^2 = 2 a snr^2 |Z|_F^2).
Its standard error is the ratio estimator's, se = sqrt(sum_i (u_i - K m_i)^2) / sum_i m_i (the samples are
independent given the rule's e; the CLT over n = 2e4 light-tailed terms).  The band test rejects when
z = (|log K| - log(1 + b)) / (se / K) exceeds the check's Bonferroni critical value: a false alarm has
probability <= alpha_k anywhere inside the band [1/(1+b), 1+b] (b = ``step_rtol``, default 0.1; the norm
conventions above differ from each other by < 2% on the check's data, score_sde's alpha_i = 1 - beta_i by
< 1% for N >= 1000 steps).  Power: with the closed-form se_0 of the rule, a step off by a factor outside
[1/(1+b), 1+b] * exp(+-(z_c + z_0.99) se_0) is rejected with probability >= 0.99 (the report's
``detectable``; ~17% for the langevin rules at the defaults, so a 20% step error is caught).  The annealed
rule's precision, se(K) ~ sqrt(2 / sum_i e |s_i|^2), falls where sigma_t^2 << the data variance (VE at t = 0.1:
detectable ~170%); the report then adds a low-power note.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._schemes import node_at
from .errors import hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

METHODS = ("langevin", "annealed_langevin")


def chi_mean(d: int) -> float:
    """E|z| for z ~ N(0, I_d): sqrt(2) Gamma((d+1)/2) / Gamma(d/2), in log space."""
    return math.sqrt(2.0) * math.exp(math.lgamma((d + 1) / 2.0) - math.lgamma(d / 2.0))


def rule_moments(method: str, snr: float, step_scale: float, batch_norm: bool, s2: np.ndarray, sigma2: float,
                 d: int) -> tuple[np.ndarray, np.ndarray]:
    """(m_i, Var_i): mean and variance of u_i = <x'_i - x_i, s_i> under the rule, given x (|s_i|^2 = ``s2``)."""
    c = 2.0 * step_scale * snr * snr  # e = c (|z|/|s|)^2, c (mean|z| / mean|s|)^2 or c sigma_t^2
    n = s2.shape[0]
    if method == "annealed_langevin":
        e = c * sigma2
        return e * s2, 2.0 * e * s2
    if batch_norm:
        mu = chi_mean(d)
        e = c * (mu * mu + (d - mu * mu) / n) / float(np.mean(np.sqrt(s2))) ** 2
        return e * s2, 2.0 * e * s2
    return np.full(n, c * d), np.full(n, 2.0 * c * c * d + 2.0 * c * (d + 2))


def step_ratio(w: np.ndarray, w2: np.ndarray, v: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """(K, se) from standardized eigen-coordinates: s = -w / sqrt(v) and x' - x = sqrt(v) (w2 - w) in the
    eigenbasis, so u_i = <x'_i - x_i, s_i> = -sum_j (w2 - w)_ij w_ij."""
    u = -np.sum((w2 - w) * w, axis=1)
    k = float(np.sum(u)) / float(np.sum(m))
    se = math.sqrt(float(np.sum((u - k * m) ** 2))) / float(np.sum(m))
    return k, se


def sigma2_at(ref: Any, t: float) -> float:
    """sigma_t^2 of q(x_t | x_0) of the reference (the annealed rule's sigma_t)."""
    return node_at(ref, t, need_drift=False).sigma ** 2


__all__ = ["METHODS", "chi_mean", "rule_moments", "sigma2_at", "step_ratio"]
