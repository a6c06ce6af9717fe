"""refsde.gaussian against independent closed forms and automatic differentiation.

Expected values come from scipy.stats.multivariate_normal, torch.distributions + torch.autograd (an
independent implementation of the log-density, differentiated automatically) and marginal
coefficients alpha_t, sigma_t written out here from the papers' formulas (never from refsde's output).
The backend under test is REFSDE_BACKEND (numpy, torch, array_api_strict); under array_api_strict the
module runs with the 2023.12 API version so that only standard-2023.12 functions can be used.
Companion files: test_gaussian_flow.py (Fokker-Planck, flow map), test_gaussian_sampling.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refsde
from refsde._arrays import device_of
from refsde.gaussian import ExactScore, Gaussian, GaussianMixture

try:
    from arrays_under_test import arr, be, np_
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, be, np_  # type: ignore[no-redef]

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")

SDES = [refsde.VPSDE(), refsde.SubVPSDE(), refsde.VESDE(), refsde.VESDE(convention="score_sde")]
TIMES = [0.0, 1e-3, 0.3, 1.0]
PROPERTY = settings(max_examples=25, deadline=None)


# ---- helpers -----------------------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("strict_2023_12")  # refsde.gaussian targets the 2023.12 standard


def spd(rs, d, floor=0.3):
    """Random symmetric positive definite matrix A A^T / d + floor I."""
    a = rs.standard_normal((d, d))
    c = a @ a.T / d + floor * np.eye(d)
    return 0.5 * (c + c.T)


def random_mixture(rs, K, d):
    w = rs.dirichlet(np.ones(K))
    means = 1.5 * rs.standard_normal((K, d))
    covs = np.stack([spd(rs, d) for _ in range(K)])
    return w, means, covs


def ref_coefficients(sde, t):
    """(alpha_t, sigma_t^2) from the closed forms of Song et al. (2021), written independently of refsde.

    VP: alpha = exp(-B/2), sigma^2 = 1 - exp(-B); sub-VP: sigma = 1 - exp(-B), with
    B(t) = T (beta_min s + (beta_max - beta_min) s^2 / 2), s = t/T.  VE: alpha = 1 and
    sigma^2 = sigma_min^2 ((sigma_max/sigma_min)^(2s) - 1) (exact) or sigma_min^2 (sigma_max/sigma_min)^(2s).
    """
    s = t / sde.T
    if isinstance(sde, (refsde.VPSDE, refsde.SubVPSDE)):
        B = sde.T * (sde.beta_min * s + 0.5 * (sde.beta_max - sde.beta_min) * s * s)
        alpha = math.exp(-0.5 * B)
        if isinstance(sde, refsde.SubVPSDE):
            return alpha, (-math.expm1(-B)) ** 2
        return alpha, -math.expm1(-B)
    ratio2 = 2.0 * s * math.log(sde.sigma_max / sde.sigma_min)
    if sde.convention == "exact":
        return 1.0, sde.sigma_min**2 * math.expm1(ratio2)
    return 1.0, sde.sigma_min**2 * math.exp(ratio2)


def marginal_params(sde, t, means, covs):
    """Means alpha m_k and covariances alpha^2 C_k + sigma^2 I of p_t (NumPy, from ref_coefficients)."""
    alpha, s2 = ref_coefficients(sde, t)
    d = means.shape[-1]
    return alpha * means, alpha**2 * covs + s2 * np.eye(d)


def scipy_mixture_logpdf(x, w, means, covs):
    comps = [scipy_stats.multivariate_normal(m, c).logpdf(x).reshape(-1) for m, c in zip(means, covs)]
    return scipy_special.logsumexp(np.stack(comps) + np.log(w)[:, None], axis=0)


def close(got, want, rtol=1e-10, atol_scale=1e-10):
    """assert_allclose with an absolute floor relative to the largest expected magnitude."""
    want = np.asarray(want, dtype=np.float64)
    atol = atol_scale * max(1.0, float(np.max(np.abs(want)))) if want.size else 0.0
    got = np.asarray(got) if isinstance(got, (np.ndarray, np.generic, float)) else np_(got)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


seeds = st.integers(0, 2**31 - 1)
dims = st.integers(1, 4)
unit_times = st.floats(0.0, 1.0)


# ---- 1. log-density against scipy ----------------------------------------------------------------------
@PROPERTY
@given(seed=seeds, d=dims)
def test_gaussian_log_prob_matches_scipy(seed, d):
    rs = np.random.default_rng(seed)
    m, c = rs.standard_normal(d), spd(rs, d)
    x = m + 2.0 * rs.standard_normal((6, d))
    g = Gaussian(arr(m), arr(c))
    close(g.log_prob(arr(x)), scipy_stats.multivariate_normal(m, c).logpdf(x).reshape(-1))
    assert g.dim == d
    close(g.mean, m, rtol=0, atol_scale=0)
    close(g.cov, c, rtol=1e-15, atol_scale=1e-15)


@PROPERTY
@given(seed=seeds, d=dims, K=st.integers(1, 4))
def test_mixture_log_prob_matches_scipy_logsumexp(seed, d, K):
    rs = np.random.default_rng(seed)
    w, means, covs = random_mixture(rs, K, d)
    x = 3.0 * rs.standard_normal((7, d))
    gm = GaussianMixture(arr(w), arr(means), arr(covs))
    close(gm.log_prob(arr(x)), scipy_mixture_logpdf(x, w, means, covs))
    assert gm.n_components == K and gm.dim == d and len(gm.components) == K
    close(gm.weights, w, rtol=1e-14)
    for k, comp in enumerate(gm.components):
        close(comp.log_prob(arr(x)), scipy_stats.multivariate_normal(means[k], covs[k]).logpdf(x).reshape(-1))


def test_mixture_log_prob_far_from_all_components_is_finite():
    """Log-space evaluation: at |x| ~ 100 the component densities underflow, log p must not."""
    w, means, covs = np.array([0.4, 0.6]), np.array([[0.0, 0.0], [1.0, 1.0]]), np.stack([np.eye(2), 0.5 * np.eye(2)])
    x = np.array([[100.0, -80.0], [60.0, 60.0]])
    gm = GaussianMixture(arr(w), arr(means), arr(covs))
    close(gm.log_prob(arr(x)), scipy_mixture_logpdf(x, w, means, covs), rtol=1e-12)
    score = np_(gm.score(arr(x)))
    assert np.all(np.isfinite(score))


# ---- 2. score / Hessian / divergence against automatic differentiation -------------------------------
def _torch():
    return pytest.importorskip("torch", reason="the autodiff reference needs torch (pip install torch)")


def torch_log_density(torch, w, means, covs):
    """log sum_k w_k N(x; m_k, C_k) built from torch.distributions (independent of refsde)."""
    dists = [
        torch.distributions.MultivariateNormal(torch.as_tensor(m), covariance_matrix=torch.as_tensor(c))
        for m, c in zip(means, covs)
    ]
    log_w = torch.log(torch.as_tensor(np.asarray(w, dtype=np.float64)))

    def log_p(x):
        return torch.logsumexp(torch.stack([dist.log_prob(x) for dist in dists]) + log_w[:, None], dim=0)

    return log_p


def autodiff_reference(w, means, covs, x):
    """(log p (n,), grad (n, d), Hessian (n, d, d)) of the mixture density by torch.autograd."""
    torch = _torch()
    log_p = torch_log_density(torch, w, means, covs)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    lp = log_p(xt)
    (grad,) = torch.autograd.grad(lp.sum(), xt)
    hess = [torch.autograd.functional.hessian(lambda xi: log_p(xi[None, :])[0], xt[i].detach()) for i in range(len(x))]
    return lp.detach().numpy(), grad.numpy(), torch.stack(hess).numpy()


def check_against_autodiff(lp, score, hess, div, w, means, covs, x):
    ref_lp, ref_grad, ref_hess = autodiff_reference(w, means, covs, x)
    if lp is not None:
        close(lp, ref_lp)
    close(score, ref_grad, rtol=1e-9, atol_scale=1e-10)
    if hess is not None:
        h = np_(hess)
        close(h, ref_hess, rtol=1e-8, atol_scale=1e-9)
        np.testing.assert_allclose(h, np.swapaxes(h, 1, 2), rtol=0, atol=1e-12 * max(1.0, np.abs(h).max()))
        # divergence == trace of the Hessian (of both the oracle's and the autodiff one)
        close(div, np.trace(h, axis1=1, axis2=2), rtol=1e-10)
        close(div, np.trace(ref_hess, axis1=1, axis2=2), rtol=1e-8, atol_scale=1e-9)


@pytest.mark.parametrize("K", [1, 3])
def test_static_score_equals_autodiff_gradient(K):
    rs = np.random.default_rng(10 + K)
    w, means, covs = random_mixture(rs, K, 3)
    x = means[0] + 1.5 * rs.standard_normal((5, 3))
    if K == 1:
        dist = Gaussian(arr(means[0]), arr(covs[0]))
    else:
        dist = GaussianMixture(arr(w), arr(means), arr(covs))
    check_against_autodiff(dist.log_prob(arr(x)), dist.score(arr(x)), None, None, w, means, covs, x)


@pytest.mark.parametrize("sde", SDES, ids=repr)
@pytest.mark.parametrize("K", [1, 3])
def test_marginal_score_hessian_divergence_equal_autodiff(sde, K):
    """score_fn(x, t), hessian, divergence, log_prob of p_t vs autodiff of an independent log p_t."""
    rs = np.random.default_rng(20 + K)
    w, means, covs = random_mixture(rs, K, 3)
    oracle = Gaussian(arr(means[0]), arr(covs[0])) if K == 1 else GaussianMixture(arr(w), arr(means), arr(covs))
    sf = oracle.score_fn(sde)
    assert isinstance(sf, ExactScore)
    for t in TIMES:
        m_t, c_t = marginal_params(sde, t, means, covs)
        scale = math.sqrt(ref_coefficients(sde, t)[1] + 1.0)
        x = m_t[0] + scale * rs.standard_normal((4, 3))
        xb = arr(x)
        check_against_autodiff(sf.log_prob(xb, t), sf(xb, t), sf.hessian(xb, t), sf.divergence(xb, t), w, m_t, c_t, x)


def test_hessian_is_autodiff_jacobian_of_the_oracle_score():
    """On the torch backend: the Jacobian of the oracle's own score (torch.autograd through refsde) is its Hessian."""
    if be().name != "torch":
        pytest.skip("differentiates through refsde itself, which needs the torch backend")
    torch = _torch()
    rs = np.random.default_rng(3)
    w, means, covs = random_mixture(rs, 3, 3)
    gm = GaussianMixture(arr(w), arr(means), arr(covs))
    x = arr(2.0 * rs.standard_normal((4, 3)))
    for sde in SDES:
        sf = gm.score_fn(sde)
        for t in [0.0, 0.2, arr(np.array([0.0, 0.1, 0.5, 1.0]))]:
            jac = torch.autograd.functional.jacobian(lambda xx: sf(xx, t), x)  # (n, d, n, d)
            blocks = torch.stack([jac[i, :, i, :] for i in range(4)])
            close(sf.hessian(x, t), blocks.detach().cpu().numpy(), rtol=1e-9, atol_scale=1e-10)


