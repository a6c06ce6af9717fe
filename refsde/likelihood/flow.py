"""The probability-flow ODE drift and its divergence, the right-hand side of the likelihood ODE.

PF ODE (Song et al. 2021, eq. 13): dx/dt = F(x, t) = f(t) x - g(t)^2 s(x, t) / 2, so
div_x F = D f(t) - g(t)^2 div_x s(x, t) / 2 with D = prod(x.shape[1:]).
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, batch_broadcast, n_features, namespace_of
from .._checks import CheckedScore
from ..sde.reverse import pf_drift, probability_flow_drift, solver_coefficients  # noqa: F401 (re-export)
from ..sde.schedule import EDMSchedule
from ..sde.ve import VESDE
from ..sde.vp import SubVPSDE, VPSDE
from .divergence import exact_trace, hutchinson_estimates

#: Names accepted for the divergence computation.
DIVERGENCES = ("exact", "hutchinson")

#: The SDE types whose f(t), g(t)^2 :func:`host_coefficients` evaluates on the host (exact types, no subclasses).
_ARITHMETIC_TYPES = (VPSDE, EDMSchedule)  # +, -, *, / of t only
_HOST_TYPES = _ARITHMETIC_TYPES + (SubVPSDE, VESDE)  # exp / expm1 through the array namespace


def host_coefficients(sde: Any, t: float) -> tuple[float, float] | None:
    """(f(t), g(t)^2) as Python floats at a host time ``t``, for the closed-form SDEs whose coefficients
    are plain functions of t (VPSDE, SubVPSDE, VESDE, EDMSchedule, exactly these types); None for any other
    SDE (a table on the device, a user's subclass or duck type), whose coefficients are then evaluated on the
    device by :func:`solver_coefficients`.

    The same closed forms, evaluated on the float (VPSDE, EDMSchedule) or on a 0-d float64 NumPy array
    (SubVPSDE, VESDE, whose formulas call exp through the namespace): a solver that keeps its time on the host
    (rk45's batch step control) then multiplies the state by two Python floats instead of running the
    coefficient formulas as 0-d device operations at every evaluation (each costs a dispatch; on small states
    they were a third of the likelihood's overhead).  Rounding: float64 throughout, identical to the device
    formulas in float64 up to the libraries' exp (VESDE)."""
    kind = type(sde)
    if kind not in _HOST_TYPES:
        return None
    if kind in _ARITHMETIC_TYPES:  # VPSDE, EDMSchedule: +, -, *, / only, evaluated on the float itself
        return float(sde._drift_coef(t)), float(sde._g2(t))
    import numpy as np

    a = np.asarray(t, dtype=np.float64)  # SubVPSDE, VESDE: exp / expm1 through the array namespace
    return float(sde._drift_coef(a)), float(sde._g2(a))


def solver_drift(sde: Any, score_fn: Callable[[Array, Any], Array], x: Array, t: Array) -> Array:
    """F(x, t) (eq. 13) for a solver time ``t``: a 0-d or (n,) array of x's dtype and device inside the
    integration interval, so it is not re-validated here (that would cost a host read per call)."""
    f, g2 = solver_coefficients(sde, t)  # 0-d or (n,) like t; a solver time, not re-validated
    return pf_drift(batch_broadcast(f, x), batch_broadcast(g2, x), x, score_fn, t)  # eq. 13


class ProbabilityFlow:
    """F(x, t) and div_x F(x, t) for one likelihood computation (fixed probes, counted score calls).

    ``divergence``: "exact" uses ``score.oracle_divergence`` when the score object has one, else D jvps
    (:func:`exact_trace`); "hutchinson" averages v^T J_s v over ``probes`` (k, n, *dims).  Only the
    score's Jacobian is estimated: the linear part f(t) I has the known trace D f(t), so Gaussian probes
    do not add the noise term f(t) (|v|^2 - D) (for Rademacher probes |v|^2 = D and nothing changes).
    """

    def __init__(self, sde: Any, score: CheckedScore, divergence: str, jvp: Any, probes: Array | None) -> None:
        self.sde = sde
        self.score = score
        self.divergence = divergence
        self.jvp = jvp
        self.probes = probes
        self.n_jvp = 0

    @property
    def uses_oracle(self) -> bool:
        return self.divergence == "exact" and self.score.oracle_divergence is not None

    def drift(self, x: Array, t: Array) -> Array:
        """F(x, t) (one score evaluation) at a solver time ``t``."""
        return solver_drift(self.sde, self.score, x, t)

    def _jvp_fn(self, x: Array, t: Array) -> Callable[[Array], tuple[Array, Array]]:
        def jvp_fn(v: Array) -> tuple[Array, Array]:
            self.n_jvp += 1
            try:
                return self.jvp(lambda z: self.score(z, t), x, v)
            except ValueError:
                raise  # refsde's own checks of the score's output (shape, NaN) say what is wrong
            except Exception as exc:  # autodiff could not trace the score (torch / JAX)
                raise ValueError(
                    f"the divergence of score_fn needs Jacobian-vector products, and the backend's automatic "
                    f"differentiation could not trace score_fn ({type(exc).__name__}: {exc}); a score that leaves "
                    "its array library (.numpy(), float(), NumPy functions, a NumPy result) cannot be "
                    "differentiated.  Write it with the library's own operations, give it a "
                    "divergence(x, t) method, or run on the NumPy backend (central differences)"
                ) from exc

        return jvp_fn

    def score_and_divergence(self, x: Array, t: Array) -> tuple[Array, Array]:
        """(s(x, t) like x, div_x s (n,)): exact (oracle or D jvps) or the Hutchinson mean."""
        xp = namespace_of(x)
        if self.uses_oracle:
            return self.score(x, t), self.score.divergence(x, t)
        if self.divergence == "exact":
            return exact_trace(self._jvp_fn(x, t), x)
        assert self.probes is not None
        s, estimates = hutchinson_estimates(self._jvp_fn(x, t), self.probes)
        return s, xp.mean(estimates, axis=0)

    def drift_and_divergence(self, x: Array, t: Array, t_host: float | None = None) -> tuple[Array, Array]:
        """(F(x, t) like x, div_x F(x, t) of shape (n,)) at a solver time ``t`` (0-d or (n,), x's dtype).

        ``t_host``: the same time as a Python float when the solver keeps it on the host (rk45's batch step
        control); then f(t), g(t)^2 are host floats where the SDE allows (:func:`host_coefficients`)."""
        s, div_s = self.score_and_divergence(x, t)
        coefs = None if t_host is None else host_coefficients(self.sde, t_host)
        if coefs is not None:  # Python floats
            f, g2 = coefs
            drift = pf_drift(f, g2, x, lambda *_: s, t)  # eq. 13
        else:
            f, g2 = solver_coefficients(self.sde, t)
            drift = pf_drift(batch_broadcast(f, x), batch_broadcast(g2, x), x, lambda *_: s, t)  # eq. 13
        div = n_features(x) * f - 0.5 * g2 * div_s  # div F = D f(t) - g(t)^2 div s / 2
        return drift, div  # shape (n,): div_s has it (checked), f and g2 are 0-d or (n,)
