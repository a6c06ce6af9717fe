"""What every update function needs: the SDE, its N = n_steps copy and the checked score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._coefficients import GridTable
from ._score import CheckedScore


@dataclass
class StepContext:
    """sde: the forward SDE; chain: a copy with N = n_steps (None where no update uses the discrete chain);
    n_steps: the number of grid steps; score: the checked, counting score; table: the grid's coefficients
    as host floats (:class:`~refsde.sampling._coefficients.GridTable`, indexed by grid step k = n_steps - 1
    - level) or None, in which case the updates evaluate the SDE at their time argument."""

    sde: Any
    chain: Any
    n_steps: int
    score: CheckedScore
    table: GridTable | None = None
