"""Fixed-step samplers for score-based diffusion models (Song et al. 2021).

* :func:`sample_sde`: reverse-time SDE by Euler-Maruyama, reverse diffusion or ancestral sampling;
* :func:`sample_pc`: predictor-corrector sampling (Langevin / annealed Langevin correctors);
* :func:`langevin_corrector`: the corrector on its own, n Langevin steps at a fixed time t;
* :func:`sample_ode`: probability-flow ODE by Euler, Heun or RK4;
* :func:`sample_ddim`: DDIM (eta = 0: the first-order exponential integrator; eta > 0: stochastic);
* :func:`sample_dpm_solver`, :func:`sample_dpm_solver_pp_2m`: DPM-Solver-1/2/3 and DPM-Solver++(2M);
* :func:`sample_edm_heun`: EDM's Heun sampler on the rho grid, with optional stochastic churn.

The last four work in alpha_t, sigma_t and the log-SNR and have their own grids (uniform in t or in
log-SNR; EDM's rho grid), see :mod:`refsde.sampling.solver_grids`.

Shared conventions: the grid of the first three is t_k = linspace(T, eps, n_steps + 1) (:func:`time_grid`);
step k goes from t_k to t_{k+1} = t_k - h with every coefficient at the left end t_k; ``score_fn(x, t)`` is called
with t a 0-d array of x's dtype and device; noise comes from ``rng`` (seed / refsde RNG) or explicit
``noise`` arrays (layouts in :mod:`refsde.sampling._noise`); every sampler returns ``(x, SampleInfo)``.
Everything is Array-API code in x_T's namespace, dtype and device.
"""

from .ddim import sample_ddim
from .dpm_solver import sample_dpm_solver, sample_dpm_solver_pp_2m
from .edm import sample_edm_heun
from .grid import time_grid
from .info import SampleInfo
from .langevin import langevin_corrector
from .ode import sample_ode
from .pc import sample_pc
from .sde_sampler import sample_sde

__all__ = [
    "SampleInfo",
    "langevin_corrector",
    "sample_ddim",
    "sample_dpm_solver",
    "sample_dpm_solver_pp_2m",
    "sample_edm_heun",
    "sample_ode",
    "sample_pc",
    "sample_sde",
    "time_grid",
]
