"""ODE solvers in the Array API that stay on the caller's device.

:func:`solve_ode` integrates y' = fun(t, y) for a state that is one batch-first array or a tuple of them
(e.g. (x, logdet) for likelihoods) from t0 to t1 in either direction:

* fixed step: ``"euler"`` (order 1), ``"heun"`` (explicit trapezoid, order 2), ``"rk4"`` (classic, order 4)
  on linspace(t0, t1, n_steps + 1); no host sync in the loop;
* adaptive: ``"rk45"``, Dormand-Prince 5(4) with FSAL, error control, step-size control and initial-step
  selection exactly as ``scipy.integrate.solve_ivp(method="RK45")``.  ``error_norm="batch"`` controls one
  RMS error over the whole batch (scipy on the flattened state); ``error_norm="sample"`` gives every sample
  its own time and step size (masked updates), so each sample follows the steps it would take alone.
  Step-size logic runs in arrays; the host reads one status bool per step attempt (``sync_every``).

:class:`ODEInfo` reports nfe, accepted/rejected steps and the accepted times.
"""

from .info import ODEInfo
from .solve import solve_ode

__all__ = ["ODEInfo", "solve_ode"]