# ---- 3. a one-component mixture is the Gaussian ------------------------------------------------------
@PROPERTY
@given(seed=seeds, d=dims, t=unit_times, which=st.integers(0, len(SDES) - 1))
def test_one_component_mixture_equals_gaussian(seed, d, t, which):
    sde = SDES[which]
    rs = np.random.default_rng(seed)
    m, c = rs.standard_normal(d), spd(rs, d)
    g = Gaussian(arr(m), arr(c))
    gm = GaussianMixture(arr([1.0]), arr(m[None, :]), arr(c[None, :, :]))
    x = arr(m + 2.0 * rs.standard_normal((5, d)))
    close(gm.log_prob(x), np_(g.log_prob(x)), rtol=1e-13, atol_scale=1e-13)
    close(gm.score(x), np_(g.score(x)), rtol=1e-13, atol_scale=1e-13)
    gt, gmt = g.marginal(sde, t), gm.marginal(sde, t)
    close(gmt.means[0, ...], np_(gt.mean), rtol=1e-15, atol_scale=0)
    close(gmt.covs[0, ...], np_(gt.cov), rtol=1e-15, atol_scale=0)
    close(gmt.log_prob(x), np_(gt.log_prob(x)), rtol=1e-13, atol_scale=1e-13)
    sg, sm = g.score_fn(sde), gm.score_fn(sde)
    for method in ("__call__", "log_prob", "hessian", "divergence"):
        close(getattr(sm, method)(x, t), np_(getattr(sg, method)(x, t)), rtol=1e-13, atol_scale=1e-13)


