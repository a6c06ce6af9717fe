"""Tests of EDM's Heun sampler (Karras et al. 2022, Algs. 1-2) on every refsde SDE.

The oracle here works in EDM variables only: noise level sig = sigma_t / alpha_t from the closed forms
of tests/test_sampling_oracle.py at t = T and t = eps, the rho grid (EDM eq. 5) written here, state
y = x / alpha_t and, for data N(mu, diag(v)), the exact denoiser D(y; sig) = mu + v (y - mu) / (v + sig^2)
(the posterior mean of x_0 given y = x_0 + sig n).  It never converts a noise level back to a time, so
it checks refsde's time mapping t = t_lambda(-2 log sig) and its score-to-denoiser conversion too.

* Path by path: churn = 0 (Alg. 1, Heun on every step since the last point is sig(eps) > 0) and churn > 0
  with explicit noise (Alg. 2: gamma = min(S_churn / n_steps, sqrt(2) - 1) for s_tmin <= sig <= s_tmax,
  capped so that (1 + gamma) sig <= sig(T)), all four SDE kinds.
* Convergence order against the exact flow map, n = 40 -> 80 on the rho grid (rho = 7): measured
  VP 2.035, sub-VP 2.041, VE 2.031, VE score_sde 2.028; correlated data (refsde.gaussian, d = 3) on VP,
  VE and a cosine ScheduleSDE: 2.034, 2.030, 2.018.  Asserted within 0.1 of 2.
* Churn law: linear-Gaussian recursion, exact output law propagated here per coordinate; family level
  ALPHA_FAMILY = 1e-6 with Bonferroni; N_SAMPLES detects a 5% variance error with power 0.999 and
  the same samples must reject the 5%-wider law and the churn-free law.
"""

from __future__ import annotations

import math
import zlib
from statistics import NormalDist

import numpy as np
import pytest

import refsde
from refsde.sampling import sample_edm_heun
from refsde.sampling.grids import rho_sigmas

try:
    from test_sampling_oracle import DATA, SPECS, Spec, mean_z, var_z, z_two_sided
except ImportError:  # tests/ as a package
    from .test_sampling_oracle import DATA, SPECS, Spec, mean_z, var_z, z_two_sided  # type: ignore[no-redef]

BACKEND = refsde.get_backend()
XP = BACKEND.xp
EPS = 1e-3
KINDS = ["vp", "subvp", "ve", "ve_sd"]
X_UNIT = np.array([[0.3, -2.0], [1.5, 0.7], [-1.0, 1.0], [0.0, 0.0], [2.5, -0.4]])


# ---------------------------------------------------------------------------------------------------
# Independent oracle in EDM variables
# ---------------------------------------------------------------------------------------------------


def edm_sig(spec: Spec, t: float) -> float:
    return math.sqrt(spec.var(t)) / spec.alpha(t)


