"""EDM's Heun sampler (Karras et al. 2022, Alg. 1, and Alg. 2 with stochastic churn) for any refsde SDE.

EDM variables: noise level sigma~ = sigma_t / alpha_t = exp(-lambda) (lambda = log(alpha / sigma)) and
state x~ = x / alpha_t.  In them the probability-flow ODE is (Karras et al. eq. 4 with s(t) = alpha_t)

    dx~ / dsigma~ = (x~ - D(x~; sigma~)) / sigma~ = eps_hat(alpha_t x~, t) = -sigma_t s(alpha_t x~, t),

D(x~; sigma~) = x0_hat the denoiser and t = t_lambda(-2 log sigma~) the time of noise level sigma~.

Conventions chosen here:

* Grid: the rho grid (EDM eq. 5) from sigma~(T) down to sigma~(eps), n_steps + 1 points with both ends
  exact (:func:`refsde.sampling.grids.edm_grid`); EDM's N is n_steps + 1 and there is no final
  step to sigma~ = 0.  ``grid=`` gives any decreasing array of times instead (n_steps and eps then follow
  from it).  ``info.grid`` holds the times t_k of the grid points.
* Every step is a Heun step (Euler predictor + trapezoidal correction, 2 score evaluations): EDM Alg. 1
  skips the correction on its last step only because that step ends at sigma~ = 0; here the last step
  ends at sigma~(eps) > 0, so nfe = 2 n_steps.
* Churn (Alg. 2): gamma_k = min(churn / n_steps, sqrt(2) - 1) where s_tmin <= sigma~_k <= s_tmax (the
  bounds are EDM noise levels sigma~, not times), else 0; then additionally capped so that
  sigma^_k = (1 + gamma_k) sigma~_k <= sigma~(T), because the score is only defined for t in [0, T]
  (so step 0 never churns).  x^ = x~ + sqrt(sigma^^2 - sigma~^2) s_noise z, and the Heun step starts
  from (x^, sigma^).  Noise: ``noise[k]`` (shape (n_steps, *x_T.shape)) or the k-th draw of ``rng``
  drives step k; with churn > 0 one draw is made per step, also where gamma_k = 0.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .._arrays import Array
from .._checks import CheckedScore, check_positive, check_state
from ._loop import NaNWatch, NoiseSource, SampleInfo, check_sde, steps
from .exponential import noise_prediction, sample_info
from .grids import Node, edm_grid, exponential_grid, nodes_at_lam


def _check_churn_args(churn: Any, s_tmin: Any, s_tmax: Any, s_noise: Any) -> tuple[float, float, float, float]:
    churn = check_positive("churn", churn, allow_zero=True)
    s_noise = check_positive("s_noise", s_noise, allow_zero=True)
    try:
        lo, hi = float(s_tmin), float(s_tmax)
    except (TypeError, ValueError):
        raise ValueError(f"s_tmin and s_tmax must be floats, got {s_tmin!r}, {s_tmax!r}") from None
    if not (0.0 <= lo <= hi):  # also rejects NaN; s_tmax may be inf
        raise ValueError(f"need 0 <= s_tmin <= s_tmax, got s_tmin = {lo}, s_tmax = {hi}")
    return churn, lo, hi, s_noise


def churn_gammas(sigmas: list[float], n_steps: int, churn: float, s_tmin: float, s_tmax: float) -> list[float]:
    """gamma_k of EDM Alg. 2 for the step starting at sigmas[k], capped so (1 + gamma_k) sigmas[k] <= sigmas[0]."""
    g = min(churn / n_steps, math.sqrt(2.0) - 1.0)  # gamma = min(S_churn / N, sqrt(2) - 1) (EDM Alg. 2)
    out = []
    for sig in sigmas[:-1]:
        gamma = g if s_tmin <= sig <= s_tmax else 0.0  # only for S_tmin <= sigma_i <= S_tmax (Alg. 2)
        out.append(max(0.0, min(gamma, sigmas[0] / sig - 1.0)))  # keep sigma^ <= sigma~(T)
    return out


def sample_edm_heun(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float | None = None,
    grid: Any = None,
    rho: float = 7.0,
    churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    rng: Any = None,
    noise: Any = None,
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """EDM Heun sampler on the rho grid from T down to eps (conventions in the module docstring).

    Args:
        score_fn, sde, x_T, n_steps, eps, progress: as in :func:`refsde.sampling.sample_ddim`.
        grid: None (the rho grid) or an array of times t_0 > ... > t_n in (0, T].
        rho: exponent of the rho grid (EDM eq. 5), > 0; 7 as in EDM.
        churn: S_churn >= 0 (0: the deterministic Alg. 1).
        s_tmin, s_tmax: churn only where s_tmin <= sigma~_k <= s_tmax (EDM noise levels).
        s_noise: S_noise >= 0, scale of the churn noise.
        rng, noise: noise source for churn > 0 (not both); ``noise`` of shape (n_steps, *x_T.shape).

    Returns:
        (x, info): x like x_T; info.nfe = 2 n_steps; info.grid the times of the n_steps + 1 grid points.
    """
    check_sde(sde)
    check_state(x_T)
    churn, s_tmin, s_tmax, s_noise = _check_churn_args(churn, s_tmin, s_tmax, s_noise)
    if grid is None:
        nodes = edm_grid(sde, n_steps, eps, rho, x_T)
    else:
        check_positive("rho", rho)
        nodes = exponential_grid(sde, n_steps, eps, grid, x_T)
    n_steps = len(nodes) - 1
    score = CheckedScore(score_fn, nan="first")  # NaN: the first output, then the state (_loop)
    sigmas = [node.edm_sigma for node in nodes]
    gammas = churn_gammas(sigmas, n_steps, churn, s_tmin, s_tmax)
    churned = [k for k in range(n_steps) if gammas[k] > 0.0]
    hat_nodes = dict(zip(churned, nodes_at_lam(sde, [-math.log((1.0 + gammas[k]) * sigmas[k]) for k in churned], x_T)))
    source = NoiseSource(x_T, (n_steps,), noise=noise, rng=rng) if (churn > 0.0 or noise is not None) else None
    E = noise_prediction(score, x_T)

    def slope(y: Array, node: Node) -> Array:
        return E(node.alpha * y, node)  # dx~/dsigma~ = (x~ - D(x~; sigma~)) / sigma~ = eps_hat(alpha_t x~, t)

    watch = NaNWatch(x_T, [node.t for node in nodes])
    y = (1.0 / nodes[0].alpha) * x_T  # x~ = x / alpha_T (EDM eq. 4 scaling with s(t) = alpha_t)
    for k in steps(n_steps, progress, "edm_heun"):
        sig, sig_next = sigmas[k], sigmas[k + 1]
        z = source.draw(k) if churn > 0.0 else None
        node_hat, sig_hat = nodes[k], sig
        if gammas[k] > 0.0:
            node_hat, sig_hat = hat_nodes[k], (1.0 + gammas[k]) * sig  # sigma^ = (1 + gamma) sigma (Alg. 2)
            # x^ = x~ + sqrt(sigma^^2 - sigma~^2) S_noise z (Alg. 2), with sqrt(...) = sigma~ sqrt(gamma (2 + gamma))
            y = y + (sig * math.sqrt(gammas[k] * (2.0 + gammas[k])) * s_noise) * z
        d = slope(y, node_hat)
        y_euler = y + (sig_next - sig_hat) * d  # Euler step x_{i+1} = x^ + (sigma_{i+1} - sigma^) d (Alg. 2)
        d_next = slope(y_euler, nodes[k + 1])
        y = y + (0.5 * (sig_next - sig_hat)) * (d + d_next)  # Heun: x^ + (sigma_{i+1} - sigma^)(d + d')/2 (Alg. 2)
        watch.after(k, y)
    x = nodes[-1].alpha * y  # x = alpha_eps x~ (back from EDM eq. 4 scaling)
    return x, sample_info(score, nodes, "edm_heun", x_T)
