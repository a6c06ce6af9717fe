"""refsde.likelihood.log_likelihood / encode / decode against the closed-form Gaussian flow.

For Gaussian data N(m, C) under a linear SDE the probability-flow ODE is linear and its flow map is
known (refsde.gaussian.Gaussian.flow_map, itself tested in test_gaussian_flow.py).  The model density
that the likelihood ODE computes is then, by the change of variables for the map Phi = Phi_{eps->T},

    log p_model(x) = log pi(Phi(x)) + log|det dPhi/dx|,

and it differs from the true log p_eps(x) by log p_T(Phi(x)) - log pi(Phi(x)) (the prior mismatch),
which the tests compute here in NumPy from S_u = alpha_u^2 C + sigma_u^2 I in C's eigenbasis.
Everything in this file is deterministic (no random probes).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian
from refsde.likelihood import decode, encode, log_likelihood

try:
    from arrays_under_test import arr, be, np_, random_gaussian
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, be, np_, random_gaussian  # type: ignore[no-redef]

EPS = 1e-5
SDES = {
    "vp": lambda: refsde.VPSDE(),
    "subvp": lambda: refsde.SubVPSDE(),
    "ve": lambda: refsde.VESDE(),
}


def gaussian_data(d, seed):
    """(mean (d,), full SPD covariance (d, d)) with eigenvalues in about [0.3, 3]."""
    return random_gaussian(np.random.default_rng(seed), d, 0.3)


def points(d, n, seed):
    return np.random.default_rng(seed + 1000).standard_normal((n, d)) * 1.5


def np_coefficients(sde, t):
    """(alpha_t, sigma_t^2) from sde.marginal_coefficients as Python floats."""
    alpha, sigma = sde.marginal_coefficients(float(t))
    return float(np_(alpha)), float(np_(sigma)) ** 2


def np_flow(sde, m, c, x, s, t):
    """Phi_{s->t}(x) and log|det| in NumPy: in C's eigenbasis coordinate i is scaled by sqrt(v_t,i / v_s,i)."""
    lam, q = np.linalg.eigh(c)
    a_s, s2_s = np_coefficients(sde, s)
    a_t, s2_t = np_coefficients(sde, t)
    v_s, v_t = a_s**2 * lam + s2_s, a_t**2 * lam + s2_t
    z = a_t * m + ((x - a_s * m) @ q) * np.sqrt(v_t / v_s) @ q.T
    return z, 0.5 * np.sum(np.log(v_t / v_s))


def np_gauss_logpdf(x, m, cov):
    d = len(m)
    sign, logdet = np.linalg.slogdet(cov)
    r = x - m
    return -0.5 * np.einsum("ni,ij,nj->n", r, np.linalg.inv(cov), r) - 0.5 * (d * math.log(2 * math.pi) + logdet)


def setup(name, d, n=3, seed=0):
    sde = SDES[name]()
    m, c = gaussian_data(d, seed)
    g = Gaussian(arr(m), arr(c))
    return sde, m, c, g, arr(points(d, n, seed))


def np_prior_logp(sde, z):
    """log N(z; 0, prior_std^2 I) summed over the last axis, in NumPy."""
    v = sde.prior_std**2
    return -0.5 * np.sum(z * z, axis=-1) / v - 0.5 * z.shape[-1] * math.log(2 * math.pi * v)


# ---- 1. against the closed-form flow map (the one high-accuracy test) --------------------------------------
@pytest.mark.parametrize(
    "name, d, error_norm",
    [("vp", 2, "batch"), ("subvp", 3, "batch"), ("ve", 4, "batch"), ("vp", 5, "batch"), ("subvp", 3, "sample")],
)
def test_log_likelihood_equals_closed_form_flow(name, d, error_norm):
    """Spec: <= 1e-6 nats at rtol = atol = 1e-10 in float64 (measured: <= 9e-10 nats, both error norms)."""
    sde, m, c, g, x = setup(name, d, seed=d)
    log_p, info = log_likelihood(g.score_fn(sde), sde, x, eps=EPS, rtol=1e-10, atol=1e-10, error_norm=error_norm)
    z_np, logdet_np = np_flow(sde, m, c, np_(x), EPS, sde.T)  # independent NumPy closed form
    np.testing.assert_allclose(np_(log_p), np_prior_logp(sde, z_np) + logdet_np, rtol=0, atol=1e-6)
    z, logdet = g.flow_map(sde, EPS, sde.T, x)
    expected = np_(sde.prior_logp(z)) + np_(logdet)
    assert log_p.shape == (x.shape[0],) and log_p.dtype == x.dtype
    assert np.max(np.abs(np_(log_p) - expected)) <= 1e-6
    # the parts: x(T) = Phi(x) and delta = log|det dPhi/dx| (the sign of the change of variables)
    np.testing.assert_allclose(np_(info.z), np_(z), rtol=0, atol=1e-7 * max(1.0, sde.prior_std))
    np.testing.assert_allclose(np_(info.delta_logp), np_(logdet), rtol=0, atol=1e-6)
    np.testing.assert_allclose(np_(info.prior_logp + info.delta_logp), np_(log_p), rtol=0, atol=1e-12)
    assert info.divergence == "oracle" and info.n_jvp == 0
    assert info.nfe == info.solver.nfe == info.n_divergence  # one score + one divergence call per ODE call


