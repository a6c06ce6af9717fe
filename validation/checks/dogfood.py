"""Dogfooding (family "dogfood"): refsde's own pieces run through the :mod:`refsde.testing` conformance checks.

The checks a user runs on their implementation are run here on refsde's: the SDE coefficients, marginals
and priors of VP, sub-VP and VE (exact and score_sde conventions), the samplers (``sample_sde`` with
each ``method``, ``sample_ode`` euler / heun / rk4 / rk45, DDIM, DPM-Solver-2/3, DPM-Solver++(2M) and (3M), EDM
Heun (each against its scheme's path on its own grid, and the convergence order against the exact flow map),
``sample_pc``, ``langevin_corrector`` with the snr step-size test), ``dsm_loss``
(sigma2 and likelihood weightings) and ``log_likelihood`` (exact and Hutchinson), on the run's backend and default dtype.  A row
``dogfood.<piece>[<SDE>]`` passes iff the check returns a report; its statistic / threshold are the
report's tightest comparison (largest signed statistic / threshold), and a ConformanceError is a FAIL row
with the error's statistic, threshold and message.

Random draws of the samplers, the corrector and the loss are seeded from the run's seed and the row name
(a counter per call, so the loss's repeated calls are independent); the checks' own draws use ``--seed``.
Each statistical check has false-alarm probability <= its ``alpha`` (1e-6, the checks' default).
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any, Callable

from .forward_sde import SDE_CASES
from .registry import Context, Outcome, register
from .user_impl import outcome_of

__all__ = ["DOGFOOD_ROWS"]

SDE_STEPS = 50  # sample_sde with method=: the check compares with that scheme's exact law at any n_steps
ODE_STEPS = 50
PC_STEPS = 200  # sample_pc with a corrector: no scheme law, the continuous target (2 x EM's error allowed)
PC_REL_STD_ERROR = 0.1  # detectable std error of that row (5.2k samples; 4% would need 89k, 13 s on NumPy)
PC_SNR = 0.01  # a small Langevin step: in d = 3 the default 0.16 biases the variance by +7% at 200 steps
CORRECTOR_SNR = 0.16  # refsde's (and score_sde's) default
DSM_MAX_SAMPLES = 200_000  # likelihood weighting: the check's default 2M samples take 5 s on NumPy, 30 s on strict


_outcome = outcome_of  # a report -> its tightest signed statistic / threshold; ConformanceError -> FAIL


class _Seeds:
    """Fresh integer seeds for refsde's ``rng=``: derived from the run's seed and the row name, one per call."""

    def __init__(self, ctx: Context) -> None:
        base = (int(ctx.seed) * 0x9E3779B1 + zlib.crc32(ctx.name.encode())) % (2**31 - 1000_000)
        self._it = itertools.count(base)

    def __call__(self) -> int:
        return next(self._it)


def _kw(ctx: Context) -> dict[str, Any]:
    return {"backend": ctx.backend, "seed": ctx.seed}


# ---- forward SDEs -------------------------------------------------------------------------------------
def coefficients(ctx: Context, sde: Any) -> Outcome:
    from refsde.testing import check_coefficients

    return _outcome(lambda: check_coefficients(sde.sde, sde, **_kw(ctx)))


def marginal(ctx: Context, sde: Any) -> Outcome:
    from refsde.testing import check_marginal

    return _outcome(lambda: check_marginal(sde.marginal, sde, **_kw(ctx)))


def prior(ctx: Context, sde: Any) -> Outcome:
    from refsde.testing import check_prior

    seeds = _Seeds(ctx)
    sample = lambda shape: sde.prior_sample(shape, rng=seeds(), backend=ctx.backend)  # noqa: E731
    return _outcome(lambda: check_prior(sample, sde.prior_logp, sde, **_kw(ctx)))


# ---- samplers -----------------------------------------------------------------------------------------
def sde_sampler(method: str) -> Callable[[Context, Any], Outcome]:
    def run(ctx: Context, sde: Any) -> Outcome:
        from refsde.sampling import sample_sde
        from refsde.testing import check_sde_sampler

        seeds = _Seeds(ctx)
        sampler = lambda score_fn, x_T, n: sample_sde(score_fn, sde, x_T, n, method=method, rng=seeds())  # noqa: E731
        return _outcome(lambda: check_sde_sampler(sampler, sde, SDE_STEPS, method=method, **_kw(ctx)))

    return run


def ode_sampler(method: str) -> Callable[[Context, Any], Outcome]:
    def run(ctx: Context, sde: Any) -> Outcome:
        from refsde.sampling import sample_ode
        from refsde.testing import check_ode_sampler

        sampler = lambda score_fn, x_T, n: sample_ode(score_fn, sde, x_T, n, method=method)  # noqa: E731
        return _outcome(lambda: check_ode_sampler(sampler, sde, ODE_STEPS, method=method, **_kw(ctx)))

    return run


def _own_grid(name: str, sde: Any, options: dict[str, Any]) -> Callable[[int], Any]:
    """n_steps -> the times refsde's sampler ``name`` steps through (its own grid: uniform in log-SNR, EDM's rho
    grid, ...), read off a run with a zero score on one sample (the grid does not depend on the score)."""
    from refsde import sampling

    fn = getattr(sampling, name)

    def grid(n: int) -> Any:
        x = sde.prior_sample((1, 3), rng=0)
        return fn(lambda y, t: 0.0 * y, sde, x, n, **options)[1].grid

    return grid


def solver_sampler(name: str, check_method: str | None, claim: int | None = None,
                   **options: Any) -> Callable[[Context, Any], Outcome]:
    """A deterministic sampler of refsde.sampling (DDIM, DPM-Solver, EDM Heun, adaptive RK45) through
    check_ode_sampler on the sampler's own grid: with ``check_method`` against that scheme's own path (to the
    rounding budget), with None the order test against the exact flow map (``claim``: the claimed order; 0 for
    an adaptive solver, which must meet the first-order bound at every rung).  ``options`` go to the sampler."""

    def run(ctx: Context, sde: Any) -> Outcome:
        from refsde import sampling
        from refsde.testing import check_ode_sampler

        fn = getattr(sampling, name)
        if name == "sample_ode":  # adaptive: the step count is the solver's, not the check's
            sampler = lambda score_fn, x_T, n: fn(score_fn, sde, x_T, **options)  # noqa: E731
            grid = None
        else:
            sampler = lambda score_fn, x_T, n: fn(score_fn, sde, x_T, n, **options)  # noqa: E731
            grid = _own_grid(name, sde, options)
        steps = ODE_STEPS if check_method is not None else None
        return _outcome(lambda: check_ode_sampler(lambda *a: sampler(*a)[0], sde, steps, method=check_method,
                                                  grid=grid, order=claim, **_kw(ctx)))

    return run


def pc_langevin(ctx: Context, sde: Any) -> Outcome:
    """Euler-Maruyama predictor + one Langevin corrector step (score_sde's batch-mean norms, small snr): no
    scheme law exists, so the continuous target with 2 x Euler-Maruyama's error at PC_STEPS allowed."""
    from refsde.sampling import sample_pc
    from refsde.testing import check_sde_sampler

    seeds = _Seeds(ctx)
    sampler = lambda score_fn, x_T, n: sample_pc(score_fn, sde, x_T, n, predictor="euler_maruyama",  # noqa: E731
                                                 corrector="langevin", snr=PC_SNR, batch_norm=True, rng=seeds())
    return _outcome(lambda: check_sde_sampler(sampler, sde, PC_STEPS, rel_std_error=PC_REL_STD_ERROR, **_kw(ctx)))


def pc_predictor_only(ctx: Context, sde: Any) -> Outcome:
    """sample_pc without corrector: exactly the reverse-diffusion scheme's law (its loop, grid and levels)."""
    from refsde.sampling import sample_pc
    from refsde.testing import check_sde_sampler

    seeds = _Seeds(ctx)
    sampler = lambda score_fn, x_T, n: sample_pc(score_fn, sde, x_T, n, predictor="reverse_diffusion",  # noqa: E731
                                                 corrector=None, rng=seeds())
    return _outcome(lambda: check_sde_sampler(sampler, sde, SDE_STEPS, method="reverse_diffusion", **_kw(ctx)))


def corrector(method: str) -> Callable[[Context, Any], Outcome]:
    """langevin_corrector at snr = 0.16: the check also tests its step size against the snr rule."""

    def run(ctx: Context, sde: Any) -> Outcome:
        from refsde.sampling import langevin_corrector
        from refsde.testing import check_corrector

        seeds = _Seeds(ctx)
        step = lambda score_fn, x, t: langevin_corrector(score_fn, sde, x, t, method=method, snr=CORRECTOR_SNR,  # noqa: E731
                                                         rng=seeds())[0]
        return _outcome(lambda: check_corrector(step, sde, snr=CORRECTOR_SNR, method=method, **_kw(ctx)))

    return run


# ---- loss and likelihood ------------------------------------------------------------------------------
def dsm(weighting: str, check_options: dict[str, Any] | None = None,
        **options: Any) -> Callable[[Context, Any], Outcome]:
    """dsm_loss(weighting, **options) through check_dsm_loss(weighting, **check_options), one rng seed per call."""

    def run(ctx: Context, sde: Any) -> Outcome:
        from refsde.losses import dsm_loss
        from refsde.testing import check_dsm_loss

        seeds = _Seeds(ctx)
        def loss(score_fn: Any, x0: Any) -> Any:
            return dsm_loss(score_fn, sde, x0, weighting=weighting, rng=seeds(), **options)

        return _outcome(lambda: check_dsm_loss(loss, sde, weighting, **_kw(ctx), **(check_options or {})))

    return run


def likelihood(ctx: Context, sde: Any) -> Outcome:
    from refsde.likelihood import log_likelihood
    from refsde.testing import check_log_likelihood

    eps = 1e-3
    loglik = lambda score_fn, x: log_likelihood(score_fn, sde, x, eps=eps)[0]  # noqa: E731
    return _outcome(lambda: check_log_likelihood(loglik, sde, eps, **_kw(ctx)))


def likelihood_hutchinson(ctx: Context, sde: Any) -> Outcome:
    """One Rademacher probe per sample, held fixed along the solve: unbiased, judged by the stochastic mode."""
    from refsde.likelihood import log_likelihood
    from refsde.testing import check_log_likelihood

    eps = 1e-3
    seeds = _Seeds(ctx)
    loglik = lambda score_fn, x: log_likelihood(score_fn, sde, x, eps=eps, divergence="hutchinson",  # noqa: E731
                                                n_probes=1, probe="rademacher", rng=seeds())[0]
    return _outcome(lambda: check_log_likelihood(loglik, sde, eps, stochastic=True, **_kw(ctx)))


# ---- registration -------------------------------------------------------------------------------------
_ALL = tuple(label for label, _ in SDE_CASES)
DOGFOOD_ROWS: list[tuple[str, Callable[[Context, Any], Outcome], tuple[str, ...]]] = [
    ("coefficients", coefficients, _ALL),
    ("marginal", marginal, _ALL),
    ("prior", prior, _ALL),
    ("sample_sde.euler_maruyama", sde_sampler("euler_maruyama"), ("VP", "VE")),
    ("sample_sde.reverse_diffusion", sde_sampler("reverse_diffusion"), ("VP", "VE")),
    ("sample_sde.ancestral", sde_sampler("ancestral"), ("VP", "VE")),
    ("sample_ode.euler", ode_sampler("euler"), ("VP",)),
    ("sample_ode.heun", ode_sampler("heun"), ("VP", "subVP", "VE")),
    ("sample_ode.rk4", ode_sampler("rk4"), ("VP",)),
    ("sample_pc.langevin", pc_langevin, ("VP",)),
    ("sample_pc.predictor_only", pc_predictor_only, ("VP", "VE")),
    ("sample_ode.rk45", solver_sampler("sample_ode", None, 0, method="rk45", rtol=1e-5, atol=1e-5), ("VP", "VE")),
    ("sample_ddim", solver_sampler("sample_ddim", "ddim"), ("VP",)),
    ("sample_dpm_solver.order2", solver_sampler("sample_dpm_solver", "dpm_solver_2", order=2), ("VP",)),
    ("sample_dpm_solver.order3", solver_sampler("sample_dpm_solver", "dpm_solver_3", order=3), ("VP",)),
    ("sample_dpm_solver.order3.convergence", solver_sampler("sample_dpm_solver", None, 3, order=3), ("VP",)),
    ("sample_dpm_solver_pp_2m", solver_sampler("sample_dpm_solver_pp_2m", "dpm_solver_pp_2m"), ("VP",)),
    ("sample_dpm_solver_pp_2m.convergence", solver_sampler("sample_dpm_solver_pp_2m", None, 2), ("VP",)),
    ("sample_dpm_solver_pp_3m", solver_sampler("sample_dpm_solver_pp_3m", "dpm_solver_pp_3m"), ("VP",)),
    ("sample_edm_heun", solver_sampler("sample_edm_heun", "edm_heun"), ("VP", "VE")),
    ("sample_edm_heun.convergence", solver_sampler("sample_edm_heun", None, 2), ("VP", "VE")),
    ("langevin_corrector", corrector("langevin"), ("VP", "VE")),
    ("langevin_corrector.annealed", corrector("annealed_langevin"), ("VE",)),
    ("dsm_loss.sigma2", dsm("sigma2"), ("VP", "VE")),
    ("dsm_loss.likelihood", dsm("likelihood", {"max_samples": DSM_MAX_SAMPLES}, importance_sampling=True), ("VP",)),
    ("log_likelihood", likelihood, ("VP", "VE")),
    ("log_likelihood.hutchinson", likelihood_hutchinson, ("VP",)),
]


def _bind(fn: Callable[[Context, Any], Outcome], factory: Callable[[], Any]) -> Callable[[Context], Outcome]:
    return lambda ctx: fn(ctx, factory())


_FACTORIES = dict(SDE_CASES)
for _piece, _fn, _labels in DOGFOOD_ROWS:
    for _label in _labels:
        register(f"dogfood.{_piece}[{_label}]", _bind(_fn, _FACTORIES[_label]), family="dogfood")
