"""What :func:`refsde.likelihood.log_likelihood` reports besides log p."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LikelihoodInfo:
    """Parts and cost of one probability-flow likelihood computation.

    prior_logp: log pi(z) under the SDE's prior N(0, prior_std^2 I), shape (n,).
    delta_logp: integral from eps to T of div_x F(x(t), t) dt along the ODE path, shape (n,);
        log_p = prior_logp + delta_logp.
    z: x(T), the encoding of x, shape of x.
    nfe: score evaluations actually made, those inside Jacobian-vector products included (an autodiff
        jvp evaluates the score once, a central-difference jvp three times); oracle divergence calls
        are counted separately in ``n_divergence``.
    n_jvp: Jacobian-vector products (D per ODE-function call for divergence="exact" without an oracle,
        n_probes per call for "hutchinson", 0 with an oracle divergence).
    n_divergence: calls of ``score_fn.divergence`` (one per ODE-function call with the oracle, else 0).
    divergence: how div s was computed: "oracle", "jvp" (exact, D jvps) or "hutchinson".
    exact_jvp: True when the jvps were automatic differentiation, False for central differences.
    solver: the :class:`refsde.ode.ODEInfo` of the solve (solver.nfe = calls of the augmented ODE function).
    """

    prior_logp: Any
    delta_logp: Any
    z: Any
    nfe: int
    n_jvp: int
    n_divergence: int
    divergence: str
    exact_jvp: bool
    solver: Any