# ---- 2. model density vs the true p_eps: the prior mismatch in closed form --------------------------------
@pytest.mark.parametrize(
    "make_sde",
    [lambda: refsde.VPSDE(beta_max=5.0), lambda: refsde.VESDE(sigma_max=3.0)],
    ids=["vp-short", "ve-small"],
)
def test_difference_to_true_marginal_is_prior_mismatch(make_sde):
    sde, d = make_sde(), 3
    m, c = gaussian_data(d, 7)
    g = Gaussian(arr(m), arr(c))
    xn = points(d, 4, 7)
    log_p, _ = log_likelihood(g.score_fn(sde), sde, arr(xn), eps=EPS, rtol=1e-8, atol=1e-8)
    true_log_p = np_(g.marginal(sde, EPS).log_prob(arr(xn)))
    # mismatch: log p_T(z) - log pi(z), z = Phi_{eps->T}(x), p_T = N(alpha_T m, alpha_T^2 C + sigma_T^2 I)
    z, _ = np_flow(sde, m, c, xn, EPS, sde.T)
    a_T, s2_T = np_coefficients(sde, sde.T)
    mismatch = np_gauss_logpdf(z, a_T * m, a_T**2 * c + s2_T * np.eye(d)) - np_gauss_logpdf(
        z, np.zeros(d), sde.prior_std**2 * np.eye(d)
    )
    assert np.min(np.abs(mismatch)) > 1e-2  # the check below could not miss a sign or a dropped term
    np.testing.assert_allclose(np_(log_p), true_log_p - mismatch, rtol=0, atol=1e-6)


def test_zero_score_gives_pure_drift_closed_form():
    """s = 0: x(T) = x alpha_T / alpha_eps and delta = D log(alpha_T / alpha_eps) (int_eps^T f dt)."""
    sde, d = refsde.VPSDE(), 4
    xn = points(d, 3, 1)
    x = arr(xn)
    log_p, info = log_likelihood(lambda y, t: 0.0 * y, sde, x, eps=EPS, rtol=1e-8, atol=1e-8)
    a_eps, _ = np_coefficients(sde, EPS)
    a_T, _ = np_coefficients(sde, sde.T)
    z = xn * (a_T / a_eps)
    expected = -0.5 * np.sum(z * z, axis=1) - 0.5 * d * math.log(2 * math.pi) + d * math.log(a_T / a_eps)
    np.testing.assert_allclose(np_(log_p), expected, rtol=0, atol=1e-6)
    assert info.divergence == "jvp"


# ---- 3. exact divergence by jvps (no oracle) ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["vp", "ve"])
def test_jvp_divergence_matches_oracle(name):
    sde, m, c, g, x = setup(name, 3, n=4, seed=3)
    oracle = g.score_fn(sde)
    calls = []

    def plain(y, t):  # no .divergence attribute: forces the D-jvp path
        calls.append(1)
        return oracle(y, t)

    opts = dict(eps=EPS, method="rk4", n_steps=12)
    lp_oracle, info_o = log_likelihood(oracle, sde, x, **opts)
    lp_jvp, info_j = log_likelihood(plain, sde, x, **opts)
    assert info_j.divergence == "jvp" and info_o.divergence == "oracle"
    assert info_j.n_jvp == 3 * info_j.solver.nfe  # D = 3 jvps per ODE-function call
    assert info_j.nfe == len(calls)  # every score evaluation counted, those inside the jvp included
    assert info_j.nfe == info_j.n_jvp * (1 if be().exact_jvp else 3)
    # autodiff: rounding only; central differences of an affine-in-x score: rounding ~ eps^(2/3) |s| per jvp
    tol = 1e-10 if be().exact_jvp else 1e-9  # measured: 2e-15 (torch), 1.5e-11 (numpy)
    np.testing.assert_allclose(np_(lp_jvp), np_(lp_oracle), rtol=0, atol=tol)
    np.testing.assert_allclose(np_(info_j.z), np_(info_o.z), rtol=0, atol=1e-12 * max(1.0, sde.prior_std))


