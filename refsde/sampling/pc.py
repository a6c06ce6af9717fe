"""Predictor-corrector sampling (Song et al. 2021, Alg. 1 and App. G) and the Langevin corrector on its own.

**Correctors** are Langevin MCMC steps at a fixed time t that target p_t (App. G, Algs. 4-5):
x_mean = x + e s(x, t) and x' = x_mean + sqrt(2 e) z, with step size e

* ``langevin``: e = 2 alpha (snr ||z|| / ||s||)^2.  Norms are over all non-batch axes, per sample by
  default, so e has shape (n,) and samples stay independent; ``batch_norm=True`` uses score_sde's batch
  means of the per-sample norms instead (one e for the batch, which couples the samples).  A sample with
  ||s|| = 0 does not move (e = 0).
* ``annealed_langevin``: e = 2 alpha (snr sigma_t)^2, sigma_t the marginal std of q(x_t | x_0).

Inside :func:`sample_pc`, alpha = alpha_i = 1 - beta_i with the DDPM beta_i of the step's chain level for
VPSDE and SubVPSDE (score_sde's ``alphas``) and 1 for every other SDE; :func:`langevin_corrector` runs
the corrector alone at a fixed t with a given alpha (default 1).

**PC order.** Step k runs, by ``order``: ``"predictor_first"`` (the paper's Alg. 1): the predictor from
t_k to t_{k+1}, then the ``n_corrector_steps`` corrector steps at t_{k+1} (so the last correctors run at
the last grid time); ``"corrector_first"`` (score_sde's ``pc_sampler``): the corrector steps at t_k, then
the predictor.  Predictor and correctors of step k use the same chain level i_k (both orders), so each
level appears in exactly one step.  Grid, levels, tables, noise and the NaN watch are those of
:mod:`._loop`; the predictors are :mod:`.sde`'s.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from .._arrays import Array, host_array, host_floats, namespace_of, sum_non_batch
from .._checks import CheckedScore, check_choice, check_integer, check_positive, check_state
from ..sde import VPSDE, SubVPSDE
from ._loop import (
    NaNWatch,
    NoiseSource,
    SampleInfo,
    chain_levels,
    check_sde,
    start,
    steps,
    time_scalars,
    tweedie_denoise,
)
from .sde import check_chain, predictor_table

ORDERS = ("predictor_first", "corrector_first")
CORRECTORS = ("langevin", "annealed_langevin")


# ---- the corrector updates ----------------------------------------------------------------------------------
def langevin_update(x: Array, s: Array, z: Array, snr: float, batch_norm: bool, alpha: float) -> tuple[Array, Array]:
    """One Langevin step with e = 2 alpha (snr ||z|| / ||s||)^2 (Song et al. 2021, Algs. 4-5); s = s(x, t)."""
    xp = namespace_of(x)
    s_norm, z_norm = xp.sqrt(sum_non_batch(xp, s * s)), xp.sqrt(sum_non_batch(xp, z * z))  # per sample, (n,)
    if batch_norm:
        s_norm, z_norm = xp.mean(s_norm), xp.mean(z_norm)  # score_sde: batch means of the norms
    # ||s|| = 0 (or NaN): divide by +inf instead, so that ratio = 0 and e = 0 exactly (one where, no warning)
    ratio = z_norm / xp.where(s_norm > 0.0, s_norm, xp.full_like(s_norm, math.inf))
    r = snr * ratio
    e = 2.0 * alpha * (r * r)  # e = 2 alpha (snr |z|/|s|)^2 (r * r: the same rounding as r ** 2, cheaper)
    if e.ndim == 1 and x.ndim > 1:
        e = xp.reshape(e, (e.shape[0],) + (1,) * (x.ndim - 1))  # per-sample e against (n, *dims)
    mean = x + e * s  # Langevin drift step x + e grad log p_t
    return mean + xp.sqrt(2.0 * e) * z, mean  # plus sqrt(2 e) z


def annealed_step_sizes(sde: Any, times: Sequence[float], snr: float, alphas: Sequence[float], like: Array) -> tuple[list[float], list[float]]:
    """(e_k, sqrt(2 e_k)) with e_k = 2 alpha_k (snr sigma_{t_k})^2 (NCSN's annealed Langevin step), host floats."""
    t, alpha = host_array(times, like), host_array(alphas, like)
    e = 2.0 * alpha * (snr * sde.sigma(t)) ** 2  # e = 2 alpha (snr sigma_t)^2
    return host_floats(e), host_floats(namespace_of(like).sqrt(2.0 * e))


class Langevin:
    """alpha_k of every step k: ``step(k, x, s, z)`` is :func:`langevin_update` with it."""

    def __init__(self, alphas: Sequence[float], snr: float, batch_norm: bool) -> None:
        self.alpha, self.snr, self.batch_norm = list(alphas), snr, batch_norm

    def step(self, k: int, x: Array, s: Array, z: Array) -> tuple[Array, Array]:
        return langevin_update(x, s, z, self.snr, self.batch_norm, self.alpha[k])


class AnnealedLangevin:
    """e_k and sqrt(2 e_k) of every step k (they depend on the time only, so they are tabulated)."""

    def __init__(self, sde: Any, times: Sequence[float], alphas: Sequence[float], snr: float, like: Array) -> None:
        self.e, self.noise = annealed_step_sizes(sde, times, snr, alphas, like)

    def step(self, k: int, x: Array, s: Array, z: Array) -> tuple[Array, Array]:
        mean = x + self.e[k] * s  # Langevin drift step x + e grad log p_t
        return mean + self.noise[k] * z, mean  # plus sqrt(2 e) z


def chain_alphas(sde: Any, levels: Sequence[int], like: Array, N: int | None = None) -> list[float]:
    """alpha_k = 1 - beta_{i_k} of each step's level of the chain with N levels (default: one per step) for
    VP and sub-VP (score_sde's ``alphas``), else 1."""
    if not isinstance(sde, (VPSDE, SubVPSDE)):
        return [1.0] * len(levels)
    N = len(levels) if N is None else N
    alpha = host_floats(1.0 - sde.ddpm_betas(N, like=like))  # 1 - beta_i, beta_i = beta(t_i) T / N
    return [alpha[i] for i in levels]


def corrector_table(name: Any, sde: Any, times: Sequence[float], levels: Sequence[int], snr: float,
                    batch_norm: bool, like: Array) -> Langevin | AnnealedLangevin:
    """The corrector of ``name`` for the steps k, run at ``times[k]`` with chain level ``levels[k]``."""
    check_choice(name, CORRECTORS, "corrector")
    if isinstance(sde, (VPSDE, SubVPSDE)):
        check_chain(sde, len(levels), f"the {name} corrector (alpha_i = 1 - beta_i)", uses_betas=True)
    alphas = chain_alphas(sde, levels, like)
    if name == "langevin":
        return Langevin(alphas, snr, batch_norm)
    return AnnealedLangevin(sde, times, alphas, snr, like)


# ---- predictor-corrector sampling -------------------------------------------------------------------------------
def sample_pc(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float | None = None,
    grid: Any = None,
    levels: Any = None,
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
    """Predictor-corrector sampler from t_0 = T down to eps in ``n_steps`` steps (or on ``grid``).

    Args:
        score_fn, sde, x_T, n_steps, eps, grid, levels, rng, denoise, progress: as in
            :func:`refsde.sampling.sample_sde`.
        predictor: ``"reverse_diffusion"``, ``"euler_maruyama"``, ``"ancestral"`` or None (correctors only).
        corrector: ``"langevin"``, ``"annealed_langevin"`` or None (predictor only); module docstring.
        snr: the corrector's signal-to-noise ratio r (> 0).
        n_corrector_steps: corrector steps per grid step (>= 1).
        order: ``"predictor_first"`` (Alg. 1 of the paper) or ``"corrector_first"`` (score_sde's code).
        batch_norm: Langevin step from batch-mean norms (score_sde; couples the samples).
        noise: explicit draws of shape (n_steps, 1 + M, *x_T.shape), M = n_corrector_steps (0 without a
            corrector): ``noise[k, 0]`` is the predictor's draw in step k (unused with predictor=None) and
            ``noise[k, 1 + j]`` the j-th corrector step's, whatever the order.
        last_step_noise: False drops the noise of the very last update (the last predictor step, or with
            ``predictor_first`` and a corrector the last corrector step) and returns its mean.

    Returns:
        (x, info) with x like x_T and nfe = n_steps * (P + M) (+1 with denoise), P = 1 with a predictor.
    """
    times, score = start(score_fn, sde, x_T, n_steps, eps, grid)
    n = len(times) - 1
    check_choice(order, ORDERS, "order")
    if predictor is None and corrector is None:
        raise ValueError("predictor and corrector cannot both be None")
    chain = chain_levels(levels, times, sde.T)
    predict = None if predictor is None else predictor_table(predictor, sde, times, chain, x_T).step
    m, correct = 0, None
    # the correctors of step k run at t_{k+1} (predictor_first) or t_k (corrector_first)
    shift = 1 if order == "predictor_first" else 0
    if corrector is not None:
        m = check_integer(n_corrector_steps, "n_corrector_steps")
        snr = check_positive("snr", snr)
        correct = corrector_table(corrector, sde, times[shift:n + shift], chain, snr, batch_norm, x_T).step
    source = NoiseSource(x_T, (n, 1 + m), noise=noise, rng=rng)
    watch = NaNWatch(x_T, times)
    make_t = time_scalars(x_T)
    updates = ([("p", 0)] if predict is not None else []) + [("c", j) for j in range(m)]
    if order == "corrector_first":
        updates = updates[1:] + updates[:1] if predict is not None else updates
    last = (n - 1,) + updates[-1]  # (k, kind, j) of the very last update of the run
    x = x_T
    t_next = make_t(times[0])
    for k in steps(n, progress, "pc"):
        t_k, t_next = t_next, make_t(times[k + 1])  # t_{k+1} of step k is t_k of step k + 1
        t_c = t_next if shift else t_k
        for kind, j in updates:
            if kind == "p":
                z = source.draw(k, 0)
                x_next, x_mean = predict(k, x, score(x, t_k), z)  # type: ignore[misc]
            else:
                z = source.draw(k, 1 + j)
                x_next, x_mean = correct(k, x, score(x, t_c), z)  # type: ignore[misc]
            x = x_mean if (not last_step_noise and (k, kind, j) == last) else x_next
            x_next = x_mean = z = None  # release the unused one before the next score call (allocator reuse)
        watch.after(k, x)
    if denoise:
        x = tweedie_denoise(score, sde, x, times[-1])
        watch.check_denoised(x)
    name = f"pc({predictor}, {corrector}, {order})"
    return x, SampleInfo(score.nfe, host_array(times, x_T), n, 0, name)


# ---- the corrector alone ------------------------------------------------------------------------------------
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
    """``n_steps`` Langevin steps at the fixed time ``t`` targeting p_t (the corrector of :func:`sample_pc`).

    This is the function to compare with a user's corrector (:func:`refsde.testing.check_corrector`).

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
    check_choice(method, CORRECTORS, "method")
    check_sde(sde)
    check_state(x, "x")
    n_steps = check_integer(n_steps, "n_steps")
    snr = check_positive("snr", snr)
    alpha = check_positive("alpha", alpha)
    t = float(t)
    if math.isnan(t) or not 0.0 <= t <= sde.T:
        raise ValueError(f"t must lie in [0, T] = [0, {sde.T}], got {t}")
    score = CheckedScore(score_fn, nan="first")  # NaN: first output, then the state (see _loop)
    source = NoiseSource(x, (n_steps,), noise=noise, rng=rng)
    tt = time_scalars(x)(t)
    watch = NaNWatch(x, [t] * (n_steps + 1))
    if method == "langevin":
        update = Langevin([alpha], snr, batch_norm).step
    else:
        update = AnnealedLangevin(sde, [t], [alpha], snr, x).step  # t is fixed: one step size for every step
    for k in range(n_steps):
        z = source.draw(k)
        x, _ = update(0, x, score(x, tt), z)
        watch.after(k, x)
    return x, SampleInfo(score.nfe, None, n_steps, 0, f"corrector({method})")
