"""Losses against closed forms.

For Gaussian data N(mu, diag(v)) and x_t = alpha_t x0 + sigma_t z, the posterior of z given x_t has
covariance I - sigma^2 S_t^{-1} with S_t = alpha_t^2 diag(v) + sigma_t^2 I, so with the exact score the
DSM integrand is lambda(t) tr Cov[-z/sigma | x_t] = lambda(t) sum_i alpha^2 v_i / (sigma^2 (alpha^2 v_i + sigma^2))
(the DSM identity, derived here independently of refsde), integrated over t ~ U(eps, T) with scipy.quad.
Monte Carlo comparisons use a two-sided z-test at false-alarm rate 1e-6 (|z| < 4.89) on iid per-sample
losses with fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde import losses

scipy_integrate = pytest.importorskip("scipy.integrate")

Z_1E6 = 4.891638  # two-sided standard normal quantile for alpha = 1e-6

SDES = [
    refsde.VPSDE(),
    refsde.SubVPSDE(),
    refsde.VESDE(),
    refsde.VESDE(convention="score_sde"),
]
MU = np.array([0.5, -1.0, 2.0])
VAR = np.array([0.3, 1.0, 2.5])


@pytest.fixture
def be():
    return refsde.get_backend()


def coeffs_np(sde, t):
    """(alpha_t, sigma_t) in float64 numpy, from the SDE's closed forms (checked in test_sde_*)."""
    a, s = sde.marginal_coefficients(np.asarray(t, dtype=np.float64))
    return np.asarray(a), np.asarray(s)


def exact_score_fn(sde, be, mu=MU, var=VAR):
    mu_b, var_b = be.asarray(mu), be.asarray(var)
    xp = be.xp

    def score(x, t):
        alpha, sigma = sde.marginal_coefficients(t)
        alpha = xp.reshape(alpha, (-1, 1)) if alpha.ndim else alpha
        sigma = xp.reshape(sigma, (-1, 1)) if sigma.ndim else sigma
        # grad log N(x; alpha mu, alpha^2 v + sigma^2)
        return -(x - alpha * mu_b) / (alpha * alpha * var_b + sigma * sigma)

    return score


def dsm_integrand(sde, t, weighting):
    a, s = coeffs_np(sde, t)
    per_t = np.sum(a**2 * VAR / (s**2 * (a**2 * VAR + s**2)))
    if weighting == "sigma2":
        return s**2 * per_t
    if weighting == "likelihood":
        return float(sde.diffusion_squared(float(t))) * per_t
    return per_t


def expected_dsm(sde, weighting, eps):
    # integrate over log t: the likelihood/none integrands behave like 1/t near 0
    f = lambda u: dsm_integrand(sde, math.exp(u), weighting) * math.exp(u)  # noqa: E731
    val, err = scipy_integrate.quad(f, math.log(eps), math.log(sde.T), limit=200, epsabs=0, epsrel=1e-10)
    return val / (sde.T - eps)


def draw_x0(be, n, seed):
    rng = np.random.default_rng(seed)
    return be.asarray(MU + np.sqrt(VAR) * rng.standard_normal((n, 3)))


def assert_mean_matches(per_sample, expected, label):
    per_sample = np.asarray(per_sample, dtype=np.float64)
    se = per_sample.std(ddof=1) / math.sqrt(per_sample.size)
    z = (per_sample.mean() - expected) / se
    assert abs(z) < Z_1E6, f"{label}: MC mean {per_sample.mean():.6g} vs closed form {expected:.6g} (z = {z:.2f})"


@pytest.mark.statistical
@pytest.mark.parametrize("sde", SDES, ids=repr)
@pytest.mark.parametrize("weighting", ["sigma2", "likelihood", "none"])
def test_dsm_loss_with_exact_score_equals_dsm_identity(be, sde, weighting):
    eps = 1e-3 if weighting != "sigma2" else 1e-5
    n = 40_000
    x0 = draw_x0(be, n, seed=1)
    per = losses.dsm_loss(exact_score_fn(sde, be), sde, x0, weighting=weighting, eps=eps, rng=7, reduce="none")
    assert_mean_matches(be.to_numpy(per), expected_dsm(sde, weighting, eps), f"{sde} {weighting}")