def test_jvp_divergence_at_tight_tolerance_matches_closed_form():
    """The D-jvp path (autodiff on torch, central differences on numpy / array_api_strict) to 1e-6 nats
    (measured 3e-10 nats at rtol = atol = 1e-10 on numpy; 1e-8 here to keep the test fast)."""
    sde, m, c, g, x = setup("vp", 2, seed=2)
    oracle = g.score_fn(sde)
    log_p, info = log_likelihood(lambda y, t: oracle(y, t), sde, x, eps=EPS, rtol=1e-8, atol=1e-8)
    z_np, logdet_np = np_flow(sde, m, c, np_(x), EPS, sde.T)
    np.testing.assert_allclose(np_(log_p), np_prior_logp(sde, z_np) + logdet_np, rtol=0, atol=1e-6)
    assert info.divergence == "jvp"


@pytest.mark.parametrize("method, order, n_steps", [("euler", 1, 100), ("heun", 2, 50), ("rk4", 4, 20)])
def test_fixed_step_methods_converge_at_their_order(method, order, n_steps):
    """log2(err(n) / err(2n)) within 0.15 of the order (measured 1.03, 2.02, 3.94 on this VP problem)."""
    sde, m, c, g, x = setup("vp", 2, n=3, seed=1)
    z_np, logdet_np = np_flow(sde, m, c, np_(x), 1e-3, sde.T)
    expected = np_prior_logp(sde, z_np) + logdet_np
    errs = []
    for n in (n_steps, 2 * n_steps):
        log_p, info = log_likelihood(g.score_fn(sde), sde, x, eps=1e-3, method=method, n_steps=n)
        errs.append(np.max(np.abs(np_(log_p) - expected)))
        assert info.solver.nfe == n * {"euler": 1, "heun": 2, "rk4": 4}[method]
    assert abs(math.log2(errs[0] / errs[1]) - order) <= 0.15, errs


def test_per_sample_error_norm_and_time_vector():
    sde, m, c, g, x = setup("subvp", 2, n=3, seed=11)
    seen = []

    def score(y, t):
        seen.append(tuple(t.shape))
        return g.score_fn(sde)(y, t)

    log_p, info = log_likelihood(score, sde, x, eps=EPS, rtol=1e-6, atol=1e-6, error_norm="sample")
    z, logdet = g.flow_map(sde, EPS, sde.T, x)
    np.testing.assert_allclose(np_(log_p), np_(sde.prior_logp(z) + logdet), rtol=0, atol=1e-4)
    assert (3,) in seen  # the score got one time per sample


def test_float32_keeps_dtype():
    sde, m, c, g, _ = setup("vp", 2, seed=5)
    x32 = arr(points(2, 3, 5), dtype="float32")
    log_p, info = log_likelihood(g.score_fn(sde), sde, x32, eps=1e-3, rtol=1e-4, atol=1e-4)
    assert log_p.dtype == x32.dtype and info.z.dtype == x32.dtype
    x64 = arr(np_(x32))
    z, logdet = g.flow_map(sde, 1e-3, sde.T, x64)
    np.testing.assert_allclose(np_(log_p), np_(sde.prior_logp(z) + logdet), rtol=0, atol=1e-3)


# ---- 4. encode / decode --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vp", "subvp", "ve"])
def test_decode_encode_is_identity_to_solver_tolerance(name):
    """max |decode(encode(x)) - x| <= 10 tol max(1, |x|) (measured: <= 5.1 tol at 1e-5, 2.4 tol at 1e-7 and 2.3 tol
    at 1e-10), and it shrinks with the tolerance."""
    sde, m, c, g, x = setup(name, 3, n=4, seed=2)
    score = g.score_fn(sde)
    errs = []
    for tol in (1e-5, 1e-8):
        z = encode(score, sde, x, eps=EPS, rtol=tol, atol=tol)
        errs.append(np.max(np.abs(np_(decode(score, sde, z, eps=EPS, rtol=tol, atol=tol)) - np_(x))))
        assert errs[-1] <= 10.0 * tol * max(1.0, np.max(np.abs(np_(x)))), (tol, errs)
    assert errs[0] > 10.0 * errs[1]


