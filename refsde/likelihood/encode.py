"""Encode data to the latent x(T) and decode latents back through the probability-flow ODE."""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array
from .._checks import CheckedScore, check_eps, check_state
from .flow import solver_drift


def _flow(
    score_fn: Callable[[Array, Any], Array], sde: Any, x: Array, t0: float, t1: float, options: dict[str, Any]
) -> tuple[Array, Any]:
    from ..ode import solve_ode

    score = CheckedScore(score_fn, nan="first")

    def drift(t: Array, y: Array) -> Array:
        return solver_drift(sde, score, y, t)  # dx/dt = f x - g^2 s / 2 (eq. 13)

    return solve_ode(drift, x, t0, t1, **options)


def encode(
    score_fn: Callable[[Array, Any], Array],
    sde: Any,
    x: Array,
    *,
    eps: float = 1e-5,
    method: str = "rk45",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    n_steps: int | None = None,
    error_norm: str = "batch",
    return_info: bool = False,
) -> Any:
    """z = x(T): the probability-flow ODE solved forward from x(eps) = x to t = T.

    ``x`` has shape (n, *dims); solver options as in :func:`refsde.ode.solve_ode`.  Returns z of x's
    shape, namespace, dtype and device, or (z, ODEInfo) with ``return_info`` (info.nfe = score calls).
    ValueError for eps outside (0, T), NaN in x or a bad score output.
    """
    check_state(x)
    eps = check_eps(sde, eps)
    opts = dict(method=method, rtol=rtol, atol=atol, n_steps=n_steps, error_norm=error_norm)
    z, info = _flow(score_fn, sde, x, eps, sde.T, opts)
    return (z, info) if return_info else z


def decode(
    score_fn: Callable[[Array, Any], Array],
    sde: Any,
    z: Array,
    *,
    eps: float = 1e-5,
    method: str = "rk45",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    n_steps: int | None = None,
    error_norm: str = "batch",
    return_info: bool = False,
) -> Any:
    """x = x(eps): the probability-flow ODE solved backward from x(T) = z to t = eps (inverse of :func:`encode`).

    Same arguments and return convention as :func:`encode`.
    """
    check_state(z, "z")
    eps = check_eps(sde, eps)
    opts = dict(method=method, rtol=rtol, atol=atol, n_steps=n_steps, error_norm=error_norm)
    x, info = _flow(score_fn, sde, z, sde.T, eps, opts)
    return (x, info) if return_info else x
