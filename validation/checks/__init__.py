"""The ``refsde validate`` suite: refsde checked against closed forms, on the backend under test.

:mod:`.registry` defines a check (:class:`~.registry.Check`, :class:`~.registry.Context`,
:class:`~.registry.Outcome`, :class:`~.registry.CheckResult`, :class:`~.registry.SkipCheck`) and the
registry the check modules add themselves to: :mod:`.forward_sde` (family A, the forward SDEs),
:mod:`.gaussian_oracles` (family B, the Gaussian / mixture oracles of ``refsde.gaussian``) and
:mod:`.dogfood` (refsde's own samplers, corrector, loss and likelihood through the public
:mod:`refsde.testing` checks), with their tools :mod:`.euler_maruyama` (simulation, its exact law and the
sample tests) and :mod:`.finite_differences`.  :mod:`.user_impl` turns a user's ``--impl module:object``
into rows of the :mod:`refsde.testing` checks; :mod:`.runner` runs either set and is the command-line
entry point ``run_cli``; :mod:`.table` prints the rows.  This file imports nothing: ``import
refsde_validation.checks`` is free, the checks register when :func:`.runner.all_checks` imports them.
"""