@pytest.mark.parametrize("name", ["vp", "ve"])
def test_encode_decode_roundtrip_and_flow_map(name):
    sde, m, c, g, x = setup(name, 3, n=4, seed=2)
    score = g.score_fn(sde)
    z, info = encode(score, sde, x, eps=EPS, rtol=1e-7, atol=1e-7, return_info=True)
    scale = max(1.0, sde.prior_std)
    np.testing.assert_allclose(np_(z), np_(g.flow_map(sde, EPS, sde.T, x)[0]), rtol=0, atol=1e-5 * scale)
    x_back = decode(score, sde, z, eps=EPS, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(np_(x_back), np_(x), rtol=0, atol=1e-5)
    # decode alone against the inverse flow map from an arbitrary latent
    zn = arr(np.random.default_rng(4).standard_normal((2, 3)) * sde.prior_std)
    np.testing.assert_allclose(
        np_(decode(score, sde, zn, eps=EPS, rtol=1e-7, atol=1e-7)),
        np_(g.flow_map(sde, sde.T, EPS, zn)[0]), rtol=0, atol=1e-5,
    )
    assert info.nfe > 0 and z.shape == x.shape and z.dtype == x.dtype


# ---- 5. input validation -------------------------------------------------------------------------------------
def _score_and_x():
    sde, m, c, g, x = setup("vp", 2, n=2, seed=0)
    return sde, g.score_fn(sde), x


@pytest.mark.parametrize("eps", [0.0, -1e-3, 1.0, 2.0, float("nan")])
def test_bad_eps_raises(eps):
    sde, score, x = _score_and_x()
    for fn in (log_likelihood, encode, decode):
        with pytest.raises(ValueError, match="eps"):
            fn(score, sde, x, eps=eps)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(divergence="trace"), "divergence"),
        (dict(divergence="hutchinson", probe="uniform"), "probe"),
        (dict(divergence="hutchinson", n_probes=0), "n_probes"),
        (dict(n_probes=-2), "n_probes"),
        (dict(divergence="hutchinson", n_probes=1.5), "n_probes"),
        (dict(method="rk23"), "method"),
        (dict(error_norm="max"), "error_norm"),
        (dict(n_probes=2), "n_probes"),  # n_probes without divergence="hutchinson"
        (dict(method="rk4"), "n_steps"),
        (dict(n_steps=10), "n_steps"),  # rk45 chooses its own steps
    ],
)
def test_bad_options_raise(kwargs, match):
    sde, score, x = _score_and_x()
    with pytest.raises(ValueError, match=match):
        log_likelihood(score, sde, x, **kwargs)


def test_bad_probes_raise():
    sde, score, x = _score_and_x()
    with pytest.raises(ValueError, match="probes"):
        log_likelihood(score, sde, x, divergence="hutchinson", probes=arr(np.ones((2, 3, 2))))
    with pytest.raises(ValueError, match="n_probes"):
        log_likelihood(score, sde, x, divergence="hutchinson", probes=arr(np.ones((2, 2, 2))), n_probes=3)
    with pytest.raises(ValueError, match="hutchinson"):
        log_likelihood(score, sde, x, probes=arr(np.ones((1, 2, 2))))
    with pytest.raises(ValueError, match="NaN"):
        log_likelihood(score, sde, x, divergence="hutchinson", probes=arr(np.full((1, 2, 2), np.nan)))


