"""Coefficients of every level of the discrete chain, evaluated once (vectorized) and kept as host floats.

The ``reverse_diffusion`` and ``ancestral`` predictors and the ``annealed_langevin`` corrector need, at grid
step k, coefficients of level i = n_steps - 1 - k of the N = n_steps chain (:mod:`._discrete`).  Taking them
per step from the SDE's public methods validated the time and the state on every step: host reads, i.e.
device syncs inside the loop.  As :mod:`._coefficients` does for Euler-Maruyama, every level is evaluated
here in one vectorized call of the same public methods (validated once), in the state's dtype and on its
device, and moved to the host once; the updates then multiply by Python floats that hold the dtype's values,
so they round as the per-step 0-d evaluation did (up to the last ulp of a vectorized exp / log): the
Euler-Maruyama chain f_i = f(t) x dt keeps f(t) and dt apart for that reason.

Lists are indexed by the level i.
"""

from __future__ import annotations

from typing import Any, Sequence

from array_api_compat import device as device_of

from .._arrays import Array, namespace_of
from ..sde import SDE, VESDE, VPSDE
from ._coefficients import host_floats, time_array
from ._discrete import chain_times, ddpm_betas

#: The ``discretize`` implementations known to be f_i = c_i x and G_i independent of x, elementwise in
#: (t, level): a user override may be neither, and is then called per step (see :func:`reverse_diffusion_levels`).
_LINEAR_CHAINS = (SDE.discretize, VPSDE.discretize, VESDE.discretize)


class LevelTable:
    """Host coefficients by chain level; each group is None unless the run's updates need it.

    * ``rd_c, rd_G, rd_G2``: (f_i = (c_i x) rd_dt, G_i, G_i^2) of ``sde.discretize(x, t_k, N, level=i)``
      (reverse diffusion); ``rd_dt`` is 1.0 for the VP and VE chains and T / N for the Euler-Maruyama chain.
    * ``ddpm_beta, ddpm_root, ddpm_noise``: beta_i, sqrt(1 - beta_i), sqrt(beta_i) (ancestral VP).
    * ``smld_dvar, smld_std``: var_i - var_{i-1} and sqrt(var_{i-1} (var_i - var_{i-1}) / var_i) (ancestral VE).
    * ``annealed_e, annealed_noise``: e_i = 2 alpha_i (snr sigma_{t_c})^2 and sqrt(2 e_i) (annealed Langevin).
    """

    def __init__(self) -> None:
        self.rd_c: list[float] | None = None
        self.rd_G: list[float] | None = None
        self.rd_G2: list[float] | None = None
        self.rd_dt: float = 1.0
        self.ddpm_beta: list[float] | None = None
        self.ddpm_root: list[float] | None = None
        self.ddpm_noise: list[float] | None = None
        self.smld_dvar: list[float] | None = None
        self.smld_std: list[float] | None = None
        self.annealed_e: list[float] | None = None
        self.annealed_noise: list[float] | None = None


def _level_times(times: Sequence[float], n_steps: int) -> list[float]:
    """The grid time t_k of each level i = n_steps - 1 - k (k = n_steps - 1 - i), indexed by i."""
    return [float(times[n_steps - 1 - i]) for i in range(n_steps)]


def reverse_diffusion_levels(table: LevelTable, sde: Any, n_steps: int, times: Sequence[float], like: Array) -> bool:
    """Fill ``rd_*`` from one call sde.discretize(ones((N, 1)), t, N=N, level=arange(N)); False (nothing
    filled) when ``sde.discretize`` is not one of refsde's linear chains (a subclass override, or a function
    set on the instance)."""
    if not isinstance(sde, SDE) or getattr(sde.discretize, "__func__", None) not in _LINEAR_CHAINS:
        return False
    xp = namespace_of(like)
    ones = xp.ones((n_steps, 1), dtype=like.dtype, device=device_of(like))
    t = time_array(_level_times(times, n_steps), like)  # (N,): per-"sample" times, one row per level
    levels = xp.arange(n_steps, device=device_of(like))  # the default integer dtype (int32 on JAX without x64)
    f, G = sde.discretize(ones, t, N=n_steps, level=levels)  # validates; f = c_i * 1 = c_i exactly
    if sde.discretize.__func__ is SDE.discretize:  # Euler-Maruyama chain f_i = (f(t) x) dt: keep f(t) and dt apart
        table.rd_c = host_floats(sde.drift_coefficient(t))
        table.rd_dt = sde.T / n_steps
    else:
        table.rd_c = host_floats(f[:, 0])
    table.rd_G = host_floats(G)
    table.rd_G2 = host_floats(G * G)
    return True


