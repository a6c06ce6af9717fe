"""Input handling: shapes, time arguments, dtype and namespace preservation, input errors, reverse()."""

from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import array_namespace

from refsde import ReverseSDE, ScheduleSDE, SubVPSDE, VESDE, VPSDE

pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")

SDES = {
    "vp": lambda: VPSDE(),
    "subvp": lambda: SubVPSDE(beta_min=0.2, beta_max=10.0, T=2.0),
    "ve-exact": lambda: VESDE(),
    "ve-score_sde": lambda: VESDE(sigma_min=0.05, sigma_max=10.0, T=0.5, convention="score_sde"),
    "schedule": lambda: ScheduleSDE(
        alpha=lambda t: array_namespace(t).exp(-t),
        sigma=lambda t: array_namespace(t).sqrt(-array_namespace(t).expm1(-2 * t)),
    ),
}
X_SHAPES = [(3,), (3, 2), (3, 2, 4, 5)]
T_FORMS = ["float", "0d", "n", "1"]


def closed_form(name, sde, t):
    """(alpha, sigma, f, g2) at float t, written out per SDE (not read from refsde)."""
    if name in ("vp", "subvp"):
        b0, b1, T = sde.beta_min, sde.beta_max, sde.T
        beta, B = b0 + (b1 - b0) * t / T, b0 * t + (b1 - b0) * t * t / (2 * T)
        if name == "vp":
            return math.exp(-B / 2), math.sqrt(-math.expm1(-B)), -beta / 2, beta
        return math.exp(-B / 2), -math.expm1(-B), -beta / 2, -beta * math.expm1(-2 * B)
    if name == "schedule":  # alpha = e^-t, sigma^2 = 1 - e^-2t: the VP SDE with beta = 2
        return math.exp(-t), math.sqrt(-math.expm1(-2 * t)), -1.0, 2.0
    smin, smax, T = sde.sigma_min, sde.sigma_max, sde.T
    L = math.log(smax / smin)
    s2 = smin**2 * math.exp(2 * L * t / T)
    std = math.sqrt(s2 - smin**2) if sde.exact else math.sqrt(s2)
    return 1.0, std, 0.0, 2 * L / T * s2


def make_t(form, ts, asarray, dtype="float64"):
    """t in one of the accepted forms, from a NumPy vector ts of the batch's times."""
    if form == "float":
        return float(ts[0])
    if form == "0d":
        return asarray(ts[0], dtype=dtype)
    if form == "1":
        return asarray(ts[:1], dtype=dtype)
    return asarray(ts, dtype=dtype)


def per_sample(form, ts):
    return np.full(len(ts), ts[0]) if form in ("float", "0d", "1") else ts


@pytest.mark.parametrize("name", list(SDES))
@pytest.mark.parametrize("shape", X_SHAPES, ids=str)
@pytest.mark.parametrize("form", T_FORMS)
def test_shapes_and_values(name, shape, form, asarray, to_numpy, backend):
    sde = SDES[name]()
    gen = np.random.default_rng(1)
    x_np = gen.normal(size=shape)
    noise_np = gen.normal(size=shape)
    ts = np.array([0.1, 0.5, 0.9]) * sde.T
    x, t = asarray(x_np), make_t(form, ts, asarray)
    cf = np.array([closed_form(name, sde, s) for s in per_sample(form, ts)])  # (n, 4)
    bshape = (shape[0],) + (1,) * (len(shape) - 1)
    alpha, sigma, f, g2 = (cf[:, k].reshape(bshape) for k in range(4))
    rtol = 1e-8 if name == "schedule" else 1e-12  # schedule: finite-difference derivatives

    mean, std = sde.marginal(x, t)
    assert tuple(mean.shape) == shape and backend.owns(mean) and backend.owns(std)
    expected_std_shape = {"float": (), "0d": (), "1": (1,) * len(shape), "n": bshape}[form]
    assert tuple(std.shape) == expected_std_shape
    np.testing.assert_allclose(to_numpy(mean), alpha * x_np, rtol=1e-12)
    np.testing.assert_allclose(np.broadcast_to(to_numpy(std), shape), np.broadcast_to(sigma, shape), rtol=1e-12)

    xt = sde.perturb(x, t, asarray(noise_np))
    np.testing.assert_allclose(to_numpy(xt), alpha * x_np + sigma * noise_np, rtol=1e-12, atol=1e-14)

    drift = sde.drift(x, t)
    assert tuple(drift.shape) == shape
    np.testing.assert_allclose(to_numpy(drift), f * x_np, rtol=rtol, atol=1e-300)
    drift2, diff = sde.sde(x, t)
    np.testing.assert_allclose(to_numpy(drift2), to_numpy(drift), rtol=1e-15)
    t_shape = {"float": (), "0d": (), "1": (1,), "n": (shape[0],)}[form]
    assert tuple(diff.shape) == t_shape
    np.testing.assert_allclose(to_numpy(diff), np.sqrt(cf[: (1 if form != "n" else 3), 3]).reshape(t_shape), rtol=rtol)

    fi, Gi = sde.discretize(x, t)
    assert tuple(fi.shape) == shape and tuple(Gi.shape) == t_shape


