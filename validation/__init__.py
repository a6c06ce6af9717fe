"""The refsde validation suite (installed as ``refsde_validation``), run by ``refsde validate``.

Every check computes on the selected backend (``--backend`` / ``REFSDE_BACKEND`` / numpy) and reports
a statistic and a threshold; it passes iff statistic <= threshold.  Modules:

* :mod:`.runner` -- registry, :class:`~.runner.CheckResult`, the results table and ``run_cli``;
* :mod:`.checks_sde` -- family A, the forward SDEs (VP, sub-VP, VE exact, VE score_sde):
  float32 precision of sigma_t near 0, the marginal-variance ODE, the log-SNR round trip, agreement
  with a ScheduleSDE built from the closed forms, and forward simulation against the marginal through
  the exact law of Euler-Maruyama (statistical test + deterministic order-1 convergence of the gap);
* :mod:`.checks_oracles` -- family B, the Gaussian / Gaussian-mixture oracles of ``refsde.gaussian``:
  independent marginal densities, score / Hessian / divergence against finite differences and
  autodiff, the Fokker-Planck equation, one-component mixtures, the exact probability-flow map, and
  mixture samples against their exact laws;
* :mod:`.em` -- Euler-Maruyama simulation, its exact law and the sample tests;
* :mod:`.fd` -- fourth-order finite-difference stencils;
* the statistics (normal and chi-square distribution functions and quantiles without scipy, the
  sample-size formulas of the statistical checks) are those of the library, :mod:`refsde.testing._stats`.

Statistical checks have a family-wise false-alarm rate alpha = 1e-6 each (Bonferroni over their
sub-tests) and fixed seeds (``--seed``); their sample sizes are derived in their docstrings.
"""
