"""The refsde validation suite (installed as ``refsde_validation``), run by ``refsde validate``.

Four subpackages (an index of every module, and how each is run: validation/README.md):

* :mod:`.checks` -- the ``refsde validate`` suite and its runner: the forward-SDE checks (family A), the
  Gaussian / mixture oracle checks (family B), refsde's own pieces through the public
  :mod:`refsde.testing` checks (dogfood rows), the ``--impl module:object`` rows of a user's
  implementation, the registry, the results table and ``run_cli``;
* :mod:`.bench` -- ``refsde validate --bench [--quick]``: refsde against the baselines a user would write
  (hand-written sampler loops, scipy's solve_ivp, Hutchinson divergence), memory, import time, bandwidth;
* :mod:`.evidence` -- that the conformance checks catch real errors and raise no false alarms: mutants,
  re-implementations of the seed documents' code, diffusers / torchsde adapters, the false-alarm study;
* :mod:`.report` -- ``refsde validate --report / --plots``: the markdown report and its figures.

Every check computes on the selected backend (``--backend`` / ``REFSDE_BACKEND`` / numpy) and reports
a statistic and a threshold; it passes iff statistic <= threshold.  Statistical checks have a
family-wise false-alarm rate alpha = 1e-6 each (Bonferroni over their sub-tests) and fixed seeds
(``--seed``); their sample sizes are derived in their docstrings.  The statistics (normal and
chi-square distribution functions and quantiles without scipy, the sample-size formulas) are the
library's, :mod:`refsde.testing._stats`.  The library never imports this package; within it, no module
import (lazy ones included) closes a circle (tests/test_validation_layout.py).
"""