def test_identical_components_collapse_to_the_gaussian():
    """w N(m, C) + (1 - w) N(m, C) = N(m, C): the responsibilities cancel out exactly."""
    rs = np.random.default_rng(4)
    m, c = rs.standard_normal(3), spd(rs, 3)
    g = Gaussian(arr(m), arr(c))
    gm = GaussianMixture(arr([0.25, 0.75]), arr(np.stack([m, m])), arr(np.stack([c, c])))
    x = arr(m + rs.standard_normal((5, 3)))
    sde = refsde.VPSDE()
    for t in [0.0, 0.5]:
        for method in ("__call__", "log_prob", "hessian", "divergence"):
            close(getattr(gm.score_fn(sde), method)(x, t), np_(getattr(g.score_fn(sde), method)(x, t)), rtol=1e-12)


def test_zero_weight_component_is_ignored():
    rs = np.random.default_rng(5)
    w, means, covs = random_mixture(rs, 2, 2)
    with_zero = GaussianMixture(arr([w[0], 0.0, w[1]]), arr(means[[0, 0, 1]] + [[0, 0], [5, 5], [0, 0]]),
                                arr(covs[[0, 1, 1]]))
    without = GaussianMixture(arr(w), arr(means), arr(covs))
    x = arr(rs.standard_normal((4, 2)))
    sde = refsde.VESDE()
    close(with_zero.log_prob(x), np_(without.log_prob(x)), rtol=1e-13)
    close(with_zero.score_fn(sde).hessian(x, 0.4), np_(without.score_fn(sde).hessian(x, 0.4)), rtol=1e-12)


