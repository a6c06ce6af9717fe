"""Euler-Maruyama simulation of the forward SDE, the exact law of the EM recursion, and the sample
tests against a known law, shared by the SDE checks (Gaussian data) and the oracle checks (mixtures).

Why the *EM law* and not the SDE marginal
-----------------------------------------
The EM recursion x_{k+1} = x_k + f_k x_k dt + g_k sqrt(dt) z_k (f_k = f(t_k), g_k^2 = g(t_k)^2,
t_k = k dt) is linear with Gaussian increments, so from x_0 ~ N(m_0, C_0) its law at step k is
*exactly* N(a_k m_0, a_k^2 C_0 + v_k I) with

    a_{k+1} = (1 + f_k dt) a_k,            a_0 = 1,
    v_{k+1} = (1 + f_k dt)^2 v_k + g_k^2 dt, v_0 = 0,

(and a mixture start is propagated component by component).  Testing the samples against this law
makes the null hypothesis exactly true, so the stated false-alarm rate holds at any step count;
comparing samples with the SDE marginal instead would let the O(dt) EM bias inflate it.  The gap between
the EM law and the closed-form marginal is deterministic and is checked separately
(:func:`em_gap_order`): it must vanish at order 1 in dt, which verifies the closed form.

a_k and v_k are computed in float64 on the backend, vectorized with ``cumulative_sum``:
S_k = sum_{j<k} log(1 + f_j dt), a_k = exp(S_k), v_k = exp(2 S_k) sum_{j<k} g_j^2 dt exp(-2 S_{j+1}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from refsde.testing import _stats as stats

Array = Any


# ---------------------------------------------------------------------------------------------------
# the law of the EM recursion
# ---------------------------------------------------------------------------------------------------
def em_scalars(ctx: Any, sde: Any, K: int, t_end: float | None = None) -> tuple[Array, Array]:
    """(a_k, v_k), k = 0..K, of the EM recursion with K uniform steps on [0, t_end] (float64, (K+1,))."""
    xp = ctx.xp
    t_end = sde.T if t_end is None else float(t_end)
    dt = t_end / K
    tk = ctx.f64([k * dt for k in range(K)])
    f = sde.drift_coefficient(tk)
    g2 = sde.diffusion_squared(tk)
    if ctx.scalar(xp.min(f)) * dt <= -1.0:
        raise ValueError(f"EM step too large: 1 + f dt <= 0 with K = {K}")
    S = xp.cumulative_sum(xp.log1p(f * dt), include_initial=True)  # (K+1,)
    W = xp.cumulative_sum(g2 * dt * xp.exp(-2.0 * S[1:]), include_initial=True)
    return xp.exp(S), xp.exp(2.0 * S) * W


@dataclass
class MixtureLaw:
    """A Gaussian mixture given by backend float64 arrays: weights (K,), means (K, d), covs (K, d, d)."""

    weights: Array
    means: Array
    covs: Array

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    def moments(self, xp: Any) -> tuple[Array, Array]:
        """Overall mean (d,) and covariance (d, d) of the mixture."""
        w = self.weights
        mean = xp.sum(w[:, None] * self.means, axis=0)
        dev = self.means - mean[None, :]
        cov = xp.sum(w[:, None, None] * (self.covs + dev[:, :, None] * dev[:, None, :]), axis=0)
        return mean, cov

    def affine(self, xp: Any, a: Array, v: Array) -> "MixtureLaw":
        """The law of a x + sqrt(v) z, z ~ N(0, I) independent: means a m_k, covs a^2 C_k + v I."""
        d = self.means.shape[1]
        eye = xp.eye(d, dtype=self.covs.dtype, device=_device(self.covs))
        return MixtureLaw(self.weights, a * self.means, (a * a) * self.covs + v * eye[None, :, :])


def simulate_em(sde: Any, x0: Array, K: int, snapshots: Sequence[int], rng: Any, t_end: float | None = None) -> dict[int, Array]:
    """Euler-Maruyama paths of ``sde`` from x0 (n, d), K steps on [0, t_end], using the public
    ``sde.sde(x, t)`` (drift and diffusion); returns {k: x_k} for k in ``snapshots``."""
    t_end = sde.T if t_end is None else float(t_end)
    dt = t_end / K
    sqdt = math.sqrt(dt)
    x = x0
    out = {0: x0} if 0 in snapshots else {}
    for k in range(K):
        drift, g = sde.sde(x, k * dt)
        x = x + drift * dt + (g * sqdt) * rng.normal(tuple(x.shape), dtype=x.dtype)
        if k + 1 in snapshots:
            out[k + 1] = x
    return out


# ---------------------------------------------------------------------------------------------------
# tests of samples against a known law
# ---------------------------------------------------------------------------------------------------
def directions(d: int) -> list[tuple[str, list[float]]]:
    """Unit directions e_j and (e_j + e_k)/sqrt 2: their variances determine a covariance matrix."""
    out = []
    for j in range(d):
        v = [0.0] * d
        v[j] = 1.0
        out.append((f"e{j}", v))
    r = 1.0 / math.sqrt(2.0)
    for j in range(d):
        for k in range(j + 1, d):
            v = [0.0] * d
            v[j] = v[k] = r
            out.append((f"e{j}+e{k}", v))
    return out


def n_subtests(d: int, mixture: bool, ks: bool = False) -> int:
    """Number of sub-tests of :func:`sample_tests` for one sample (used for the Bonferroni split)."""
    m = len(directions(d))
    if not mixture:
        return 1 + m  # chi-square mean test + one variance test per direction
    return m + m + (m if ks else 0)  # mean z + variance z (+ KS) per direction


def _whitening(xp: Any, cov: Array) -> Array:
    """A matrix M with M cov M^T = I (inverse of the Cholesky factor)."""
    return xp.linalg.inv(xp.linalg.cholesky(cov))


def sample_tests(ctx: Any, x: Array, law: MixtureLaw, *, ks: bool = False, label: str = "") -> list[tuple[str, float]]:
    """p-values of tests of H0: rows of x are iid draws of ``law``.  Returns [(name, p), ...].

    Samples are whitened by the law's overall mean m and covariance C: w = M (x - m), M C M^T = I.

    * One component (exact tests, H0 true in finite samples): n |mean(w)|^2 ~ chi^2_d (upper tail);
      for each unit direction v of :func:`directions`, sum_i (v.w_i)^2 ~ chi^2_n (two-sided).
    * Mixtures (large-sample tests): along each v, y = v.w has mean 0 and variance 1;
      z = sum y_i / sqrt(n) and z = (sum y_i^2 - n) / sqrt(n (E y^4 - 1)) are N(0, 1) by the CLT,
      with the fourth moment computed exactly from the components (projected N(a_k, s_k^2):
      E y^4 = sum_k w_k (a_k^4 + 6 a_k^2 s_k^2 + 3 s_k^4)).  The first Edgeworth term changes a tail
      probability at |z| ~ 5.5 by a relative ~ gamma z^3 / (6 sqrt n) <= 0.2 for the skewness gamma <= 4 of
      y^2 and n >= 2e5 used here, so the nominal false-alarm rate holds to within ~20%.
    * ``ks``: Kolmogorov-Smirnov distance of y to the exact projected mixture CDF
      F(y) = sum_k w_k Phi((y - a_k) / s_k); p <= 2 exp(-2 n D^2) (DKW-Massart, valid for every n).
      D is reduced by 1.2e-7 (the error bound of the backend Phi) before the bound is applied.
    """
    xp = ctx.xp
    n, d = x.shape
    x64 = x if x.dtype == xp.float64 else xp.astype(x, xp.float64)
    mean, cov = law.moments(xp)
    M = _whitening(xp, cov)
    w = (x64 - mean[None, :]) @ xp.matrix_transpose(M)  # (n, d)
    dirs = directions(d)
    V = ctx.f64([v for _, v in dirs])  # (m, d)
    y = w @ xp.matrix_transpose(V)  # (n, m)
    sum_y = ctx.numpy(xp.sum(y, axis=0))
    sum_y2 = ctx.numpy(xp.sum(y * y, axis=0))
    pre = f"{label}:" if label else ""
    out: list[tuple[str, float]] = []
    if law.n_components == 1:
        wbar = xp.mean(w, axis=0)
        chi_mean = n * ctx.scalar(xp.sum(wbar * wbar))
        out.append((f"{pre}mean", stats.chi2_sf(chi_mean, d)))
        for (name, _), q in zip(dirs, sum_y2):
            out.append((f"{pre}var[{name}]", stats.chi2_two_sided_p(float(q), n)))
        return out
    # projected component parameters a (K, m) and s^2 (K, m)
    VM = V @ M  # (m, d): y = VM (x - mean)
    a = (law.means - mean[None, :]) @ xp.matrix_transpose(VM)  # (K, m)
    s2 = xp.sum((VM[None, :, :] @ law.covs) * VM[None, :, :], axis=2)  # (K, m)
    wk = law.weights[:, None]
    m4 = ctx.numpy(xp.sum(wk * (a**4 + 6.0 * a * a * s2 + 3.0 * s2 * s2), axis=0))
    for j, (name, _) in enumerate(dirs):
        z_mean = float(sum_y[j]) / math.sqrt(n)
        z_var = (float(sum_y2[j]) - n) / math.sqrt(n * (float(m4[j]) - 1.0))
        out.append((f"{pre}mean[{name}]", 2.0 * stats.norm_sf(abs(z_mean))))
        out.append((f"{pre}var[{name}]", 2.0 * stats.norm_sf(abs(z_var))))
    if ks:
        ys = xp.sort(y, axis=0)  # (n, m)
        s = xp.sqrt(s2)
        F = None
        for k in range(law.n_components):
            term = law.weights[k] * stats.norm_cdf_backend(xp, (ys - a[k, :][None, :]) / s[k, :][None, :])
            F = term if F is None else F + term
        i = xp.arange(1, n + 1, dtype=xp.float64, device=_device(x64))[:, None]
        D = xp.max(xp.maximum(i / n - F, F - (i - 1.0) / n), axis=0)
        for j, dval in enumerate(ctx.numpy(D)):
            out.append((f"{pre}ks[{dirs[j][0]}]", stats.dkw_p_bound(n, max(float(dval) - 1.2e-7, 0.0))))
    return out


def summarize(pvals: Sequence[tuple[str, float]], alpha: float) -> tuple[float, float, str]:
    """(max normal-equivalent |z|, Bonferroni critical |z| for ``alpha`` over all sub-tests, detail)."""
    m = len(pvals)
    zs = [(stats.z_equivalent(p), name, p) for name, p in pvals]
    zmax, worst, pworst = max(zs)
    zcrit = stats.z_two_sided(alpha, m)
    return zmax, zcrit, f"{m} sub-tests, alpha={alpha:g} (Bonferroni); worst {worst}: p={pworst:.3g}"


def _device(x: Array) -> Any:
    from array_api_compat import device

    return device(x)
