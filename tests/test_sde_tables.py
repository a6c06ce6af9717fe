"""Schedules as users have them: a discrete alphas_cumprod table, EDM's sigma space, sigma-space times, denoisers.

Expectations are written here from the definitions, not from refsde's code:

* ``ScheduleSDE.from_alphas_cumprod``: the table's alpha-bar_i is reproduced exactly at t_i = (i + 1) / N,
  t = 0 is clean data; between nodes log alpha ("log_alpha") or sigma~ = sqrt((1 - abar) / abar) ("sigma")
  is linear in t; f = d log alpha / dt and g^2 = d sigma^2 / dt - 2 f sigma^2 against central differences of
  the interpolant inside a segment; ddpm_betas recovers the betas the table was made from.
* ``ScheduleSDE.edm``: alpha = 1, sigma_t = t, f = 0 and g^2 = 2 t exactly (g^2(0) is exactly 0).
* ``t_from_sigma``: inverts sigma~_t = sigma_t / alpha_t on every SDE; sigma~ = 0 is t = 0.
* denoiser adapters: D(x~, sigma~) = E[x_0 | x_t = alpha x~] against the Gaussian posterior mean written here.
"""

from __future__ import annotations


import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian
from refsde.losses import denoiser_from_score, score_fn_from_denoiser
from refsde.sde import EDMSchedule, ScheduleSDE, TabulatedSchedule

BACKEND = refsde.get_backend()
XP = BACKEND.xp
BETAS = np.linspace(1e-4, 0.02, 1000)  # DDPM's linear betas (Ho et al. 2020)
ABAR = np.cumprod(1.0 - BETAS)


def _np(a) -> np.ndarray:
    return np.asarray(BACKEND.to_numpy(a), dtype=np.float64)


