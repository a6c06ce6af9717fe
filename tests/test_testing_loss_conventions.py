"""The loss checks on the candidate's own conventions: check_dsm_loss's reduction and t range, check_ddpm_loss and
check_smld_loss (the discrete objectives) with their timestep conventions, and the named causes of a failure.

Candidates are written here from the papers (Ho et al. 2020 eq. 14; Song & Ermon 2019 eq. 2; Song et al. 2021 eq.
7) in NumPy, with their own generators (fixed seeds): outcomes are fixed; each check's false-alarm rate is 1e-6.
The DDPM chain is written from its definition (abar_i = prod (1 - beta_j), beta_j = beta(t_j) T / N at
t_j = j T / (N - 1)), not from refsde's tables.
"""

from __future__ import annotations

import numpy as np
import pytest

import refsde
from refsde import testing as rt

VP = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
VE = refsde.VESDE(sigma_min=0.01, sigma_max=50.0)
VE_SCORE_SDE = refsde.VESDE(sigma_min=0.01, sigma_max=50.0, convention="score_sde")


def _np(a):
    return np.asarray(refsde.get_backend().to_numpy(a), dtype=np.float64)


def _as(x0, a):
    return refsde.get_backend().asarray(a, dtype=x0.dtype)


def _chain(N=1000):
    t = np.arange(N) * (1.0 / (N - 1))
    beta = (0.1 + 19.9 * t) / N
    return t, np.cumprod(1.0 - beta)


def ddpm_candidate(*, N=1000, reduction="sum", timesteps="index", no_sqrt=False, target="eps", high=None, seed=3):
    t_levels, abar = _chain(N)
    rng = np.random.default_rng(seed)

    def loss(eps_model, x0):
        xn = _np(x0)
        n = xn.shape[0]
        i = rng.integers(0, N if high is None else high, n)
        z = rng.standard_normal(xn.shape)
        a = abar[np.minimum(i, N - 1)][:, None]
        x = (a * xn + (1 - a) * z) if no_sqrt else (np.sqrt(a) * xn + np.sqrt(1 - a) * z)
        step = {"index": i, "time": t_levels[np.minimum(i, N - 1)],
                "sigma": np.sqrt((1 - abar) / abar)[np.minimum(i, N - 1)]}[timesteps]
        e = _np(eps_model(_as(x0, x), _as(x0, step) if timesteps != "index" else step))
        err = (e - (z if target == "eps" else xn)) ** 2
        per = {"sum": err.sum(axis=1), "mean": err.mean(axis=1), "half_sum": 0.5 * err.sum(axis=1)}[reduction]
        return float(per.mean())

    return loss


def smld_candidate(ref, *, N=1000, reduction="sum", timesteps="index", seed=4):
    sig_min, sig_max = ref.sigma_min, ref.sigma_max
    t_levels = np.arange(N) / (N - 1)
    sigma = sig_min * (sig_max / sig_min) ** t_levels
    if ref.exact:  # q(x_t | x_0) of the exact VE SDE: sigma(t)^2 - sigma_min^2
        sigma = np.sqrt(sigma ** 2 - sig_min ** 2)
    low = 1 if ref.exact else 0
    rng = np.random.default_rng(seed)

    def loss(score_model, x0):
        xn = _np(x0)
        i = rng.integers(low, N, xn.shape[0])
        z = rng.standard_normal(xn.shape)
        s = sigma[i][:, None]
        step = {"index": i, "time": t_levels[i], "sigma": sigma[i]}[timesteps]
        out = _np(score_model(_as(x0, xn + s * z), _as(x0, step) if timesteps != "index" else step))
        err = (s * out + z) ** 2
        per = {"sum": err.sum(axis=1), "mean": err.mean(axis=1), "half_sum": 0.5 * err.sum(axis=1)}[reduction]
        return float(per.mean())

    return loss


@pytest.mark.parametrize("timesteps", ["index", "time", "sigma"])
@pytest.mark.parametrize("reduction", ["sum", "mean", "half_sum"])
def test_correct_ddpm_losses_pass(timesteps, reduction):
    rep = rt.check_ddpm_loss(ddpm_candidate(reduction=reduction, timesteps=timesteps), VP, timesteps=timesteps,
                             reduction=reduction)
    assert rep.passed


@pytest.mark.parametrize("ref", [VE, VE_SCORE_SDE], ids=["exact", "score_sde"])
@pytest.mark.parametrize("timesteps", ["index", "sigma"])
def test_correct_smld_losses_pass(ref, timesteps):
    assert rt.check_smld_loss(smld_candidate(ref, timesteps=timesteps), ref, timesteps=timesteps).passed


@pytest.mark.slow
def test_refsde_losses_pass_their_checks():
    from refsde.backends import backend_of
    from refsde.losses import ddpm_loss, smld_loss

    def wrap(fn, ref):
        state = {}

        def loss(model, x0):
            return fn(model, ref, x0, rng=state.setdefault("g", refsde.make_rng(11, backend_of(x0))))

        return loss

    assert rt.check_ddpm_loss(wrap(ddpm_loss, VP), VP, timesteps="time").passed
    assert rt.check_smld_loss(wrap(smld_loss, VE), VE, timesteps="time").passed


