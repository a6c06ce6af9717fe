"""Predictor-corrector (PC) sampling (Song et al. 2021, Alg. 1 and App. G).

Conventions as in :mod:`refsde.sampling.sde_sampler` (grid linspace(T, eps, n_steps + 1), coefficients
at the left end of each step, ``score_fn(x, t)`` with t a 0-d array).  Step k runs, by ``order``:

* ``"predictor_first"`` (the paper's Alg. 1): the predictor from t_k to t_{k+1}, then the
  ``n_corrector_steps`` corrector steps at t_{k+1} (so the last correctors run at eps);
* ``"corrector_first"`` (score_sde's code, ``pc_sampler``): the corrector steps at t_k, then the
  predictor from t_k to t_{k+1}.

Predictor and correctors of step k use level i = n_steps - 1 - k of the N = n_steps discrete chain (in
both orders), so each level appears in exactly one step (:mod:`refsde.sampling._discrete`).

``last_step_noise=False`` drops the noise of the very last update (the last predictor step, or with
``predictor_first`` and a corrector the last corrector step) and returns its mean, as score_sde's
``x_mean``.  ``denoise=True`` adds Tweedie's step at eps.  ``predictor=None`` runs correctors only;
``corrector=None`` runs the predictor only.

Explicit ``noise`` has shape (n_steps, 1 + M, *x_T.shape), M = n_corrector_steps (0 without a
corrector): ``noise[k, 0]`` is the predictor's draw in step k (unused with ``predictor=None``) and
``noise[k, 1 + j]`` the j-th corrector step's, whatever the order.  With ``rng`` the draws are made in
the order the updates run.

NaN in score outputs: the first output is checked, then the state after every 16 grid steps and at the
end (:mod:`refsde.sampling._watch`); time and chain coefficients (the annealed corrector's step sizes
included) are evaluated once per run as host floats (:mod:`refsde.sampling._coefficients`,
:mod:`refsde.sampling._chain_table`), as in :mod:`refsde.sampling.sde_sampler`: the loop reads nothing
from the device between NaN checks.
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, check_positive
from ._checks import check_choice, check_eps, check_n_steps, check_state
from ._context import StepContext
from ._discrete import chain_level
from ._noise import NoiseSource
from ._progress import steps
from ._score import CheckedScore
from ._chain_table import level_table
from ._coefficients import GridTable
from ._watch import NaNWatch
from .correctors import chain_alphas, setup_corrector
from .denoise import tweedie_denoise
from .grid import grid_points, time_grid, time_scalar, time_scalars
from .info import SampleInfo
from .predictors import setup_predictor

ORDERS = ("predictor_first", "corrector_first")


def sample_pc(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int,
    *,
    eps: float = 1e-3,
    predictor: str | None = "reverse_diffusion",
    corrector: str | None = "langevin",
    snr: float = 0.16,
    n_corrector_steps: int = 1,
    order: str = "predictor_first",
    batch_norm: bool = False,
    rng: Any = None,
    noise: Any = None,
    last_step_noise: bool = True,
    denoise: bool = False,
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Predictor-corrector sampler from T down to eps in ``n_steps`` steps.

    Args:
        score_fn, sde, x_T, n_steps, eps, rng, denoise, progress: as in :func:`sample_sde`.
        predictor: ``"reverse_diffusion"``, ``"euler_maruyama"``, ``"ancestral"`` or None.
        corrector: ``"langevin"`` (e = 2 alpha_i (snr ||z||/||s||)^2), ``"annealed_langevin"``
            (e = 2 alpha_i (snr sigma_t)^2) or None; see :mod:`refsde.sampling.correctors`.
        snr: the corrector's signal-to-noise ratio r (> 0).
        n_corrector_steps: corrector steps per grid step (>= 1).
        order: ``"predictor_first"`` (Alg. 1 of the paper) or ``"corrector_first"`` (score_sde's code).
        batch_norm: Langevin step from batch-mean norms (score_sde; couples the samples).
        noise: explicit draws of shape (n_steps, 1 + M, *x_T.shape) (layout in the module docstring).
        last_step_noise: False drops the noise of the very last update.

    Returns:
        (x, info) with x like x_T and nfe = n_steps * (P + M) (+1 with denoise), P = 1 with a predictor.
    """
    n_steps = check_n_steps(n_steps)
    eps = check_eps(sde, eps)
    check_state(x_T)
    check_choice(order, ORDERS, "order")
    if predictor is None and corrector is None:
        raise ValueError("predictor and corrector cannot both be None")
    step = None if predictor is None else setup_predictor(predictor, sde, n_steps)
    m = 0
    correct = None
    if corrector is not None:
        correct = setup_corrector(corrector, sde, n_steps)
        m = check_n_steps(n_corrector_steps, "n_corrector_steps")
        snr = check_positive("snr", snr)
    score = CheckedScore(score_fn, nan="first")  # NaN: first output, then the state (see _watch)
    source = NoiseSource(x_T, (n_steps, 1 + m), noise=noise, rng=rng)
    times = grid_points(sde.T, n_steps, eps)
    table = GridTable(sde, times, x_T) if predictor == "euler_maruyama" or corrector == "langevin" else None
    alphas = chain_alphas(sde, n_steps, x_T) if corrector is not None else None
    if table is not None and corrector == "langevin":
        table.with_alphas(alphas)  # type: ignore[arg-type]
    # the correctors of grid step k (level i = n_steps - 1 - k) run at t_{k+1} (predictor_first) or t_k
    shift = 1 if order == "predictor_first" else 0
    corrector_times = [times[n_steps - 1 - i + shift] for i in range(n_steps)]
    levels = level_table(
        sde, n_steps, times, x_T, predictor=predictor, corrector=corrector, corrector_times=corrector_times,
        alphas=alphas, snr=snr,
    )
    ctx = StepContext(sde, levels, n_steps, score, table)
    watch = NaNWatch(x_T, times)
    make_t = time_scalars(x_T)
    final = _final_update(n_steps, m, predictor is not None, order)
    prediction = [("p", 0)] if step is not None else []
    corrections = [("c", j) for j in range(m)]
    updates = prediction + corrections if order == "predictor_first" else corrections + prediction
    x = x_T
    t_next = make_t(times[0])
    for k in steps(n_steps, progress, "pc"):
        t_k, t_next = t_next, make_t(times[k + 1])  # t_{k+1} of step k is t_k of step k + 1
        level = chain_level(n_steps, k)  # i = n_steps - 1 - k for predictor and correctors alike
        for kind, j in updates:
            if kind == "p":
                x_next, x_mean = step(ctx, x, t_k, times[k] - times[k + 1], source.draw(k, 0), level)
            else:
                t_c = t_next if order == "predictor_first" else t_k
                x_next, x_mean = correct(ctx, x, t_c, source.draw(k, 1 + j), snr, batch_norm, level)  # type: ignore[misc]
            x = x_mean if (not last_step_noise and (k, kind, j) == final) else x_next
            x_next = x_mean = None  # release the unused one before the next score call (allocator reuse)
        watch.after(k, x)
    if denoise:
        x = tweedie_denoise(ctx, x, time_scalar(eps, x_T))
        watch.check_denoised(x)
    name = f"pc({predictor}, {corrector}, {order})"
    return x, SampleInfo(score.nfe, time_grid(sde, n_steps, eps, like=x_T), n_steps, 0, name)


def _final_update(n_steps: int, m: int, has_predictor: bool, order: str) -> tuple[int, str, int]:
    """(k, kind, j) of the very last update of the run."""
    if m == 0 or (has_predictor and order == "corrector_first"):
        return (n_steps - 1, "p", 0)
    return (n_steps - 1, "c", m - 1)
