"""Time grids of the samplers, from t_0 = T down to eps (n_steps + 1 points), and their schedule nodes.

* :func:`time_grid`: linspace(T, eps, n_steps + 1), the default grid of every sampler (:mod:`._loop`).
* ``"uniform_t"`` / ``"uniform_logsnr"`` (:func:`exponential_grid`): uniform in t, or uniform in the half
  log-SNR lambda_t = log(alpha_t / sigma_t): lambda_k = lambda_T + (k / n_steps)(lambda_eps - lambda_T)
  and t_k = t_lambda(lambda_k) through :meth:`refsde.SDE.t_from_log_snr` (Lu et al. 2022, Sec. 3.4).
* :func:`rho_sigmas` / :func:`edm_grid`: the rho grid of Karras et al. 2022 (eq. 5) in the EDM noise level
  sigma~_t = sigma_t / alpha_t, from sigma~(T) down to sigma~(eps): n_steps + 1 points, the last one at eps
  (no final step to sigma~ = 0, so EDM's N is n_steps + 1 here).

Every grid has t_0 = T and t_{n_steps} = eps exactly; interior times are Python floats computed in float64
where the array library has it.  Any sampler also takes ``grid=`` as an array of times instead.

The exponential-integrator and EDM samplers work with a :class:`Node` per time: (t, alpha_t, sigma_t,
lambda_t) as Python floats, evaluated once per grid, vectorized, in x_T's namespace and device and in
float64 where the library has it (else in x_T's dtype), so a float32 run uses float64-accurate
coefficients rounded once when they multiply the state.  ``lam`` is the *half* log-SNR
lambda_t = log(alpha_t / sigma_t) of Lu et al. (2022), i.e. half of :meth:`refsde.SDE.log_snr`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from array_api_compat import device as device_of

from .._arrays import Array, host_array, host_floats, linspace_floats, namespace_of
from .._checks import check_choice, check_eps, check_integer, check_positive
from ._loop import sampler_grid

SPACINGS = ("uniform_t", "uniform_logsnr")


def time_grid(sde: Any, n_steps: int, eps: float = 1e-3, *, like: Array | None = None) -> Array:
    """linspace(T, eps, n_steps + 1): shape (n_steps + 1,), decreasing.

    In ``like``'s namespace, dtype and device when given, else the active backend's default dtype.
    Raises ValueError for n_steps < 1 or eps outside (0, T).
    """
    n_steps = check_integer(n_steps, "n_steps")
    eps = check_eps(sde, eps)
    return host_array(linspace_floats(float(sde.T), eps, n_steps), like)


@dataclass(frozen=True)
class Node:
    """One time of a solver: t, alpha_t, sigma_t and lam = log(alpha_t / sigma_t) (half log-SNR), all floats."""

    t: float
    alpha: float
    sigma: float
    lam: float

    @property
    def edm_sigma(self) -> float:
        """The EDM noise level sigma_t / alpha_t = exp(-lam) (Karras et al. 2022, eq. 4 with s = alpha)."""
        return self.sigma / self.alpha


def wide_dtype(like: Array) -> Any:
    """float64 of ``like``'s namespace when its device supports it, else ``like``'s dtype."""
    xp = namespace_of(like)
    if like.dtype == xp.float64:
        return like.dtype
    try:
        xp.asarray(0.0, dtype=xp.float64, device=device_of(like))
    except Exception:  # e.g. torch on MPS has no float64
        return like.dtype
    return xp.float64


def _wide_array(values: Sequence[float], like: Array) -> Array:
    xp = namespace_of(like)
    return xp.asarray([float(v) for v in values], dtype=wide_dtype(like), device=device_of(like))


def nodes_at(sde: Any, times: Sequence[float], like: Array) -> list[Node]:
    """The :class:`Node` of each time (Python floats in [0, T]); ValueError where lambda_t is not finite."""
    if not times:
        return []
    t = _wide_array(times, like)
    alpha, sigma = sde.marginal_coefficients(t)
    lam = 0.5 * sde.log_snr(t)  # lambda = log(alpha / sigma) = log_snr / 2
    columns = zip(times, host_floats(alpha), host_floats(sigma), host_floats(lam))  # one transfer per array
    nodes = [Node(float(ti), a, s, lm) for ti, a, s, lm in columns]
    for node in nodes:
        if not (math.isfinite(node.lam) and node.sigma > 0.0 and node.alpha > 0.0):
            raise ValueError(
                f"the log-SNR is not finite at t = {node.t} (alpha_t = {node.alpha}, sigma_t = {node.sigma}); "
                "these samplers need alpha_t > 0 and sigma_t > 0 on [eps, T] (sigma_eps = 0: choose a larger eps)"
            )
    return nodes


def times_at(sde: Any, lams: Sequence[float], like: Array) -> list[float]:
    """Times with half log-SNR ``lams`` (via :meth:`refsde.SDE.t_from_log_snr` of 2 lam), as floats."""
    if not lams:
        return []
    return host_floats(sde.t_from_log_snr(2.0 * _wide_array(lams, like)))  # log_snr = 2 lam, one transfer


def nodes_at_lam(sde: Any, lams: Sequence[float], like: Array) -> list[Node]:
    """The nodes at the times whose half log-SNR is ``lams`` (lam recomputed from the time found)."""
    return nodes_at(sde, times_at(sde, lams, like), like)


def exponential_grid(sde: Any, n_steps: Any, eps: Any, grid: Any, like: Array) -> list[Node]:
    """The nodes of ``grid``: a spacing name (``"uniform_t"`` or ``"uniform_logsnr"``, n_steps + 1 points
    from T to eps; eps None means 1e-3) or an array of times (:func:`._loop.sampler_grid`)."""
    if not isinstance(grid, str):
        return nodes_at(sde, sampler_grid(sde, n_steps, eps, grid), like)
    check_choice(grid, SPACINGS, "grid")
    if n_steps is None:
        raise ValueError("give n_steps (an integer >= 1) or grid as an array of times")
    times = sampler_grid(sde, n_steps, eps, None)
    if grid == "uniform_t":
        return nodes_at(sde, times, like)
    n = len(times) - 1
    first, last = nodes_at(sde, [times[0], times[-1]], like)
    dlam = last.lam - first.lam
    # lambda_k = lambda_T + (k / n) (lambda_eps - lambda_T), uniform in log-SNR (Lu et al. 2022, Sec. 3.4)
    inner = times_at(sde, [first.lam + (k / n) * dlam for k in range(1, n)], like)
    return [first] + nodes_at(sde, inner, like) + [last]


def rho_sigmas(sigma_max: float, sigma_min: float, n_steps: int, rho: float) -> list[float]:
    """EDM's rho grid from sigma_max down to sigma_min: n_steps + 1 floats, both ends exact (Karras et al. eq. 5)."""
    n_steps = check_integer(n_steps, "n_steps")
    rho = check_positive("rho", rho)
    if not 0.0 < sigma_min < sigma_max < math.inf:
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf, got {sigma_min}, {sigma_max}")
    a, b = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    # sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, N - 1 = n_steps (EDM eq. 5)
    inner = [(a + (i / n_steps) * (b - a)) ** rho for i in range(1, n_steps)]
    return [sigma_max] + inner + [sigma_min]


def edm_grid(sde: Any, n_steps: Any, eps: Any, rho: float, like: Array) -> list[Node]:
    """The n_steps + 1 nodes of the rho grid in sigma~ = sigma_t / alpha_t between t = T and t = eps.

    Times come from t_lambda(-2 log sigma~) (the log-SNR of noise level sigma~ is -2 log sigma~).
    """
    times = sampler_grid(sde, n_steps, eps, None)
    first, last = nodes_at(sde, [times[0], times[-1]], like)
    sig = rho_sigmas(first.edm_sigma, last.edm_sigma, len(times) - 1, rho)
    inner = times_at(sde, [-math.log(s) for s in sig[1:-1]], like)  # half log-SNR lam = -log sigma~
    return [first] + nodes_at(sde, inner, like) + [last]
