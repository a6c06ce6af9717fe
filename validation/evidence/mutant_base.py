"""Shared by the mutant catalogues (:mod:`.mutants`, :mod:`.machinery_mutants`):
the :class:`Mutant` record, the SDE parameters of every candidate and the reference SDEs they implement."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace
from typing import Any, Callable

__all__ = ["B0", "B1", "S0", "S1", "VE_PRIOR_STD", "Mutant", "ref_sde"]

B0, B1 = 0.1, 20.0  # VP / sub-VP beta_min, beta_max, T = 1
S0, S1 = 0.01, 50.0  # VE sigma_min, sigma_max


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    bug: str  # one line: what is wrong
    intended: str  # the refsde.testing check that must catch it, e.g. "check_coefficients"
    build: Callable[[], SimpleNamespace]  # the implementation (attributes as for --impl, with .reference)


def ref_sde(kind: str) -> Any:
    """The refsde SDE a candidate implements: "vp", "subvp", "ve" (exact) or "ve_score_sde"."""
    import refsde

    if kind == "vp":
        return refsde.VPSDE(beta_min=B0, beta_max=B1)
    if kind == "subvp":
        return refsde.SubVPSDE(beta_min=B0, beta_max=B1)
    if kind == "ve":
        return refsde.VESDE(sigma_min=S0, sigma_max=S1)
    if kind == "ve_score_sde":
        return refsde.VESDE(sigma_min=S0, sigma_max=S1, convention="score_sde")
    raise ValueError(kind)


# The VE prior under the exact convention is the law of x_T given x_0 = 0: std sqrt(sigma_max^2 - sigma_min^2)
# = sigma_min sqrt(expm1(2 log(sigma_max / sigma_min))) (README convention table); score_sde: sigma_max.
VE_PRIOR_STD = S0 * math.sqrt(math.expm1(2.0 * math.log(S1 / S0)))
