"""refsde's own functions are candidates as they stand: ``functools.partial`` fixes the SDE (and options), and the
checks call the result by refsde's parameter names where it cannot take its arguments positionally (``sde`` sits
between ``score_fn`` and the state).  Each must pass the check of what it implements."""

from __future__ import annotations

import functools

import pytest

import refsde
from refsde import testing as rt
from refsde.likelihood import log_likelihood
from refsde.losses import ddpm_loss, dsm_loss
from refsde.sampling import langevin_corrector, sample_ode, sample_sde
from refsde.sde.reverse import probability_flow_drift

VP = refsde.VPSDE()


def test_samplers():
    sde = functools.partial(sample_sde, sde=VP, rng=refsde.make_rng(1))
    assert rt.check_sde_sampler(sde, VP, n_steps=100, method="euler_maruyama").passed
    ode = functools.partial(sample_ode, sde=VP, method="heun")
    assert rt.check_ode_sampler(ode, VP, n_steps=20, method="heun").passed


@pytest.mark.slow
def test_corrector_losses_likelihood_drift():
    corrector = functools.partial(langevin_corrector, sde=VP, rng=refsde.make_rng(2))
    assert rt.check_corrector(corrector, VP).passed
    assert rt.check_dsm_loss(functools.partial(dsm_loss, sde=VP, rng=refsde.make_rng(3)), VP).passed
    assert rt.check_ddpm_loss(functools.partial(ddpm_loss, sde=VP, rng=refsde.make_rng(4)), VP, timesteps="time").passed
    assert rt.check_log_likelihood(functools.partial(log_likelihood, sde=VP, eps=1e-3), VP).passed  # returns (log p, info)
    assert rt.check_pf_ode_drift(functools.partial(probability_flow_drift, VP), VP).passed


def test_a_user_signature_is_still_called_positionally():
    seen = []

    def mine(score, x, n):  # the documented positional call, whatever the names
        seen.append(n)
        return sample_sde(score, VP, x, n, rng=refsde.make_rng(5))[0]

    rt.check_sde_sampler(mine, VP, n_steps=50, method="euler_maruyama")
    assert seen == [50]
