"""Denoising score-matching losses: continuous-time DSM (Song et al. 2021, eq. 7), DDPM and SMLD."""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, batch_broadcast, namespace_of, require_floating, sum_non_batch
from .._checks import CheckedScore, check_eps

ScoreFn = Callable[[Array, Array], Array]
WEIGHTINGS = ("sigma2", "likelihood", "none")


def _rng_for(x0: Array, rng: Any) -> Any:
    from ..backends import backend_of, make_rng

    return make_rng(rng, backend_of(x0))


def _model_output(model: Callable[[Array, Array], Array], x: Array, t: Array) -> Array:
    """model(x, t), checked as the samplers check a score (shape, library, dtype, NaN)."""
    return CheckedScore(model, nan="always", name="model")(x, t)


def _reduce(xp: Any, per_sample: Array, reduce: str) -> Array:
    if reduce == "mean":
        return xp.mean(per_sample)
    if reduce == "none":
        return per_sample
    raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")


def dsm_loss(
    score_fn: ScoreFn,
    sde: Any,
    x0: Array,
    *,
    weighting: str | Callable[[Array], Array] = "sigma2",
    eps: float = 1e-5,
    rng: Any = None,
    t: Array | None = None,
    z: Array | None = None,
    importance_sampling: bool = False,
    reduce: str = "mean",
) -> Array:
    """Continuous DSM loss  E_t E_{x0, z} lambda(t) || s(x_t, t) + z / sigma_t ||^2.

    ``x0``: (n, *dims).  t ~ U(eps, T) and z ~ N(0, I) are drawn from ``rng`` (an int seed, a refsde
    RNG, or None) unless given explicitly (``t`` shape (n,), ``z`` like ``x0``), so a value is
    reproducible.  x_t = alpha_t x0 + sigma_t z and the target is grad log q(x_t | x0) = -z / sigma_t.
    Per sample the squared error is summed over non-batch dims; ``reduce="mean"`` averages the batch.

    ``weighting``: ``"sigma2"`` (lambda = sigma_t^2, the default), ``"likelihood"`` (lambda = g(t)^2,
    Song et al. 2021b), ``"none"`` (lambda = 1), or a callable lambda(t) -> array of t's shape.
    ``importance_sampling=True`` (likelihood weighting only) draws t with density proportional to
    g(t)^2 / sigma_t^2 = -d lambda_t / dt, i.e. uniformly in log-SNR, and reweights by
    Z sigma_t^2 / (T - eps) with Z = logSNR(eps) - logSNR(T): the same expectation with a much smaller
    variance.  Explicit ``t`` passed with importance sampling must come from that density.
    Returns a 0-d array (or (n,) with ``reduce="none"``) in x0's namespace; gradients flow through
    ``score_fn``'s parameters on autodiff backends.
    """
    xp = namespace_of(x0, t, z)
    require_floating(xp, x0, "x0")
    if x0.ndim < 1 or x0.shape[0] < 1:
        raise ValueError("x0 must be batch-first with at least one sample")
    eps = check_eps(sde, eps)
    if importance_sampling and weighting != "likelihood":
        raise ValueError("importance_sampling is only defined for weighting='likelihood'")
    if not (callable(weighting) or weighting in WEIGHTINGS):
        raise ValueError(f"weighting must be one of {WEIGHTINGS} or a callable, got {weighting!r}")
    n = x0.shape[0]
    gen = None
    if t is None or z is None:
        gen = _rng_for(x0, rng)
    if t is None:
        u = gen.uniform((n,), dtype=x0.dtype)
        if importance_sampling:
            lam_eps, lam_T = float(sde.log_snr(eps)), float(sde.log_snr(sde.T))  # floats: x0 fixes the namespace
            lam = lam_eps - u * (lam_eps - lam_T)  # uniform in log-SNR on [lambda_T, lambda_eps]
            t = xp.clip(sde.t_from_log_snr(xp.astype(lam, x0.dtype)), eps, sde.T)
        else:
            t = eps + (sde.T - eps) * u
    # an explicit t is compared with eps in its own dtype (float32 t for float64 data: float32(eps) < eps)
    t_ulp = float(xp.finfo(t.dtype).eps) if hasattr(t, "dtype") and xp.isdtype(t.dtype, "real floating") else 0.0
    t = sde._t(t, like=x0)
    if t.ndim == 0:
        t = xp.broadcast_to(t, (n,))
    if bool(xp.any(t < eps * (1.0 - 8.0 * t_ulp))):
        raise ValueError(f"t must lie in [eps, T] = [{eps}, {sde.T}]")
    if z is None:
        z = gen.normal(tuple(x0.shape), dtype=x0.dtype)
    elif tuple(z.shape) != tuple(x0.shape):
        raise ValueError(f"z shape {tuple(z.shape)} differs from x0 shape {tuple(x0.shape)}")
    alpha = xp.exp(sde._log_alpha(t))
    sigma = sde._sigma(t)
    x_t = batch_broadcast(alpha, x0) * x0 + batch_broadcast(sigma, x0) * z
    s = _model_output(score_fn, x_t, t)
    # lambda ||s + z/sigma||^2 = (lambda / sigma^2) ||sigma s + z||^2, which is exact for sigma -> 0
    residual = sum_non_batch(xp, (batch_broadcast(sigma, x0) * s + z) ** 2)
    if weighting == "sigma2":
        w = xp.ones_like(sigma)
    elif weighting == "none":
        w = 1.0 / (sigma * sigma)
    elif weighting == "likelihood" and importance_sampling:
        z_norm = float(sde.log_snr(eps) - sde.log_snr(sde.T))
        w = xp.full_like(sigma, z_norm / (sde.T - eps))
    elif weighting == "likelihood":
        w = sde._g2(t) / (sigma * sigma)
    else:
        w = weighting(t) / (sigma * sigma)
    return _reduce(xp, w * residual, reduce)


