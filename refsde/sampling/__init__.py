"""Samplers for score-based diffusion models (Song et al. 2021), one module per sampler family over one loop.

========================  ==============================================================================
:mod:`._loop`             what every sampler shares: the time grid (default linspace(T, eps, n_steps + 1)
                          or ``grid=``) and chain levels, host coefficient tables, the noise source, the
                          NaN watch, progress, the final Tweedie step, :class:`SampleInfo`
:mod:`.sde`               :func:`sample_sde`: reverse-time SDE by Euler-Maruyama, reverse diffusion or
                          ancestral sampling (DDPM / SMLD); these are also the PC predictors
:mod:`.pc`                :func:`sample_pc` (predictor-corrector, Langevin / annealed Langevin correctors,
                          both orders) and :func:`langevin_corrector` (the corrector alone at a fixed t)
:mod:`.pf_ode`            :func:`sample_ode`: probability-flow ODE by Euler, Heun, RK4 (the tableaus of
                          :mod:`refsde.ode.fixed_step`) or adaptive RK45
:mod:`.exponential`       :func:`sample_ddim` (eta = 0: the first-order exponential integrator; eta > 0:
                          stochastic), :func:`sample_dpm_solver` (DPM-Solver-1/2/3),
                          :func:`sample_dpm_solver_pp_2m`, :func:`sample_dpm_solver_pp_3m`
:mod:`.edm`               :func:`sample_edm_heun`: EDM's Heun sampler on the rho grid, optional churn
:mod:`.grids`             :func:`time_grid`, the uniform-in-log-SNR and rho grids, schedule nodes
========================  ==============================================================================

Shared conventions: a run steps through times t_0 > t_1 > ... > t_n in (0, T] (t_0 = T and t_n = eps by
default; every sampler takes ``grid=`` instead), step k going from t_k to t_{k+1} with every coefficient at
the left end t_k; ``score_fn(x, t)`` is called with t a 0-d array of x's dtype and device; noise comes from
``rng`` (seed / refsde RNG) or explicit ``noise`` arrays; every sampler returns ``(x, SampleInfo)``.
Each scheme is a table of per-step coefficients plus one update expression.  Everything is Array-API
code in x_T's namespace, dtype and device.
"""

from ._loop import SampleInfo
from .edm import sample_edm_heun
from .exponential import sample_ddim, sample_dpm_solver, sample_dpm_solver_pp_2m, sample_dpm_solver_pp_3m
from .grids import time_grid
from .pc import langevin_corrector, sample_pc
from .pf_ode import sample_ode
from .sde import sample_sde

__all__ = [
    "SampleInfo",
    "langevin_corrector",
    "sample_ddim",
    "sample_dpm_solver",
    "sample_dpm_solver_pp_2m",
    "sample_dpm_solver_pp_3m",
    "sample_edm_heun",
    "sample_ode",
    "sample_pc",
    "sample_sde",
    "time_grid",
]
