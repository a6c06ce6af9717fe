"""Langevin correction at a fixed time t, on its own (the corrector of :func:`~refsde.sampling.sample_pc`).

``langevin_corrector(score_fn, sde, x, t)`` runs ``n_steps`` Langevin MCMC steps targeting p_t
(Song et al. 2021, App. G, Algs. 4-5): x <- x + e s(x, t) + sqrt(2 e) z, with the step size e of
:mod:`refsde.sampling.correctors`:

* ``"langevin"``: e = 2 alpha (snr ||z|| / ||s||)^2 per sample (``batch_norm=True``: score_sde's batch
  means of the norms, one e for the batch);
* ``"annealed_langevin"``: e = 2 alpha (snr sigma_t)^2.

``alpha`` is the multiplier score_sde takes from the discrete chain (alpha_i = 1 - beta_i of the DDPM chain
for VP / sub-VP inside the PC sampler, 1 otherwise); at a fixed t outside a chain it defaults to 1.
This is the function to compare with a user's corrector (:func:`refsde.testing.check_corrector`).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .._arrays import Array, check_positive
from ._checks import check_choice, check_n_steps, check_state
from ._noise import NoiseSource
from ._score import CheckedScore
from ._watch import NaNWatch
from .correctors import annealed_langevin_update, annealed_step_size, langevin_update
from .grid import time_scalar
from .info import SampleInfo

METHODS = ("langevin", "annealed_langevin")

def langevin_corrector(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x: Array,
    t: float,
    *,
    method: str = "langevin",
    snr: float = 0.16,
    n_steps: int = 1,
    alpha: float = 1.0,
    batch_norm: bool = False,
    rng: Any = None,
    noise: Any = None,
) -> tuple[Array, SampleInfo]:
    """``n_steps`` Langevin steps at the fixed time ``t`` targeting p_t.

    Args:
        score_fn: s(x, t) ~ grad log p_t(x), called with t a 0-d array of x's dtype and device.
        sde: the forward SDE (for sigma_t of the annealed step and the range of t).
        x: the state, shape (n, *dims).
        t: the time, a float in [0, T].
        method: ``"langevin"`` or ``"annealed_langevin"``.
        snr: the signal-to-noise ratio r > 0.
        n_steps: number of Langevin steps (>= 1).
        alpha: step-size multiplier alpha > 0 (score_sde's alpha_i; 1 outside a chain).
        batch_norm: ``"langevin"`` with batch-mean norms (couples the samples, as score_sde).
        rng / noise: randomness: an RNG / int seed, or explicit draws of shape (n_steps, *x.shape).

    Returns:
        (x', info): x' like x; info.nfe = n_steps, info.grid = None.
    """
    check_choice(method, METHODS, "method")
    check_state(x, "x")
    n_steps = check_n_steps(n_steps)
    snr = check_positive("snr", snr)
    alpha = check_positive("alpha", alpha)
    t = float(t)
    if math.isnan(t) or not 0.0 <= t <= sde.T:
        raise ValueError(f"t must lie in [0, T] = [0, {sde.T}], got {t}")
    score = CheckedScore(score_fn, nan="first")  # NaN: first output, then the state (see _watch)
    source = NoiseSource(x, (n_steps,), noise=noise, rng=rng)
    tt = time_scalar(t, x)
    watch = NaNWatch(x, [t] * (n_steps + 1))
    if method == "annealed_langevin":
        e, noise_scale = annealed_step_size(sde, tt, snr, alpha)  # t is fixed: one step size for every step
    for k in range(n_steps):
        z = source.draw(k)
        if method == "langevin":
            x, _ = langevin_update(score, x, tt, z, snr, batch_norm, alpha)
        else:
            x, _ = annealed_langevin_update(score, x, tt, z, e, noise_scale)
        watch.after(k, x)
    return x, SampleInfo(score.nfe, None, n_steps, 0, f"corrector({method})")


__all__ = ["langevin_corrector"]
