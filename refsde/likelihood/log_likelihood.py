"""Log-likelihood of data under the probability-flow ODE (Song et al. 2021, Sec. 4.3 and App. D.2).

Sign convention (instantaneous change of variables, Chen et al. 2018): along a solution of
dx/dt = F(x, t) a density transported by the flow obeys d/dt log p_t(x(t)) = -div_x F(x(t), t), hence

    log p_eps(x(eps)) = log p_T(x(T)) + integral_eps^T div_x F(x(t), t) dt.

The solver integrates the augmented state (x, delta) from t = eps to t = T with d(delta)/dt = div F,
delta(eps) = 0, and log p = log pi(x(T)) + delta(T).  Equivalently delta(T) = log|det dPhi/dx| of the
flow map Phi_{eps->T} (Liouville's formula).  Because the prior pi stands in for the true p_T, the
result is the density of the *model* (pi pushed through the inverse flow), which differs from p_eps
by log p_T(x(T)) - log pi(x(T)) even when the score is exact.
"""

from __future__ import annotations

from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import Array
from .._checks import CheckedScore, check_choice, check_eps, check_integer, check_probes, check_state
from .divergence import PROBES, draw_probes
from .flow import DIVERGENCES, ProbabilityFlow
from .info import LikelihoodInfo


def log_likelihood(
    score_fn: Callable[[Array, Any], Array],
    sde: Any,
    x: Array,
    *,
    eps: float = 1e-5,
    divergence: str = "exact",
    n_probes: int | None = None,
    probe: str = "gaussian",
    method: str = "rk45",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    n_steps: int | None = None,
    error_norm: str = "batch",
    rng: Any = None,
    probes: Array | None = None,
) -> tuple[Array, LikelihoodInfo]:
    """log p(x) in nats per sample from the probability-flow ODE integrated from eps to sde.T.

    Args:
        score_fn: ``score_fn(x, t)`` -> array of x's shape; ``t`` is a 0-d array (error_norm="batch" and
            fixed-step methods) or of shape (n,) (error_norm="sample").  An optional method
            ``score_fn.divergence(x, t)`` -> (n,) (as :class:`refsde.gaussian.ExactScore` has) is used for
            divergence="exact".
        sde: a refsde SDE (drift f(t) x, diffusion g(t), ``prior_logp``).
        x: data of shape (n, *dims), real floating; D = prod(dims).
        eps: start time, 0 < eps < T (the likelihood is that of the model's density at t = eps).
        divergence: "exact": the oracle ``score_fn.divergence`` if present, else D Jacobian-vector products
            with the backend's ``jvp`` (autodiff on torch / jax; central differences elsewhere, relative
            error ~1e-10 in float64, see :mod:`refsde.likelihood.divergence`).  "hutchinson": the unbiased
            estimate mean_k v_k^T J_s v_k with probes held fixed along the solve (n_probes jvps per call).
        n_probes: number of Hutchinson probes (default 1; with ``probes`` given it must match or be None).
        probe: "gaussian" (N(0, I)) or "rademacher" (uniform signs) probes drawn from ``rng``.
        method, rtol, atol, n_steps, error_norm: passed to :func:`refsde.ode.solve_ode`.
        rng: int seed, refsde RNG of x's backend, or None: the Hutchinson probes' generator.
        probes: explicit probes of shape (n_probes, *x.shape) (divergence="hutchinson" only).

    Returns:
        (log_p of shape (n,), :class:`LikelihoodInfo`), log_p in x's namespace, dtype and device.

    Raises:
        ValueError: eps outside (0, T), unknown divergence / probe / solver option, n_probes < 1, probes
            of the wrong shape, n_probes or probes given with divergence="exact", NaN in x, or a score_fn
            output of the wrong shape or with NaN (checked on the first call; a NaN appearing later makes
            the ODE state non-finite, which the solver reports as a ValueError naming the time).
    """
    from ..backends import backend_of
    from ..ode import solve_ode

    xp = check_state(x)
    eps = check_eps(sde, eps)
    check_choice(divergence, DIVERGENCES, "divergence")
    check_choice(probe, PROBES, "probe")
    if n_probes is not None:
        check_integer(n_probes, "n_probes")
    if probes is not None and divergence != "hutchinson":
        raise ValueError("probes are used only with divergence='hutchinson'")
    if n_probes is not None and divergence != "hutchinson":  # silently ignoring it would hide a mistake
        raise ValueError("n_probes is used only with divergence='hutchinson'")
    if divergence == "hutchinson":
        if probes is None:
            probes = draw_probes(probe, 1 if n_probes is None else int(n_probes), x, rng)
        else:
            probes = check_probes(probes, x, n_probes)
    backend = backend_of(x)
    score = CheckedScore(score_fn, nan="first")  # NaN: first call; later ones reach the ODE state
    jvp = getattr(backend, "trace_jvp", backend.jvp)  # J v or J^T v: the same diagonal and v^T J v
    flow = ProbabilityFlow(sde, score, divergence, jvp, probes)

    def augmented(t: Array, y: tuple[Array, Array]) -> tuple[Array, Array]:
        return flow.drift_and_divergence(y[0], t)  # d(x, delta)/dt = (F, div F)

    # the same with the solver's host time (refsde.ode's private protocol, see refsde.ode._state.checked_fun)
    augmented.with_host_time = lambda t, t_host, y: flow.drift_and_divergence(y[0], t, t_host)  # type: ignore[attr-defined]

    delta0 = xp.zeros((x.shape[0],), dtype=x.dtype, device=device_of(x))
    (z, delta), solver_info = solve_ode(
        augmented, (x, delta0), eps, sde.T,
        method=method, rtol=rtol, atol=atol, n_steps=n_steps, error_norm=error_norm,
    )
    prior = sde.prior_logp(z)
    how = "oracle" if flow.uses_oracle else ("jvp" if divergence == "exact" else "hutchinson")
    info = LikelihoodInfo(
        prior_logp=prior, delta_logp=delta, z=z, nfe=score.nfe, n_jvp=flow.n_jvp,
        n_divergence=score.divergence_calls, divergence=how, exact_jvp=bool(backend.exact_jvp),
        solver=solver_info,
    )
    return prior + delta, info  # log p_eps(x) = log pi(x_T) + int_eps^T div F dt