# ---- 6. marginal parameters and densities ------------------------------------------------------------
@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_marginal_mean_and_cov_equal_closed_form(sde):
    rs = np.random.default_rng(6)
    w, means, covs = random_mixture(rs, 2, 3)
    g = Gaussian(arr(means[0]), arr(covs[0]))
    gm = GaussianMixture(arr(w), arr(means), arr(covs))
    x = rs.standard_normal((5, 3))
    for t in TIMES + [0.05, 0.7]:
        m_t, c_t = marginal_params(sde, t, means, covs)
        gt = g.marginal(sde, t)
        assert isinstance(gt, Gaussian)
        close(gt.mean, m_t[0], rtol=1e-13, atol_scale=1e-15)
        close(gt.cov, c_t[0], rtol=1e-12, atol_scale=1e-15)
        close(gt.log_prob(arr(x)), scipy_stats.multivariate_normal(m_t[0], c_t[0]).logpdf(x).reshape(-1))
        gmt = gm.marginal(sde, arr(t))  # 0-d array time
        assert isinstance(gmt, GaussianMixture)
        close(gmt.weights, w, rtol=1e-14)
        close(gmt.means, m_t, rtol=1e-13, atol_scale=1e-15)
        close(gmt.covs, c_t, rtol=1e-12, atol_scale=1e-15)
        close(gmt.log_prob(arr(x)), scipy_mixture_logpdf(x, w, m_t, c_t))
        close(gm.score_fn(sde).log_prob(arr(x), t), scipy_mixture_logpdf(x, w, m_t, c_t))


