"""check_pf_ode_drift / check_reverse_drift: correct drifts written from the papers' formulas pass (float64 and
float32, both time conventions), each planted slip fails and is named as its own cause, bad inputs are errors.

Independence: the correct candidates here are written from the closed-form schedules by hand (VP beta(t) linear,
VE sigma(t) geometric), not from refsde's coefficients; and one candidate is the time derivative of the Gaussian
flow map, a'_t mu + (x - a_t mu) v'_t / (2 v_t) in eigen-coordinates (v_t = a_t^2 lambda + sigma_t^2), with a' and
v' by central differences of the closed-form marginal: the PF drift is the velocity of the transport map of
p_t, which is a different derivation from f - g^2 s / 2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde import testing as rt
from refsde.testing._cases import gaussian_case
from refsde.testing.check_drift import drift_slips_of

VP = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
VE = refsde.VESDE(sigma_min=0.01, sigma_max=50.0)
SUBVP = refsde.SubVPSDE(beta_min=0.1, beta_max=20.0)


def _np(a):
    return np.asarray(refsde.get_backend().to_numpy(a), dtype=np.float64)


def _coefficients(ref, t):
    """f(t), g(t)^2 written from the papers' schedules (Song et al. 2021, eqs. 9, 11, 12), NumPy float64."""
    t = _np(t)
    if isinstance(ref, refsde.VESDE):
        s = ref.sigma_min * (ref.sigma_max / ref.sigma_min) ** (t / ref.T)
        return 0.0 * t, s * s * 2.0 * math.log(ref.sigma_max / ref.sigma_min) / ref.T
    beta = ref.beta_min + (ref.beta_max - ref.beta_min) * t / ref.T
    if isinstance(ref, refsde.SubVPSDE):
        B = ref.beta_min * t + 0.5 * (ref.beta_max - ref.beta_min) * t * t / ref.T
        return -0.5 * beta, beta * -np.expm1(-2.0 * B)
    return -0.5 * beta, beta


def _by_hand(ref, weight, sign=1.0):
    def drift(score, x, t):
        f, g2 = _coefficients(ref, t)
        xn, s = _np(x), _np(score(x, t))
        out = sign * (f[:, None] * xn - weight * g2[:, None] * s)
        return refsde.get_backend().asarray(out, dtype=x.dtype)

    return drift


@pytest.fixture(params=[VP, VE, SUBVP], ids=["VP", "VE", "subVP"])
def ref(request):
    return request.param


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("time", ["forward", "reversed"])
def test_correct_drifts_pass(ref, dtype, time):
    sign = 1.0 if time == "forward" else -1.0
    rep = rt.check_pf_ode_drift(_by_hand(ref, 0.5, sign), ref, time=time, dtype=dtype)
    assert rep.passed
    rep = rt.check_reverse_drift(_by_hand(ref, 1.0, sign), ref, time=time, dtype=dtype)
    assert rep.passed


def _derivative(fn, t, T):
    """d fn / dt by second-order differences with h = 1e-4 max(t, 1e-3): central inside, one-sided at 0 and T
    (truncation ~ h^2 relative ~ 1e-8 or less, rounding ~ 1e-16 / 1e-4)."""
    h = 1e-4 * np.maximum(t, 1e-3)
    fn_ = fn
    fn = lambda u: fn_(np.clip(u, 0.0, T))
    central = (fn(np.minimum(t + h, T)) - fn(np.maximum(t - h, 0.0))) / (2 * h)
    fwd = (-3 * fn(t) + 4 * fn(t + h) - fn(t + 2 * h)) / (2 * h)
    bwd = (3 * fn(t) - 4 * fn(t - h) + fn(t - 2 * h)) / (2 * h)
    return np.where(t - h < 0, fwd, np.where(t + h > T, bwd, central))


def test_pf_drift_as_flow_velocity_passes(ref):
    """The velocity of the Gaussian transport map, a'_t mu + (x - a_t mu) v'_t / (2 v_t) with v'_t = 2 a a' lambda
    + (sigma_t^2)' by second-order differences of the closed-form marginal, passes at rtol 1e-6 (the
    difference quotients' error is ~1e-8)."""
    case = gaussian_case((3,))
    be = refsde.get_backend()
    alpha = lambda t: _np(ref.marginal_coefficients(be.asarray(t))[0])
    var = lambda t: _np(ref.marginal_coefficients(be.asarray(t))[1]) ** 2

    def velocity(score, x, t):
        tn, y = _np(t), case.to_eigen(_np(x))
        a, da = alpha(tn)[:, None], _derivative(alpha, tn, ref.T)[:, None]
        s2, ds2 = var(tn)[:, None], _derivative(var, tn, ref.T)[:, None]
        lam, mt = case.lam[None, :], case.mt[None, :]
        v, dv = a * a * lam + s2, 2 * a * da * lam + ds2
        vel = da * mt + (y - a * mt) * dv / (2.0 * v)
        return be.asarray(case.to_data(vel), dtype=x.dtype)

    assert rt.check_pf_ode_drift(velocity, ref, rtol=1e-6).passed


