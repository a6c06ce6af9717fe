"""The ``refsde validate`` suite: refsde checked against closed forms, on the backend under test.

The check modules :mod:`.forward_sde` (family A, the forward SDEs), :mod:`.gaussian_oracles` (family B,
the Gaussian / mixture oracles of ``refsde.gaussian``) and :mod:`.dogfood` (refsde's own samplers,
corrector, loss and likelihood through the public :mod:`refsde.testing` checks) register in
:mod:`.runner`, with their tools :mod:`.euler_maruyama` (simulation, its exact law and the sample tests)
and :mod:`.finite_differences`.  :mod:`.user_impl` turns a user's ``--impl module:object`` into rows of
the :mod:`refsde.testing` checks; :mod:`.runner` runs either set and is the command-line entry point
``run_cli``.  This file imports nothing.
"""
