"""Exponential integrators of the probability-flow ODE on log-SNR time: DDIM, DPM-Solver-1/2/3,
DPM-Solver++(2M) and (3M), for any refsde SDE (written with alpha_t, sigma_t and lambda_t).

Notation (Lu et al. 2022): lambda = log(alpha / sigma) is the *half* log-SNR, h = lambda_s - lambda_t > 0
for a step from node t towards less noise at node s; noise prediction eps_hat(x, t) = -sigma_t s(x, t) and
data prediction x0_hat(x, t) = (x + sigma_t^2 s(x, t)) / alpha_t.  Nodes are
:class:`refsde.sampling.grids.Node` (floats t, alpha, sigma, lam), tabulated once per grid; every
coefficient is a Python float, so the state keeps its namespace, dtype and device.  expm1 is used for every
e^h - 1 and :func:`phi2` for (e^h - 1) / h - 1 = h phi_2(h), so no coefficient cancels for small h.

**DDIM** (Song, Meng & Ermon 2021): one step from t down to s, eq. 12 with sqrt(abar) -> alpha and
sqrt(1 - abar) -> sigma:

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,
    x0_hat = (x_t - sigma_t eps_hat) / alpha_t,   eps_hat = -sigma_t s(x_t, t),
    c = eta (sigma_s / sigma_t) sqrt(sigma_t^2 - alpha_t^2 sigma_s^2 / alpha_s^2) = eta sigma_s sqrt(1 - e^{-2h}).

c^2 with eta = 1 is the variance of the forward posterior q(x_s | x_t, x_0) of the SDE's own transition
q(x_t | x_s) = N((alpha_t/alpha_s) x_s, sigma_t^2 - alpha_t^2 sigma_s^2 / alpha_s^2); for VP
(sigma^2 = 1 - alpha^2) it is DDIM's sigma_t(eta)^2 = eta^2 (1 - abar_s)/(1 - abar_t) (1 - abar_t / abar_s).
In stable form, with rho = sqrt(1 - eta^2 (1 - e^{-2h})):

    x_s = (alpha_s / alpha_t) x_t - sigma_s [expm1(h) + eta^2 (-expm1(-2h)) / (1 + rho)] eps_hat + c z,

so eta = 0 is exactly DPM-Solver-1, the first-order exponential integrator of the PF ODE.  Noise is
added on every step, the last one included.

**DPM-Solver** (:func:`sample_dpm_solver`): singlestep DPM-Solver-k, k = ``order`` in {1, 2, 3}: each step
makes k noise predictions (nfe = k n_steps), intermediate nodes at lambda_t + r h with r1 = 1/2 for k = 2
(Alg. 1) and r1 = 1/3, r2 = 2/3 for k = 3 (Alg. 2).  **DPM-Solver++(2M)** (:func:`sample_dpm_solver_pp_2m`):
multistep with data prediction: the first step is first order, every later step uses the previous
x0_hat (Alg. 2 of Lu et al. 2022b, no lower-order final step); nfe = n_steps.  **DPM-Solver++(3M)**
(:func:`sample_dpm_solver_pp_3m`): the same with the two previous x0_hat from the third step on; its
published code halves the quadratic term (order 2), which ``variant="dpm_solver"`` reproduces.

Grids (``grid=``): ``"uniform_logsnr"`` (the DPM-Solvers' default, as in the papers), ``"uniform_t"``
(DDIM's default, its uniform skip), or any decreasing array of times (:mod:`.grids`).  Stage nodes are
always placed uniformly in lambda inside a step.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

from .._arrays import Array, host_array
from .._checks import CheckedScore, check_state
from ._loop import NaNWatch, NoiseSource, SampleInfo, check_sde, steps, time_scalars
from .grids import Node, exponential_grid, nodes_at_lam

Predict = Callable[[Array, Node], Array]


# ---- the score as noise and data prediction ------------------------------------------------------------
def noise_prediction(score: CheckedScore, like: Array) -> Predict:
    """E(x, node) = eps_hat(x, t) = -sigma_t s(x, t), with t passed to the score as a 0-d array like ``like``."""
    make_t = time_scalars(like)

    def E(x: Array, node: Node) -> Array:
        return (-node.sigma) * score(x, make_t(node.t))  # eps_hat = -sigma_t grad log p_t (Lu et al. 2022, Sec. 2)

    return E


def data_prediction(score: CheckedScore, like: Array) -> Predict:
    """X(x, node) = x0_hat(x, t) = (x + sigma_t^2 s(x, t)) / alpha_t (Tweedie's formula)."""
    make_t = time_scalars(like)

    def X(x: Array, node: Node) -> Array:
        s = score(x, make_t(node.t))
        return (1.0 / node.alpha) * x + (node.sigma * node.sigma / node.alpha) * s  # x0_hat = (x + sigma^2 s) / alpha

    return X


def start_nodes(score_fn: Any, sde: Any, x_T: Array, n_steps: Any, eps: Any, grid: Any) -> tuple[list[Node], CheckedScore, NaNWatch]:
    """The common start of the exponential and EDM samplers: grid nodes, checked score (NaN on the first call)
    and the state's NaN watch.  Every prediction of DDIM, DPM-Solver-1/2, DPM-Solver++(2M) and EDM enters the
    new state with a coefficient (IEEE keeps a NaN through c * e even for c = 0); DPM-Solver-3's first stage
    enters it only through the next stage's input and is registered with :meth:`NaNWatch.also`."""
    check_sde(sde)
    check_state(x_T)
    nodes = exponential_grid(sde, n_steps, eps, grid, x_T)
    return nodes, CheckedScore(score_fn, nan="first"), NaNWatch(x_T, [node.t for node in nodes])


def sample_info(score: CheckedScore, nodes: list[Node], method: str, like: Array) -> SampleInfo:
    """SampleInfo with the grid times t_0 > ... > t_n in ``like``'s dtype and device."""
    return SampleInfo(score.nfe, host_array([node.t for node in nodes], like), len(nodes) - 1, 0, method)


# ---- single steps ---------------------------------------------------------------------------------------
def phi2(h: float) -> float:
    """phi_2(h) = (e^h - 1 - h) / h^2 (Taylor series 1/2 + h/6 + ... for |h| < 1e-2, where the quotient cancels)."""
    if abs(h) < 1e-2:
        # phi_2(h) = sum_k h^k / (k + 2)!, truncated after h^5 (remainder < 1e-17)
        return 0.5 + h * (1 / 6 + h * (1 / 24 + h * (1 / 120 + h * (1 / 720 + h / 5040))))
    return (math.expm1(h) - h) / (h * h)


def phi3(h: float) -> float:
    """phi_3(h) = (e^h - 1 - h - h^2 / 2) / h^3 (Taylor series 1/6 + h/24 + ... for |h| < 0.2, where the quotient
    loses more than 1e-13 to cancellation)."""
    if abs(h) < 0.2:
        # phi_3(h) = sum_k h^k / (k + 3)!, k = 0..10 (remainder < 3e-19)
        return sum(h**k / math.factorial(k + 3) for k in range(11))
    return (math.expm1(h) - h - 0.5 * h * h) / (h * h * h)


def first_order(x: Array, e: Array, t: Node, s: Node) -> Array:
    """x_s = (alpha_s / alpha_t) x_t - sigma_s (e^h - 1) eps_hat (DPM-Solver-1, Lu et al. 2022 eq. 3.7; = DDIM)."""
    h = s.lam - t.lam
    return (s.alpha / t.alpha) * x - (s.sigma * math.expm1(h)) * e  # Lu et al. eq. 3.7


def dpm_solver_1(E: Predict, x: Array, t: Node, s: Node) -> Array:
    """DPM-Solver-1: one noise prediction at t (order 1)."""
    return first_order(x, E(x, t), t, s)


def dpm_solver_2(E: Predict, x: Array, t: Node, s1: Node, s: Node, r1: float) -> Array:
    """DPM-Solver-2 (Lu et al. 2022, Alg. 1): intermediate node s1 at lambda_t + r1 h; 2 predictions (order 2)."""
    e0 = E(x, t)
    u = first_order(x, e0, t, s1)  # u = (alpha_s1/alpha_t) x - sigma_s1 (e^{r1 h} - 1) eps_t (Alg. 1)
    e1 = E(u, s1)
    h = s.lam - t.lam
    # x_s = (alpha_s/alpha_t) x - sigma_s (e^h - 1) eps_t - sigma_s/(2 r1) (e^h - 1)(eps(u, s1) - eps_t) (Alg. 1)
    return first_order(x, e0, t, s) - (s.sigma * math.expm1(h) / (2.0 * r1)) * (e1 - e0)


def dpm_solver_3(
    E: Predict, x: Array, t: Node, s1: Node, s2: Node, s: Node, r1: float, r2: float,
    watch: Callable[[Array], None] | None = None,
) -> Array:
    """DPM-Solver-3 (Lu et al. 2022, Alg. 2): nodes s1, s2 at lambda_t + r1 h and lambda_t + r2 h; 3 predictions.

    D_1 enters x_s only through u_2 (the input of the third prediction), so it is passed to ``watch``.
    """
    e0 = E(x, t)
    u1 = first_order(x, e0, t, s1)  # u_1 = (alpha_s1/alpha_t) x - sigma_s1 (e^{r1 h} - 1) eps_t (Alg. 2)
    d1 = E(u1, s1) - e0  # D_1 = eps(u_1, s_1) - eps_t (Alg. 2)
    if watch is not None:
        watch(d1)
    h2 = s2.lam - t.lam
    # u_2 = (a_s2/a_t) x - sigma_s2 (e^{r2 h} - 1) eps_t - sigma_s2 (r2/r1)((e^{r2 h} - 1)/(r2 h) - 1) D_1 (Alg. 2)
    u2 = first_order(x, e0, t, s2) - (s2.sigma * (r2 / r1) * h2 * phi2(h2)) * d1
    d2 = E(u2, s2) - e0  # D_2 = eps(u_2, s_2) - eps_t (Alg. 2)
    h = s.lam - t.lam
    # x_s = (alpha_s/alpha_t) x - sigma_s (e^h - 1) eps_t - (sigma_s / r2)((e^h - 1)/h - 1) D_2 (Alg. 2)
    return first_order(x, e0, t, s) - (s.sigma / r2 * h * phi2(h)) * d2


def data_first_order(x: Array, d: Array, t: Node, s: Node) -> Array:
    """x_s = (sigma_s / sigma_t) x_t - alpha_s (e^{-h} - 1) D (first-order DPM-Solver++, Lu et al. 2022b Alg. 2)."""
    h = s.lam - t.lam
    return (s.sigma / t.sigma) * x - (s.alpha * math.expm1(-h)) * d  # Lu et al. 2022b, Alg. 2


def dpm_solver_pp_2m(x: Array, d0: Array, d_prev: Array, t_prev: Node, t: Node, s: Node) -> Array:
    """DPM-Solver++(2M) multistep update from t to s with x0_hat at t (d0) and at the previous node (d_prev)."""
    r = (t.lam - t_prev.lam) / (s.lam - t.lam)  # r_i = h_{i-1} / h_i (Lu et al. 2022b, Alg. 2)
    D = (1.0 + 0.5 / r) * d0 - (0.5 / r) * d_prev  # D_i = (1 + 1/(2 r_i)) x0_{i-1} - 1/(2 r_i) x0_{i-2} (Alg. 2)
    return data_first_order(x, D, t, s)


#: The factor on the D2 term of DPM-Solver++(3M): "taylor" integrates the quadratic through the last three data
#: predictions exactly (third order); "dpm_solver" is the published code's term (dpm-solver, diffusers,
#: k-diffusion), half of that, which integrates quadratics by half and converges at order 2.
THIRD_ORDER_VARIANTS = {"taylor": 2.0, "dpm_solver": 1.0}


def dpm_solver_pp_3m(x: Array, d0: Array, d1: Array, d2: Array, t_pp: Node, t_prev: Node, t: Node, s: Node,
                     quadratic: float = 2.0) -> Array:
    """DPM-Solver++(3M) multistep update from t to s with x0_hat at t (d0) and the two previous nodes (d1, d2).

    With h = lambda_s - lambda_t, h_0, h_1 the previous steps and r_j = h_j / h (Lu et al. 2022b's code):
    D1_0 = (d0 - d1) / r0, D1_1 = (d1 - d2) / r1, D1 = D1_0 + r0 / (r0 + r1) (D1_0 - D1_1) (= h x0' + O(h^3)),
    D2 = (D1_0 - D1_1) / (r0 + r1) (= h^2 x0'' / 2 + O(h^3)), and the exact integral of
    e^lambda (x0 + x0' tau + x0'' tau^2 / 2) over the step gives
    x_s = (sigma_s / sigma_t) x - alpha_s expm1(-h) d0 + alpha_s h phi_2(-h) D1 + alpha_s h phi_3(-h) (2 D2),
    i.e. ``quadratic = 2``; the published code uses ``quadratic = 1`` (see :data:`THIRD_ORDER_VARIANTS`).
    """
    h = s.lam - t.lam
    r0, r1 = (t.lam - t_prev.lam) / h, (t_prev.lam - t_pp.lam) / h
    D1_0 = (1.0 / r0) * (d0 - d1)
    D1_1 = (1.0 / r1) * (d1 - d2)
    D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1)
    D2 = (1.0 / (r0 + r1)) * (D1_0 - D1_1)
    # (e^{-h} - 1 + h) / h = h phi_2(-h) and (e^{-h} - 1 + h - h^2/2) / h^2 = -h phi_3(-h), without cancellation
    return (data_first_order(x, d0, t, s) + (s.alpha * h * phi2(-h)) * D1
            + (quadratic * s.alpha * h * phi3(-h)) * D2)