def test_refsde_own_drift_passes(ref):
    from refsde.sde.reverse import probability_flow_drift

    assert rt.check_pf_ode_drift(lambda score, x, t: probability_flow_drift(ref, score, x, t), ref).passed
    assert rt.check_reverse_drift(lambda score, x, t: ref.reverse(score).drift(x, t), ref).passed


def _planted(ref, weight, slip):
    """A hand-written drift with one slip (independent of the slip table's own expressions)."""
    w = weight

    def drift(score, x, t):
        tn = _np(t)
        f, g2 = _coefficients(ref, t)
        xn, s = _np(x), _np(score(x, t))
        _, sigma = ref.marginal_coefficients(refsde.get_backend().asarray(tn))
        sigma = _np(sigma)[:, None]
        f, g2 = f[:, None], g2[:, None]
        if slip == "g_for_g2":
            out = f * xn - w * np.sqrt(g2) * s
        elif slip == "g4_for_g2":
            out = f * xn - w * g2 * g2 * s
        elif slip == "score_weight":
            out = f * xn - (1.5 - w) * g2 * s
        elif slip == "score_sign":
            out = f * xn + w * g2 * s
        elif slip == "time_convention":
            out = -(f * xn - w * g2 * s)
        elif slip == "no_drift":
            out = -w * g2 * s
        elif slip == "drift_sign":
            out = -f * xn - w * g2 * s
        elif slip == "eps_as_score":
            out = f * xn - w * g2 * _np(score.eps(x, t))
        elif slip == "score_over_sigma":
            with np.errstate(divide="ignore", invalid="ignore"):
                out = f * xn - w * g2 * (s / -sigma)
        elif slip == "coefficients_at_T_minus_t":
            f2, g22 = _coefficients(ref, refsde.get_backend().asarray(ref.T - tn))
            out = f2[:, None] * xn - w * g22[:, None] * s
        else:  # pragma: no cover
            raise AssertionError(slip)
        return refsde.get_backend().asarray(out, dtype=x.dtype)

    return drift


# slips that are no slip on a given SDE (f = 0 for VE: no drift term to drop or flip)
NO_SLIP = {("VE", "no_drift"), ("VE", "drift_sign")}


@pytest.mark.parametrize("weight", [0.5, 1.0], ids=["pf", "reverse"])
@pytest.mark.parametrize("slip", [s.name for s in drift_slips_of(0.5)])
def test_each_slip_is_named(ref, weight, slip):
    label = {id(VP): "VP", id(VE): "VE", id(SUBVP): "subVP"}[id(ref)]
    check = rt.check_pf_ode_drift if weight == 0.5 else rt.check_reverse_drift
    if (label, slip) in NO_SLIP:
        assert check(_planted(ref, weight, slip), ref).passed
        return
    with pytest.raises(rt.ConformanceError) as info:
        check(_planted(ref, weight, slip), ref)
    text = {s.name: s.text for s in drift_slips_of(weight)}[slip]
    assert text in info.value.cause, info.value.cause
    if label != "VE" or slip not in ("score_sign", "time_convention"):
        assert "indistinguishable" not in info.value.cause, info.value.cause


def test_ve_score_sign_and_time_convention_are_indistinguishable():
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_pf_ode_drift(_planted(VE, 0.5, "score_sign"), VE)
    assert "indistinguishable" in info.value.cause
    assert "time convention" in info.value.cause and "sign flipped" in info.value.cause


def test_bad_inputs():
    good = _by_hand(VP, 0.5)
    with pytest.raises(ValueError, match="time must be one of"):
        rt.check_pf_ode_drift(good, VP, time="backward")
    with pytest.raises(ValueError, match="rtol"):
        rt.check_pf_ode_drift(good, VP, rtol=-1.0)
    with pytest.raises(ValueError, match="atol"):
        rt.check_reverse_drift(good, VP, atol=float("nan"))
    with pytest.raises(TypeError, match="callable"):
        rt.check_pf_ode_drift(None, VP)
    with pytest.raises(ValueError, match="ref must be"):
        rt.check_pf_ode_drift(good, None)
    with pytest.raises(rt.ConformanceError, match="shape"):
        rt.check_pf_ode_drift(lambda s, x, t: x[:, :2], VP)
    with pytest.raises(rt.ConformanceError, match="raised under this reference"):
        rt.check_pf_ode_drift(lambda s, x, t: 1 / 0, VP)
    with pytest.raises(rt.ConformanceError, match="got: +nan"):
        rt.check_pf_ode_drift(lambda s, x, t: x * float("nan"), VP)
