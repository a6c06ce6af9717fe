"""Input validation for the likelihood functions: eps, option names, probe counts and explicit probes."""

from __future__ import annotations

import math
from typing import Any, Iterable

from .._arrays import Array, check_finite, check_integer, namespace_of, require_floating


def check_eps(sde: Any, eps: Any) -> float:
    """``eps`` as a float with 0 < eps < T (NaN, non-numbers and values outside raise ValueError)."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a float with 0 < eps < T = {sde.T}, got {eps!r}") from None
    if math.isnan(value) or not (0.0 < value < sde.T):
        raise ValueError(f"eps must satisfy 0 < eps < T = {sde.T}, got {value}")
    return value


def check_choice(value: Any, choices: Iterable[str], name: str) -> str:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(repr(c) for c in options)}")
    return value


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools, floats and smaller values raise ValueError)."""
    return check_integer(value, name, minimum)


def check_state(x: Array, name: str = "x") -> Any:
    """Namespace of the batch-first real floating array ``x`` of shape (n, *dims), n >= 1; NaN raises."""
    xp = namespace_of(x)
    if xp is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    require_floating(xp, x, name)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, *dims) with n >= 1, got shape {tuple(x.shape)}")
    check_finite(xp, x, name)
    return xp


def check_probes(probes: Array, x: Array, n_probes: Any) -> Array:
    """Explicit Hutchinson probes: shape (n_probes, *x.shape), x's namespace, finite, cast to x's dtype.

    ``n_probes`` None accepts any leading size; an int must equal ``probes.shape[0]``.
    """
    xp = namespace_of(x, probes)
    require_floating(xp, probes, "probes")
    shape = tuple(probes.shape)
    if len(shape) != x.ndim + 1 or shape[1:] != tuple(x.shape) or shape[0] < 1:
        want = ", ".join(map(str, x.shape))
        raise ValueError(f"probes must have shape (n_probes, *x.shape) = (k, {want}), got {shape}")
    if n_probes is not None and check_count(n_probes, "n_probes") != shape[0]:
        raise ValueError(f"n_probes = {n_probes} but probes has {shape[0]} probes (leading dimension)")
    check_finite(xp, probes, "probes")
    if bool(xp.any(xp.isinf(probes))):
        raise ValueError("probes contains an infinite value")
    return probes if probes.dtype == x.dtype else xp.astype(probes, x.dtype)
