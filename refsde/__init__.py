"""refsde: a verified reference implementation of score-based diffusion SDEs on the Array API.

``import refsde`` imports NumPy, array-api-compat and the SDE classes only; the subpackages
(:mod:`refsde.sampling`, :mod:`refsde.likelihood`, :mod:`refsde.losses`, :mod:`refsde.gaussian`,
:mod:`refsde.ode`, :mod:`refsde.testing`) are imported on first attribute access (PEP 562), so
``import refsde; refsde.sampling.sample_sde(...)`` works without a submodule import.  torch, jax and cupy
are imported by their backend plugins on first use.
"""

import importlib
from typing import Any

from .backends import (
    BackendUnavailableError,
    available_backends,
    get_backend,
    make_rng,
    set_backend,
    use_backend,
)
from .sde import SDE, ReverseSDE, ScheduleSDE, SubVPSDE, VESDE, VPSDE

__version__ = "0.1.0"

#: Subpackages imported on first access (``refsde.sampling`` etc.).
SUBPACKAGES = ("backends", "gaussian", "likelihood", "losses", "ode", "sampling", "sde", "testing")

__all__ = [
    "SDE",
    "BackendUnavailableError",
    "ReverseSDE",
    "ScheduleSDE",
    "SubVPSDE",
    "VESDE",
    "VPSDE",
    "available_backends",
    "get_backend",
    "make_rng",
    "set_backend",
    "use_backend",
]


def __getattr__(name: str) -> Any:
    if name in SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBPACKAGES))