@pytest.mark.parametrize("name", list(SDES))
@pytest.mark.parametrize(
    "method", ["alpha", "sigma", "log_alpha", "log_snr", "drift_coefficient", "diffusion", "diffusion_squared"]
)
def test_time_functions_keep_shape(name, method, asarray, backend):
    sde = SDES[name]()
    fn = getattr(sde, method)
    for t, shape in ((0.3 * sde.T, ()), (asarray(0.3 * sde.T), ()), (asarray([0.1, 0.2, 0.3]) * sde.T, (3,))):
        out = fn(t)
        assert tuple(out.shape) == shape and backend.owns(out)


@pytest.mark.parametrize("name", list(SDES))
def test_float32_in_float32_out(name, asarray, dtype_name, xp):
    sde = SDES[name]()
    x = asarray(np.ones((4, 3)), dtype="float32")
    for t in (0.3 * sde.T, asarray(0.3 * sde.T, dtype="float32"), asarray([0.3 * sde.T] * 4, dtype="float64")):
        mean, std = sde.marginal(x, t)  # a float64 t is cast to x's dtype
        outs = [mean, std, sde.drift(x, t), *sde.sde(x, t), *sde.discretize(x, t)]
        outs.append(sde.perturb(x, t, x))
        rev = sde.reverse(lambda y, s: -y)
        outs += [rev.drift(x, t), *rev.discretize(x, t)]
        for out in outs:
            assert dtype_name(out) == "float32"
            assert array_namespace(out) is array_namespace(x)
    t32 = asarray([0.1, 0.2], dtype="float32")
    for method in ("alpha", "sigma", "log_snr", "drift_coefficient", "diffusion", "diffusion_squared"):
        assert dtype_name(getattr(sde, method)(t32)) == "float32"
    assert dtype_name(sde.t_from_log_snr(sde.log_snr(t32))) == "float32"
    assert dtype_name(sde.prior_logp(x)) == "float32"
    # float64 in, float64 out
    x64 = asarray(np.ones((4, 3)))
    assert dtype_name(sde.marginal(x64, 0.3 * sde.T)[0]) == "float64"
    assert dtype_name(sde.sigma(asarray([0.1]))) == "float64"


