"""refsde: a verified reference implementation of score-based diffusion SDEs on the Array API.

``import refsde`` imports NumPy and array-api-compat only; torch, jax and cupy are imported by their
backend plugins on first use.
"""

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
