"""Sampling from the Gaussian oracles: seeded statistical tests with exact null distributions.

Every test function below uses a fixed seed and has a family-wise false-alarm rate of at most
ALPHA = 1e-6 (Bonferroni over its m sub-tests, each run at level ALPHA / m): for a correct sampler, at
most one seed in a million would make it fail.  The null distributions are exact, not asymptotic:

* Gaussian: with y_i = L^{-1}(x_i - m) (C = L L^T computed here by NumPy), y_i are iid N(0, I), so
  n |mean(y)|^2 ~ chi2(d) and, for a unit vector u, sum_i (u^T y_i)^2 ~ chi2(n).  Taking u over the
  axes e_i and (e_i +- e_j)/sqrt(2) tests every entry of the covariance (polarization).
* Mixture: the projection u^T x has the continuous CDF sum_k w_k Phi((z - u^T m_k) / sqrt(u^T C_k u)),
  so the one-sample Kolmogorov-Smirnov statistic has its exact (distribution-free) null law.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian, GaussianMixture

try:
    from arrays_under_test import arr, np_
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, np_  # type: ignore[no-redef]

scipy_stats = pytest.importorskip("scipy.stats")

ALPHA = 1e-6


pytestmark = pytest.mark.usefixtures("strict_2023_12")  # refsde.gaussian targets the 2023.12 standard


def directions(d):
    """Unit vectors e_i and (e_i +- e_j)/sqrt(2), i < j: their quadratic forms determine a covariance."""
    eye = np.eye(d)
    dirs = [eye[i] for i in range(d)]
    for i, j in itertools.combinations(range(d), 2):
        dirs += [(eye[i] + eye[j]) / math.sqrt(2.0), (eye[i] - eye[j]) / math.sqrt(2.0)]
    return dirs


def gaussian_p_values(x, mean, cov):
    """Exact p-values of the whitened-mean chi2(d) test and of the chi2(n) tests along directions()."""
    n, d = x.shape
    y = np.linalg.solve(np.linalg.cholesky(cov), (x - mean).T).T
    p = [scipy_stats.chi2.sf(n * float(y.mean(axis=0) @ y.mean(axis=0)), d)]
    for u in directions(d):
        q = float(np.sum((y @ u) ** 2))
        p.append(2.0 * min(scipy_stats.chi2.cdf(q, n), scipy_stats.chi2.sf(q, n)))  # two-sided
    return np.array(p)


CASES = {
    "data": (None, None),
    "VP_marginal_t0.9": (refsde.VPSDE(), 0.9),
    "VE_marginal_t0.5": (refsde.VESDE(), 0.5),
}


@pytest.mark.statistical
@pytest.mark.parametrize("case", sorted(CASES))
def test_gaussian_sample_mean_and_covariance(case):
    """Family-wise false-alarm rate ALPHA = 1e-6 (exact chi-square nulls, Bonferroni over 1 + d^2 tests)."""
    rs = np.random.default_rng(0)
    d, n = 3, 4000
    a = rs.standard_normal((d, d))
    m, c = rs.standard_normal(d), a @ a.T / d + 0.3 * np.eye(d)
    g = Gaussian(arr(m), arr(c))
    sde, t = CASES[case]
    if sde is not None:
        g = g.marginal(sde, t)
    mean, cov = np_(g.mean), np_(g.cov)  # parameters verified against closed forms in test_gaussian.py
    x = np_(g.sample(n, rng=12345))
    assert x.shape == (n, d)
    p = gaussian_p_values(x, mean, cov)
    assert p.min() > ALPHA / p.size, f"p-values {p} (Bonferroni level {ALPHA / p.size:.2g})"


@pytest.mark.statistical
def test_mixture_sample_projections_kolmogorov_smirnov():
    """Family-wise false-alarm rate ALPHA = 1e-6 (exact KS nulls, Bonferroni over 5 projections)."""
    rs = np.random.default_rng(1)
    w = np.array([0.2, 0.5, 0.3])
    means = np.array([[-3.0, 0.0], [0.0, 2.0], [3.0, -1.0]])
    covs = np.stack([np.array([[1.0, 0.3], [0.3, 0.5]]), 0.4 * np.eye(2), np.array([[0.6, -0.2], [-0.2, 1.2]])])
    gm = GaussianMixture(arr(w), arr(means), arr(covs))
    n = 4000
    x = np_(gm.sample(n, rng=777))
    assert x.shape == (n, 2)
    dirs = [np.array([1.0, 0.0]), np.array([0.0, 1.0])] + [
        np.array([math.cos(a), math.sin(a)]) for a in rs.uniform(0, math.pi, 3)
    ]
    p = []
    for u in dirs:
        loc = means @ u
        scale = np.sqrt(np.einsum("i,kij,j->k", u, covs, u))

        def cdf(z, loc=loc, scale=scale):
            return np.sum(w * scipy_stats.norm.cdf((np.asarray(z)[..., None] - loc) / scale), axis=-1)

        p.append(scipy_stats.kstest(x @ u, cdf, method="exact").pvalue)
    p = np.array(p)
    assert p.min() > ALPHA / p.size, f"KS p-values {p}"


@pytest.mark.statistical
def test_mixture_component_frequencies_and_component_laws():
    """Components >= 100 sd apart: each draw's component is its nearest mean (misassignment probability
    < 1e-1000), so the count of component k is exactly Binomial(n, w_k) and, given the counts, its draws
    are iid N(m_k, C_k).  Exact two-sided binomial tests plus the chi-square tests of
    gaussian_p_values per component; family-wise ALPHA = 1e-6 over all 3 + 3 * 5 sub-tests."""
    w = np.array([0.1, 0.6, 0.0, 0.3])
    means = np.array([[0.0, 0.0], [200.0, 1.0], [400.0, -1.0], [600.0, 2.0]])
    covs = np.stack(
        [[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.3], [-0.3, 1.5]], np.eye(2), [[2.0, 1.2], [1.2, 1.0]]]
    )
    n = 3000
    x = np_(GaussianMixture(arr(w), arr(means), arr(covs)).sample(n, rng=5))
    label = np.argmin(np.abs(x[:, :1] - means[:, 0]), axis=1)
    counts = np.bincount(label, minlength=4)
    assert counts[2] == 0  # zero weight: never drawn
    p = [scipy_stats.binomtest(int(counts[k]), n, w[k]).pvalue for k in (0, 1, 3)]
    for k in (0, 1, 3):
        p.extend(gaussian_p_values(x[label == k], means[k], covs[k]))
    p = np.array(p)
    assert p.size == 18 and p.min() > ALPHA / p.size, f"counts {counts}, p-values {p}"


def test_sampling_is_reproducible_and_accepts_rng_objects():
    g = Gaussian(arr([0.0, 1.0]), arr([[1.0, 0.2], [0.2, 2.0]]))
    gm = GaussianMixture(arr([0.5, 0.5]), arr([[0.0, 0.0], [1.0, 1.0]]), arr(np.stack([np.eye(2)] * 2)))
    for dist in (g, gm):
        a, b = np_(dist.sample(50, rng=3)), np_(dist.sample(50, rng=3))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, np_(dist.sample(50, rng=4)))
        backend = refsde.backends.backend_of(dist.sample(1, 0))
        np.testing.assert_array_equal(np_(dist.sample(50, rng=refsde.make_rng(3, backend))), a)
        gen = refsde.make_rng(9, backend)
        first, second = np_(dist.sample(10, gen)), np_(dist.sample(10, gen))
        assert not np.array_equal(first, second)  # one stream, advanced
        assert np_(dist.sample(7)).shape == (7, 2)  # fresh entropy
        assert np_(dist.sample(0, 1)).shape == (0, 2)
        assert np_(dist.sample(np.int64(3), np.int64(1))).shape == (3, 2)  # NumPy integers are integers
