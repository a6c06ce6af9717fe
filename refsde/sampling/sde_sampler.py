"""Fixed-step samplers of the reverse-time SDE: Euler-Maruyama, reverse diffusion and ancestral sampling.

Conventions (shared with :mod:`refsde.sampling.pc` and :mod:`refsde.sampling.ode`):

* Grid: t_k = linspace(T, eps, n_steps + 1); step k goes from t_k to t_{k+1} = t_k - h_k and evaluates
  every coefficient and the score at its left end t_k.
* Discrete chains (``reverse_diffusion``, ``ancestral``, and the correctors' alpha_i on VP / sub-VP):
  step k uses level i = n_steps - 1 - k of the N = n_steps chain, passed to
  ``sde.discretize(x, t, N=n_steps, level=i)`` explicitly, so a run visits levels N - 1, ..., 0 once
  each, as score_sde's chain does (not floor(t_k (N - 1) / T), which repeats and skips levels on this
  grid); see :mod:`refsde.sampling._discrete` for the reasons.
* ``score_fn(x, t)`` is called with ``x`` of x_T's shape and ``t`` a 0-d array of x_T's dtype and
  device holding the current time; it must return an array of x's shape (checked on every call) without
  NaN: the first output is checked, then the state every 16 steps and at the end, so a NaN raises
  ValueError within 16 steps of its appearance, naming the window of times (:mod:`refsde.sampling._watch`).
* Time coefficients (f(t_k), g(t_k)^2, ...) and the chain coefficients of every level (f_i = c_i x and
  G_i of ``discretize``, DDPM betas, SMLD variances) are evaluated once for the whole run, vectorized, and
  kept as host floats (:mod:`refsde.sampling._coefficients`, :mod:`refsde.sampling._chain_table`): no
  per-step validation or host sync (tests/test_host_syncs.py counts them).  An SDE subclass that overrides
  ``discretize`` with its own chain gets it called per step instead.
* Noise is added on every step; with ``last_step_noise=False`` the last step returns its mean (no
  noise).  ``denoise=True`` then applies Tweedie's formula at t = eps:
  x0_hat = (x + sigma_eps^2 s(x, eps)) / alpha_eps (one more score evaluation).
* Noise comes from ``rng`` (an int seed, a refsde RNG or None) or from explicit ``noise`` of shape
  (n_steps, *x_T.shape) whose k-th slice drives step k, so that two implementations can be compared
  path by path.  Namespace, dtype and device are x_T's throughout.
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array
from ._checks import check_eps, check_n_steps, check_state
from ._context import StepContext
from ._discrete import chain_level
from ._noise import NoiseSource
from ._progress import steps
from ._score import CheckedScore
from .denoise import tweedie_denoise
from ._chain_table import level_table
from ._coefficients import GridTable
from ._watch import NaNWatch
from .grid import grid_points, time_grid, time_scalar, time_scalars
from .info import SampleInfo
from .predictors import setup_predictor

SDE_METHODS = ("euler_maruyama", "reverse_diffusion", "ancestral")


def sample_sde(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int,
    *,
    eps: float = 1e-3,
    method: str = "euler_maruyama",
    rng: Any = None,
    noise: Any = None,
    last_step_noise: bool = True,
    denoise: bool = False,
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Integrate the reverse-time SDE from T down to eps in ``n_steps`` fixed steps.

    Args:
        score_fn: s(x, t) ~ grad log p_t(x); called as ``score_fn(x, t)`` with t a 0-d array.
        sde: the forward SDE.
        x_T: initial state, shape (n, *dims), e.g. ``sde.prior_sample((n, d), rng)``.
        n_steps: number of steps (>= 1; reverse_diffusion and ancestral need >= 2, and on a VPSDE
            n_steps > beta_max T so that the DDPM betas stay below 1).
        method: ``"euler_maruyama"``: x' = x - [f(x,t) - g(t)^2 s] h + g(t) sqrt(h) z;
            ``"reverse_diffusion"``: x' = x - f_i + G_i^2 s + G_i z with (f_i, G_i) =
            sde.discretize(x, t, N=n_steps, level=n_steps - 1 - k) at step k; ``"ancestral"``: DDPM
            (VPSDE) or SMLD (VESDE) ancestral sampling at N = n_steps, level n_steps - 1 - k (ValueError
            for other SDEs).
        rng, noise: the noise source (not both); ``noise`` has shape (n_steps, *x_T.shape).
        last_step_noise: False returns the last step's mean.
        denoise: apply the Tweedie step at eps at the end.
        progress: show a tqdm bar if tqdm is installed.

    Returns:
        (x, info): x of x_T's shape, dtype and device; info a :class:`SampleInfo` (nfe = n_steps, +1
        with denoise).
    """
    n_steps = check_n_steps(n_steps)
    eps = check_eps(sde, eps)
    check_state(x_T)
    step = setup_predictor(method, sde, n_steps)
    score = CheckedScore(score_fn, nan="first")  # NaN: first output, then the state (see _watch)
    source = NoiseSource(x_T, (n_steps,), noise=noise, rng=rng)
    times = grid_points(sde.T, n_steps, eps)
    table = GridTable(sde, times, x_T) if method == "euler_maruyama" else None
    levels = level_table(sde, n_steps, times, x_T, predictor=method)
    ctx = StepContext(sde, levels, n_steps, score, table)
    watch = NaNWatch(x_T, times)
    make_t = time_scalars(x_T)
    x = x_T
    for k in steps(n_steps, progress, method):
        x_next, x_mean = step(ctx, x, make_t(times[k]), times[k] - times[k + 1], source.draw(k), chain_level(n_steps, k))
        x = x_next if (last_step_noise or k < n_steps - 1) else x_mean
        x_next = x_mean = None  # release the unused one before the next score call (allocator reuse)
        watch.after(k, x)
    if denoise:
        x = tweedie_denoise(ctx, x, time_scalar(eps, x_T))
        watch.check_denoised(x)
    info = SampleInfo(score.nfe, time_grid(sde, n_steps, eps, like=x_T), n_steps, 0, method)
    return x, info
