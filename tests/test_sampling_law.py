"""Statistical tests: the samplers' output law with the exact Gaussian score.

Design (one family of tests, false-alarm rate ALPHA_FAMILY = 1e-6 for the whole module, Bonferroni):

* Linear schemes (Euler-Maruyama, reverse diffusion, ancestral, PC with the annealed Langevin corrector,
  with and without last-step noise / Tweedie denoising): for data N(mu, diag(v)) every update is
  x' = A x + B + C z per coordinate, so the output law is exactly N(m, v) with (m, v) propagated by the
  independent NumPy oracle (tests/test_sampling_oracle.py) from the prior law.  Per coordinate, two
  statistics: the standardized mean (xbar - m) / sqrt(v / N) (exactly N(0, 1)) and the Wilson-Hilferty
  normal approximation of the chi-square statistic sum (x - m)^2 / v ~ chi^2_N.
* The Langevin corrector (step 2 alpha (snr ||z|| / ||s||)^2) is *not* linear, so its output is not
  Gaussian.  For isotropic centred data N(0, v I_d) every update is rotation-equivariant, so the law of
  R = ||x|| follows a scalar Markov chain (x = R u, z = zeta u + z_perp with zeta ~ N(0,1) and
  ||z_perp||^2 ~ chi^2_{d-1}).  The oracle simulates that radial chain with NumPy's own generator
  (a different representation of the same law); the samples' mean of R^2 and of log R^2 are compared
  with it by two-sample (Welch) z statistics (10000 sampler paths, 100000 radial chains).  The radial
  simulator is itself checked against the exact law of a linear scheme (R^2 ~ v chi^2_d).

Sample size: each statistic is tested at level alpha = ALPHA_FAMILY / N_STATS (two-sided, critical value
Z_CRIT ~ 5.7).  To detect a 5% variance error with power 0.99 the chi-square statistic needs
N >= 2 ((Z_CRIT + z_0.99) / 0.05)^2 (~5.2e4); N_SAMPLES rounds that up to a multiple of 1000.  The same
N detects a mean shift of 0.035 standard deviations with power 0.99.  Every linear case also checks that
the same samples reject the law of a sampler whose noise is 5% too large (the test can fail).
n_steps = 25 keeps the discretization error large (the exact discrete law differs from p_eps by up to
~100 standard errors), so the tests compare against the scheme's own law, not the continuous one.
"""

from __future__ import annotations

import math
import zlib
from statistics import NormalDist

import numpy as np
import pytest

import refsde
from refsde.sampling import sample_pc, sample_sde

try:
    from test_sampling_oracle import (
        DATA,
        SPECS,
        Data,
        Update,
        chain_level,
        grid,
        mean_z,
        pc_updates,
        predictor_update,
        propagate_law,
        sde_updates,
        var_z,
        z_two_sided,
    )
except ImportError:  # tests/ as a package
    from .test_sampling_oracle import (  # type: ignore[no-redef]
        DATA,
        SPECS,
        Data,
        Update,
        chain_level,
        grid,
        mean_z,
        pc_updates,
        predictor_update,
        propagate_law,
        sde_updates,
        var_z,
        z_two_sided,
    )

pytestmark = pytest.mark.statistical

BACKEND = refsde.get_backend()
EPS = 1e-3
N_STEPS = 25  # > beta_max T = 20, as the DDPM betas require
SNR = 0.5  # larger than score_sde's 0.16 so that the corrector moves the law by many standard errors

# (id, sde kind, sampler, keyword arguments)
LAW_CASES = [
    *[(f"em-{k}", k, "sde", dict(method="euler_maruyama")) for k in ("vp", "subvp", "ve", "ve_sd")],
    *[(f"rd-{k}", k, "sde", dict(method="reverse_diffusion")) for k in ("vp", "subvp", "ve", "ve_sd")],
    *[(f"anc-{k}", k, "sde", dict(method="ancestral")) for k in ("vp", "ve", "ve_sd")],
    ("em-vp-mean-denoise", "vp", "sde", dict(method="euler_maruyama", last_step_noise=False, denoise=True)),
    *[
        (f"pc-ald-{k}-{o}", k, "pc", dict(predictor="reverse_diffusion", corrector="annealed_langevin", order=o))
        for k in ("vp", "subvp", "ve")
        for o in ("predictor_first", "corrector_first")
    ],
    (
        "pc-em-ald2-ve_sd-mean-denoise",
        "ve_sd",
        "pc",
        dict(predictor="euler_maruyama", corrector="annealed_langevin", n_corrector_steps=2, order="corrector_first",
             last_step_noise=False, denoise=True),
    ),
    (
        "pc-anc-ald-vp-mean",
        "vp",
        "pc",
        dict(predictor="ancestral", corrector="annealed_langevin", order="predictor_first", last_step_noise=False),
    ),
]
RADIAL_CASES = [(k, o) for k in ("vp", "subvp", "ve") for o in ("predictor_first", "corrector_first")]
RADIAL_SELF_CASES = ["vp", "ve"]
D = len(DATA.mu)
N_STATS = 2 * D * len(LAW_CASES) + 2 * len(RADIAL_CASES) + 2 * len(RADIAL_SELF_CASES)
ALPHA_FAMILY = 1e-6
Z_CRIT = z_two_sided(ALPHA_FAMILY / N_STATS)
Z_POWER = NormalDist().inv_cdf(0.99)
N_SAMPLES = int(math.ceil(2.0 * ((Z_CRIT + Z_POWER) / 0.05) ** 2 / 1e3)) * 1_000  # 5% variance error, power 0.99