@pytest.mark.parametrize("sde", SDES[:3], ids=repr)
def test_score_at_time_zero_is_the_data_score(sde):
    """sigma_0 = 0 and alpha_0 = 1 for VP, sub-VP and exact VE: p_0 is the data and S_0 = C (no 1/sigma)."""
    rs = np.random.default_rng(7)
    w, means, covs = random_mixture(rs, 2, 3)
    gm = GaussianMixture(arr(w), arr(means), arr(covs))
    x = arr(rs.standard_normal((5, 3)))
    assert float(np_(sde.sigma(0.0))) == 0.0
    close(gm.score_fn(sde)(x, 0.0), np_(gm.score(x)), rtol=1e-12, atol_scale=1e-13)
    close(gm.score_fn(sde).log_prob(x, 0.0), np_(gm.log_prob(x)), rtol=1e-12)


# ---- 7. per-sample times ---------------------------------------------------------------------------------
@PROPERTY
@given(seed=seeds, d=dims, K=st.integers(1, 3), which=st.integers(0, len(SDES) - 1))
def test_per_sample_times_equal_scalar_calls_row_by_row(seed, d, K, which):
    sde = SDES[which]
    rs = np.random.default_rng(seed)
    w, means, covs = random_mixture(rs, K, d)
    n = 5
    t = np.concatenate([[0.0, 1.0], rs.uniform(0.0, 1.0, n - 2)])
    x = 3.0 * rs.standard_normal((n, d))
    sf = GaussianMixture(arr(w), arr(means), arr(covs)).score_fn(sde)
    for method in ("__call__", "log_prob", "hessian", "divergence"):
        fn = getattr(sf, method)
        batched = np_(fn(arr(x), arr(t)))
        for i in range(n):
            row = np_(fn(arr(x[i : i + 1]), float(t[i])))[0]
            close(batched[i], row, rtol=1e-12, atol_scale=1e-13)
            close(np_(fn(arr(x[i : i + 1]), arr(t[i])))[0], row, rtol=0, atol_scale=0)  # 0-d array time


def test_time_of_shape_one_broadcasts():
    g = Gaussian(arr([0.0, 1.0]), arr(np.eye(2)))
    sf = g.score_fn(refsde.VPSDE())
    x = arr(np.ones((3, 2)))
    close(sf(x, arr([0.4])), np_(sf(x, 0.4)), rtol=0, atol_scale=0)


# ---- 8. dtype, device, validation, mixed backends ---------------------------------------------------------
def _dtype_name(a):
    return str(a.dtype).rsplit(".", 1)[-1]


@pytest.mark.parametrize("param_dtype", ["float32", "float64"])
def test_float32_inputs_give_float32_outputs_on_the_same_device(param_dtype):
    rs = np.random.default_rng(8)
    w, means, covs = random_mixture(rs, 2, 3)
    g = Gaussian(arr(means[0], param_dtype), arr(covs[0], param_dtype))
    gm = GaussianMixture(arr(w, param_dtype), arr(means, param_dtype), arr(covs, param_dtype))
    x64 = rs.standard_normal((4, 3))
    x = arr(x64, "float32")
    sde = refsde.VPSDE()
    outs = {
        "log_prob": g.log_prob(x),
        "score": g.score(x),
        "mix_log_prob": gm.log_prob(x),
        "mix_score": gm.score(x),
        "score_fn": g.score_fn(sde)(x, 0.3),
        "score_fn_per_sample": gm.score_fn(sde)(x, arr([0.0, 0.1, 0.5, 1.0], "float32")),
        "hessian": gm.score_fn(sde).hessian(x, 0.3),
        "divergence": gm.score_fn(sde).divergence(x, 0.3),
        "flow_map": g.flow_map(sde, 0.1, 0.6, x)[0],
        "flow_logdet": g.flow_map(sde, 0.1, 0.6, x)[1],
    }
    for name, out in outs.items():
        assert _dtype_name(out) == "float32", name
        assert device_of(out) == device_of(x), name
    for out in (g.marginal(sde, 0.3).mean, g.marginal(sde, 0.3).cov, g.sample(3, 0), gm.sample(3, 0)):
        assert _dtype_name(out) == param_dtype
    # float32 results agree with the float64 computation to float32 accuracy
    g64 = Gaussian(arr(means[0]), arr(covs[0]))
    close(outs["score_fn"], np_(g64.score_fn(sde)(arr(x64.astype(np.float32)), 0.3)), rtol=1e-4, atol_scale=1e-5)
    close(outs["log_prob"], np_(g64.log_prob(arr(x64.astype(np.float32)))), rtol=1e-5, atol_scale=1e-5)


