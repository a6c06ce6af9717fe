"""What the exponential-integrator and EDM samplers share: validation, the score as noise / data
prediction at a :class:`Node`, and the :class:`SampleInfo` they return."""

from __future__ import annotations

from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import Array, namespace_of
from ._checks import check_eps, check_n_steps, check_state
from ._schedule import Node
from ._score import CheckedScore
from ._watch import NaNWatch
from .grid import time_scalar
from .info import SampleInfo


def check_common(score_fn: Any, sde: Any, x_T: Array, n_steps: Any, eps: Any) -> tuple[int, float, CheckedScore]:
    """(n_steps, eps, checked score): n_steps >= 1, 0 < eps < T, x_T of shape (n, *dims) without NaN.

    The score's output is checked for NaN on the first call only; the samplers watch their state for the
    rest (:func:`nan_watch`, :mod:`refsde.sampling._watch`), so the loop reads nothing from the device.
    """
    n_steps = check_n_steps(n_steps)
    eps = check_eps(sde, eps)
    check_state(x_T)
    return n_steps, eps, CheckedScore(score_fn, nan="first")


def nan_watch(nodes: list[Node], like: Array) -> NaNWatch:
    """The state's NaN watch on the grid of ``nodes``.  Every prediction of DDIM, DPM-Solver-1/2,
    DPM-Solver++(2M) and EDM enters the new state with a coefficient (IEEE arithmetic keeps a NaN through
    c * e even for c = 0); DPM-Solver-3's first stage enters it only through the next stage's input and is
    registered with :meth:`NaNWatch.also`."""
    return NaNWatch(like, [node.t for node in nodes])


def noise_prediction(score: CheckedScore, like: Array) -> Callable[[Array, Node], Array]:
    """E(x, node) = eps_hat(x, t) = -sigma_t s(x, t), with t passed to the score as a 0-d array like ``like``."""

    def E(x: Array, node: Node) -> Array:
        # eps_hat = -sigma_t grad log p_t (Lu et al. 2022, Sec. 2)
        return (-node.sigma) * score(x, time_scalar(node.t, like))

    return E


def data_prediction(score: CheckedScore, like: Array) -> Callable[[Array, Node], Array]:
    """X(x, node) = x0_hat(x, t) = (x + sigma_t^2 s(x, t)) / alpha_t (Tweedie's formula)."""

    def X(x: Array, node: Node) -> Array:
        s = score(x, time_scalar(node.t, like))
        return (1.0 / node.alpha) * x + (node.sigma * node.sigma / node.alpha) * s  # x0_hat = (x + sigma^2 s) / alpha

    return X


def sample_info(score: CheckedScore, nodes: list[Node], n_steps: int, method: str, like: Array) -> SampleInfo:
    """SampleInfo with the grid times t_0 = T > ... > t_{n_steps} = eps in ``like``'s dtype and device."""
    xp = namespace_of(like)
    grid = xp.asarray([node.t for node in nodes], dtype=like.dtype, device=device_of(like))
    return SampleInfo(score.nfe, grid, n_steps, 0, method)