def ancestral_levels(table: LevelTable, sde: Any, n_steps: int, like: Array) -> None:
    """Fill ``ddpm_*`` (VPSDE) or ``smld_*`` (VESDE) for every level (same arithmetic as
    :func:`refsde.sampling._discrete.ddpm_beta` / ``smld_variances``, elementwise)."""
    xp = namespace_of(like)
    if isinstance(sde, VPSDE):
        beta = ddpm_betas(sde, n_steps, like)  # beta_i = beta(t_i) T / N (score_sde's discrete_betas)
        table.ddpm_beta = host_floats(beta)
        table.ddpm_root = host_floats(xp.sqrt(1.0 - beta))
        table.ddpm_noise = host_floats(xp.sqrt(beta))
        return
    std = sde.sigma(chain_times(sde, n_steps, like))
    var = std * std
    var_prev = xp.concat([0.0 * var[:1], var[:-1]])  # var_{-1} = 0
    dvar = var - var_prev
    positive = var > 0.0
    safe = xp.where(positive, var, xp.ones_like(var))
    # std = sqrt(var_{i-1} (var_i - var_{i-1}) / var_i), 0 where var_i = 0 (SMLD ancestral step)
    noise = xp.where(positive, xp.sqrt(var_prev * dvar / safe), xp.zeros_like(var))
    table.smld_dvar = host_floats(dvar)
    table.smld_std = host_floats(noise)


def annealed_step_size(sde: Any, t: Array, snr: float, alpha: Array | float) -> tuple[Array, Array]:
    """(e, sqrt(2 e)) with e = 2 alpha (snr sigma_t)^2 (NCSN's annealed Langevin dynamics), shaped like ``t``
    (0-d per step, or every level at once)."""
    e = 2.0 * alpha * (snr * sde.sigma(t)) ** 2  # e = 2 alpha (snr sigma_t)^2
    return e, namespace_of(t).sqrt(2.0 * e)


def annealed_levels(
    table: LevelTable, sde: Any, corrector_times: Sequence[float], alphas: Sequence[float], snr: float, like: Array
) -> None:
    """Fill ``annealed_*``: e_i = 2 alpha_i (snr sigma_t)^2 at the corrector time of level i (indexed by i)."""
    e, noise_scale = annealed_step_size(sde, time_array(corrector_times, like), snr, time_array(alphas, like))
    table.annealed_e = host_floats(e)
    table.annealed_noise = host_floats(noise_scale)


def level_table(
    sde: Any, n_steps: int, times: Sequence[float], like: Array, *, predictor: str | None = None,
    corrector: str | None = None, corrector_times: Sequence[float] | None = None,
    alphas: Sequence[float] | None = None, snr: float = 0.0,
) -> LevelTable:
    """The :class:`LevelTable` a run with these updates needs (``corrector_times``: the time of level i's
    corrector steps, indexed by i; ``alphas``: alpha_i by level, for the annealed corrector)."""
    table = LevelTable()
    if predictor == "reverse_diffusion":
        reverse_diffusion_levels(table, sde, n_steps, times, like)
    elif predictor == "ancestral":
        ancestral_levels(table, sde, n_steps, like)
    if corrector == "annealed_langevin":
        assert corrector_times is not None and alphas is not None
        annealed_levels(table, sde, corrector_times, alphas, snr, like)
    return table