def _discrete_index(gen: Any, n: int, low: int, high: int, xp: Any, dtype: Any) -> Array:
    u = gen.uniform((n,), dtype=dtype)
    i = xp.astype(xp.floor(low + (high - low) * u), xp.int64)
    return xp.clip(i, low, high - 1)


def ddpm_loss(
    eps_model: Callable[[Array, Array], Array],
    sde: Any,
    x0: Array,
    *,
    rng: Any = None,
    i: Array | None = None,
    z: Array | None = None,
    reduce: str = "mean",
) -> Array:
    """DDPM epsilon-prediction loss || eps_model(x_i, t_i) - z ||^2 (Ho et al. 2020, eq. 14).

    ``sde`` is a :class:`~refsde.VPSDE`; its discrete chain (``sde.discretize``) has betas
    beta_j = beta(t_j) T / N at t_j = j T / (N - 1), and x_i = sqrt(abar_i) x0 + sqrt(1 - abar_i) z with
    abar_i = prod_{j <= i} (1 - beta_j).  i ~ U{0, ..., N-1} unless given (shape (n,), integer); the
    model is called with the continuous time t_i of step i.
    """
    from ..sde.vp import VPSDE

    if not isinstance(sde, VPSDE):
        raise TypeError("ddpm_loss needs a VPSDE (the DDPM chain is its discretization)")
    xp = namespace_of(x0, i, z)
    require_floating(xp, x0, "x0")
    n, N = x0.shape[0], sde.N
    if not sde.beta_max * sde.T / N < 1.0:
        raise ValueError(f"the DDPM chain needs beta_max * T / N < 1, i.e. N > {sde.beta_max * sde.T:g}; got N = {N}")
    if i is not None and not xp.isdtype(i.dtype, "integral"):
        raise TypeError(f"step indices i must be an integer array, got dtype {i.dtype}")
    gen = _rng_for(x0, rng) if (i is None or z is None) else None
    if i is None:
        i = _discrete_index(gen, n, 0, N, xp, x0.dtype)
    if bool(xp.any((i < 0) | (i >= N))):
        raise ValueError(f"step indices must lie in [0, N) = [0, {N})")
    if z is None:
        z = gen.normal(tuple(x0.shape), dtype=x0.dtype)
    grid = sde.chain_times(N, like=x0)  # t_j = j T / (N - 1)
    betas = sde.ddpm_betas(N, like=x0)  # beta_j = beta(t_j) T / N
    log_abar = xp.cumulative_sum(xp.log1p(-betas))  # log prod_{j<=i} (1 - beta_j)
    log_abar_i = xp.take(log_abar, i)
    a = batch_broadcast(xp.exp(0.5 * log_abar_i), x0)
    s = batch_broadcast(xp.sqrt(-xp.expm1(log_abar_i)), x0)  # sqrt(1 - abar_i) without cancellation
    x_i = a * x0 + s * z
    t_i = xp.take(grid, i)
    e = _model_output(eps_model, x_i, t_i)
    return _reduce(xp, sum_non_batch(xp, (e - z) ** 2), reduce)


def smld_loss(
    score_fn: ScoreFn,
    sde: Any,
    x0: Array,
    *,
    rng: Any = None,
    i: Array | None = None,
    z: Array | None = None,
    reduce: str = "mean",
) -> Array:
    """SMLD / NCSN loss sigma_i^2 || s(x_i, t_i) + z / sigma_i ||^2 (Song & Ermon 2019, eq. 2 weighting).

    ``sde`` is a :class:`~refsde.VESDE`; the noise levels are its marginal stds at t_i = i T / (N - 1)
    (sigma_min (sigma_max/sigma_min)^(i/(N-1)) under ``convention="score_sde"``, the NCSN levels).
    Under the exact convention level 0 has zero noise and is excluded: i ~ U{1, ..., N-1}.
    """
    from ..sde.ve import VESDE

    if not isinstance(sde, VESDE):
        raise TypeError("smld_loss needs a VESDE (the SMLD chain is its discretization)")
    xp = namespace_of(x0, i, z)
    require_floating(xp, x0, "x0")
    n, N = x0.shape[0], sde.N
    low = 1 if sde.exact else 0
    if i is not None and not xp.isdtype(i.dtype, "integral"):
        raise TypeError(f"level indices i must be an integer array, got dtype {i.dtype}")
    gen = _rng_for(x0, rng) if (i is None or z is None) else None
    if i is None:
        i = _discrete_index(gen, n, low, N, xp, x0.dtype)
    if bool(xp.any((i < low) | (i >= N))):
        raise ValueError(f"level indices must lie in [{low}, {N})")
    if z is None:
        z = gen.normal(tuple(x0.shape), dtype=x0.dtype)
    t_i = xp.take(sde.chain_times(N, like=x0), i)  # t_i = i T / (N - 1)
    sigma = batch_broadcast(sde._sigma(t_i), x0)
    x_i = x0 + sigma * z
    s = _model_output(score_fn, x_i, t_i)
    return _reduce(xp, sum_non_batch(xp, (sigma * s + z) ** 2), reduce)
