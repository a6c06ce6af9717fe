"""Conformance checks for *your* diffusion-SDE implementation against the refsde reference.

>>> import refsde
>>> from refsde import testing as rt
>>> ref = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
>>> report = rt.check_coefficients(ref.sde, ref)        # your sde_fn(x, t) -> (drift, diffusion)
>>> report = rt.check_marginal(ref.marginal, ref)       # your marginal_fn(x0, t) -> (mean, std)
>>> report = rt.check_prior(lambda shape: ref.prior_sample(shape, rng=0), ref.prior_logp, ref)
>>> report.passed
True

The machinery checks take your sampler, corrector, loss or likelihood and call it with the exact score of
data the check chooses (Gaussian or Gaussian mixture):

* :func:`check_sde_sampler` / :func:`check_ode_sampler`: ``sampler_fn(score_fn, x_T, n_steps) -> x`` at t = eps;
* :func:`check_pf_ode_drift` / :func:`check_reverse_drift`: ``drift_fn(score_fn, x, t) -> v`` (deterministic,
  the cheapest place to find a drift bug: f - g^2 s / 2 and f - g^2 s);
* :func:`check_corrector`: ``corrector_fn(score_fn, x, t) -> x'`` (Langevin-type steps at a fixed float t);
* :func:`check_dsm_loss`: ``loss_fn(score_fn, x0) -> scalar`` (the continuous DSM objective; its reduction and
  t range as declared); :func:`check_ddpm_loss` / :func:`check_smld_loss`: the discrete objectives
  (``loss_fn(model, x0)``, the model named by an integer index, a time or a sigma);
* :func:`check_log_likelihood`: ``loglik_fn(score_fn, x0) -> (n,)`` log p in nats; :func:`check_bits_per_dim`:
  ``bpd_fn(score_fn, y) -> (n,)`` bits per dimension of dequantized data.

:func:`check_all` runs every check whose piece an implementation object has (``sde_fn``, ``sde_sampler``,
``log_likelihood``, ...; the table is in :mod:`refsde.testing.check_all`) and returns one combined report:
what ``refsde validate --impl module:object`` does, from Python.

Hypothesis strategies (SDEs, times, Gaussian / mixture data) are in :mod:`refsde.testing.strategies`
(imported on first use: it needs hypothesis); the pytest plugin (``--refsde-backend``, fixtures
``refsde_backend`` and ``xp``) is :mod:`refsde.testing.pytest_plugin`.

A failing check raises :class:`ConformanceError` (an ``AssertionError``) naming the property, the worst
input, the expected and observed values and the statistic against its threshold; a passing one
returns a :class:`CheckReport`.  Tolerances and test design: the docstrings of the check modules (e.g. :mod:`refsde.testing.check_forward_sde`).
"""

from typing import Any

from .check_all import AllReport, check_all
from .check_corrector import check_corrector
from .check_drift import check_pf_ode_drift, check_reverse_drift
from .check_likelihood import check_bits_per_dim, check_log_likelihood
from .check_loss import check_ddpm_loss, check_dsm_loss, check_smld_loss
from .check_samplers import check_ode_sampler, check_sde_sampler
from .check_forward_sde import check_coefficients, check_marginal, check_prior, prior_sample_size
from .errors import ConformanceError
from .report import CheckReport

__all__ = [
    "AllReport",
    "CheckReport",
    "ConformanceError",
    "check_all",
    "check_bits_per_dim",
    "check_coefficients",
    "check_corrector",
    "check_ddpm_loss",
    "check_dsm_loss",
    "check_log_likelihood",
    "check_marginal",
    "check_ode_sampler",
    "check_pf_ode_drift",
    "check_prior",
    "check_reverse_drift",
    "check_sde_sampler",
    "check_smld_loss",
    "prior_sample_size",
    "strategies",
]


def __getattr__(name: str) -> Any:
    # strategies needs hypothesis (the `test` extra): import it only when asked for
    if name == "strategies":
        import importlib

        return importlib.import_module(".strategies", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