RADIAL_D = 16  # E[R^-2k] < inf for 2k < d: keeps the Langevin step's heavy tail integrable
RADIAL_DATA = Data(mu=(0.0,) * RADIAL_D, v=(0.5,) * RADIAL_D)
N_RADIAL = 10_000  # sampler paths (each of dimension 16)
M_RADIAL = 100_000  # oracle radial chains


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _oracle_updates(kind: str, sampler: str, kw: dict) -> list[Update]:
    spec = SPECS[kind]
    if sampler == "sde":
        return sde_updates(spec, kw["method"], N_STEPS, EPS, kw.get("last_step_noise", True), kw.get("denoise", False))
    return pc_updates(
        spec,
        kw["predictor"],
        N_STEPS,
        EPS,
        snr=SNR,
        m=kw.get("n_corrector_steps", 1),
        order=kw["order"],
        last_step_noise=kw.get("last_step_noise", True),
        denoise=kw.get("denoise", False),
    )


def _run(kind: str, sampler: str, kw: dict, data: Data, n: int, seed: int) -> np.ndarray:
    spec = SPECS[kind]
    sde = spec.make()
    x_T = sde.prior_sample((n, len(data.mu)), seed, backend=BACKEND)
    score = data.score_fn(spec, BACKEND)
    if sampler == "sde":
        x, _ = sample_sde(score, sde, x_T, N_STEPS, eps=EPS, rng=seed + 1, **kw)
    else:
        x, _ = sample_pc(score, sde, x_T, N_STEPS, eps=EPS, snr=SNR, rng=seed + 1, **kw)
    return np.asarray(BACKEND.to_numpy(x), dtype=np.float64)


def test_sample_size_and_threshold():
    """The stated design: alpha per statistic, critical value and N (printed with -s)."""
    print(f"N_STATS={N_STATS} alpha/stat={ALPHA_FAMILY / N_STATS:.3g} Z_CRIT={Z_CRIT:.3f} N={N_SAMPLES}")
    assert N_SAMPLES >= 2.0 * ((Z_CRIT + Z_POWER) / 0.05) ** 2
    assert 5.0 < Z_CRIT < 6.5


@pytest.mark.parametrize("case", LAW_CASES, ids=[c[0] for c in LAW_CASES])
def test_output_law_matches_exact_discrete_law(case):
    name, kind, sampler, kw = case
    spec = SPECS[kind]
    updates = _oracle_updates(kind, sampler, kw)
    m, v = propagate_law(spec, DATA, updates)
    x = _run(kind, sampler, kw, DATA, N_SAMPLES, _seed(name))
    zm, zv = mean_z(x, m, v), var_z(x, m, v)
    assert np.all(np.abs(zm) < Z_CRIT), f"{name}: mean z {zm} (law mean {m}, sample mean {x.mean(axis=0)})"
    assert np.all(np.abs(zv) < Z_CRIT), f"{name}: variance z {zv} (law var {v}, sample var {x.var(axis=0)})"
    # the same statistics reject a sampler whose every noise term is 5% too large
    wrong = [Update(u.P, u.Q, 1.05 * u.C, u.t_s) for u in updates]
    m_w, v_w = propagate_law(spec, DATA, wrong)
    assert np.max(np.abs(var_z(x, m_w, v_w))) > Z_CRIT, f"{name}: a 5% noise error went undetected"


# ---------------------------------------------------------------------------------------------------
# Langevin corrector: the radial chain
# ---------------------------------------------------------------------------------------------------


def _radial_step(R, A, C, zeta, W):
    """||A x + C z|| for ||x|| = R, z = zeta u + z_perp, ||z_perp||^2 = W."""
    return np.sqrt((A * R + C * zeta) ** 2 + C * C * W)


