"""The probability-flow ODE drift and its divergence, the right-hand side of the likelihood ODE.

PF ODE (Song et al. 2021, eq. 13): dx/dt = F(x, t) = f(t) x - g(t)^2 s(x, t) / 2, so
div_x F = D f(t) - g(t)^2 div_x s(x, t) / 2 with D = prod(x.shape[1:]).
"""

from __future__ import annotations

from typing import Any, Callable

from .._arrays import Array, batch_broadcast, n_features, namespace_of
from .._checks import CheckedScore
from ..sde.reverse import pf_drift, probability_flow_drift, solver_coefficients  # noqa: F401 (re-export)
from .divergence import exact_trace, hutchinson_estimates

#: Names accepted for the divergence computation.
DIVERGENCES = ("exact", "hutchinson")


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

    def drift_and_divergence(self, x: Array, t: Array) -> tuple[Array, Array]:
        """(F(x, t) like x, div_x F(x, t) of shape (n,)) at a solver time ``t`` (0-d or (n,), x's dtype)."""
        s, div_s = self.score_and_divergence(x, t)
        f, g2 = solver_coefficients(self.sde, t)
        drift = pf_drift(batch_broadcast(f, x), batch_broadcast(g2, x), x, lambda *_: s, t)  # eq. 13
        div = n_features(x) * f - 0.5 * g2 * div_s  # div F = D f(t) - g(t)^2 div s / 2
        return drift, div + namespace_of(x).zeros_like(div_s)  # shape (n,) also when f, g2 are 0-d