@pytest.mark.parametrize("name", list(SDES))
def test_integer_t_array_is_accepted_as_float(name, asarray, to_numpy, dtype_name):
    sde = SDES[name]()
    t_int = asarray([0, 0], dtype="int64")
    out = sde.sigma(t_int)
    assert dtype_name(out) in ("float32", "float64")
    np.testing.assert_allclose(to_numpy(out), to_numpy(sde.sigma(asarray([0.0, 0.0]))), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", list(SDES))
def test_invalid_t_raises_value_error(name, asarray):
    sde = SDES[name]()
    T = sde.T
    x = asarray(np.ones((3, 2)))
    bad = [
        -1e-3,
        T * 1.001,
        float("nan"),
        asarray(-0.1),
        asarray([0.1, 0.2, T + 0.5]),
        asarray([0.1, float("nan"), 0.2]),
        asarray(np.full((3, 1), 0.1)),  # 2-D t
        asarray([0.1, 0.2]),  # batch mismatch (x has 3 rows)
    ]
    for t in bad:
        for call in (
            lambda: sde.marginal(x, t),
            lambda: sde.drift(x, t),
            lambda: sde.sde(x, t),
            lambda: sde.perturb(x, t, x),
            lambda: sde.discretize(x, t),
            lambda: sde.reverse(lambda y, s: -y).drift(x, t),
        ):
            with pytest.raises(ValueError):
                call()
    for t in bad[:7]:
        with pytest.raises(ValueError):
            sde.sigma(t)
        with pytest.raises(ValueError):
            sde.diffusion(t)
    with pytest.raises(ValueError):  # (n,)-shaped t needs a batch dimension in x
        sde.marginal(asarray(1.0), asarray([0.1, 0.2]))
    with pytest.raises(ValueError, match="noise shape"):
        sde.perturb(x, 0.1 * T, asarray(np.ones((3, 3))))


@pytest.mark.parametrize("name", list(SDES))
def test_non_float_x_raises_type_error(name, asarray):
    sde = SDES[name]()
    x_int = asarray(np.ones((3, 2), dtype=np.int64), dtype="int64")
    for call in (
        lambda: sde.marginal(x_int, 0.1),
        lambda: sde.drift(x_int, 0.1),
        lambda: sde.sde(x_int, 0.1),
        lambda: sde.discretize(x_int, 0.1),
        lambda: sde.prior_logp(x_int),
    ):
        with pytest.raises(TypeError, match="floating"):
            call()
    with pytest.raises(TypeError):
        sde.marginal(1.0, 0.1)  # x must be an array
    with pytest.raises(TypeError):
        sde.marginal([[1.0, 2.0]], 0.1)
    with pytest.raises(TypeError):
        sde.sigma([0.1, 0.2])  # a list is not an array


# ---------------------------------------------------------------------------------------------------
# reverse()
# ---------------------------------------------------------------------------------------------------
def _score(xp):
    """A nonlinear test score s(x, t) = -x + sin(x) (1 + t), t broadcast per sample."""

    def score(x, t):
        tt = t if t.ndim == 0 else xp.reshape(t, (t.shape[0],) + (1,) * (x.ndim - 1))
        return -x + xp.sin(x) * (1.0 + tt)

    return score


@pytest.mark.parametrize("name", list(SDES))
@pytest.mark.parametrize("form", ["float", "n"])
def test_reverse_sde_and_probability_flow(name, form, asarray, to_numpy, xp):
    sde = SDES[name]()
    x_np = np.random.default_rng(2).normal(size=(3, 2, 2))
    ts = np.array([0.2, 0.6, 1.0]) * sde.T
    x, t = asarray(x_np), make_t(form, ts, asarray)
    tv = per_sample(form, ts).reshape(3, 1, 1)
    cf = np.array([closed_form(name, sde, s) for s in per_sample(form, ts)])
    f, g2 = cf[:, 2].reshape(3, 1, 1), cf[:, 3].reshape(3, 1, 1)
    s = -x_np + np.sin(x_np) * (1.0 + tv)
    rtol = 1e-8 if name == "schedule" else 1e-12

    rev = sde.reverse(_score(xp))
    assert isinstance(rev, ReverseSDE) and rev.T == sde.T and not rev.probability_flow
    np.testing.assert_allclose(to_numpy(rev.drift(x, t)), f * x_np - g2 * s, rtol=rtol)
    g = np.sqrt(cf[:, 3]) if form == "n" else np.sqrt(cf[0, 3])
    np.testing.assert_allclose(to_numpy(rev.diffusion(t)), g, rtol=rtol)
    d, gg = rev.sde_coefficients(x, t)
    np.testing.assert_allclose(to_numpy(d), to_numpy(rev.drift(x, t)), rtol=1e-15)
    np.testing.assert_allclose(to_numpy(gg), g, rtol=rtol)

    ode = sde.reverse(_score(xp), probability_flow=True)
    assert ode.probability_flow
    np.testing.assert_allclose(to_numpy(ode.drift(x, t)), f * x_np - 0.5 * g2 * s, rtol=rtol)
    np.testing.assert_array_equal(to_numpy(ode.diffusion(t)), np.zeros_like(g))

    # discrete reverse chain: (f_i - c G_i^2 score, G_i or 0) on top of the forward discretization
    fi, Gi = (to_numpy(a) for a in sde.discretize(x, t))
    Gb = np.asarray(Gi).reshape(-1, 1, 1) if form == "n" else Gi
    rf, rG = rev.discretize(x, t)
    np.testing.assert_allclose(to_numpy(rf), fi - Gb**2 * s, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(to_numpy(rG), Gi, rtol=1e-15)
    of, oG = ode.discretize(x, t)
    np.testing.assert_allclose(to_numpy(of), fi - 0.5 * Gb**2 * s, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(to_numpy(oG), np.zeros_like(Gi))


def test_reverse_rejects_bad_scores(asarray, xp):
    sde = VPSDE()
    x = asarray(np.ones((3, 2)))
    with pytest.raises(TypeError):
        sde.reverse("not callable")
    wrong_shape = sde.reverse(lambda y, t: y[:, :1])
    nan_score = sde.reverse(lambda y, t: y * float("nan"))
    for rev in (wrong_shape, nan_score):
        with pytest.raises(ValueError):
            rev.drift(x, 0.5)
        with pytest.raises(ValueError):
            rev.discretize(x, 0.5)
    with pytest.raises(ValueError, match="shape"):
        wrong_shape.drift(x, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        sde.reverse(lambda y, t: y * float("nan"), probability_flow=True).drift(x, 0.5)


def test_reverse_score_from_other_library_is_type_error(backend):
    other = "numpy" if backend.name != "numpy" else None
    if other is None:
        pytest.importorskip("array_api_strict", reason="array_api_strict is not installed")
        import array_api_strict

        wrong = lambda y, t: array_api_strict.asarray(np.zeros((3, 2)))  # noqa: E731
    else:
        wrong = lambda y, t: np.zeros((3, 2))  # noqa: E731
    x = backend.asarray(np.ones((3, 2)))
    with pytest.raises(TypeError, match="two backends"):
        VPSDE().reverse(wrong).drift(x, 0.5)