def rho_grid_np(spec: Spec, n: int, rho: float) -> np.ndarray:
    """sig_i = (sig_max^(1/rho) + i/n (sig_min^(1/rho) - sig_max^(1/rho)))^rho, i = 0..n."""
    smax, smin = edm_sig(spec, spec.T), edm_sig(spec, EPS)
    i = np.arange(n + 1)
    out = (smax ** (1 / rho) + i / n * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    out[0], out[-1] = smax, smin
    return out


def denoiser(y, sig):
    return DATA.mu_np + DATA.v_np * (y - DATA.mu_np) / (DATA.v_np + sig * sig)


def edm_step_np(sig, k, n, y, zk, rho=7.0, churn=0.0, s_tmin=0.0, s_tmax=math.inf, s_noise=1.0):
    """Step k of EDM Alg. 2 (Alg. 1 when churn = 0) in (y, sig) on the grid ``sig``; zk: its noise."""
    gamma = min(churn / n, math.sqrt(2) - 1) if s_tmin <= sig[k] <= s_tmax else 0.0
    gamma = min(gamma, sig[0] / sig[k] - 1.0)  # the documented cap (1 + gamma) sig_k <= sig(T)
    sh = sig[k] * (1 + gamma)
    y = y + math.sqrt(sh**2 - sig[k] ** 2) * s_noise * zk
    d = (y - denoiser(y, sh)) / sh
    y_next = y + (sig[k + 1] - sh) * d
    d2 = (y_next - denoiser(y_next, sig[k + 1])) / sig[k + 1]
    return y + (sig[k + 1] - sh) * 0.5 * (d + d2)


def edm_np(spec: Spec, x_T, n, z=None, **kw):
    """The sampler's output from x_T: y = x_T / alpha_T, n steps, x = alpha_eps y."""
    sig = rho_grid_np(spec, n, kw.get("rho", 7.0))
    y = x_T / spec.alpha(spec.T)
    for k in range(n):
        y = edm_step_np(sig, k, n, y, 0.0 if z is None else z[k], **kw)
    return spec.alpha(EPS) * y


def edm_law_np(spec: Spec, n: int, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Exact (mean, variance) per coordinate of the output from x_T ~ N(0, prior_var I): every step is
    y' = A y + B + C z, read off the affine step at y, z in {0, 1}; m' = A m + B, v' = A^2 v + C^2."""
    d = len(DATA.mu)
    sig = rho_grid_np(spec, n, kw.get("rho", 7.0))
    m, v = np.zeros(d), np.full(d, spec.prior_var() / spec.alpha(spec.T) ** 2)
    for k in range(n):
        B = edm_step_np(sig, k, n, np.zeros(d), 0.0, **kw)
        A = edm_step_np(sig, k, n, np.ones(d), 0.0, **kw) - B
        C = edm_step_np(sig, k, n, np.zeros(d), 1.0, **kw) - B
        m, v = A * m + B, A * A * v + C * C
    a = spec.alpha(EPS)
    return a * m, a * a * v


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def _x_T(kind: str) -> np.ndarray:
    return X_UNIT * math.sqrt(SPECS[kind].prior_var())


def _np(a) -> np.ndarray:
    return np.asarray(BACKEND.to_numpy(a), dtype=np.float64)


def _arr(a, dtype=None):
    return BACKEND.asarray(np.asarray(a), dtype=dtype or XP.float64)


def _run(kind: str, n: int, x_np: np.ndarray, score=None, **kw):
    spec = SPECS[kind]
    score = score or DATA.score_fn(spec, BACKEND)
    x, info = sample_edm_heun(score, spec.make(), _arr(x_np), n, eps=EPS, **kw)
    return _np(x), info


# ---------------------------------------------------------------------------------------------------
# Grid
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [7.0, 1.0, 3.0])
@pytest.mark.parametrize("kind", KINDS)
def test_rho_grid_endpoints_monotone_and_eq5(kind, rho):
    spec = SPECS[kind]
    n = 12
    calls = []
    inner = DATA.score_fn(spec, BACKEND)

    def score(x, t):
        calls.append(float(t))
        return inner(x, t)

    _, info = _run(kind, n, _x_T(kind), score=score, rho=rho)
    t = _np(info.grid)
    assert t.shape == (n + 1,) and t[0] == spec.T and t[-1] == EPS and np.all(np.diff(t) < 0)
    sig = np.array([edm_sig(spec, float(ti)) for ti in t])
    np.testing.assert_allclose(sig, rho_grid_np(spec, n, rho), rtol=1e-9)
    # Heun on every step: the score sees t_k then t_{k+1}
    np.testing.assert_allclose(calls, np.repeat(t, 2)[1:-1], rtol=1e-12)
    assert info.nfe == 2 * n and info.method == "edm_heun"


def test_rho_sigmas_helper():
    s = rho_sigmas(80.0, 0.002, 18, 7.0)
    i = np.arange(19)
    expected = (80.0 ** (1 / 7) + i / 18 * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7  # EDM eq. 5, N = 19
    np.testing.assert_allclose(s, expected, rtol=1e-13)
    assert s[0] == 80.0 and s[-1] == 0.002
    np.testing.assert_allclose(rho_sigmas(2.0, 1.0, 4, 1.0), [2.0, 1.75, 1.5, 1.25, 1.0])
    for bad in [dict(rho=0.0), dict(rho=-1.0), dict(rho=float("nan"))]:
        with pytest.raises(ValueError):
            rho_sigmas(80.0, 0.002, 18, **bad)
    with pytest.raises(ValueError):
        rho_sigmas(1.0, 2.0, 4, 7.0)


# ---------------------------------------------------------------------------------------------------
# Path by path
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_heun_matches_oracle_path_by_path(kind):
    spec = SPECS[kind]
    x_np = _x_T(kind)
    x, info = _run(kind, 13, x_np)
    expected = edm_np(spec, x_np, 13)
    np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    assert info.nfe == 26


CHURN_CASES = [
    dict(churn=10.0),
    dict(churn=2.0, s_tmin=0.05, s_tmax=5.0, s_noise=1.007),
    dict(churn=100.0, rho=3.0),  # gamma = sqrt(2) - 1 everywhere (then capped near T)
]


@pytest.mark.parametrize("cfg", CHURN_CASES, ids=["churn10", "window", "max-gamma"])
@pytest.mark.parametrize("kind", KINDS)
def test_churn_matches_oracle_with_explicit_noise(kind, cfg):
    spec = SPECS[kind]
    n = 11
    x_np = _x_T(kind)
    z = np.random.default_rng(zlib.crc32(f"{kind}{cfg}".encode())).standard_normal((n,) + x_np.shape)
    x, info = _run(kind, n, x_np, noise=_arr(z), **cfg)
    expected = edm_np(spec, x_np, n, z=z, **cfg)
    np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    assert info.nfe == 2 * n
    assert np.abs(x - edm_np(spec, x_np, n, rho=cfg.get("rho", 7.0))).max() > 1e-3 * np.abs(expected).max()


def test_churn_stays_within_0_T_and_zero_churn_uses_no_randomness():
    spec = SPECS["ve"]
    times = []
    inner = DATA.score_fn(spec, BACKEND)

    def score(x, t):
        times.append(float(t))
        return inner(x, t)

    _run("ve", 6, _x_T("ve"), score=score, churn=1000.0, rng=0)
    assert min(times) >= EPS and max(times) <= spec.T and times[0] == spec.T  # step 0 never churns
    a, _ = _run("ve", 6, _x_T("ve"), rng=1)
    b, _ = _run("ve", 6, _x_T("ve"), rng=2)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------------
# Convergence order
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_heun_order_two_against_exact_flow_map(kind):
    spec = SPECS[kind]
    x_np = _x_T(kind)
    exact = DATA.flow_map(spec, spec.T, EPS, x_np)
    errs = [np.abs(_run(kind, n, x_np)[0] - exact).max() for n in (40, 80)]
    measured = math.log2(errs[0] / errs[1])
    assert abs(measured - 2.0) < 0.1, (errs, measured)
    assert errs[1] > 1e-10 * np.abs(exact).max()


def _cosine_sde() -> refsde.ScheduleSDE:
    from array_api_compat import array_namespace

    # alpha = cos(theta), sigma = sin(theta), theta = 0.05 + 1.45 t in (0, pi/2)
    return refsde.ScheduleSDE(
        alpha=lambda t: array_namespace(t).cos(0.05 + 1.45 * t),
        sigma=lambda t: array_namespace(t).sin(0.05 + 1.45 * t),
        name="cosine",
    )


@pytest.mark.parametrize("kind", ["vp", "ve", "cosine"])
def test_heun_order_two_full_covariance(kind):
    from refsde.gaussian import Gaussian

    sde = _cosine_sde() if kind == "cosine" else SPECS[kind].make()
    mean = np.array([0.5, -1.0, 0.2])
    cov = np.array([[1.0, 0.6, 0.1], [0.6, 2.0, -0.3], [0.1, -0.3, 0.5]])
    g = Gaussian(_arr(mean), _arr(cov))
    x_T = _arr(np.random.default_rng(0).standard_normal((4, 3)) * sde.prior_std)
    exact = _np(g.flow_map(sde, sde.T, EPS, x_T)[0])
    errs = [np.abs(_np(sample_edm_heun(g.score_fn(sde), sde, x_T, n, eps=EPS)[0]) - exact).max() for n in (40, 80)]
    assert abs(math.log2(errs[0] / errs[1]) - 2.0) < 0.1, errs


# ---------------------------------------------------------------------------------------------------
# dtype and errors
# ---------------------------------------------------------------------------------------------------


def test_float32_is_kept():
    x_np = _x_T("vp")
    spec = SPECS["vp"]
    x32, info = sample_edm_heun(DATA.score_fn(spec, BACKEND), spec.make(), _arr(x_np, XP.float32), 20, eps=EPS)
    assert x32.dtype == XP.float32 and info.grid.dtype == XP.float32
    x64, _ = _run("vp", 20, x_np)
    np.testing.assert_allclose(_np(x32), x64, rtol=0, atol=1e-4 * np.abs(x64).max())
    xc, _ = sample_edm_heun(DATA.score_fn(spec, BACKEND), spec.make(), _arr(x_np, XP.float32), 5, churn=3.0, rng=0)
    assert xc.dtype == XP.float32


@pytest.mark.parametrize(
    "kw",
    [
        dict(eps=0.0),
        dict(eps=1.0),
        dict(eps=-1.0),
        dict(n=0),
        dict(rho=0.0),
        dict(rho=-7.0),
        dict(rho=float("inf")),
        dict(churn=-1.0),
        dict(churn=float("nan")),
        dict(s_noise=-1.0),
        dict(s_tmin=-1.0),
        dict(s_tmin=2.0, s_tmax=1.0),
        dict(s_tmax=float("nan")),
        dict(churn=1.0, rng=0, noise=np.zeros((5, 5, 2))),
        dict(churn=1.0, noise=np.zeros((4, 5, 2))),
        dict(score=lambda x, t: x[:, :1]),
        dict(score=lambda x, t: x * float("nan")),
        dict(x=np.array([[float("nan"), 0.0]])),
    ],
    ids=["eps0", "eps=T", "eps<0", "n0", "rho0", "rho<0", "rho-inf", "churn<0", "churn-nan", "s_noise<0",
         "s_tmin<0", "tmin>tmax", "tmax-nan", "rng+noise", "noise-shape", "score-shape", "score-nan", "x-nan"],
)
def test_bad_inputs_raise(kw):
    spec = SPECS["vp"]
    kw = dict(kw)
    score = kw.pop("score", DATA.score_fn(spec, BACKEND))
    x = _arr(kw.pop("x", _x_T("vp")))
    n = kw.pop("n", 5)
    if "noise" in kw:
        kw["noise"] = _arr(kw["noise"])
    with pytest.raises(ValueError):
        sample_edm_heun(score, spec.make(), x, n, **kw)


# ---------------------------------------------------------------------------------------------------
# Churn: the output law (statistical)
# ---------------------------------------------------------------------------------------------------

LAW_CASES = [
    ("vp", dict(churn=10.0)),
    ("subvp", dict(churn=3.0, s_tmin=0.05, s_tmax=20.0)),
    ("ve", dict(churn=10.0, s_tmin=0.05, s_tmax=10.0, s_noise=1.007)),
    ("ve_sd", dict(churn=40.0, rho=3.0)),
]
LAW_STEPS = 10
D = len(DATA.mu)
N_STATS = 2 * D * len(LAW_CASES)
ALPHA_FAMILY = 1e-6
Z_CRIT = z_two_sided(ALPHA_FAMILY / N_STATS)
Z_POWER = NormalDist().inv_cdf(0.999)
N_SAMPLES = int(math.ceil(2.0 * ((Z_CRIT + Z_POWER) / 0.05) ** 2 / 1e3)) * 1_000  # 5% variance error, power 0.999


def test_law_design():
    print(f"N_STATS={N_STATS} alpha/stat={ALPHA_FAMILY / N_STATS:.3g} Z_CRIT={Z_CRIT:.3f} N={N_SAMPLES}")
    assert N_SAMPLES >= 2.0 * ((Z_CRIT + Z_POWER) / 0.05) ** 2
    assert 5.0 < Z_CRIT < 6.5


def test_law_oracle_matches_path_oracle():
    """Self-check of the moment propagation: with z = 0 the law mean is the path of the mean."""
    spec = SPECS["vp"]
    cfg = LAW_CASES[0][1]
    m, _ = edm_law_np(spec, LAW_STEPS, **cfg)
    x0 = edm_np(spec, np.zeros((1, D)), LAW_STEPS, z=np.zeros((LAW_STEPS, 1, D)), **cfg)[0]
    np.testing.assert_allclose(m, x0, rtol=1e-12, atol=1e-14)


@pytest.mark.statistical
@pytest.mark.parametrize("kind,cfg", LAW_CASES, ids=[c[0] for c in LAW_CASES])
def test_churn_output_law(kind, cfg):
    spec = SPECS[kind]
    sde = spec.make()
    seed = zlib.crc32(f"edm-law-{kind}".encode())
    x_T = sde.prior_sample((N_SAMPLES, D), seed, backend=BACKEND)
    x, info = sample_edm_heun(DATA.score_fn(spec, BACKEND), sde, x_T, LAW_STEPS, eps=EPS, rng=seed + 1, **cfg)
    assert info.nfe == 2 * LAW_STEPS
    x = _np(x)
    m, v = edm_law_np(spec, LAW_STEPS, **cfg)
    zm, zv = mean_z(x, m, v), var_z(x, m, v)
    assert np.all(np.abs(zm) < Z_CRIT), f"mean z {zm} (law mean {m}, sample mean {x.mean(axis=0)})"
    assert np.all(np.abs(zv) < Z_CRIT), f"variance z {zv} (law var {v}, sample var {x.var(axis=0)})"
    assert np.max(np.abs(var_z(x, m, 1.05 * v))) > Z_CRIT  # power: a 5% wider law is rejected
    m0, v0 = edm_law_np(spec, LAW_STEPS, rho=cfg.get("rho", 7.0))  # and churn matters
    assert max(np.max(np.abs(mean_z(x, m0, v0))), np.max(np.abs(var_z(x, m0, v0)))) > Z_CRIT
