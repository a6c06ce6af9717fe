"""SDE constructors, coefficients against independent closed forms, identities, limits, log-SNR, prior.

The reference values are derived here from the SDE definitions (Song et al. 2021) and evaluated in
50-digit decimal arithmetic, so they share no code and no rounding with refsde:

* linear schedule beta(t) = b0 + (b1 - b0) t / T, so B(t) = int_0^t beta = b0 t + (b1 - b0) t^2 / (2 T)
  (checked against scipy quadrature below);
* VP:     alpha = exp(-B/2), sigma^2 = 1 - exp(-B), f = -beta/2, g^2 = beta;
* sub-VP: alpha = exp(-B/2), sigma = 1 - exp(-B), f = -beta/2, g^2 = beta (1 - exp(-2B));
* VE:     s(t) = s_min (s_max/s_min)^(t/T), alpha = 1, f = 0, g^2 = d s^2/dt = 2 log(s_max/s_min)/T s^2,
          std = sqrt(s^2 - s_min^2) ("exact") or s ("score_sde");
* log-SNR lambda = log(alpha^2 / sigma^2).
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refsde
from refsde import SubVPSDE, VESDE, VPSDE

# lambda_0 = log(1/0) = +inf for VP, sub-VP and exact VE: NumPy warns about log(0) at t = 0, by design.
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
from refsde.sde import VE_CONVENTIONS

# (id, kind, constructor kwargs); the kinds are "vp", "subvp", "ve_exact", "ve_score_sde"
CASES = [
    ("vp", "vp", {}),
    ("vp-T2.5", "vp", {"beta_min": 0.5, "beta_max": 7.0, "T": 2.5}),
    ("subvp", "subvp", {}),
    ("subvp-T0.5", "subvp", {"beta_min": 0.2, "beta_max": 12.0, "T": 0.5}),
    ("ve-exact", "ve_exact", {}),
    ("ve-exact-T3", "ve_exact", {"sigma_min": 0.1, "sigma_max": 20.0, "T": 3.0}),
    ("ve-score_sde", "ve_score_sde", {}),
    ("ve-score_sde-T3", "ve_score_sde", {"sigma_min": 0.1, "sigma_max": 20.0, "T": 3.0}),
]
IDS = [c[0] for c in CASES]
DEFAULTS = {
    "vp": {"beta_min": 0.1, "beta_max": 20.0, "T": 1.0},
    "subvp": {"beta_min": 0.1, "beta_max": 20.0, "T": 1.0},
    "ve_exact": {"sigma_min": 0.01, "sigma_max": 50.0, "T": 1.0},
    "ve_score_sde": {"sigma_min": 0.01, "sigma_max": 50.0, "T": 1.0},
}


def make(kind, params):
    if kind == "vp":
        return VPSDE(**params)
    if kind == "subvp":
        return SubVPSDE(**params)
    return VESDE(**params, convention=kind[3:])


def full_params(kind, params):
    return {**DEFAULTS[kind], **params}


def reference(kind, params, t):
    """Closed forms at float t in 50-digit decimal arithmetic: dict of floats."""
    p = full_params(kind, params)
    with localcontext() as ctx:
        ctx.prec = 50
        t, T = Decimal(float(t)), Decimal(p["T"])
        if kind in ("vp", "subvp"):
            b0, b1 = Decimal(p["beta_min"]), Decimal(p["beta_max"])
            beta = b0 + (b1 - b0) * t / T
            B = b0 * t + (b1 - b0) * t * t / (2 * T)
            alpha = (-B / 2).exp()
            one_minus = 1 - (-B).exp()
            if kind == "vp":
                var, g2 = one_minus, beta
            else:
                var, g2 = one_minus * one_minus, beta * (1 - (-2 * B).exp())
            f = -beta / 2
            if t == 0:
                dlam = None
            elif kind == "vp":  # lambda = -log(e^B - 1)
                dlam = -beta / one_minus
            else:  # lambda = -B - 2 log(1 - e^-B)
                dlam = -beta * (1 + (-B).exp()) / one_minus
        else:
            smin, smax = Decimal(p["sigma_min"]), Decimal(p["sigma_max"])
            r = (smax / smin).ln()
            s2 = smin * smin * (2 * r * t / T).exp()
            alpha, f, g2 = Decimal(1), Decimal(0), 2 * r / T * s2
            if kind == "ve_exact":
                var = s2 - smin * smin
                dlam = -(2 * r / T) * s2 / var if t > 0 else None
            else:
                var = s2
                dlam = -2 * r / T
        lam = (alpha * alpha / var).ln() if var > 0 else Decimal("Infinity")
        out = {
            "alpha": float(alpha),
            "sigma": float(var.sqrt()),
            "f": float(f),
            "g2": float(g2),
            "log_snr": float(lam),
            "dlog_snr_dt": None if dlam is None else float(dlam),
        }
        if kind in ("vp", "subvp"):
            out["beta"], out["B"] = float(beta), float(B)
        return out


def t_grid(T):
    return np.array([0.0, 1e-9, 1e-4, 0.1, 0.37, 0.8, 1.0]) * T


# ---------------------------------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------------------------------
def test_defaults():
    vp, sub, ve = VPSDE(), SubVPSDE(), VESDE()
    for sde in (vp, sub):
        assert (sde.beta_min, sde.beta_max, sde.T) == (0.1, 20.0, 1.0)
    assert (ve.sigma_min, ve.sigma_max, ve.T) == (0.01, 50.0, 1.0)
    assert ve.convention == "exact" and ve.exact
    assert VE_CONVENTIONS == ("exact", "score_sde")
    assert not VESDE(convention="score_sde").exact
    assert "beta_max=20.0" in repr(vp) and "convention='exact'" in repr(ve)


NAN, INF = float("nan"), float("inf")
INVALID = [
    (VPSDE, {"beta_min": -0.1}),
    (VPSDE, {"beta_min": 0.0}),
    (VPSDE, {"beta_max": 0.0}),
    (VPSDE, {"beta_max": -1.0}),
    (VPSDE, {"beta_min": 5.0, "beta_max": 5.0}),
    (VPSDE, {"beta_min": 10.0, "beta_max": 1.0}),
    (VPSDE, {"T": 0.0}),
    (VPSDE, {"T": -1.0}),
    (VPSDE, {"T": NAN}),
    (VPSDE, {"T": INF}),
    (VPSDE, {"beta_min": NAN}),
    (VPSDE, {"beta_max": NAN}),
    (VPSDE, {"beta_max": INF}),
    (VPSDE, {"N": 1}),
    (VPSDE, {"N": 10.5}),
    (SubVPSDE, {"beta_min": -1.0}),
    (SubVPSDE, {"beta_min": 3.0, "beta_max": 2.0}),
    (SubVPSDE, {"T": 0.0}),
    (SubVPSDE, {"beta_max": NAN}),
    (VESDE, {"sigma_min": 0.0}),
    (VESDE, {"sigma_min": -0.01}),
    (VESDE, {"sigma_max": -50.0}),
    (VESDE, {"sigma_min": 50.0, "sigma_max": 50.0}),
    (VESDE, {"sigma_min": 60.0, "sigma_max": 50.0}),
    (VESDE, {"sigma_min": NAN}),
    (VESDE, {"sigma_max": NAN}),
    (VESDE, {"sigma_max": INF}),
    (VESDE, {"T": 0.0}),
    (VESDE, {"T": -2.0}),
    (VESDE, {"T": NAN}),
    (VESDE, {"convention": "bogus"}),
    (VESDE, {"convention": "Exact"}),
]


@pytest.mark.parametrize("cls,kwargs", INVALID, ids=[f"{c.__name__}-{k}" for c, k in INVALID])
def test_invalid_parameters(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_unknown_convention_message_lists_the_valid_ones():
    with pytest.raises(ValueError, match="score_sde"):
        VESDE(convention="ncsn")


# ---------------------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------------------
def _compare(actual, expected, rtol=1e-12, atol=0.0):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
def test_coefficients_match_closed_forms(kind, params, asarray, to_numpy):
    sde = make(kind, params)
    T = full_params(kind, params)["T"]
    ts = t_grid(T)
    ref = {k: np.array([reference(kind, params, t)[k] for t in ts]) for k in ("alpha", "sigma", "f", "g2", "log_snr")}
    t = asarray(ts)
    _compare(to_numpy(sde.alpha(t)), ref["alpha"])
    _compare(to_numpy(sde.log_alpha(t)), np.log(ref["alpha"]), atol=1e-15)
    _compare(to_numpy(sde.sigma(t)), ref["sigma"])
    a, s = sde.marginal_coefficients(t)
    _compare(to_numpy(a), ref["alpha"])
    _compare(to_numpy(s), ref["sigma"])
    _compare(to_numpy(sde.drift_coefficient(t)), ref["f"])
    _compare(to_numpy(sde.diffusion_squared(t)), ref["g2"])
    _compare(to_numpy(sde.diffusion(t)), np.sqrt(ref["g2"]))
    # lambda crosses 0 inside [0, T]: relative there, absolute near the crossing; +inf at t = 0 (sigma = 0)
    _compare(to_numpy(sde.log_snr(t)), ref["log_snr"], atol=1e-12)
    # Python-float t gives the same numbers
    for i in (1, 4, 6):
        _compare(float(to_numpy(sde.sigma(float(ts[i])))), ref["sigma"][i])
        _compare(float(to_numpy(sde.diffusion(float(ts[i])))), math.sqrt(ref["g2"][i]))
    if kind in ("vp", "subvp"):
        _compare(to_numpy(sde.beta(t)), [reference(kind, params, x)["beta"] for x in ts])
        _compare(to_numpy(sde.integrated_beta(t)), [reference(kind, params, x)["B"] for x in ts])
    else:
        p = full_params(kind, params)
        _compare(to_numpy(sde.noise_level(t)), p["sigma_min"] * (p["sigma_max"] / p["sigma_min"]) ** (ts / T))


@pytest.mark.parametrize("params", [{}, {"beta_min": 0.5, "beta_max": 7.0, "T": 2.5}])
def test_integrated_beta_is_the_integral_of_beta(params, to_numpy):
    quad = pytest.importorskip("scipy.integrate", reason="scipy is not installed").quad
    sde = VPSDE(**params)
    for t in np.array([1e-6, 0.3, 0.9, 1.0]) * sde.T:
        integral, _ = quad(lambda u: float(to_numpy(sde.beta(float(u)))), 0.0, t, epsabs=0, epsrel=1e-13)
        assert float(to_numpy(sde.integrated_beta(float(t)))) == pytest.approx(integral, rel=1e-12)


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
def test_prior_std(kind, params):
    p = full_params(kind, params)
    sde = make(kind, params)
    expected = {
        "vp": 1.0,
        "subvp": 1.0,
        "ve_exact": math.sqrt(p.get("sigma_max", 0) ** 2 - p.get("sigma_min", 0) ** 2),
        "ve_score_sde": p.get("sigma_max"),
    }[kind]
    assert sde.prior_std == pytest.approx(expected, rel=1e-14)


# ---------------------------------------------------------------------------------------------------
# identities (hypothesis over t)
# ---------------------------------------------------------------------------------------------------
@given(t=st.floats(min_value=0.0, max_value=1.0))
def test_vp_alpha2_plus_sigma2_is_one(t, asarray, to_numpy):
    a, s = (to_numpy(v) for v in VPSDE().marginal_coefficients(asarray(t)))
    assert abs(a * a + s * s - 1.0) <= 4 * np.finfo(np.float64).eps


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
@given(u=st.floats(min_value=0.01, max_value=0.99))
def test_variance_ode_and_log_alpha_derivative(kind, params, u, asarray, to_numpy):
    """d sigma_t^2/dt = 2 f(t) sigma_t^2 + g(t)^2 and d log alpha_t/dt = f(t), by central differences.

    The central difference with h = 1e-5 T has truncation error h^2/6 |y'''| <= 5e-9 relative here and
    rounding error ~ eps/h ~ 2e-11, so rtol 1e-6 is loose for a correct g^2 but fails for any O(1) error.
    """
    sde = make(kind, params)
    T = sde.T
    t, h = u * T, 1e-5 * T
    ts = asarray([t - h, t, t + h])
    var = to_numpy(sde.sigma(ts)) ** 2
    log_alpha = to_numpy(sde.log_alpha(ts))
    f = float(to_numpy(sde.drift_coefficient(ts))[1])
    g2 = float(to_numpy(sde.diffusion_squared(ts))[1])
    dvar = (var[2] - var[0]) / (2 * h)
    rhs = 2 * f * var[1] + g2
    assert dvar == pytest.approx(rhs, rel=1e-6)
    dlog_alpha = (log_alpha[2] - log_alpha[0]) / (2 * h)
    assert dlog_alpha == pytest.approx(f, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
@given(us=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=12))
def test_std_increases_and_log_snr_decreases(kind, params, us, asarray, to_numpy):
    sde = make(kind, params)
    ts = np.sort(np.asarray(us)) * sde.T
    std = to_numpy(sde.sigma(asarray(ts)))
    lam = to_numpy(sde.log_snr(asarray(ts)))
    dt, dstd = np.diff(ts), np.diff(std)
    with np.errstate(invalid="ignore"):  # lambda = +inf at t = 0 (sigma = 0): inf - inf
        dlam = np.diff(lam)
    assert np.all(dstd >= 0) and np.all(dlam[np.isfinite(dlam)] <= 0)
    apart = dt > 1e-6 * sde.T
    assert np.all(dstd[apart] > 0) and np.all(dlam[apart] < 0)


# ---------------------------------------------------------------------------------------------------
# limits
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
def test_limits(kind, params, to_numpy):
    p = full_params(kind, params)
    sde = make(kind, params)
    T = p["T"]
    val = lambda a: float(to_numpy(a))  # noqa: E731
    assert val(sde.alpha(0.0)) == 1.0
    if kind == "ve_score_sde":
        assert val(sde.sigma(0.0)) == pytest.approx(p["sigma_min"], rel=1e-15)
        assert val(sde.log_snr(0.0)) == pytest.approx(-2 * math.log(p["sigma_min"]), rel=1e-14)
    else:
        assert val(sde.sigma(0.0)) == 0.0
        assert val(sde.log_snr(0.0)) == math.inf
    # leading-order behaviour as t -> 0 (derived from the series of exp / expm1)
    t = 1e-10 * T
    if kind == "vp":
        assert val(sde.sigma(t)) == pytest.approx(math.sqrt(p["beta_min"] * t), rel=1e-6)
    elif kind == "subvp":
        assert val(sde.sigma(t)) == pytest.approx(p["beta_min"] * t, rel=1e-6)
    elif kind == "ve_exact":
        L = math.log(p["sigma_max"] / p["sigma_min"])
        assert val(sde.sigma(t)) == pytest.approx(p["sigma_min"] * math.sqrt(2 * L * t / T), rel=1e-6)
    # t -> T: B(T) = T (b0 + b1) / 2 (trapezoid is exact for a linear beta); VE noise level is s_max
    if kind in ("vp", "subvp"):
        BT = T * (p["beta_min"] + p["beta_max"]) / 2
        assert val(sde.alpha(T)) == pytest.approx(math.exp(-BT / 2), rel=1e-13)
        expected = math.sqrt(1 - math.exp(-BT)) if kind == "vp" else 1 - math.exp(-BT)
        assert val(sde.sigma(T)) == pytest.approx(expected, rel=1e-13)
        expected_g2 = p["beta_max"] * (1.0 if kind == "vp" else 1 - math.exp(-2 * BT))
        assert val(sde.diffusion_squared(T)) == pytest.approx(expected_g2, rel=1e-13)
    else:
        smin, smax = p["sigma_min"], p["sigma_max"]
        expected = math.sqrt(smax**2 - smin**2) if kind == "ve_exact" else smax
        assert val(sde.sigma(T)) == pytest.approx(expected, rel=1e-13)
        assert val(sde.diffusion_squared(T)) == pytest.approx(2 * math.log(smax / smin) / T * smax**2, rel=1e-13)
        assert val(sde.alpha(T)) == 1.0


# ---------------------------------------------------------------------------------------------------
# log-SNR inverse
# ---------------------------------------------------------------------------------------------------
EPS64 = float(np.finfo(np.float64).eps)


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
@given(u=st.one_of(st.sampled_from([1e-9, 1e-6, 1.0]), st.floats(min_value=1e-9, max_value=1.0)))
def test_log_snr_round_trip_from_t(kind, params, u, asarray, to_numpy):
    """t -> lambda -> t.  Tolerance: 1e-12 relative plus the conditioning of the inverse,
    64 eps (1 + |lambda|) / |d lambda/dt| with d lambda/dt from the closed form."""
    sde = make(kind, params)
    t = u * sde.T
    lam = sde.log_snr(asarray(t))
    back = float(to_numpy(sde.t_from_log_snr(lam)))
    ref = reference(kind, params, t)
    tol = 1e-12 * t + 64 * EPS64 * (1 + abs(ref["log_snr"])) / abs(ref["dlog_snr_dt"])
    assert abs(back - t) <= tol, (back, t, tol)


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
@given(w=st.floats(min_value=0.0, max_value=1.0))
def test_log_snr_round_trip_from_lambda(kind, params, w, asarray, to_numpy):
    """lambda -> t -> lambda for lambda in [lambda_T, lambda(1e-9 T)]."""
    sde = make(kind, params)
    T = sde.T
    lam_hi, lam_lo = reference(kind, params, 1e-9 * T)["log_snr"], reference(kind, params, T)["log_snr"]
    lam = lam_lo + w * (lam_hi - lam_lo)
    t = float(to_numpy(sde.t_from_log_snr(asarray(lam))))
    assert 0.0 <= t <= T
    ref = reference(kind, params, t)
    back = float(to_numpy(sde.log_snr(t)))
    tol = 64 * EPS64 * (1 + abs(lam)) + 8 * EPS64 * t * abs(ref["dlog_snr_dt"])
    assert abs(back - lam) <= tol, (back, lam, tol)
    assert ref["log_snr"] == pytest.approx(lam, rel=1e-9, abs=1e-9)  # and the t found is the true inverse


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
def test_log_snr_inverse_endpoints_and_scalars(kind, params, asarray, to_numpy):
    sde = make(kind, params)
    T = sde.T
    ts = asarray([0.0, T])
    back = to_numpy(sde.t_from_log_snr(sde.log_snr(ts)))
    np.testing.assert_allclose(back, [0.0, T], rtol=1e-12, atol=1e-12 * T)
    # a Python float lambda (lambda = 0 lies inside the range of every case here)
    t0 = float(to_numpy(sde.t_from_log_snr(0.0)))
    assert float(to_numpy(sde.log_snr(t0))) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
@pytest.mark.parametrize("u", [1e-3, 0.5, 1.0])
def test_log_snr_inverse_float32(kind, params, u, asarray, to_numpy, dtype_name):
    """float32 lambda_T used to be rejected as out of range (inverse = T (1 + 7 eps))."""
    sde = make(kind, params)
    t = asarray(u * sde.T, dtype="float32")
    back = sde.t_from_log_snr(sde.log_snr(t))
    assert dtype_name(back) == "float32"
    assert float(to_numpy(back)) == pytest.approx(u * sde.T, rel=2e-5)


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
def test_log_snr_inverse_rejects_out_of_range(kind, params, asarray):
    sde = make(kind, params)
    lam_T = reference(kind, params, sde.T)["log_snr"]
    with pytest.raises(ValueError, match="outside"):
        sde.t_from_log_snr(asarray([0.0, lam_T - 1.0]))
    with pytest.raises(ValueError, match="outside"):
        sde.t_from_log_snr(lam_T - 1.0)
    with pytest.raises(ValueError, match="NaN"):
        sde.t_from_log_snr(asarray([0.0, float("nan")]))
    if kind == "ve_score_sde":
        lam_0 = -2 * math.log(full_params(kind, params)["sigma_min"])
        with pytest.raises(ValueError, match="outside"):
            sde.t_from_log_snr(lam_0 + 1.0)


# ---------------------------------------------------------------------------------------------------
# prior
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES], ids=IDS)
@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4, 5)])
def test_prior_logp_is_gaussian_logpdf_summed(kind, params, shape, asarray, to_numpy):
    norm = pytest.importorskip("scipy.stats", reason="scipy is not installed").norm
    sde = make(kind, params)
    z = np.random.default_rng(11).normal(size=shape) * 3.0
    expected = norm(loc=0.0, scale=sde.prior_std).logpdf(z)
    expected = expected.reshape(shape[0], -1).sum(axis=1)
    out = sde.prior_logp(asarray(z))
    assert tuple(out.shape) == (shape[0],)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12)


def test_prior_logp_rejects_bad_input(asarray):
    sde = VPSDE()
    with pytest.raises(ValueError):
        sde.prior_logp(asarray(1.0))
    with pytest.raises(TypeError):
        sde.prior_logp(asarray([1, 2], dtype="int64"))
    with pytest.raises(TypeError):
        sde.prior_logp([1.0, 2.0])


@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES[::2]], ids=IDS[::2])
def test_prior_sample_shape_dtype_seed(kind, params, backend, xp, to_numpy):
    sde = make(kind, params)
    with refsde.use_backend(backend):
        z = sde.prior_sample((3, 2, 4), 42)
        assert backend.owns(z) and tuple(z.shape) == (3, 2, 4) and z.dtype == backend.default_dtype
        assert sde.prior_sample((5,), 0, dtype=xp.float32).dtype == xp.float32
        np.testing.assert_array_equal(to_numpy(z), to_numpy(sde.prior_sample((3, 2, 4), 42)))
        assert not np.array_equal(to_numpy(z), to_numpy(sde.prior_sample((3, 2, 4), 43)))
        rng = refsde.make_rng(42)
        first = to_numpy(sde.prior_sample((3, 2, 4), rng))
        np.testing.assert_array_equal(first, to_numpy(z))  # an int seed and a fresh RNG agree
        assert not np.array_equal(first, to_numpy(sde.prior_sample((3, 2, 4), rng)))  # the RNG advances
        # prior_sample is prior_std times a standard normal draw of the same stream
        np.testing.assert_allclose(
            to_numpy(z), sde.prior_std * to_numpy(refsde.make_rng(42).normal((3, 2, 4))), rtol=1e-15
        )


@pytest.mark.statistical
@pytest.mark.parametrize("kind,params", [c[1:] for c in CASES[::2]], ids=IDS[::2])
def test_prior_sample_std(kind, params, backend, to_numpy):
    """Sample variance of 40000 draws within 5 standard errors (sqrt(2/n)) of prior_std^2
    (false-alarm rate 6e-7 per case for a random seed; the seed is fixed)."""
    sde = make(kind, params)
    n = 40_000
    z = to_numpy(sde.prior_sample((n,), 123, backend=backend))
    assert abs(z.var() / sde.prior_std**2 - 1.0) < 5 * math.sqrt(2.0 / n)
    assert abs(z.mean()) / sde.prior_std < 5 / math.sqrt(n)
