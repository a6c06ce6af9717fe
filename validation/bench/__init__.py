"""The benchmarks of ``refsde validate --bench [--quick]`` (also ``python -m refsde_validation.bench``).

:mod:`.run` is the entry point (``run_bench``, the full and quick configurations, BENCH.md); the sections
are :mod:`.samplers` (fixed-step samplers against :mod:`.hand_loops`), :mod:`.likelihood` (ODE
log-likelihood against scipy's solve_ivp), :mod:`.divergence` (exact against Hutchinson), :mod:`.memory`
(peak memory against step count), :mod:`.system` (import time, the suite's wall time, the machine and
the pinned allocator) and :mod:`.bandwidth` (sampler step throughput against STREAM), all timing the work
of :mod:`.problems` with the interleaved A/B timer of :mod:`.timing` and written by :mod:`.tables`.
:mod:`.rk4_anatomy` is a stand-alone probe of where the RK4 sampler's time goes.  No timing is asserted.
This file imports nothing.
"""