def _arr(a) -> object:
    return BACKEND.asarray(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("interpolation", ["log_alpha", "sigma"])
def test_table_nodes_are_exact_and_zero_is_clean(interpolation: str) -> None:
    sde = ScheduleSDE.from_alphas_cumprod(ABAR, interpolation=interpolation)
    assert isinstance(sde, TabulatedSchedule) and sde.T == 1.0 and sde.prior_std == 1.0
    idx = np.array([0, 1, 17, 500, 998, 999])
    t = (idx + 1) / 1000.0
    alpha, sigma = (_np(a) for a in sde.marginal_coefficients(_arr(t)))
    np.testing.assert_allclose(alpha**2, ABAR[idx], rtol=2e-15)
    np.testing.assert_allclose(sigma**2, 1.0 - ABAR[idx], rtol=1e-12)
    a0, s0 = (float(_np(a)) for a in sde.marginal_coefficients(_arr(0.0)))
    assert a0 == 1.0 and s0 == 0.0
    np.testing.assert_allclose(_np(sde.ddpm_betas()), BETAS, rtol=1e-10)


def test_table_interpolations_between_nodes() -> None:
    t = np.array([0.0005, 0.0123, 0.4567])  # inside segments [0, 1/N], [12/N, 13/N], [456/N, 457/N]
    lo = np.floor(t * 1000).astype(int)  # node index j with t_j = j / N <= t < t_{j+1} (node 0 is t = 0)
    w = t * 1000 - lo
    abar_nodes = np.concatenate([[1.0], ABAR])
    log_a = (1 - w) * 0.5 * np.log(abar_nodes[lo]) + w * 0.5 * np.log(abar_nodes[lo + 1])
    sig_nodes = np.sqrt((1 - abar_nodes) / abar_nodes)
    sig = (1 - w) * sig_nodes[lo] + w * sig_nodes[lo + 1]
    a1, _ = ScheduleSDE.from_alphas_cumprod(ABAR, interpolation="log_alpha").marginal_coefficients(_arr(t))
    np.testing.assert_allclose(_np(a1), np.exp(log_a), rtol=1e-14)
    sde2 = ScheduleSDE.from_alphas_cumprod(ABAR, interpolation="sigma")
    np.testing.assert_allclose(_np(sde2.edm_sigma(_arr(t))), sig, rtol=1e-13)


@pytest.mark.parametrize("interpolation", ["log_alpha", "sigma"])
def test_table_coefficients_are_the_interpolants_derivatives(interpolation: str) -> None:
    sde = ScheduleSDE.from_alphas_cumprod(ABAR, interpolation=interpolation)
    t = np.array([0.0104, 0.3301, 0.8888])  # away from nodes: the interpolant is smooth around each
    h = 1e-7
    a_p, s_p = (_np(a) for a in sde.marginal_coefficients(_arr(t + h)))
    a_m, s_m = (_np(a) for a in sde.marginal_coefficients(_arr(t - h)))
    a, s = (_np(x) for x in sde.marginal_coefficients(_arr(t)))
    f_fd = (np.log(a_p) - np.log(a_m)) / (2 * h)  # f = d log alpha / dt
    g2_fd = (s_p**2 - s_m**2) / (2 * h) - 2 * f_fd * s**2  # g^2 = d sigma^2 / dt - 2 f sigma^2
    np.testing.assert_allclose(_np(sde.drift_coefficient(_arr(t))), f_fd, rtol=1e-6)
    np.testing.assert_allclose(_np(sde.diffusion_squared(_arr(t))), g2_fd, rtol=1e-6)
    if interpolation == "log_alpha":
        # on [j / N, (j + 1) / N] log alpha falls by -log(1 - beta_j) / 2 per 1 / N: g^2 = -2 f = -N log(1 - beta_j)
        j = np.floor(t * 1000).astype(int)
        np.testing.assert_allclose(_np(sde.diffusion_squared(_arr(t))), -1000 * np.log1p(-BETAS[j]), rtol=1e-12)


def test_table_validation_and_domain() -> None:
    with pytest.raises(ValueError, match="non-increasing"):
        ScheduleSDE.from_alphas_cumprod([0.9, 0.95, 0.5])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ScheduleSDE.from_alphas_cumprod([0.9, 0.0])
    with pytest.raises(ValueError, match="one entry per table entry"):
        ScheduleSDE.from_alphas_cumprod([0.9, 0.5], times=[0.5])
    with pytest.raises(ValueError, match="increasing"):
        ScheduleSDE.from_alphas_cumprod([0.9, 0.5], times=[0.5, 0.5])
    with pytest.raises(ValueError, match="interpolation"):
        ScheduleSDE.from_alphas_cumprod([0.9, 0.5], interpolation="cubic")
    with pytest.raises(ValueError, match="not finite"):
        ScheduleSDE.from_alphas_cumprod([0.9, float("nan")])
    sde = ScheduleSDE.from_alphas_cumprod([0.9, 0.5], times=[10.0, 20.0])
    assert sde.T == 20.0
    with pytest.raises(ValueError, match="does not extend"):
        sde._extended_marginal(_arr([25.0]))
    with pytest.raises(ValueError, match="t must lie"):
        sde.sigma(25.0)


def test_edm_schedule_is_exact() -> None:
    sde = ScheduleSDE.edm(80.0)
    assert isinstance(sde, EDMSchedule) and sde.T == 80.0 and sde.prior_std == 80.0
    t = _arr([0.0, 0.002, 1.0, 80.0])
    alpha, sigma = sde.marginal_coefficients(t)
    np.testing.assert_array_equal(_np(alpha), 1.0)
    np.testing.assert_array_equal(_np(sigma), _np(t))
    np.testing.assert_array_equal(_np(sde.drift_coefficient(t)), 0.0)
    np.testing.assert_array_equal(_np(sde.diffusion_squared(t)), 2.0 * _np(t))  # g^2(0) = 0 exactly
    np.testing.assert_allclose(_np(sde.t_from_sigma(_arr([0.002, 14.6, 80.0]))), [0.002, 14.6, 80.0], rtol=1e-14)
    a, s = sde._extended_marginal(_arr([120.0]))  # churn may raise sigma above sigma_max
    assert float(_np(s)[0]) == 120.0


@pytest.mark.parametrize("make", [refsde.VPSDE, refsde.SubVPSDE, refsde.VESDE,
                                  lambda: refsde.VESDE(convention="score_sde"),
                                  lambda: ScheduleSDE.from_alphas_cumprod(ABAR)],
                         ids=["vp", "subvp", "ve", "ve_sd", "table"])
def test_t_from_sigma_inverts_the_edm_noise_level(make) -> None:
    sde = make()
    t = _arr([0.05, 0.3, 0.77, 1.0])
    np.testing.assert_allclose(_np(sde.t_from_sigma(sde.edm_sigma(t))), _np(t), rtol=1e-9)
    alpha, sigma = (_np(a) for a in sde.marginal_coefficients(t))
    np.testing.assert_allclose(_np(sde.edm_sigma(t)), sigma / alpha, rtol=1e-14)
    with pytest.raises(ValueError, match=">= 0"):
        sde.t_from_sigma(_arr([-1.0]))
    with pytest.raises(ValueError):
        sde.t_from_sigma(_arr([1e9]))  # beyond sigma~(T)


def test_t_from_sigma_zero_is_time_zero() -> None:
    for sde in (refsde.VPSDE(), refsde.VESDE(), ScheduleSDE.edm(80.0)):
        assert float(_np(sde.t_from_sigma(_arr([0.0])))[0]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        refsde.VESDE(convention="score_sde").t_from_sigma(_arr([0.001]))  # below sigma_min: not a time


@pytest.mark.parametrize("sde", [refsde.VPSDE(), refsde.VESDE(), ScheduleSDE.edm(80.0)], ids=["vp", "ve", "edm"])
def test_denoiser_adapters(sde) -> None:
    m, c = np.array([0.3, -0.1]), np.array([0.5, 0.2])  # diagonal data covariance
    score = Gaussian(_arr(m), _arr(np.diag(c))).score_fn(sde)
    x_edm = _arr(np.random.default_rng(0).standard_normal((4, 2)) * 3.0)
    t = np.array([0.1, 0.3, 0.6, 0.9]) * sde.T
    alpha, sigma = (_np(a) for a in sde.marginal_coefficients(_arr(t)))
    sig = sigma / alpha
    # E[x0 | x_t] for N(m, diag c): m + c alpha / (alpha^2 c + sigma^2) (x_t - alpha m), x_t = alpha x~
    x_t = alpha[:, None] * _np(x_edm)
    expected = m + (c * alpha[:, None] / (alpha[:, None] ** 2 * c + sigma[:, None] ** 2)) * (x_t - alpha[:, None] * m)
    D = denoiser_from_score(score, sde)
    np.testing.assert_allclose(_np(D(x_edm, _arr(sig))), expected, rtol=1e-9, atol=1e-12)
    back = score_fn_from_denoiser(D, sde)
    x = _arr(x_t)
    np.testing.assert_allclose(_np(back(x, _arr(t))), _np(score(x, _arr(t))), rtol=1e-9, atol=1e-12)