def test_mixed_float32_float64_parameters_promote():
    g = Gaussian(arr([0.0, 1.0], "float32"), arr(np.eye(2)))
    assert _dtype_name(g.mean) == "float64" and _dtype_name(g.cov) == "float64"
    # float32 weights are checked in float32 precision (their sum is 1 only to ~1e-7), then promoted
    w32 = arr([0.2, 0.5, 0.3], "float32")
    gm = GaussianMixture(w32, arr(np.zeros((3, 2))), arr(np.stack([np.eye(2)] * 3)))
    assert _dtype_name(gm.weights) == "float64"
    close(gm.weights, np.array([0.2, 0.5, 0.3]), rtol=1e-6)


def test_slightly_asymmetric_covariance_is_accepted_and_symmetrized():
    c = np.array([[2.0, 0.5], [0.5 + 1e-14, 1.0]])
    g = Gaussian(arr([0.0, 0.0]), arr(c))
    cov = np_(g.cov)
    assert cov[0, 1] == cov[1, 0]
    close(cov, 0.5 * (c + c.T), rtol=0, atol_scale=1e-16)


BAD_GAUSSIANS = {
    "asymmetric": ([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]),
    "indefinite": ([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]),
    "singular": ([0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]]),
    "zero": ([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]]),
    "negative_definite": ([0.0], [[-1.0]]),
    "nan_mean": ([float("nan"), 0.0], np.eye(2)),
    "nan_cov": ([0.0, 0.0], [[1.0, float("nan")], [float("nan"), 1.0]]),
    "inf_cov": ([0.0, 0.0], [[float("inf"), 0.0], [0.0, 1.0]]),
    "cov_shape": ([0.0, 0.0], np.eye(3)),
    "cov_1d": ([0.0, 0.0], [1.0, 1.0]),
    "mean_2d": ([[0.0, 0.0]], np.eye(2)),
    "empty": (np.zeros(0), np.zeros((0, 0))),
}


@pytest.mark.parametrize("case", sorted(BAD_GAUSSIANS))
def test_bad_gaussian_raises_value_error(case):
    mean, cov = BAD_GAUSSIANS[case]
    with pytest.raises(ValueError):
        Gaussian(arr(mean), arr(cov))


BAD_MIXTURES = {
    "sum_below_one": ([0.3, 0.6], None, None),
    "sum_above_one": ([0.5, 0.6], None, None),
    "negative": ([1.5, -0.5], None, None),
    "nan_weight": ([float("nan"), 1.0], None, None),
    "weights_length": ([0.2, 0.3, 0.5], None, None),
    "weights_2d": ([[0.5, 0.5]], None, None),
    "means_vs_covs": (None, np.zeros((2, 3)), None),
    "covs_count": (None, None, np.stack([np.eye(2)] * 3)),
    "bad_component": (None, None, np.stack([np.eye(2), -np.eye(2)])),
    "asymmetric_component": (None, None, np.stack([np.eye(2), [[1.0, 0.3], [0.0, 1.0]]])),
}