def test_table_reference_is_the_contract():
    """A reference from an alphas_cumprod table: the chain is the table's (no betas re-derived)."""
    N = 50
    _, abar = _chain(N)
    ref = refsde.ScheduleSDE.from_alphas_cumprod(abar)
    rng = np.random.default_rng(0)

    def loss(eps_model, x0):
        xn = _np(x0)
        i = rng.integers(0, N, xn.shape[0])
        z = rng.standard_normal(xn.shape)
        x = np.sqrt(abar[i])[:, None] * xn + np.sqrt(1 - abar[i])[:, None] * z
        return float(np.mean(np.sum((_np(eps_model(_as(x0, x), i)) - z) ** 2, axis=1)))

    assert rt.check_ddpm_loss(loss, ref).passed


def test_wrong_reduction_is_named():
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_ddpm_loss(ddpm_candidate(reduction="mean"), VP)  # declared "sum" by default
    assert "likely cause: reduction 'mean'" in info.value.cause, info.value.cause
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_smld_loss(smld_candidate(VE, reduction="half_sum"), VE)
    assert "likely cause: reduction 'half_sum'" in info.value.cause, info.value.cause


@pytest.mark.parametrize("bug, prop", [
    ({"no_sqrt": True}, "DDPM loss expectation (exact score)"),
    ({"target": "x0"}, "DDPM loss expectation (exact score)"),
    ({"high": 1001}, "DDPM loss: level range"),  # i ~ U{0, ..., N}: index N is no level
])
def test_ddpm_bugs_are_caught(bug, prop):
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_ddpm_loss(ddpm_candidate(**bug), VP)
    assert info.value.property == prop


def test_timestep_convention_mismatch_is_an_error():
    with pytest.raises(rt.ConformanceError, match="integer level index"):
        rt.check_ddpm_loss(ddpm_candidate(timesteps="time"), VP, timesteps="index")
    with pytest.raises(rt.ConformanceError, match="between levels"):
        rt.check_ddpm_loss(ddpm_candidate(timesteps="sigma"), VP, timesteps="time")


@pytest.mark.slow
def test_dsm_reduction_and_t_range():
    """check_dsm_loss with a mean-over-dimensions candidate drawing t ~ U(eps, 0.5)."""
    from refsde.backends import backend_of
    from refsde.losses import dsm_loss

    state = {}

    def loss(score_fn, x0, t_max=0.5, eps=1e-5):
        gen = state.setdefault("g", refsde.make_rng(5, backend_of(x0)))
        t = eps + (t_max - eps) * gen.uniform((x0.shape[0],), dtype=x0.dtype)
        return dsm_loss(score_fn, VP, x0, t=t, rng=gen) / x0.shape[1]

    assert rt.check_dsm_loss(loss, VP, reduction="mean", t_max=0.5).passed
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_dsm_loss(loss, VP, reduction="mean")  # declared t ~ U(eps, T): its times stay below 0.5 ...
    assert info.value.property.startswith("DSM loss expectation")  # ... and its expectation is another's
    state.clear()
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_dsm_loss(loss, VP, reduction="sum", t_max=0.5)
    assert "likely cause: reduction 'mean'" in info.value.cause, info.value.cause


def test_dsm_weighting_and_target_sign_are_named():
    from refsde.backends import backend_of
    from refsde.losses import dsm_loss

    state = {}

    def likelihood_weighted(score_fn, x0):
        gen = state.setdefault("g", refsde.make_rng(6, backend_of(x0)))
        return dsm_loss(score_fn, VP, x0, weighting="likelihood", rng=gen, eps=1e-3)

    with pytest.raises(rt.ConformanceError) as info:
        rt.check_dsm_loss(likelihood_weighted, VP, "sigma2", eps=1e-3)
    assert "weighting 'likelihood' where 'sigma2' was declared" in info.value.cause, info.value.cause

    rng = np.random.default_rng(7)

    def flipped(score_fn, x0):  # lambda = sigma^2, || s - z / sigma ||^2
        xn = _np(x0)
        t = 1e-5 + (1 - 1e-5) * rng.uniform(size=xn.shape[0])
        a, s = (_np(c)[:, None] for c in VP.marginal_coefficients(refsde.get_backend().asarray(t)))
        z = rng.standard_normal(xn.shape)
        sc = _np(score_fn(_as(x0, a * xn + s * z), _as(x0, t)))
        return float(np.mean(np.sum((s * sc - z) ** 2, axis=1)))

    with pytest.raises(rt.ConformanceError) as info:
        rt.check_dsm_loss(flipped, VP)
    assert "target's sign flipped" in info.value.cause, info.value.cause


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        rt.check_ddpm_loss(ddpm_candidate(), VP, reduction="avg")
    with pytest.raises(ValueError, match="timesteps"):
        rt.check_ddpm_loss(ddpm_candidate(), VP, timesteps="step")
    with pytest.raises(TypeError, match="DDPM chain"):
        rt.check_ddpm_loss(ddpm_candidate(), VE)
    with pytest.raises(TypeError, match="VESDE"):
        rt.check_smld_loss(smld_candidate(VE), VP)
    with pytest.raises(ValueError, match="t_max"):
        rt.check_dsm_loss(lambda s, x: 0.0, VP, t_max=2.0)
    with pytest.raises(ValueError, match="t_max"):
        rt.check_dsm_loss(lambda s, x: 0.0, VP, t_max=-1.0)