@pytest.mark.statistical
@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_likelihood_importance_sampling_is_unbiased_and_reduces_variance(be, sde):
    eps, n = 1e-3, 40_000
    x0 = draw_x0(be, n, seed=2)
    score = exact_score_fn(sde, be)
    plain = be.to_numpy(losses.dsm_loss(score, sde, x0, weighting="likelihood", eps=eps, rng=3, reduce="none"))
    imp = be.to_numpy(
        losses.dsm_loss(score, sde, x0, weighting="likelihood", eps=eps, rng=3, reduce="none", importance_sampling=True)
    )
    expected = expected_dsm(sde, "likelihood", eps)
    assert_mean_matches(imp, expected, f"{sde} likelihood IS")
    if isinstance(sde, refsde.VESDE) and not sde.exact:
        # g^2 / sigma_t^2 = 2 log(sigma_max/sigma_min) is constant: the IS density is uniform, so the
        # estimator is the plain one draw for draw
        np.testing.assert_allclose(imp, plain, rtol=1e-9)
    else:
        assert imp.var() < 0.5 * plain.var(), f"IS variance {imp.var():.3g} not below plain {plain.var():.3g}"


@pytest.mark.statistical
@pytest.mark.parametrize("sde", SDES[:3], ids=repr)
def test_perturbed_score_raises_loss_by_closed_form_amount(be, sde):
    """s = s* + delta adds lambda(t) |delta|^2 per sample; paired (same t, z) to cancel noise."""
    eps, n = 1e-5, 40_000
    delta = np.array([0.1, -0.2, 0.05])
    x0 = draw_x0(be, n, seed=4)
    exact = exact_score_fn(sde, be)
    d_b = be.asarray(delta)
    rng = np.random.default_rng(5)
    t = be.asarray(eps + (sde.T - eps) * rng.random(n))
    z = be.asarray(rng.standard_normal((n, 3)))
    base = losses.dsm_loss(exact, sde, x0, t=t, z=z, reduce="none")
    pert = losses.dsm_loss(lambda x, tt: exact(x, tt) + d_b, sde, x0, t=t, z=z, reduce="none")
    diff = be.to_numpy(pert) - be.to_numpy(base)
    # E_t[sigma_t^2] |delta|^2 with sigma2 weighting
    mean_s2 = scipy_integrate.quad(lambda tt: coeffs_np(sde, tt)[1] ** 2, eps, sde.T, epsrel=1e-12)[0] / (sde.T - eps)
    assert_mean_matches(diff, mean_s2 * float(delta @ delta), f"{sde} perturbation")


def test_explicit_t_and_z_make_loss_deterministic_and_match_hand_formula(be):
    sde = refsde.VPSDE()
    x0 = draw_x0(be, 5, seed=0)
    t = be.asarray(np.linspace(0.1, 0.9, 5))
    z = be.asarray(np.random.default_rng(1).standard_normal((5, 3)))
    score = lambda x, tt: -x  # noqa: E731
    got = be.to_numpy(losses.dsm_loss(score, sde, x0, t=t, z=z, weighting="none", reduce="none"))
    a, s = coeffs_np(sde, be.to_numpy(t))
    x0n, zn = be.to_numpy(x0), be.to_numpy(z)
    xt = a[:, None] * x0n + s[:, None] * zn
    want = np.sum((-xt + zn / s[:, None]) ** 2, axis=1)  # lambda = 1: |s + z/sigma|^2
    np.testing.assert_allclose(got, want, rtol=1e-10)
    again = be.to_numpy(losses.dsm_loss(score, sde, x0, t=t, z=z, weighting="none", reduce="none"))
    np.testing.assert_array_equal(got, again)
    a1 = be.to_numpy(losses.dsm_loss(score, sde, x0, rng=11))
    a2 = be.to_numpy(losses.dsm_loss(score, sde, x0, rng=11))
    np.testing.assert_array_equal(a1, a2)