@pytest.mark.parametrize("case", sorted(BAD_MIXTURES))
def test_bad_mixture_raises_value_error(case):
    w, means, covs = BAD_MIXTURES[case]
    w = [0.5, 0.5] if w is None else w
    means = np.zeros((2, 2)) if means is None else means
    covs = np.stack([np.eye(2)] * 2) if covs is None else covs
    with pytest.raises(ValueError):
        GaussianMixture(arr(w), arr(means), arr(covs))


def _call(kind, g, sde, x, t):
    if kind == "score_fn":
        return g.score_fn(sde)(x, t)
    if kind == "hessian":
        return g.score_fn(sde).hessian(x, t)
    if kind == "divergence":
        return g.score_fn(sde).divergence(x, t)
    if kind == "flow_map_s":
        return g.flow_map(sde, t, 0.5, x)
    return g.flow_map(sde, 0.5, t, x)


@pytest.mark.parametrize("kind", ["score_fn", "hessian", "divergence", "flow_map_s", "flow_map_t"])
def test_bad_x_or_t_raises_value_error(kind):
    g = Gaussian(arr([0.0, 1.0]), arr(np.eye(2)))
    sde = refsde.VPSDE()
    good_x = arr(np.ones((3, 2)))
    bad = [
        (arr(np.ones((3, 3))), 0.5),  # wrong d
        (arr(np.ones(2)), 0.5),  # no batch axis
        (arr(np.ones((3, 2, 1))), 0.5),  # 3-D
        (arr([[0.0, float("nan")], [0.0, 0.0], [1.0, 1.0]]), 0.5),  # NaN in x
        (good_x, -0.1),  # t < 0
        (good_x, 1.5),  # t > T
        (good_x, float("nan")),
        (good_x, arr([0.1, 0.2, 0.3, 0.4])),  # batch mismatch
        (good_x, arr([[0.1, 0.2, 0.3]])),  # 2-D t
    ]
    for x, t in bad:
        with pytest.raises(ValueError):
            _call(kind, g, sde, x, t)


def test_bad_arguments_to_static_methods_raise_value_error():
    g = Gaussian(arr([0.0, 1.0]), arr(np.eye(2)))
    gm = GaussianMixture(arr([0.5, 0.5]), arr(np.zeros((2, 2))), arr(np.stack([np.eye(2)] * 2)))
    sde = refsde.VPSDE()
    for dist in (g, gm):
        with pytest.raises(ValueError):
            dist.log_prob(arr(np.ones((3, 3))))
        with pytest.raises(ValueError):
            dist.score(arr([[float("nan"), 0.0]]))
        with pytest.raises(ValueError):
            dist.marginal(sde, arr([0.1, 0.2]))  # marginal needs one time
        with pytest.raises(ValueError):
            dist.marginal(sde, 2.0)
        with pytest.raises(ValueError):
            dist.sample(-1, 0)


def _other_backend():
    """A second library on its CPU device (explicit device: REFSDE_DEVICE may name a GPU)."""
    if be().name == "numpy":
        return refsde.get_backend("array_api_strict", device="CPU_DEVICE")
    return refsde.get_backend("numpy", device="cpu")


def test_mixed_backends_raise_type_error():
    other = _other_backend()
    o = lambda a: other.asarray(np.asarray(a, dtype=np.float64))  # noqa: E731
    g = Gaussian(arr([0.0, 1.0]), arr(np.eye(2)))
    sde = refsde.VPSDE()
    x = arr(np.ones((3, 2)))
    with pytest.raises(TypeError):
        Gaussian(o([0.0, 1.0]), arr(np.eye(2)))
    with pytest.raises(TypeError):
        GaussianMixture(o([0.5, 0.5]), arr(np.zeros((2, 2))), arr(np.stack([np.eye(2)] * 2)))
    with pytest.raises(TypeError):
        g.log_prob(o(np.ones((3, 2))))
    with pytest.raises(TypeError):
        g.score_fn(sde)(o(np.ones((3, 2))), 0.5)
    with pytest.raises(TypeError):
        g.score_fn(sde)(x, o([0.1, 0.2, 0.3]))
    with pytest.raises(TypeError):
        g.flow_map(sde, 0.1, 0.5, o(np.ones((3, 2))))
    with pytest.raises(TypeError):
        g.sample(3, refsde.make_rng(0, other))
    with pytest.raises(TypeError):
        Gaussian(np.zeros(2).tolist(), arr(np.eye(2)))  # a list is not an array
    with pytest.raises(TypeError):
        g.log_prob(arr(np.ones((3, 2)), "int64"))  # integer samples