# ---- samplers -------------------------------------------------------------------------------------------
def _check_eta(eta: Any) -> float:
    try:
        value = float(eta)
    except (TypeError, ValueError):
        raise ValueError(f"eta must be a float in [0, 1], got {eta!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"eta must be a float in [0, 1], got {value}")
    return value


def sample_ddim(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float | None = None,
    eta: float = 0.0,
    rng: Any = None,
    noise: Any = None,
    grid: Any = "uniform_t",
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """DDIM sampling from T down to eps in ``n_steps`` steps (one score evaluation per step).

    Args:
        score_fn: s(x, t) ~ grad log p_t(x), called with x of x_T's shape and t a 0-d array of its dtype.
        sde: any refsde SDE (VP, sub-VP, VE in either convention, ScheduleSDE).
        x_T: initial state, shape (n, *dims).
        n_steps: number of steps (>= 1); follows from ``grid`` when that is an array.
        eps: final time, 0 < eps < T (default 1e-3).
        eta: 0 (deterministic, = DPM-Solver-1) to 1 (the SDE's own ancestral posterior); see the module.
        rng, noise: noise source for eta > 0 (not both): an int seed / refsde RNG, or explicit draws of
            shape (n_steps, *x_T.shape) with ``noise[k]`` driving step k.  Unused when eta = 0.
        grid: ``"uniform_t"`` (linspace(T, eps, n_steps + 1), DDIM's uniform skip), ``"uniform_logsnr"``, or
            any decreasing array of times t_0 > ... > t_n in (0, T] (n_steps and eps then follow from it).
        progress: show a tqdm bar if tqdm is installed.

    Returns:
        (x, info): x like x_T; info.nfe = n_steps, info.grid the n_steps + 1 times.
    """
    eta = _check_eta(eta)
    nodes, score, watch = start_nodes(score_fn, sde, x_T, n_steps, eps, grid)
    n = len(nodes) - 1
    source = NoiseSource(x_T, (n,), noise=noise, rng=rng) if (eta > 0.0 or noise is not None) else None
    E = noise_prediction(score, x_T)
    x = x_T
    for k in steps(n, progress, "ddim"):
        t, s = nodes[k], nodes[k + 1]
        e = E(x, t)
        h = s.lam - t.lam
        one_minus = -math.expm1(-2.0 * h)  # 1 - e^{-2h} = 1 - alpha_t^2 sigma_s^2 / (alpha_s^2 sigma_t^2)
        rho = math.sqrt(1.0 - eta * eta * one_minus)  # sqrt(sigma_s^2 - c^2) / sigma_s
        # x_s = (alpha_s/alpha_t) x_t + (sqrt(sigma_s^2 - c^2) - sigma_s e^h) eps_hat (DDIM eq. 12, stable form)
        x = (s.alpha / t.alpha) * x - (s.sigma * (math.expm1(h) + eta * eta * one_minus / (1.0 + rho))) * e
        if eta > 0.0:
            x = x + (eta * s.sigma * math.sqrt(one_minus)) * source.draw(k)  # + c z, c = eta sigma_s sqrt(1 - e^{-2h})
        watch.after(k, x)
    return x, sample_info(score, nodes, f"ddim(eta={eta})", x_T)


#: Intermediate-node fractions r of each order (Lu et al. 2022: r1 = 1/2 in Alg. 1; r1 = 1/3, r2 = 2/3 in Alg. 2).
STAGE_FRACTIONS = {1: (), 2: (0.5,), 3: (1.0 / 3.0, 2.0 / 3.0)}


def _check_order(order: Any) -> int:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or int(order) not in STAGE_FRACTIONS:
        raise ValueError(f"order must be 1, 2 or 3, got {order!r}")
    return int(order)


def sample_dpm_solver(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    order: int = 2,
    eps: float | None = None,
    grid: Any = "uniform_logsnr",
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Singlestep DPM-Solver-``order`` from T down to eps in ``n_steps`` steps (deterministic).

    Args:
        score_fn, sde, x_T, n_steps, eps, progress: as in :func:`refsde.sampling.sample_ddim`.
        order: 1 (= DDIM with eta = 0), 2 or 3 (global order of convergence in the step size).
        grid: ``"uniform_logsnr"``, ``"uniform_t"`` or an array of times (as in :func:`sample_ddim`).

    Returns:
        (x, info): x like x_T; info.nfe = order * n_steps; info.grid the n_steps + 1 step times
        (the intermediate stage times are not recorded).
    """
    order = _check_order(order)
    nodes, score, watch = start_nodes(score_fn, sde, x_T, n_steps, eps, grid)
    fractions = STAGE_FRACTIONS[order]
    # stage nodes at lambda_t + r h of every step (Lu et al. 2022, Algs. 1-2)
    lams = [t.lam + r * (s.lam - t.lam) for t, s in zip(nodes[:-1], nodes[1:]) for r in fractions]
    stages = nodes_at_lam(sde, lams, x_T)
    m = len(fractions)
    E = noise_prediction(score, x_T)
    x = x_T
    for k in steps(len(nodes) - 1, progress, f"dpm_solver({order})"):
        t, s, mid = nodes[k], nodes[k + 1], stages[m * k : m * (k + 1)]
        if order == 1:
            x = dpm_solver_1(E, x, t, s)
        elif order == 2:
            x = dpm_solver_2(E, x, t, mid[0], s, fractions[0])
        else:
            x = dpm_solver_3(E, x, t, mid[0], mid[1], s, fractions[0], fractions[1], watch=watch.also)
        watch.after(k, x)
    return x, sample_info(score, nodes, f"dpm_solver(order={order})", x_T)


def _multistep_pp(score_fn: Any, sde: Any, x_T: Array, n_steps: Any, eps: Any, grid: Any, order: int,
                  quadratic: float, progress: bool, name: str) -> tuple[Array, SampleInfo]:
    """Multistep DPM-Solver++ of ``order`` 2 or 3: first order on the first step, 2M on the second, then ``order``."""
    nodes, score, watch = start_nodes(score_fn, sde, x_T, n_steps, eps, grid)
    X = data_prediction(score, x_T)
    x = x_T
    history: list[Array] = []  # x0_hat at the previous nodes, most recent first
    for k in steps(len(nodes) - 1, progress, name):
        t, s = nodes[k], nodes[k + 1]
        d = X(x, t)
        if k == 0:
            x = data_first_order(x, d, t, s)  # first step: first order (Lu et al. 2022b, Alg. 2)
        elif k == 1 or order == 2:
            x = dpm_solver_pp_2m(x, d, history[0], nodes[k - 1], t, s)
        else:
            x = dpm_solver_pp_3m(x, d, history[0], history[1], nodes[k - 2], nodes[k - 1], t, s, quadratic)
        history = [d] + history[: order - 2]
        watch.after(k, x)
    return x, sample_info(score, nodes, name, x_T)


def sample_dpm_solver_pp_2m(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float | None = None,
    grid: Any = "uniform_logsnr",
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Multistep DPM-Solver++(2M) from T down to eps in ``n_steps`` steps (deterministic, order 2).

    Args:
        score_fn, sde, x_T, n_steps, eps, progress: as in :func:`refsde.sampling.sample_ddim`.
        grid: ``"uniform_logsnr"``, ``"uniform_t"`` or an array of times (as in :func:`sample_ddim`).

    Returns:
        (x, info): x like x_T; info.nfe = n_steps; info.grid the n_steps + 1 step times.
    """
    return _multistep_pp(score_fn, sde, x_T, n_steps, eps, grid, 2, 0.0, progress, "dpm_solver_pp_2m")


def sample_dpm_solver_pp_3m(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float | None = None,
    grid: Any = "uniform_logsnr",
    variant: str = "taylor",
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Multistep DPM-Solver++(3M) from T down to eps in ``n_steps`` steps (deterministic).

    The first step is first order and the second 2M (no lower-order final steps).  ``variant``:
    ``"taylor"`` (default) integrates the quadratic through the last three data predictions exactly, order 3;
    ``"dpm_solver"`` is the update of the published code (dpm-solver, diffusers, k-diffusion), whose
    quadratic term is half of that, so it converges at order 2 (:func:`dpm_solver_pp_3m`).

    Args:
        score_fn, sde, x_T, n_steps, eps, progress: as in :func:`refsde.sampling.sample_ddim`.
        grid: ``"uniform_logsnr"``, ``"uniform_t"`` or an array of times (as in :func:`sample_ddim`).

    Returns:
        (x, info): x like x_T; info.nfe = n_steps; info.grid the n_steps + 1 step times.
    """
    if variant not in THIRD_ORDER_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {tuple(THIRD_ORDER_VARIANTS)}")
    return _multistep_pp(score_fn, sde, x_T, n_steps, eps, grid, 3, THIRD_ORDER_VARIANTS[variant], progress,
                         f"dpm_solver_pp_3m({variant})")
