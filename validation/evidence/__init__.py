"""The evidence that the :mod:`refsde.testing` checks catch real errors and do not raise false alarms.

:mod:`.mutants` (SDE, marginal and prior pieces) and :mod:`.machinery_mutants` (samplers, corrector, DSM
loss, log-likelihood) are single-bug user implementations with their bug-free controls, sharing
:mod:`.mutant_base`; :mod:`.seeds_sde`, :mod:`.seeds_samplers` and :mod:`.seeds_losses` re-implement the
code of the seed documents, whose expected verdicts are in :mod:`.seed_candidates`; :mod:`.third_party`
adapts diffusers and torchsde as candidates; :mod:`.false_alarms` measures the false-alarm rates of the
statistical checks on correct candidates.  Each has a ``python -m`` entry point printing its table for
validation/REPORT.md.  This file imports nothing.
"""
