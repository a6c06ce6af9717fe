"""Conformance checks for *your* diffusion-SDE implementation against the refsde reference.

>>> import refsde
>>> from refsde import testing as rt
>>> ref = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
>>> report = rt.check_coefficients(ref.sde, ref)        # your sde_fn(x, t) -> (drift, diffusion)
>>> report = rt.check_marginal(ref.marginal, ref)       # your marginal_fn(x0, t) -> (mean, std)
>>> report = rt.check_prior(lambda shape: ref.prior_sample(shape, rng=0), ref.prior_logp, ref)
>>> report.passed
True

A failing check raises :class:`ConformanceError` (an ``AssertionError``) naming the property, the worst
input, the expected and observed values and the statistic against its threshold; a passing one
returns a :class:`CheckReport`.  Tolerances and test design: :mod:`refsde.testing.checks`.
"""

from .checks import check_coefficients, check_marginal, check_prior, prior_sample_size
from .errors import ConformanceError
from .report import CheckReport

__all__ = ["CheckReport", "ConformanceError", "check_coefficients", "check_marginal", "check_prior", "prior_sample_size"]
