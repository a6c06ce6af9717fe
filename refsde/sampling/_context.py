"""What every update function needs: the SDE, its N = n_steps copy and the checked score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._chain_table import LevelTable
from ._coefficients import GridTable
from ._score import CheckedScore


@dataclass
class StepContext:
    """sde: the forward SDE; levels: the chain coefficients of every level as host floats
    (:class:`~refsde.sampling._chain_table.LevelTable`) or None; n_steps: the number of grid steps; score:
    the checked, counting score; table: the grid's coefficients as host floats
    (:class:`~refsde.sampling._coefficients.GridTable`, indexed by grid step k = n_steps - 1 - level) or None.
    Where a table lacks a coefficient the updates evaluate the SDE at their arguments (a host read per step)."""

    sde: Any
    levels: LevelTable | None
    n_steps: int
    score: CheckedScore
    table: GridTable | None = None
