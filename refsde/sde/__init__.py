"""The forward SDEs: VP, sub-VP, VE and a general schedule-defined SDE."""

from .base import SDE
from .reverse import ReverseSDE
from .schedule import EDMSchedule, ScheduleSDE, TabulatedSchedule
from .ve import VE_CONVENTIONS, VESDE
from .vp import SubVPSDE, VPSDE

__all__ = [
    "SDE", "EDMSchedule", "ReverseSDE", "ScheduleSDE", "SubVPSDE", "TabulatedSchedule", "VESDE", "VE_CONVENTIONS", "VPSDE",
]