def test_score_fn_rejects_non_sde():
    g = Gaussian(arr([0.0]), arr([[1.0]]))
    with pytest.raises(TypeError):
        g.score_fn(object())


def _second_device():
    b = be()
    if b.name == "array_api_strict":
        return b.xp.Device("device1")
    if b.name == "torch" and str(b.device) != "cpu":
        return "cpu"
    pytest.skip(f"backend {b.describe()} has a single device here")


def test_non_default_device_is_kept_and_mixed_devices_raise_value_error():
    from array_api_compat import to_device

    dev = _second_device()
    on = lambda a: to_device(arr(a), dev)  # noqa: E731
    rs = np.random.default_rng(9)
    w, means, covs = random_mixture(rs, 2, 2)
    g = Gaussian(on(means[0]), on(covs[0]))
    gm = GaussianMixture(on(w), on(means), on(covs))
    sde = refsde.VPSDE()
    x = on(rs.standard_normal((3, 2)))
    outs = [g.log_prob(x), gm.score(x), gm.score_fn(sde)(x, on([0.1, 0.5, 0.9])), gm.score_fn(sde).hessian(x, 0.2),
            g.flow_map(sde, 0.1, 0.7, x)[0], g.marginal(sde, 0.3).cov, gm.sample(4, 0), g.sample(4, 0)]
    for out in outs:
        assert device_of(out) == device_of(x)
    close(outs[2], np_(GaussianMixture(arr(w), arr(means), arr(covs)).score_fn(sde)(arr(np_(x)), arr([0.1, 0.5, 0.9]))),
          rtol=1e-12)
    with pytest.raises(ValueError):
        g.log_prob(arr(np_(x)))  # x on the default device, g on the other one
    with pytest.raises(ValueError):
        Gaussian(on(means[0]), arr(covs[0]))


def test_exact_score_stays_finite_when_every_component_density_underflows():
    """Far in the tail log N_k = -inf for all k; the score is still the (finite) component score."""
    import refsde as _r

    be = _r.get_backend()
    g = Gaussian(be.asarray([0.0, 0.0]), be.asarray([[1.0, 0.0], [0.0, 1.0]]))
    sde = _r.VPSDE()
    x = be.asarray([[1e160, 0.0]])
    with warnings.catch_warnings():
        # the quadratic form overflows to inf (log N_k = -inf, genuinely); the logsumexp that handles it must
        # not warn about log(0) or inf - inf on top
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        s = be.to_numpy(g.score_fn(sde)(x, 0.5))
    assert np.all(np.isfinite(s))
    # p_0.5 = N(0, alpha^2 + sigma^2) = N(0, 1) for VP with unit covariance: score = -x
    np.testing.assert_allclose(s, [[-1e160, 0.0]], rtol=1e-12)


def test_mixture_never_samples_a_trailing_zero_weight_component():
    import refsde as _r

    be = _r.get_backend()
    gm = GaussianMixture(
        be.asarray([0.3, 0.7, 0.0]),
        be.asarray([[0.0], [0.0], [1e6]]),
        be.asarray([[[1.0]], [[1.0]], [[1.0]]]),
    )
    x = be.to_numpy(gm.sample(20_000, rng=0))
    assert np.max(np.abs(x)) < 100.0
