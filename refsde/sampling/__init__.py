"""Fixed-step samplers for score-based diffusion models (Song et al. 2021).

* :func:`sample_sde`: reverse-time SDE by Euler-Maruyama, reverse diffusion or ancestral sampling;
* :func:`sample_pc`: predictor-corrector sampling (Langevin / annealed Langevin correctors);
* :func:`sample_ode`: probability-flow ODE by Euler, Heun or RK4.

Shared conventions: the grid is t_k = linspace(T, eps, n_steps + 1) (:func:`time_grid`); step k goes
from t_k to t_{k+1} = t_k - h with every coefficient at the left end t_k; ``score_fn(x, t)`` is called
with t a 0-d array of x's dtype and device; noise comes from ``rng`` (seed / refsde RNG) or explicit
``noise`` arrays (layouts in :mod:`refsde.sampling._noise`); every sampler returns ``(x, SampleInfo)``.
Everything is Array-API code in x_T's namespace, dtype and device.
"""

from .grid import time_grid
from .info import SampleInfo
from .ode import sample_ode
from .pc import sample_pc
from .sde_sampler import sample_sde

__all__ = ["SampleInfo", "sample_ode", "sample_pc", "sample_sde", "time_grid"]