def test_bad_score_or_data_raise():
    sde, score, x = _score_and_x()
    xp = be().xp
    with pytest.raises(ValueError, match="shape"):
        log_likelihood(lambda y, t: y[:, :1], sde, x, method="euler", n_steps=2)
    with pytest.raises(ValueError, match="NaN"):
        log_likelihood(lambda y, t: y * float("nan"), sde, x, method="euler", n_steps=2)
    with pytest.raises(ValueError, match="shape"):
        encode(lambda y, t: xp.sum(y, axis=1), sde, x, method="euler", n_steps=2)
    with pytest.raises(ValueError, match="NaN"):
        log_likelihood(score, sde, arr([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="shape"):
        log_likelihood(score, sde, arr(np.zeros((0, 2))))

    class BadDivergence:
        def __call__(self, y, t):
            return score(y, t)

        def divergence(self, y, t):
            return xp.zeros((1,), dtype=y.dtype)

    with pytest.raises(ValueError, match="divergence"):
        log_likelihood(BadDivergence(), sde, x, method="euler", n_steps=2)

    class NaNDivergence(BadDivergence):
        def divergence(self, y, t):
            return xp.zeros((y.shape[0],), dtype=y.dtype) * float("nan")

    with pytest.raises(ValueError, match="NaN"):
        log_likelihood(NaNDivergence(), sde, x, method="euler", n_steps=2)
    for fn in (encode, decode):
        with pytest.raises(ValueError, match="method"):
            fn(score, sde, x, method="midpoint")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy warns about inf - inf in the solver stages
@pytest.mark.parametrize("kw", [dict(), dict(method="rk4", n_steps=8), dict(error_norm="sample")])
@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_score_going_bad_mid_solve_raises(kw, bad):
    """A score that is fine at first and NaN / inf for t > 0.5: the solver's finite check raises ValueError."""
    sde, _, x = _score_and_x()
    xp = be().xp

    def late(y, t):  # a plain score that does not validate its input (the Gaussian oracle would reject NaN x)
        s = -y
        tt = t if t.ndim == 0 else xp.reshape(t, (-1, 1))
        return xp.where(tt > 0.5, xp.full_like(s, float(bad)), s)

    with pytest.raises(ValueError, match="NaN or inf"):
        log_likelihood(late, sde, x, eps=EPS, **kw)
    with pytest.raises(ValueError, match="NaN or inf"):
        encode(late, sde, x, eps=EPS, **kw)


# ---- 6. refsde.testing's independent conformance check accepts it ---------------------------------------------
@pytest.mark.parametrize("name", ["vp", "ve"])
def test_passes_check_log_likelihood(name):
    from refsde.testing.check_likelihood import check_log_likelihood

    sde = SDES[name]()
    check_log_likelihood(lambda score, x: log_likelihood(score, sde, x, eps=1e-3)[0], sde, 1e-3, n=4)


# ---- 7. non-vector samples (n, 2, 3): isotropic data with a hand-written score ---------------------------------
@pytest.mark.parametrize("divergence", ["exact", "hutchinson"])
def test_image_shaped_samples_isotropic_closed_form(divergence):
    """Data N(0, s0^2 I) in shape (2, 3) under VP: p_t = N(0, S_t I), S_t = alpha_t^2 s0^2 + sigma_t^2, score -x / S_t.

    Phi scales x by sqrt(S_T / S_eps) and log|det| = (D/2) log(S_T / S_eps), D = 6.  Rademacher probes give
    v^T (-I / S_t) v = -D / S_t exactly, so the Hutchinson path is exact here too.
    """
    sde, s0, d = refsde.VPSDE(), 2.0, 6
    xp = be().xp

    def variance(t):
        alpha, sigma = sde.marginal_coefficients(t)
        return alpha * alpha * s0**2 + sigma * sigma

    def score(x, t):  # a plain function: the divergence comes from jvps
        v = variance(t)
        return -x / (xp.reshape(v, (-1, 1, 1)) if v.ndim == 1 else v)

    xn = np.random.default_rng(6).standard_normal((3, 2, 3))
    kwargs = dict(divergence="hutchinson", probe="rademacher", n_probes=2, rng=1) if divergence == "hutchinson" else {}
    log_p, info = log_likelihood(score, sde, arr(xn), eps=1e-3, rtol=1e-7, atol=1e-7, **kwargs)
    S_eps, S_T = (float(np_(variance(arr(t)))) for t in (1e-3, sde.T))
    z = xn * math.sqrt(S_T / S_eps)
    expected = -0.5 * np.sum(z * z, axis=(1, 2)) - 0.5 * d * math.log(2 * math.pi) + 0.5 * d * math.log(S_T / S_eps)
    np.testing.assert_allclose(np_(log_p), expected, rtol=0, atol=1e-5)
    assert info.z.shape == (3, 2, 3)


def test_solver_times_are_not_revalidated_per_evaluation():
    # the public coefficient methods check NaN and [0, T] with a host read each; the ODE right-hand sides
    # (likelihood and sample_ode's rk45) must use the unchecked ones at solver times (no sync per call)
    from refsde.sampling import sample_ode

    public_calls = []

    class CountingVP(refsde.VPSDE):
        def drift_coefficient(self, t):
            public_calls.append(t)
            return super().drift_coefficient(t)

        def diffusion_squared(self, t):
            public_calls.append(t)
            return super().diffusion_squared(t)

    sde = CountingVP()
    m, c = gaussian_data(2, 0)
    g = Gaussian(arr(m), arr(c))
    x = arr(points(2, 3, 0))
    plain, _ = log_likelihood(g.score_fn(refsde.VPSDE()), refsde.VPSDE(), x, eps=EPS)
    counted, _ = log_likelihood(g.score_fn(sde), sde, x, eps=EPS)
    sample_ode(g.score_fn(sde), sde, x, eps=EPS, method="rk45")
    assert public_calls == []
    np.testing.assert_array_equal(np_(counted), np_(plain))
