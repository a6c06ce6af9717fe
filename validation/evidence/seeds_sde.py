"""The seed documents' forward-SDE pieces (coefficients, marginals, priors) re-implemented as candidates.

Each function below re-implements, in our own words and on the Array API, one class method of a seed
document (../shared/seeds/*.txt), *faithfully including its errors*, with the signature a
:mod:`refsde.testing` check expects:

* ``sde_fn(x, t) -> (drift, diffusion)``   for :func:`refsde.testing.check_coefficients`;
* ``marginal_fn(x0, t) -> (mean, std)``    for :func:`refsde.testing.check_marginal`;
* ``prior_sample_fn(shape)`` / ``prior_logp_fn(z)`` for :func:`refsde.testing.check_prior`.

Shapes: ``x``, ``x0`` are (n, d); ``t`` is (n,).  The seeds write the time coefficients with t itself
(they assume T = 1), so the candidates are meant for references with T = 1.  Where a seed formula is
mathematically right but numerically naive (``sqrt(1 - exp(-B))``), the candidate keeps the naive form:
that *is* the seed's code, and the check is expected to flag the cancellation.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from array_api_compat import array_namespace

from refsde import get_backend

Array = Any
#: Default seed of the candidates' own noise; distinct from the checks' default seed 0, whose NumPy stream
#: (default_rng(0)) would otherwise equal the candidate's and correlate its noise with the check's inputs.
SEED = 2021
SdeFn = Callable[[Array, Array], tuple[Array, Array]]

SEED_BETA_MIN, SEED_BETA_MAX = 0.1, 20.0
SEED_SIGMA_MIN, SEED_SIGMA_MAX = 0.01, 50.0


def _col(xp: Any, c: Array, x: Array) -> Array:
    """A per-row coefficient of shape (n,) as (n, 1, ..., 1), the seeds' ``.unsqueeze(-1)``."""
    return xp.reshape(c, (c.shape[0],) + (1,) * (x.ndim - 1))


# ---- seed 001: ForwardSDE / VPSDE (identical formulas) ------------------------------------------------
def seed001_vp_sde(beta_min: float = SEED_BETA_MIN, beta_max: float = SEED_BETA_MAX) -> SdeFn:
    """001 ``VPSDE.sde`` / ``ForwardSDE.drift_coef, diffusion_coef``: f = -beta(t) x / 2, g = sqrt(beta(t))."""

    def sde_fn(x: Array, t: Array) -> tuple[Array, Array]:
        xp = array_namespace(x, t)
        beta = beta_min + t * (beta_max - beta_min)  # beta(t), seed: linear in t (T = 1)
        return -0.5 * _col(xp, beta, x) * x, xp.sqrt(_col(xp, beta, x))

    return sde_fn


def seed001_vp_marginal(beta_min: float = SEED_BETA_MIN, beta_max: float = SEED_BETA_MAX) -> SdeFn:
    """001 ``VPSDE.marginal_prob``: log alpha = -t^2 (b1 - b0)/4 - t b0/2, std = sqrt(1 - exp(2 log alpha)).

    Mathematically right; the std is the naive form, which cancels for small t (the seed's error)."""

    def marginal_fn(x0: Array, t: Array) -> tuple[Array, Array]:
        xp = array_namespace(x0, t)
        log_coef = -0.25 * t**2 * (beta_max - beta_min) - 0.5 * t * beta_min  # -B(t)/2
        std = xp.sqrt(1.0 - xp.exp(2.0 * log_coef))  # seed's naive sqrt(1 - e^{-B})
        return x0 * _col(xp, xp.exp(log_coef), x0), std

    return marginal_fn


def seed001_discrete_to_continuous_sde(
    n_steps: int = 1000, beta_min: float = SEED_BETA_MIN, beta_max: float = SEED_BETA_MAX, factor: float = -2.0
) -> SdeFn:
    """001 ``discrete_to_continuous_params`` turned into a VP ``sde_fn`` by linear interpolation in t.

    The seed takes a DDPM schedule alpha_i = 1 - beta_i (here beta_i = beta(t_i)/n_steps, the DDPM chain of
    the VP-SDE), forms log(alpha_bar) = cumsum(log alpha_i) on t = linspace(0, 1, n_steps) and returns
    beta = ``factor`` * d log(alpha_bar)/dt with ``factor = -2`` (the seed's error: log alpha_bar = -B(t),
    so beta = -d log(alpha_bar)/dt, ``factor = -1``).  The derivative is the seed's ``torch.gradient``:
    central differences inside, one-sided at both ends.
    """
    def beta_grid(xp: Any, like: Array) -> Array:
        grid = xp.linspace(0.0, 1.0, n_steps, dtype=like.dtype, device=like.device)
        alpha = 1.0 - (beta_min + grid * (beta_max - beta_min)) / n_steps  # DDPM alpha_i = 1 - beta_i
        log_abar = xp.cumulative_sum(xp.log(alpha))  # log alpha_bar_i
        h = 1.0 / (n_steps - 1)
        first = (log_abar[1:2] - log_abar[:1]) / h
        inner = (log_abar[2:] - log_abar[:-2]) / (2.0 * h)
        last = (log_abar[-1:] - log_abar[-2:-1]) / h
        return factor * xp.concat([first, inner, last])  # seed: beta = -2 d log(alpha_bar)/dt

    def sde_fn(x: Array, t: Array) -> tuple[Array, Array]:
        xp = array_namespace(x, t)
        bg = beta_grid(xp, t)
        pos = t * (n_steps - 1)
        idx = xp.clip(xp.astype(xp.floor(pos), xp.int64), 0, n_steps - 2)
        w = pos - xp.astype(idx, t.dtype)
        beta = (1.0 - w) * xp.take(bg, idx) + w * xp.take(bg, idx + 1)  # linear interpolation of the grid
        return -0.5 * _col(xp, beta, x) * x, xp.sqrt(_col(xp, beta, x))

    return sde_fn