def test_callable_weighting_equals_builtin(be):
    sde = refsde.VPSDE()
    x0 = draw_x0(be, 50, seed=0)
    score = exact_score_fn(sde, be)
    builtin = be.to_numpy(losses.dsm_loss(score, sde, x0, weighting="likelihood", rng=3, reduce="none"))
    custom = be.to_numpy(
        losses.dsm_loss(score, sde, x0, weighting=lambda t: sde.diffusion_squared(t), rng=3, reduce="none")
    )
    np.testing.assert_allclose(custom, builtin, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"eps": 0.0}, ValueError),
        ({"eps": 1.0}, ValueError),
        ({"weighting": "bogus"}, ValueError),
        ({"weighting": "sigma2", "importance_sampling": True}, ValueError),
        ({"reduce": "sum"}, ValueError),
    ],
)
def test_bad_arguments_raise(be, kwargs, err):
    sde = refsde.VPSDE()
    with pytest.raises(err):
        losses.dsm_loss(lambda x, t: -x, sde, draw_x0(be, 4, 0), rng=0, **kwargs)


def test_model_wrong_shape_or_nan_raises(be):
    sde = refsde.VPSDE()
    x0 = draw_x0(be, 4, 0)
    xp = be.xp
    with pytest.raises(ValueError, match="shape"):
        losses.dsm_loss(lambda x, t: x[:, :2], sde, x0, rng=0)
    with pytest.raises(ValueError, match="NaN"):
        losses.dsm_loss(lambda x, t: x * xp.asarray(float("nan"), dtype=x.dtype), sde, x0, rng=0)


@pytest.mark.statistical
def test_ddpm_loss_with_exact_eps_model_matches_closed_form(be):
    """E_i sum_k (1 - s_i^2 / (a_i^2 v_k + s_i^2)) with a_i^2 = prod_{j<=i}(1 - beta_j): numpy cumprod here."""
    sde = refsde.VPSDE(N=100)
    N = sde.N
    betas = (0.1 + (20.0 - 0.1) * np.arange(N) / (N - 1)) / N  # DDPM betas beta(t_j)/N, T = 1
    abar = np.cumprod(1.0 - betas)
    expected = np.mean([np.sum(1.0 - (1 - ab) / (ab * VAR + 1 - ab)) for ab in abar])
    mu_b, var_b = be.asarray(MU), be.asarray(VAR)
    abar_b = be.asarray(abar)
    xp = be.xp

    def eps_model(x, t):
        i = xp.astype(xp.round(t * (N - 1)), xp.int64)
        ab = xp.reshape(xp.take(abar_b, i), (-1, 1))
        # E[z | x_i] = s_i (x - a_i mu) / (a_i^2 v + s_i^2)
        return xp.sqrt(1 - ab) * (x - xp.sqrt(ab) * mu_b) / (ab * var_b + 1 - ab)

    per = be.to_numpy(losses.ddpm_loss(eps_model, sde, draw_x0(be, 40_000, 8), rng=9, reduce="none"))
    assert_mean_matches(per, expected, "ddpm")


@pytest.mark.statistical
def test_smld_loss_with_exact_score_matches_closed_form(be):
    sde = refsde.VESDE(N=50, convention="score_sde")
    sig = 0.01 * (50.0 / 0.01) ** (np.arange(50) / 49)  # NCSN levels
    expected = np.mean([np.sum(VAR / (VAR + s**2)) for s in sig])  # sigma^2 tr Cov[z/sigma | x] per level
    per = be.to_numpy(losses.smld_loss(exact_score_fn(sde, be), sde, draw_x0(be, 40_000, 10), rng=12, reduce="none"))
    assert_mean_matches(per, expected, "smld")


