"""Input validation shared by the samplers: step counts, eps, the state x_T and method names."""

from __future__ import annotations

import math
from typing import Any, Iterable

from .._arrays import Array, check_finite, check_integer, namespace_of, require_floating


def check_n_steps(n_steps: Any, name: str = "n_steps", minimum: int = 1) -> int:
    """``n_steps`` as an int >= ``minimum`` (bools and non-integral numbers raise)."""
    return check_integer(n_steps, name, minimum)


def check_eps(sde: Any, eps: Any) -> float:
    """``eps`` as a float with 0 < eps < T (NaN raises)."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a float with 0 < eps < T = {sde.T}, got {eps!r}") from None
    if not (0.0 < value < sde.T) or math.isnan(value):
        raise ValueError(f"eps must satisfy 0 < eps < T = {sde.T}, got {value}")
    return value


def check_state(x: Array, name: str = "x_T") -> Any:
    """The namespace of the batch-first floating state ``x`` of shape (n, *dims); NaN raises."""
    xp = namespace_of(x)
    if xp is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    require_floating(xp, x, name)
    if x.ndim < 1:
        raise ValueError(f"{name} must have a batch dimension: shape (n, *dims), got shape ()")
    check_finite(xp, x, name)
    return xp


def check_choice(value: Any, choices: Iterable[Any], name: str) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(repr(c) for c in options)}")
    return value