# ---- seed 001: VESDE ----------------------------------------------------------------------------------
def seed001_ve_sde(sigma_min: float = SEED_SIGMA_MIN, sigma_max: float = SEED_SIGMA_MAX) -> SdeFn:
    """001 ``VESDE.sde``: f = 0, g = sigma(t) sqrt(2 log(sigma_max/sigma_min)), sigma(t) = s0 r^t."""

    def sde_fn(x: Array, t: Array) -> tuple[Array, Array]:
        xp = array_namespace(x, t)
        sigma = sigma_min * (sigma_max / sigma_min) ** t  # sigma(t) = sigma_min r^t
        g = sigma * math.sqrt(2.0 * math.log(sigma_max / sigma_min))  # g = sqrt(d sigma^2/dt)
        return xp.zeros_like(x), _col(xp, g, x) * xp.ones_like(x)

    return sde_fn


def seed001_ve_marginal(sigma_min: float = SEED_SIGMA_MIN, sigma_max: float = SEED_SIGMA_MAX) -> SdeFn:
    """001 ``VESDE.marginal_prob``: mean x0, std sigma(t) (score_sde's convention: sigma_min at t = 0)."""

    def marginal_fn(x0: Array, t: Array) -> tuple[Array, Array]:
        return x0, sigma_min * (sigma_max / sigma_min) ** t

    return marginal_fn


# ---- seed 001: SubVPSDE -------------------------------------------------------------------------------
def _seed_B(t: Array, beta_min: float, beta_max: float) -> Array:
    return 0.5 * t**2 * (beta_max - beta_min) + t * beta_min  # B(t) = int_0^t beta


def seed001_subvp_sde(beta_min: float = SEED_BETA_MIN, beta_max: float = SEED_BETA_MAX) -> SdeFn:
    """001 ``SubVPSDE.sde``: f = -beta x/2, g = sqrt(beta (1 - exp(-2B))), the latter in the naive form."""

    def sde_fn(x: Array, t: Array) -> tuple[Array, Array]:
        xp = array_namespace(x, t)
        beta = beta_min + t * (beta_max - beta_min)
        discount = 1.0 - xp.exp(-2.0 * _seed_B(t, beta_min, beta_max))  # seed's naive 1 - e^{-2B}
        return -0.5 * _col(xp, beta, x) * x, _col(xp, xp.sqrt(beta * discount), x) * xp.ones_like(x)

    return sde_fn


def seed001_subvp_marginal(beta_min: float = SEED_BETA_MIN, beta_max: float = SEED_BETA_MAX) -> SdeFn:
    """001 ``SubVPSDE.marginal_prob``: mean e^{-B/2} x0 and std sqrt(1 - e^{-B}) -- the VP std; the
    sub-VP std is 1 - e^{-B} (Song et al. 2021, Eq. 29: variance (1 - e^{-B})^2).  The seed's error."""

    def marginal_fn(x0: Array, t: Array) -> tuple[Array, Array]:
        xp = array_namespace(x0, t)
        B = _seed_B(t, beta_min, beta_max)
        return x0 * _col(xp, xp.exp(-0.5 * B), x0), xp.sqrt(1.0 - xp.exp(-B))

    return marginal_fn


# ---- seed 001: priors ----------------------------------------------------------------------------------
def seed001_prior_sample(scale: float = 1.0, seed: int = SEED) -> Callable[[tuple[int, ...]], Array]:
    """001 ``VPSDE.prior_sampling`` (scale 1) / ``VESDE.prior_sampling`` (scale sigma_max): scale * randn."""
    rng = get_backend().rng(seed)

    def prior_sample_fn(shape: tuple[int, ...]) -> Array:
        return scale * rng.normal(tuple(shape))

    return prior_sample_fn


def seed001_prior_logp(z: Array) -> Array:
    """001 ``compute_log_likelihood``'s prior term: -|z|^2/2 - (d/2) log(2 pi) summed over the *last* axis
    with d = z.shape[-1] -- N(0, I) whatever the SDE, and only right for flat (n, d) data."""
    xp = array_namespace(z)
    return -0.5 * xp.sum(z**2, axis=-1) - 0.5 * z.shape[-1] * math.log(2.0 * math.pi)


def seed001_prior_logp_flat(z: Array) -> Array:
    """:func:`seed001_prior_logp` applied to z reshaped to (n, D): isolates its N(0, I) assumption."""
    xp = array_namespace(z)
    return seed001_prior_logp(xp.reshape(z, (z.shape[0], -1)))
