"""Section 7: the wall time of every public ``refsde.testing`` check at its default settings.

The checks are what users run in their own test suites, so each must stay cheap: goal <= 10 s on the
2-core benchmark machine.  Every check runs once, on the benchmarked backend, against refsde's own correct
implementation of the piece (``functools.partial`` / a lambda binding the SDE, as tests/test_testing_partial.py
and the dogfood rows do), with the check's defaults for everything the check does not require (required
by some checks: the sampler's ``n_steps`` and ``method``, ``timesteps`` of the discrete losses, ``scale``
of bits per dimension; the values used are in the "arguments" column).  SDE: VPSDE(0.1, 20), VESDE(0.01,
50) for the SMLD loss.  ``check_all`` runs every piece of one namespace holding all of them (the sum, plus
its bookkeeping).  One run each, wall time (``time.perf_counter``), the verdict is the check's own.  This is
a benchmark, not a timed test: nothing fails when a check is slow, the table says "missed".
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from types import SimpleNamespace
from typing import Any, Callable

GOAL_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class CheckRuntime:
    check: str
    candidate: str
    arguments: str
    seconds: float
    verdict: str  # "PASS", or the exception's type and first line


def _cases(backend: Any) -> list[tuple[str, str, str, Callable[[], Any]]]:
    """(check name, candidate, non-default arguments, thunk) for every public check."""
    import refsde
    from refsde import testing as rt
    from refsde.likelihood import bits_per_dim, log_likelihood
    from refsde.losses import ddpm_loss, dsm_loss, smld_loss
    from refsde.sampling import langevin_corrector, sample_ode, sample_sde
    from refsde.sde.reverse import probability_flow_drift

    vp = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
    ve = refsde.VESDE(sigma_min=0.01, sigma_max=50.0)
    seeds = itertools.count(1000)

    def rng() -> Any:
        return refsde.make_rng(next(seeds), backend)

    def reverse_drift(score_fn: Any, x: Any, t: Any) -> Any:  # f - g^2 s through refsde's ReverseSDE
        from refsde.sde.reverse import ReverseSDE

        return ReverseSDE(vp, score_fn).drift(x, t)

    def loss_with_rng(fn: Any, ref: Any) -> Any:
        state: dict[str, Any] = {}

        def loss(model: Any, x0: Any) -> Any:
            return fn(model, ref, x0, rng=state.setdefault("g", rng()))

        return loss

    pieces = SimpleNamespace(
        reference=vp, backend=backend.name,
        sde_fn=vp.sde, marginal_fn=vp.marginal,
        prior_sample_fn=lambda shape: vp.prior_sample(shape, rng=rng(), backend=backend), prior_logp_fn=vp.prior_logp,
        pf_ode_drift=functools.partial(probability_flow_drift, vp), reverse_drift=reverse_drift,
        sde_sampler=lambda s, x, n: sample_sde(s, vp, x, n, method="euler_maruyama", rng=rng())[0],
        ode_sampler=lambda s, x, n: sample_ode(s, vp, x, n, method="heun")[0],
        corrector=lambda s, x, t: langevin_corrector(s, vp, x, t, rng=rng())[0],
        dsm_loss=lambda s, x0: dsm_loss(s, vp, x0, rng=rng()),
        ddpm_loss=loss_with_rng(ddpm_loss, vp),
        log_likelihood=lambda s, x: log_likelihood(s, vp, x, eps=1e-3)[0],
        bits_per_dim=lambda s, y: bits_per_dim(log_likelihood(s, vp, y, eps=1e-3)[0], math.prod(y.shape[1:]), scale=2.0),
        check_options={"sde_sampler": {"n_steps": 100, "method": "euler_maruyama"},
                       "ode_sampler": {"n_steps": 20, "method": "heun"},
                       "ddpm_loss": {"timesteps": "time"}, "bits_per_dim": {"scale": 2.0}},
    )
    kw = {"backend": backend}
    p = pieces
    return [
        ("check_coefficients", "VPSDE.sde", "", lambda: rt.check_coefficients(p.sde_fn, vp, **kw)),
        ("check_marginal", "VPSDE.marginal", "", lambda: rt.check_marginal(p.marginal_fn, vp, **kw)),
        ("check_prior", "VPSDE.prior_sample / prior_logp", "",
         lambda: rt.check_prior(p.prior_sample_fn, p.prior_logp_fn, vp, **kw)),
        ("check_pf_ode_drift", "probability_flow_drift", "", lambda: rt.check_pf_ode_drift(p.pf_ode_drift, vp, **kw)),
        ("check_reverse_drift", "ReverseSDE.drift", "", lambda: rt.check_reverse_drift(p.reverse_drift, vp, **kw)),
        ("check_sde_sampler", "sample_sde(euler_maruyama)", "n_steps=100, method='euler_maruyama'",
         lambda: rt.check_sde_sampler(p.sde_sampler, vp, 100, method="euler_maruyama", **kw)),
        ("check_ode_sampler", "sample_ode(heun)", "n_steps=20, method='heun'",
         lambda: rt.check_ode_sampler(p.ode_sampler, vp, 20, method="heun", **kw)),
        ("check_corrector", "langevin_corrector", "", lambda: rt.check_corrector(p.corrector, vp, **kw)),
        ("check_dsm_loss", "dsm_loss", "", lambda: rt.check_dsm_loss(p.dsm_loss, vp, **kw)),
        ("check_ddpm_loss", "ddpm_loss", "timesteps='time'",
         lambda: rt.check_ddpm_loss(p.ddpm_loss, vp, timesteps="time", **kw)),
        ("check_smld_loss", "smld_loss (VESDE)", "timesteps='time'",
         lambda: rt.check_smld_loss(loss_with_rng(smld_loss, ve), ve, timesteps="time", **kw)),
        ("check_log_likelihood", "log_likelihood(eps=1e-3)", "",
         lambda: rt.check_log_likelihood(p.log_likelihood, vp, **kw)),
        ("check_bits_per_dim", "bits_per_dim(log_likelihood)", "scale=2.0",
         lambda: rt.check_bits_per_dim(p.bits_per_dim, vp, scale=2.0, **kw)),
        ("check_all", "all of the above but SMLD (one namespace)", "check_options as above",
         lambda: rt.check_all(pieces, backend=backend)),
    ]


def run_check_runtimes(backend: Any, log: Callable[[str], None] = print) -> list[CheckRuntime]:
    """Run every check once and time it."""
    rows = []
    for name, candidate, arguments, thunk in _cases(backend):
        start = time.perf_counter()
        try:
            report = thunk()
            verdict = "PASS" if getattr(report, "passed", True) else "FAIL"
        except Exception as exc:  # noqa: BLE001 - reported in the table
            verdict = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        seconds = time.perf_counter() - start
        rows.append(CheckRuntime(name, candidate, arguments, seconds, verdict))
        log(f"  {name:<22s} {seconds:7.2f} s  {verdict}")
    return rows


def runtime_table(rows: list[CheckRuntime]) -> list[str]:
    from .tables import table

    body = [[f"`{r.check}`", r.candidate, r.arguments or "defaults", f"{r.seconds:.3f} s", r.verdict,
             "met" if r.seconds <= GOAL_SECONDS else "**missed**"] for r in rows]
    return table(["check", "candidate (refsde's own)", "arguments", "wall time", "verdict",
                  f"goal <= {GOAL_SECONDS:g} s"], body)