def test_parameterization_round_trips(be):
    rng = np.random.default_rng(0)
    x0, eps = be.asarray(rng.standard_normal((6, 3))), be.asarray(rng.standard_normal((6, 3)))
    alpha, sigma = be.asarray(rng.uniform(0.1, 2.0, (6, 1))), be.asarray(rng.uniform(0.1, 3.0, (6, 1)))
    xt = alpha * x0 + sigma * eps
    n = be.to_numpy
    P = losses
    v = P.v_from_eps_x0(eps, x0, alpha, sigma)
    np.testing.assert_allclose(n(P.x0_from_v(xt, v, alpha, sigma)), n(x0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(n(P.eps_from_v(xt, v, alpha, sigma)), n(eps), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(n(P.x0_from_eps(xt, eps, alpha, sigma)), n(x0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(n(P.eps_from_x0(xt, x0, alpha, sigma)), n(eps), rtol=1e-12, atol=1e-12)
    score = P.score_from_eps(eps, sigma)
    np.testing.assert_allclose(n(score), -n(eps) / n(sigma), rtol=1e-14)
    np.testing.assert_allclose(n(P.eps_from_score(score, sigma)), n(eps), rtol=1e-12)
    np.testing.assert_allclose(n(P.score_from_x0(xt, x0, alpha, sigma)), n(score), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(n(P.x0_from_score(xt, score, alpha, sigma)), n(x0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(n(P.score_from_v(xt, v, alpha, sigma)), n(score), rtol=1e-10, atol=1e-12)


def test_model_wrappers_give_the_same_score(be):
    """An exact eps-, x0- and v-model of Gaussian data all wrap to the exact score."""
    sde = refsde.VPSDE()
    exact = exact_score_fn(sde, be)
    xp = be.xp

    def coef(t):
        a, s = sde.marginal_coefficients(t)
        return xp.reshape(a, (-1, 1)), xp.reshape(s, (-1, 1))

    eps_model = lambda x, t: -coef(t)[1] * exact(x, t)  # noqa: E731
    x0_model = lambda x, t: (x + coef(t)[1] ** 2 * exact(x, t)) / coef(t)[0]  # noqa: E731

    def v_model(x, t):
        a, s = coef(t)
        return a * eps_model(x, t) - s * x0_model(x, t)

    x = be.asarray(np.random.default_rng(3).standard_normal((5, 3)))
    t = be.asarray(np.linspace(0.05, 0.95, 5))
    want = be.to_numpy(exact(x, t))
    for wrap, model in [
        (losses.score_fn_from_eps, eps_model),
        (losses.score_fn_from_x0, x0_model),
        (losses.score_fn_from_v, v_model),
    ]:
        np.testing.assert_allclose(be.to_numpy(wrap(model, sde)(x, t)), want, rtol=1e-9, atol=1e-12)


def test_gradients_flow_to_torch_model_parameters():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 3, dtype=torch.float64)
    sde = refsde.VPSDE()
    x0 = torch.randn(64, 3, dtype=torch.float64)
    t = torch.linspace(0.1, 0.9, 64, dtype=torch.float64)
    z = torch.randn(64, 3, dtype=torch.float64)
    loss = losses.dsm_loss(lambda x, tt: model(x), sde, x0, t=t, z=z)
    loss.backward()
    g = model.weight.grad[0, 0].item()
    # central difference of the loss in that parameter
    h = 1e-6
    with torch.no_grad():
        model.weight[0, 0] += h
        up = losses.dsm_loss(lambda x, tt: model(x), sde, x0, t=t, z=z).item()
        model.weight[0, 0] -= 2 * h
        down = losses.dsm_loss(lambda x, tt: model(x), sde, x0, t=t, z=z).item()
    assert g == pytest.approx((up - down) / (2 * h), rel=1e-6)


def test_importance_sampling_uses_x0s_namespace_not_the_active_backend():
    """x0 from NumPy while another backend is active: the log-SNR bounds must not leak that backend."""
    pytest.importorskip("array_api_strict")
    sde = refsde.VPSDE()
    x0 = np.ones((8, 2))
    with refsde.use_backend("array_api_strict"):
        out = losses.dsm_loss(lambda x, t: -x, sde, x0, weighting="likelihood", importance_sampling=True, rng=0)
    assert isinstance(out, (np.ndarray, np.generic)) and np.isfinite(out)


def test_ddpm_loss_rejects_a_chain_with_beta_at_least_one(be):
    with pytest.raises(ValueError, match="beta_max"):
        losses.ddpm_loss(lambda x, t: x * 0, refsde.VPSDE(N=10), draw_x0(be, 4, 0), rng=0)
    with pytest.raises(TypeError, match="integer"):
        losses.ddpm_loss(lambda x, t: x * 0, refsde.VPSDE(), draw_x0(be, 4, 0), i=be.asarray([0.0, 1.0, 2.0, 3.0]), rng=0)