def _radial_sim(kind: str, order: str | None, m: int, rng: np.random.Generator) -> np.ndarray:
    """R^2 after the PC sampler (reverse diffusion + per-sample Langevin; order None: predictor only)."""
    spec, data, d = SPECS[kind], RADIAL_DATA, RADIAL_D
    v = data.v[0]
    R = np.sqrt(spec.prior_var() * rng.chisquare(d, m))
    ts = grid(spec, N_STEPS, EPS)

    def predictor(R, k):
        u = predictor_update(spec, "reverse_diffusion", ts[k], ts[k] - ts[k + 1], N_STEPS, chain_level(N_STEPS, k))
        S = spec.alpha(u.t_s) ** 2 * v + spec.var(u.t_s)
        return _radial_step(R, u.P - u.Q / S, u.C, rng.standard_normal(m), rng.chisquare(d - 1, m))

    def langevin(R, t, level):
        S = spec.alpha(t) ** 2 * v + spec.var(t)
        zeta, W = rng.standard_normal(m), rng.chisquare(d - 1, m)
        # e = 2 alpha (snr ||z|| / ||s||)^2 with ||s|| = R / S and ||z||^2 = zeta^2 + W
        e = 2.0 * spec.corrector_alpha(level, N_STEPS) * SNR**2 * (zeta**2 + W) * S**2 / R**2
        return _radial_step(R, 1.0 - e / S, np.sqrt(2.0 * e), zeta, W)

    for k in range(N_STEPS):
        i = chain_level(N_STEPS, k)  # the corrector shares step k's level in both orders
        if order == "corrector_first":
            R = langevin(R, ts[k], i)
        R = predictor(R, k)
        if order == "predictor_first":
            R = langevin(R, ts[k + 1], i)
    return R**2


def _welch_z(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))


def _log_chi2_moments(d: int) -> tuple[float, float]:
    """E and Var of log chi^2_d for even d: psi(d/2) + log 2 and psi'(d/2) (digamma, trigamma)."""
    k = d // 2
    psi = sum(1.0 / j for j in range(1, k)) - 0.57721566490153286  # psi(k) = H_{k-1} - gamma
    trigamma = math.pi**2 / 6.0 - sum(1.0 / j**2 for j in range(1, k))  # psi'(k)
    return psi + math.log(2.0), trigamma


@pytest.mark.parametrize("kind", RADIAL_SELF_CASES)
def test_radial_oracle_matches_exact_law_of_a_linear_scheme(kind):
    """Oracle self-check: the radial chain of reverse diffusion alone gives R^2 ~ v chi^2_d with v the
    exact per-coordinate variance (z-tests of the means of R^2 / v and log(R^2 / v) against chi^2_d)."""
    spec = SPECS[kind]
    _, v = propagate_law(spec, RADIAL_DATA, _oracle_updates(kind, "sde", dict(method="reverse_diffusion")))
    r2 = _radial_sim(kind, None, M_RADIAL, np.random.default_rng(_seed("self" + kind))) / v[0]
    d = RADIAL_D
    z1 = (r2.mean() - d) / math.sqrt(2.0 * d / r2.size)  # E chi^2_d = d, Var = 2d
    mean_log, var_log = _log_chi2_moments(d)
    z2 = (np.log(r2).mean() - mean_log) / math.sqrt(var_log / r2.size)
    assert abs(z1) < Z_CRIT and abs(z2) < Z_CRIT, (z1, z2)


@pytest.mark.parametrize("kind,order", RADIAL_CASES)
def test_langevin_pc_law_matches_radial_chain(kind, order):
    """PC (reverse diffusion + Langevin with per-sample norms): E R^2 and E log R^2 of the samples agree
    with the radial chain (Welch z); a 3% error in E R^2 is ~8 standard errors here (power > 0.99)."""
    spec = SPECS[kind]
    sde = spec.make()
    seed = _seed(f"radial-{kind}-{order}")
    x_T = sde.prior_sample((N_RADIAL, RADIAL_D), seed, backend=BACKEND)
    x, info = sample_pc(
        RADIAL_DATA.score_fn(spec, BACKEND), sde, x_T, N_STEPS, eps=EPS, predictor="reverse_diffusion",
        corrector="langevin", snr=SNR, order=order, rng=seed + 1,
    )
    assert info.nfe == 2 * N_STEPS
    r2 = (np.asarray(BACKEND.to_numpy(x)) ** 2).sum(axis=1)
    ref = _radial_sim(kind, order, M_RADIAL, np.random.default_rng(seed + 2))
    z1, z2 = _welch_z(r2, ref), _welch_z(np.log(r2), np.log(ref))
    assert abs(z1) < Z_CRIT and abs(z2) < Z_CRIT, (z1, z2, r2.mean(), ref.mean())
    # the corrector matters: the law without it (exactly Gaussian, E R^2 = d v) is rejected
    _, v = propagate_law(spec, RADIAL_DATA, _oracle_updates(kind, "sde", dict(method="reverse_diffusion")))
    assert abs((r2.mean() - v.sum()) / math.sqrt(r2.var(ddof=1) / r2.size)) > Z_CRIT
